"""Exact solvers for finite tabular MDPs: the ground truth against which the provable algorithms' regret and
suboptimality are measured.

Two settings, one module:

* **episodic** (finite horizon ``H``, undiscounted): kernels ``P`` of shape ``(S, A, S)`` (stationary) or
  ``(H, S, A, S)`` (one per step ``h``), rewards ``R`` of shape ``(S, A)`` or ``(H, S, A)``. Values are indexed by
  the step, ``V[h]`` for ``h = 0..H`` with ``V[H] = 0``; this is the setting of DR-RPO and LSVI-UCB.
* **discounted** (infinite horizon, factor ``gamma < 1``): ``P`` of shape ``(S, A, S)``, ``R`` of shape ``(S, A)``;
  this is the setting of action grouping.

Policies are either deterministic (integer arrays of actions, ``(S,)`` or ``(H, S)``) or stochastic
(probability arrays, ``(S, A)`` or ``(H, S, A)``). Everything is NumPy; the sizes these algorithms are studied on
(tens to thousands of states) solve in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check_kernel(P: np.ndarray, R: np.ndarray) -> tuple[int, int]:
    P = np.asarray(P)
    R = np.asarray(R)
    if P.ndim not in (3, 4) or P.shape[-1] != P.shape[-3]:
        raise ValueError(f"P must have shape (S, A, S) or (H, S, A, S), got {P.shape}")
    S, A = P.shape[-3], P.shape[-2]
    if R.shape[-2:] != (S, A) or R.ndim not in (2, 3):
        raise ValueError(f"R must have shape (S, A) = ({S}, {A}) or (H, S, A), got {R.shape}")
    if np.any(P < -1e-12) or not np.allclose(P.sum(-1), 1.0, atol=1e-8):
        raise ValueError("every row P[..., s, a, :] must be a probability distribution (non-negative, sums to 1)")
    return S, A


def policy_matrix(pi: np.ndarray, num_actions: int) -> np.ndarray:
    """A policy as probabilities over actions: deterministic integer actions become one-hot rows."""
    pi = np.asarray(pi)
    if np.issubdtype(pi.dtype, np.integer):
        if pi.size and (pi.min() < 0 or pi.max() >= num_actions):
            raise ValueError(f"deterministic policy has actions outside 0..{num_actions - 1}")
        return np.eye(num_actions)[pi]
    if pi.shape[-1] != num_actions:
        raise ValueError(f"stochastic policy must end in the action dimension {num_actions}, got shape {pi.shape}")
    return pi


@dataclass
class EpisodicSolution:
    """Optimal values of an episodic MDP: ``Q[h, s, a]``, ``V[h, s]`` (``V[H] = 0``), greedy ``policy[h, s]``."""

    Q: np.ndarray
    V: np.ndarray
    policy: np.ndarray


def _kernel_at(P: np.ndarray, h: int) -> np.ndarray:
    return P[h] if P.ndim == 4 else P


def _reward_at(R: np.ndarray, h: int) -> np.ndarray:
    return R[h] if R.ndim == 3 else R


def episodic_value_iteration(P: np.ndarray, R: np.ndarray, horizon: int | None = None) -> EpisodicSolution:
    """Backward induction: ``Q_h = R_h + P_h V_{h+1}``, ``V_h = max_a Q_h``, ``V_H = 0``.

    ``horizon`` is required when both ``P`` and ``R`` are stationary and must match their leading dimension
    otherwise.
    """
    P, R = np.asarray(P, dtype=float), np.asarray(R, dtype=float)
    S, A = _check_kernel(P, R)
    H = _horizon(P, R, horizon)
    Q = np.zeros((H, S, A))
    V = np.zeros((H + 1, S))
    for h in range(H - 1, -1, -1):
        Q[h] = _reward_at(R, h) + _kernel_at(P, h) @ V[h + 1]
        V[h] = Q[h].max(-1)
    return EpisodicSolution(Q=Q, V=V, policy=Q.argmax(-1))


def episodic_policy_evaluation(P: np.ndarray, R: np.ndarray, pi: np.ndarray,
                               horizon: int | None = None) -> np.ndarray:
    """Values ``V[h, s]`` (``h = 0..H``) of a (possibly non-stationary) policy; ``pi`` is ``(S,)``/``(S, A)``
    (stationary) or ``(H, S)``/``(H, S, A)``."""
    P, R = np.asarray(P, dtype=float), np.asarray(R, dtype=float)
    S, A = _check_kernel(P, R)
    H = _horizon(P, R, horizon)
    probs = policy_matrix(pi, A)
    if probs.shape not in ((S, A), (H, S, A)):
        raise ValueError(f"policy must have shape ({S},)/({S}, {A}) or ({H}, {S})/({H}, {S}, {A})")
    V = np.zeros((H + 1, S))
    for h in range(H - 1, -1, -1):
        q = _reward_at(R, h) + _kernel_at(P, h) @ V[h + 1]
        V[h] = ((probs[h] if probs.ndim == 3 else probs) * q).sum(-1)
    return V


def _horizon(P: np.ndarray, R: np.ndarray, horizon: int | None) -> int:
    lengths = {x.shape[0] for x, nd in ((P, 4), (R, 3)) if x.ndim == nd}
    if horizon is not None:
        lengths.add(int(horizon))
    if not lengths:
        raise ValueError("horizon is required when P and R are both stationary")
    if len(lengths) > 1:
        raise ValueError(f"inconsistent horizons: per-step P/R and horizon give {sorted(lengths)}")
    H = lengths.pop()
    if H < 1:
        raise ValueError(f"horizon must be >= 1, got {H}")
    return H


def _discounted(P: np.ndarray, R: np.ndarray, gamma: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``P``, ``R`` as float arrays with their sizes, refused by name unless a stationary discounted MDP."""
    P, R = np.asarray(P, dtype=float), np.asarray(R, dtype=float)
    S, A = _check_kernel(P, R)
    if P.ndim != 3 or R.ndim != 2:
        raise ValueError("discounted MDPs take a stationary P (S, A, S) and R (S, A)")
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1), got {gamma}")
    return P, R, S, A


