"""Worst cases over TV and KL balls through their duals, and exact robust dynamic programming over the
d-rectangular uncertainty set of a linear MDP.

For a distribution ``mu0`` over ``S`` states, a value vector ``V`` and a radius ``rho``:

* **TV** (total variation, ``TV(mu, mu0) = 1/2 ||mu - mu0||_1``; Iyengar, "Robust dynamic programming", Math.
  OR 2005; the dual in the form used by Shi et al., arXiv 2305.16589, and Liu & Xu, arXiv 2402.15399)::

      inf_{TV(mu, mu0) <= rho} mu @ V = max_{alpha in [min V, max V]} { mu0 @ min(V, alpha) - rho (alpha - min V) }

  The objective is concave and piecewise linear in ``alpha`` with kinks at the entries of ``V``, so the max
  is attained at one of them: the dual is evaluated exactly on that finite set.
* **KL** (``KL(mu || mu0)``; Hu & Hong, "Kullback-Leibler divergence constrained distributionally robust
  optimization", 2013)::

      inf_{KL(mu || mu0) <= rho} mu @ V = sup_{beta > 0} { -beta log(mu0 @ exp(-V / beta)) - beta rho }

  maximised over ``log beta`` on a grid, then refined by golden-section search around the best grid point.

Both dual functions take ``W`` ``(n, S)``: rows are either distributions (the exact worst case of each row) or,
in the learning algorithms, regression weights ``w_i = (Lambda^{-1} sum_tau phi^tau e_{s'^tau}^T)_i`` whose
products ``w_i @ f(V)`` are ridge estimates of ``mu_i @ f(V)`` (Liu & Xu's estimated dual). One
implementation serves both: the estimated dual is the exact one with estimated expectations.
:func:`tv_worst_case` is the primal (the worst distribution itself) for checking and for building worst-case
kernels.
"""

from __future__ import annotations

import numpy as np

DIVERGENCES = ("tv", "kl")


def check_divergence(divergence: str) -> str:
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")
    return divergence


def check_rho(rho: float) -> float:
    if isinstance(rho, bool) or not isinstance(rho, (int, float, np.integer, np.floating)) \
            or not np.isfinite(rho) or rho < 0:
        raise ValueError(f"rho (the uncertainty radius) must be a finite number >= 0, got {rho!r}")
    return float(rho)


