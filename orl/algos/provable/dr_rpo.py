"""DR-RPO and its baselines on d-rectangular linear MDPs: optimistic least-squares value estimates, robust
through the TV/KL duals, with greedy (value-based) or mirror-descent (policy-optimisation) policies.

DR-RPO ("Policy-regularized distributionally robust MDPs with linear function approximation", arXiv
2510.14246) has no public code and only its abstract was available to us: online, episodic, model-free policy
optimisation for d-rectangular robust MDPs, softmax policies regularised towards a reference policy, linear
function approximation with an upper-confidence bonus, sublinear regret. What follows is a reconstruction from
the works it builds on, and every choice below is ours unless attributed:

* **Robust evaluation** (Liu & Xu, "Distributionally robust off-dynamics RL: provable efficiency with linear
  function approximation", AISTATS 2024, arXiv 2402.15399): at step ``h`` the ridge estimate of
  ``mu_i @ f(V_{h+1})`` is ``w_i @ f(V_{h+1})`` with ``W_h = Lambda_h^{-1} sum_tau phi^tau e_{s'^tau}^T``,
  ``Lambda_h = ridge I + sum_tau phi^tau phi^tau^T`` over the episodes so far; the robust coordinate is the
  dual of :mod:`.robust_sets` evaluated with these estimates (TV as Liu & Xu; the KL version applies the same
  construction to the KL dual of Ma et al., arXiv 2209.06620). Storing ``sum_tau phi^tau e_{s'^tau}^T`` is
  the same sum as over the data, possible because the state set is finite (``V_{h+1}`` is computed on every
  state; on large state spaces it would be computed on the visited next states only).
* **Q estimate**: ``Q_h = clip(phi @ (theta + nu_h) + Gamma_h, 0, H - h)``. Rewards are known (``theta``
  given), as in the analyses of LSVI-UCB and OPPO. Bonus ``Gamma_h = bonus * sum_i phi_i
  sqrt([Lambda_h^{-1}]_ii)`` for the robust algorithms (Liu & Xu's d-rectangular bonus) and ``bonus *
  sqrt(phi^T Lambda_h^{-1} phi)`` for the non-robust ones (Jin et al., LSVI-UCB, arXiv 1907.05388). The
  theory's bonus multiplier (of order ``d H sqrt(log K)``) is far too conservative for small runs; ``bonus``
  is a constant, the usual practice in these papers' experiments. What it must do is make a direction with
  no data optimistic: there the estimate is 0 and the bonus ``bonus / sqrt(ridge)``, so the defaults
  (``bonus = 1.6``, ``ridge = 0.1``: 5.06) put it above the horizon ``H = 5`` of the 5-state model. With a
  smaller bonus (e.g. 1 with ridge 1) LSVI-UCB never leaves the first route it finds on that model.
* **Policy step** (OPPO, Cai et al., "Provably efficient exploration in policy optimization", arXiv
  1912.05830, with DR-RPO's KL regularisation to ``pi_ref``): after playing ``pi^k`` and adding its data,
  evaluate ``pi^k`` optimistically (``V_h = pi^k_h @ Q_h - lam KL(pi^k_h || pi_ref)``) and update in closed
  form (:func:`mirror_descent_step`)::

      pi^{k+1}_h(a|s) ∝ pi^k_h(a|s)^{1/(1+eta lam)} pi_ref(a|s)^{eta lam/(1+eta lam)} exp(eta Q_h(s,a)/(1+eta lam))

  which keeps the policy softmax-linear in the accumulated features. ``pi^0 = pi_ref`` (uniform).

The four algorithms (``algo``):

============== =================== ==============================================
``algo``        evaluation          policy
============== =================== ==============================================
``lsvi_ucb``    nominal             greedy in ``Q`` (Jin et al. 2019)
``oppo``        nominal             mirror descent, ``lam = 0`` (Cai et al. 2020)
``dr_lsvi_ucb`` robust (TV or KL)   greedy in ``Q`` (Liu & Xu 2024)
``dr_rpo``      robust (TV or KL)   mirror descent, KL-regularised to ``pi_ref``
============== =================== ==============================================

Regret is measured exactly with :func:`orl.algos.provable.robust_sets.robust_dynamic_programming` against
each algorithm's own objective: the nominal value for ``lsvi_ucb``/``oppo``, the robust value for
``dr_lsvi_ucb``, the regularised robust value (with the same ``lam``) for ``dr_rpo``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .robust_sets import check_divergence, check_rho, regularised_value, robust_dynamic_programming, \
    worst_case_values

ALGOS = ("lsvi_ucb", "oppo", "dr_lsvi_ucb", "dr_rpo")
ROBUST = ("dr_lsvi_ucb", "dr_rpo")
POLICY_OPTIMISATION = ("oppo", "dr_rpo")


@dataclass
class LinearRLConfig:
    """Settings of :func:`train`. ``rho``/``divergence`` are used by the robust algorithms, ``lam`` by DR-RPO
    only (OPPO is its ``lam = 0``, non-robust case), ``eta`` by the policy-optimisation ones."""

    algo: str = "dr_rpo"
    divergence: str = "tv"
    rho: float = 0.3
    lam: float = 0.02
    eta: float = 0.5
    bonus: float = 1.6
    ridge: float = 0.1
    episodes: int = 300
    seed: int = 0

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {ALGOS}, got {self.algo!r}")
        check_divergence(self.divergence)
        check_rho(self.rho)
        for name, low in (("lam", 0.0), ("bonus", 0.0)):
            value = getattr(self, name)
            if not np.isfinite(value) or value < low:
                raise ValueError(f"{name} must be a finite number >= {low}, got {value!r}")
        for name in ("eta", "ridge"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) or self.episodes < 1:
            raise ValueError(f"episodes must be an integer >= 1, got {self.episodes!r}")

    @property
    def objective(self) -> tuple[float, float]:
        """``(rho, lam)`` of the objective this algorithm's regret is measured against."""
        rho = self.rho if self.algo in ROBUST else 0.0
        lam = self.lam if self.algo == "dr_rpo" else 0.0
        return rho, lam


