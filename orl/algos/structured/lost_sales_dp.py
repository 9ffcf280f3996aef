"""The optimal policy of the one-store lost-sales system by dynamic programming (Zipkin 2008, "Old and
new methods for lost-sales inventory systems"; the reference of Alvo, Russo & Kanoria's lost-sales
experiments: Poisson(5) demand, h = 1, p in {4, 9, 19, 39}, L in {1, 2, 3, 4}).

Model, in the period order of ``orl_envs.inventory.simulator``: the state at the start of a period is
``(x, q_1, ..., q_{L-1})`` — on-hand stock and the orders arriving in 1..L-1 periods; the order ``a``
placed now arrives in ``L`` periods. Demand ``d ~ Poisson`` hits ``x``; the period costs
``c(x) = E[h (x - d)^+ + p (d - x)^+]``; unmet demand is lost; the next state is
``((x - d)^+ + q_1, q_2, ..., q_{L-1}, a)`` (for L = 1: ``(x - d)^+ + a``).

Relative value iteration on integer states gives the optimal long-run average cost ``g`` per period:

    V(s) = c(x) - g + min_a E_d V(s'(s, a, d))

The state space is truncated (on-hand <= ``max_stock``, every order <= ``max_order``); next on-hand
above the cap is clamped, which only matters if the cap binds: :func:`solve` reports how much
probability mass the optimal policy puts on the boundary, and tests check the value is insensitive to
the caps. The expectation over demand is one matrix product per iteration (the demand only moves
``x``), so L = 4 (about 400k states x 21 actions) solves in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class LostSalesSolution:
    average_cost: float  # optimal long-run cost per period, g
    policy: np.ndarray  # optimal order, indexed by the state (x, q_1, ..., q_{L-1})
    iterations: int
    span: float  # final span of the value update (convergence measure)

    def order(self, on_hand: np.ndarray, pipeline: np.ndarray) -> np.ndarray:
        """Optimal orders for integer states: ``on_hand`` [B], ``pipeline`` [B, L-1] (arrivals in 1..L-1)."""
        x = np.clip(np.rint(on_hand).astype(int), 0, self.policy.shape[0] - 1)
        idx = [x] + [np.clip(np.rint(pipeline[:, k]).astype(int), 0, self.policy.shape[k + 1] - 1)
                     for k in range(pipeline.shape[1])]
        return self.policy[tuple(idx)]


def poisson_pmf(mean: float, upto: int) -> np.ndarray:
    """P(d = k) for k = 0..upto-1 and the tail P(d >= upto) in the last entry."""
    k = np.arange(upto)
    logp = k * math.log(mean) - mean - np.array([math.lgamma(i + 1) for i in k])
    pmf = np.exp(logp)
    return np.append(pmf, max(0.0, 1.0 - pmf.sum()))


def solve(lead_time: int, underage_cost: float, holding_cost: float = 1.0, mean_demand: float = 5.0,
          max_stock: int | None = None, max_order: int | None = None, tol: float = 1e-7,
          max_iterations: int = 20_000) -> LostSalesSolution:
    """Optimal average cost and policy of the lost-sales system (module docstring)."""
    if int(lead_time) != lead_time or lead_time < 1:
        raise ValueError(f"lead_time must be an integer >= 1, got {lead_time!r}")
    L = int(lead_time)
    max_order = int(max_order or math.ceil(mean_demand + 6 * math.sqrt(mean_demand)))
    max_stock = int(max_stock or math.ceil((L + 1) * mean_demand + 8 * math.sqrt((L + 1) * mean_demand)))
    X, A = max_stock + 1, max_order + 1
    dmax = max_stock + 1
    pmf = poisson_pmf(mean_demand, dmax)  # d = 0..max_stock, then "more" (stock-out for every x <= max_stock)
    d = np.arange(dmax + 1)
    x = np.arange(X)
    # period cost c(x) = E[h (x-d)^+ + p (d-x)^+]; for the tail use E[d | d >= dmax] via the mean identity
    over = np.maximum(x[:, None] - d[None, :dmax], 0) @ pmf[:dmax]
    short = mean_demand - x + over  # E[(d-x)^+] = E[d] - x + E[(x-d)^+]
    c = holding_cost * over + underage_cost * short
    # leftover stock (x - d)^+ distribution: T0[x, y] = P((x - d)^+ = y)
    T0 = np.zeros((X, X))
    for xi in range(X):
        T0[xi, 1 : xi + 1] = pmf[xi - np.arange(1, xi + 1)]
        T0[xi, 0] = 1.0 - T0[xi, 1 : xi + 1].sum()
    # next on-hand = leftover + q1 (clamped at the cap): T[x, q1, x'] for q1 in 0..A-1
    T = np.zeros((X, A, X))
    for q in range(A):
        T[:, q, q:] += T0[:, : X - q]
        T[:, q, X - 1] += T0[:, X - q :].sum(axis=1)
    # V over states (x, q_1..q_{L-1}); E over d then min over a
    shape = (X,) + (A,) * (L - 1)
    V = np.zeros(shape)
    Tm = T.reshape(X * A, X) if L > 1 else T0
    for it in range(1, max_iterations + 1):
        if L == 1:
            # s' = leftover(x) + a: E V = sum_y T0[x, y] V[min(y + a, cap)]
            shifted = np.stack([V[np.minimum(np.arange(X) + a, X - 1)] for a in range(A)], axis=1)  # [y, a]
            Q = T0 @ shifted  # [x, a]
            best = Q.min(axis=1)
            policy_shape = (X,)
        else:
            # V[x', q2.., a] with x' from (x, q1): contract over x'
            W = (Tm @ V.reshape(X, -1)).reshape((X, A) + (A,) * (L - 2) + (A,))  # [x, q1, q2..q_{L-1}, a]
            best = W.min(axis=-1)
            policy_shape = shape
        new = c.reshape((X,) + (1,) * (L - 1)) + best
        new = new - new.flat[0]  # relative value iteration (reference state: all zero)
        diff = new - V
        span = float(diff.max() - diff.min())
        V = new
        if span < tol:
            break
    # the gain: c + E V - V at the fixed point (equal everywhere up to the span)
    if L == 1:
        shifted = np.stack([V[np.minimum(np.arange(X) + a, X - 1)] for a in range(A)], axis=1)
        Q = T0 @ shifted
    else:
        Q = (Tm @ V.reshape(X, -1)).reshape((X, A) + (A,) * (L - 2) + (A,))
    g_all = c.reshape((X,) + (1,) * (L - 1)) + Q.min(axis=-1) - V
    policy = Q.argmin(axis=-1).reshape(policy_shape)
    return LostSalesSolution(average_cost=float(np.median(g_all)), policy=policy, iterations=it, span=span)