@dataclass
class DiscountedSolution:
    """Optimal values of a discounted MDP: ``Q[s, a]``, ``V[s]``, greedy ``policy[s]`` and the iterations used."""

    Q: np.ndarray
    V: np.ndarray
    policy: np.ndarray
    iterations: int


def discounted_value_iteration(P: np.ndarray, R: np.ndarray, gamma: float, tol: float = 1e-10,
                               max_iterations: int = 100_000, iterations: int | None = None,
                               V0: np.ndarray | None = None) -> DiscountedSolution:
    """Value iteration ``V <- max_a (R + gamma P V)``.

    Without ``iterations`` it runs until the sup-norm change is below ``tol (1 - gamma) / (2 gamma)`` — then the
    greedy policy's value is within ``tol`` of optimal (Puterman, Thm 6.3.1) — or ``max_iterations``. With
    ``iterations = K`` it runs exactly ``K`` sweeps from ``V0`` (default 0): the iteration budget ``K`` of a
    planning-error analysis.
    """
    P, R, S, A = _discounted(P, R, gamma)
    V = np.zeros(S) if V0 is None else np.asarray(V0, dtype=float).copy()
    threshold = tol * (1 - gamma) / (2 * gamma) if gamma > 0 else np.inf
    limit = max_iterations if iterations is None else int(iterations)
    Q = R + gamma * (P @ V)
    k = 0
    while k < limit:
        V_new = Q.max(-1)
        delta = np.abs(V_new - V).max()
        V = V_new
        Q = R + gamma * (P @ V)
        k += 1
        if iterations is None and delta < threshold:
            break
    return DiscountedSolution(Q=Q, V=V if iterations is not None else Q.max(-1), policy=Q.argmax(-1), iterations=k)


def discounted_policy_evaluation(P: np.ndarray, R: np.ndarray, gamma: float, pi: np.ndarray) -> np.ndarray:
    """The exact value ``V^pi = (I - gamma P_pi)^{-1} r_pi`` of a stationary policy (deterministic or stochastic)."""
    P, R, S, A = _discounted(P, R, gamma)
    probs = policy_matrix(pi, A)
    if probs.shape != (S, A):
        raise ValueError(f"policy must have shape ({S},) or ({S}, {A}), got {np.shape(pi)}")
    P_pi = np.einsum("sa,sat->st", probs, P)
    r_pi = (probs * R).sum(-1)
    return np.linalg.solve(np.eye(S) - gamma * P_pi, r_pi)