@dataclass
class LinearRLResult:
    """``values[k]``: exact objective value of the policy played in episode ``k`` from the initial state;
    ``optimal``: the objective's optimum; ``regret``: cumulative ``optimal - values``; ``policy``: the policy
    after the last episode ``(H, S, A)`` (greedy in the final optimistic ``Q``, or ``pi^{K+1}``);
    ``returns``: the sampled return of each episode."""

    config: LinearRLConfig
    values: np.ndarray
    optimal: float
    regret: np.ndarray
    policy: np.ndarray
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def summary(self) -> dict:
        return {**asdict(self.config), "optimal": self.optimal, "final_regret": float(self.regret[-1])}


def mirror_descent_step(pi: np.ndarray, Q: np.ndarray, eta: float, lam: float = 0.0,
                        pi_ref: np.ndarray | None = None) -> np.ndarray:
    """The closed-form maximiser over the simplex (last axis) of ``pi' @ Q - lam KL(pi' || pi_ref) -
    KL(pi' || pi) / eta``: ``pi' ∝ pi^{1/(1+eta lam)} pi_ref^{eta lam/(1+eta lam)} exp(eta Q/(1+eta lam))``
    (``lam = 0``: the exponentiated-gradient / OPPO step ``pi' ∝ pi exp(eta Q)``)."""
    if not eta > 0:
        raise ValueError(f"eta (the mirror-descent step size) must be > 0, got {eta!r}")
    if lam < 0:
        raise ValueError(f"lam (the KL-regularisation weight) must be >= 0, got {lam!r}")
    pi = np.asarray(pi, dtype=float)
    pi_ref = np.full_like(pi, 1.0 / pi.shape[-1]) if pi_ref is None else np.asarray(pi_ref, dtype=float)
    tiny = 1e-300
    logits = (np.log(np.maximum(pi, tiny)) + eta * lam * np.log(np.maximum(pi_ref, tiny)) + eta * Q) \
        / (1.0 + eta * lam)
    logits -= logits.max(-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(-1, keepdims=True)


def _bonus(phi: np.ndarray, Lambda_inv: np.ndarray, robust: bool) -> np.ndarray:
    if robust:  # d-rectangular: one confidence width per coordinate (Liu & Xu 2024)
        return phi @ np.sqrt(np.diag(Lambda_inv))
    return np.sqrt(np.einsum("sai,ij,saj->sa", phi, Lambda_inv, phi))


def _greedy(Q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One-hot greedy policy with ties broken uniformly at random: the clip at ``H - h`` makes every
    under-explored action tie at the top, and a fixed tie-break (the first action) would never try the others."""
    best = np.isclose(Q, Q.max(-1, keepdims=True), rtol=0.0, atol=1e-12)
    keys = np.where(best, rng.random(Q.shape), -1.0)
    return np.eye(Q.shape[-1])[keys.argmax(-1)]


def train(model, config: LinearRLConfig, progress: bool = False) -> LinearRLResult:
    """Run ``config.algo`` for ``config.episodes`` episodes on the nominal dynamics of ``model`` (a
    :class:`orl_envs.linear_mdp.DRectangularLinearMDP`), measuring each episode's policy exactly."""
    cfg = config
    phi, theta, H = model.phi, model.theta, model.horizon
    S, A, d = phi.shape
    robust = cfg.algo in ROBUST
    policy_opt = cfg.algo in POLICY_OPTIMISATION
    rho_obj, lam = cfg.objective
    pi_ref = np.full((S, A), 1.0 / A)
    target = robust_dynamic_programming(phi, model.factors, theta, H, rho_obj, cfg.divergence, lam=lam,
                                        pi_ref=pi_ref)
    optimal = float(target["V"][0, model.initial_state])
    P0, reward = model.kernel(0.0), model.reward()
    rng = np.random.default_rng(cfg.seed)
    Lambda = np.broadcast_to(cfg.ridge * np.eye(d), (H, d, d)).copy()
    counts = np.zeros((H, d, S))           # sum_tau phi^tau e_{s'^tau}^T per step
    pi = np.broadcast_to(pi_ref, (H, S, A)).copy()
    values = np.zeros(cfg.episodes)
    returns = np.zeros(cfg.episodes)
    episodes = range(cfg.episodes)
    if progress:
        from tqdm import tqdm
        episodes = tqdm(episodes, desc=cfg.algo, leave=False)

    def optimistic_q(policy: np.ndarray | None) -> np.ndarray:
        """Backward pass over the current data; ``policy`` None: greedy values (value-based)."""
        Q = np.zeros((H, S, A))
        V_next = np.zeros(S)
        for h in range(H - 1, -1, -1):
            Lambda_inv = np.linalg.inv(Lambda[h])
            W = Lambda_inv @ counts[h]     # (d, S): row i estimates mu_i
            nu = worst_case_values(W, V_next, cfg.rho, cfg.divergence) if robust else W @ V_next
            Q[h] = np.clip(phi @ (theta + nu) + cfg.bonus * _bonus(phi, Lambda_inv, robust), 0.0, H - h)
            V_next = Q[h].max(-1) if policy is None else regularised_value(policy[h], Q[h], lam, pi_ref)
        return Q

    for k in episodes:
        if not policy_opt:
            pi = _greedy(optimistic_q(None), rng)
        values[k] = robust_dynamic_programming(phi, model.factors, theta, H, rho_obj, cfg.divergence, pi=pi,
                                               lam=lam, pi_ref=pi_ref)["V"][0, model.initial_state]
        s = model.initial_state
        for h in range(H):
            a = rng.choice(A, p=pi[h, s])
            s_next = rng.choice(S, p=P0[s, a])
            f = phi[s, a]
            Lambda[h] += np.outer(f, f)
            counts[h, :, s_next] += f
            returns[k] += reward[s, a]
            s = s_next
        if policy_opt:
            Q = optimistic_q(pi)
            pi = mirror_descent_step(pi, Q, cfg.eta, lam, pi_ref)
    if policy_opt:
        final = pi
    else:
        final = _greedy(optimistic_q(None), rng)
    return LinearRLResult(config=cfg, values=values, optimal=optimal, regret=np.cumsum(optimal - values),
                          policy=final, returns=returns)


def loglog_slope(regret: np.ndarray, start_fraction: float = 0.1) -> float:
    """Least-squares slope of ``log regret(k)`` against ``log k`` over episodes ``k >= start_fraction * K``
    (the early episodes, where every algorithm explores, are left out): below 1 means sublinear growth."""
    regret = np.asarray(regret, dtype=float)
    K = len(regret)
    k = np.arange(1, K + 1)
    keep = (k >= max(2, int(start_fraction * K))) & (regret > 0)
    if keep.sum() < 2:  # no (or a single) positive cumulative regret: it does not grow at all
        return 0.0
    return float(np.polyfit(np.log(k[keep]), np.log(regret[keep]), 1)[0])