def _as_rows(W: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    W = np.atleast_2d(np.asarray(W, dtype=float))
    V = np.asarray(V, dtype=float)
    if V.ndim != 1 or W.shape[-1] != V.shape[0]:
        raise ValueError(f"W must have shape (n, S) and V shape (S,), got {W.shape} and {V.shape}")
    return W, V


def tv_dual(W: np.ndarray, V: np.ndarray, rho: float) -> np.ndarray:
    """``max_alpha { W @ min(V, alpha) - rho (alpha - min V) }`` per row of ``W``, over ``alpha`` in the
    entries of ``V`` (exact: the maximiser of this concave piecewise-linear function is one of its kinks).

    With ``rho >= 1`` the ball contains the point mass on ``argmin V`` and the value is ``min V``.
    """
    W, V = _as_rows(W, V)
    rho = check_rho(rho)
    alphas = np.unique(V)                                    # the kinks, ascending
    clipped = np.minimum(V[:, None], alphas[None, :])         # (S, n_alpha): [V]_alpha
    objective = W @ clipped - rho * (alphas - V.min())[None, :]
    return objective.max(-1)


def tv_worst_case(mu0: np.ndarray, V: np.ndarray, rho: float) -> np.ndarray:
    """The minimiser of ``mu @ V`` over ``TV(mu, mu0) <= rho``: move mass ``min(rho, 1 - mu0[argmin V])``
    from the highest-value states (highest first) onto one state of minimal value."""
    mu0 = np.asarray(mu0, dtype=float)
    V = np.asarray(V, dtype=float)
    rho = check_rho(rho)
    mu = mu0.copy()
    low = int(np.argmin(V))
    budget = min(rho, 1.0 - mu[low])
    for s in np.argsort(-V, kind="stable"):
        if budget <= 0 or s == low:
            continue
        moved = min(budget, mu[s])
        mu[s] -= moved
        mu[low] += moved
        budget -= moved
    return mu


def kl_dual(W: np.ndarray, V: np.ndarray, rho: float, grid: int = 48, refine: int = 40) -> np.ndarray:
    """``sup_{beta > 0} { -beta log(W @ exp(-V / beta)) - beta rho }`` per row of ``W``.

    Computed stably with ``V`` shifted by its minimum. Estimated rows (regression weights) can give
    ``W @ exp(-(V - min V) / beta)`` outside the range a distribution allows; it is clipped to
    ``[exp(-(max V - min V) / beta), 1]``, the range of the true expectation (a reconstruction choice: Liu &
    Xu and Ma et al. truncate the estimate the same way in spirit, to keep the log defined). ``beta`` ranges
    over ``[1e-6, 1e3] * max(1, max V - min V)``; ``rho = 0`` returns ``W @ V`` (the limit
    ``beta -> infinity``).
    """
    W, V = _as_rows(W, V)
    rho = check_rho(rho)
    if rho == 0.0:
        return W @ V
    v_min = V.min()
    spread = V - v_min
    scale = max(1.0, float(spread.max()))
    lo, hi = np.log(1e-6 * scale), np.log(1e3 * scale)

    def objective(log_beta: np.ndarray) -> np.ndarray:  # log_beta (n, m) -> (n, m)
        beta = np.exp(log_beta)
        z = np.einsum("ns,nms->nm", W, np.exp(-spread[None, None, :] / beta[..., None]))
        floor = np.maximum(np.exp(-spread.max() / beta), 1e-300)
        z = np.clip(z, floor, 1.0)
        return v_min - beta * np.log(z) - beta * rho

    n = W.shape[0]
    logs = np.broadcast_to(np.linspace(lo, hi, grid), (n, grid))
    values = objective(logs)
    best = values.argmax(-1)
    step = (hi - lo) / (grid - 1)
    a = np.maximum(logs[np.arange(n), best] - step, lo)
    b = np.minimum(logs[np.arange(n), best] + step, hi)
    ratio = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(refine):                                  # golden-section search on each row's bracket
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        fc, fd = objective(c[:, None])[:, 0], objective(d[:, None])[:, 0]
        left = fc >= fd
        b = np.where(left, d, b)
        a = np.where(left, a, c)
    refined = objective(((a + b) / 2)[:, None])[:, 0]
    return np.maximum(values.max(-1), refined)


def worst_case_values(W: np.ndarray, V: np.ndarray, rho: float, divergence: str) -> np.ndarray:
    """The dual of ``divergence`` (``"tv"`` or ``"kl"``) for each row of ``W``: the robust expectation."""
    if check_divergence(divergence) == "tv":
        return tv_dual(W, V, rho)
    return kl_dual(W, V, rho)


def _soft_values(Q: np.ndarray, lam: float, pi_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``max_pi { pi @ Q - lam KL(pi || pi_ref) }`` and its maximiser, per state: ``lam log sum pi_ref e^{Q/lam}``
    and ``pi ∝ pi_ref exp(Q / lam)`` (``lam = 0``: the max and a greedy one-hot policy)."""
    if lam == 0.0:
        pi = np.eye(Q.shape[-1])[Q.argmax(-1)]
        return Q.max(-1), pi
    logits = np.log(np.maximum(pi_ref, 1e-300)) + Q / lam
    top = logits.max(-1, keepdims=True)
    weights = np.exp(logits - top)
    total = weights.sum(-1, keepdims=True)
    return lam * (top[..., 0] + np.log(total[..., 0])), weights / total


def regularised_value(pi: np.ndarray, Q: np.ndarray, lam: float, pi_ref: np.ndarray) -> np.ndarray:
    """``sum_a pi(a|s) Q(s, a) - lam KL(pi(.|s) || pi_ref(.|s))`` per state."""
    value = (pi * Q).sum(-1)
    if lam == 0.0:
        return value
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(pi > 0, pi * (np.log(pi) - np.log(np.maximum(pi_ref, 1e-300))), 0.0).sum(-1)
    return value - lam * kl


def robust_dynamic_programming(phi: np.ndarray, factors: np.ndarray, theta: np.ndarray, horizon: int,
                               rho: float, divergence: str, pi: np.ndarray | None = None, lam: float = 0.0,
                               pi_ref: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact robust values of a d-rectangular linear MDP (Ma et al., arXiv 2209.06620; Liu & Xu 2024):

        Q_h(s, a) = phi(s, a) @ (theta + nu_h),   nu_{h,i} = inf_{D(mu, mu_i) <= rho} mu @ V_{h+1},
        V_h(s) = max_pi { pi @ Q_h(s) - lam KL(pi || pi_ref) }   (optimal; ``lam = 0``: max_a Q_h(s, a)),
        V_h(s) = pi_h(s) @ Q_h(s) - lam KL(pi_h(s) || pi_ref(s))  (evaluation of a given ``pi`` (H, S, A)).

    ``lam > 0`` is the policy-regularised robust objective DR-RPO optimises (arXiv 2510.14246);
    ``pi_ref`` defaults to uniform. Returns ``Q`` ``(H, S, A)``, ``V`` ``(H + 1, S)``, ``nu`` ``(H, d)`` and,
    for the optimal problem, the optimal ``policy`` ``(H, S, A)``.
    """
    phi, factors, theta = (np.asarray(x, dtype=float) for x in (phi, factors, theta))
    S, A, d = phi.shape
    if lam < 0:
        raise ValueError(f"lam (the KL-regularisation weight) must be >= 0, got {lam!r}")
    pi_ref = np.full((S, A), 1.0 / A) if pi_ref is None else np.asarray(pi_ref, dtype=float)
    Q = np.zeros((horizon, S, A))
    V = np.zeros((horizon + 1, S))
    nu = np.zeros((horizon, d))
    policy = np.zeros((horizon, S, A))
    for h in range(horizon - 1, -1, -1):
        nu[h] = worst_case_values(factors, V[h + 1], rho, divergence)
        Q[h] = phi @ (theta + nu[h])
        if pi is None:
            V[h], policy[h] = _soft_values(Q[h], lam, pi_ref)
        else:
            V[h] = regularised_value(pi[h], Q[h], lam, pi_ref)
    out = {"Q": Q, "V": V, "nu": nu}
    if pi is None:
        out["policy"] = policy
    return out
