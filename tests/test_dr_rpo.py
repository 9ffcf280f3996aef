"""DR-RPO (issue 20): the TV/KL duals against brute-force worst cases, the closed-form mirror-descent step
against a numerical argmax, exact robust dynamic programming against worst-case kernels, and DR-RPO's regret
on the 5-state d-rectangular linear MDP."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from orl.algos.provable.dr_rpo import LinearRLConfig, loglog_slope, mirror_descent_step, train
from orl.algos.provable.exact import episodic_policy_evaluation, episodic_value_iteration
from orl.algos.provable.robust_sets import kl_dual, robust_dynamic_programming, tv_dual, tv_worst_case
from orl_envs.linear_mdp import action_bits, five_state_model, random_model


def _tv_linprog(mu0, V, rho):
    """min mu @ V over the simplex with sum |mu - mu0| <= 2 rho (variables mu and t >= |mu - mu0|)."""
    S = len(V)
    A_ub = np.block([[np.eye(S), -np.eye(S)], [-np.eye(S), -np.eye(S)], [np.zeros((1, S)), np.ones((1, S))]])
    res = linprog(np.r_[V, np.zeros(S)], A_ub=A_ub, b_ub=np.r_[mu0, -mu0, 2 * rho],
                  A_eq=np.r_[np.ones(S), np.zeros(S)][None], b_eq=[1.0], bounds=[(0, None)] * (2 * S))
    assert res.success
    return res.fun


def test_tv_dual_and_primal_match_linprog():
    rng = np.random.default_rng(0)
    for trial in range(30):
        S = int(rng.integers(2, 7))
        mu0 = rng.dirichlet(np.ones(S) * 0.7)
        V = rng.uniform(0, 5, S)
        rho = [0.0, 1.2, *rng.uniform(0, 1, 28)][trial]
        brute = _tv_linprog(mu0, V, rho)
        assert tv_dual(mu0, V, rho)[0] == pytest.approx(brute, abs=1e-8)
        mu = tv_worst_case(mu0, V, rho)
        assert mu.min() >= 0 and mu.sum() == pytest.approx(1.0)
        assert 0.5 * np.abs(mu - mu0).sum() <= rho + 1e-12
        assert mu @ V == pytest.approx(brute, abs=1e-8)


def _kl(mu, mu0):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mu > 0, mu * np.log(mu / mu0), 0.0).sum(-1)


def test_kl_dual_matches_dense_search_over_the_simplex():
    """On 3 states: every point of a 0.001 grid of the simplex inside the KL ball; the dual equals the best
    of them up to the grid's resolution and is never above the true minimum (weak duality)."""
    rng = np.random.default_rng(1)
    g = np.arange(0, 1001) / 1000
    a, b = np.meshgrid(g, g, indexing="ij")
    keep = a + b <= 1
    grid = np.stack([a[keep], b[keep], 1 - a[keep] - b[keep]], -1)
    for _ in range(6):
        mu0 = rng.dirichlet(np.ones(3))
        V = rng.uniform(0, 4, 3)
        rho = rng.uniform(0.01, 1.0)
        inside = _kl(grid, mu0) <= rho
        brute = (grid[inside] @ V).min()
        dual = kl_dual(mu0, V, rho)[0]
        assert dual <= brute + 1e-9
        assert dual == pytest.approx(brute, abs=5e-3)


def test_kl_dual_matches_a_convex_solve():
    rng = np.random.default_rng(2)
    for _ in range(8):
        S = int(rng.integers(3, 6))
        mu0 = rng.dirichlet(np.ones(S))
        V = rng.uniform(0, 5, S)
        rho = rng.uniform(0.01, 1.5)
        cons = [{"type": "ineq", "fun": lambda m: rho - _kl(np.maximum(m, 1e-15), mu0)},
                {"type": "eq", "fun": lambda m: m.sum() - 1}]
        best = min((minimize(lambda m: m @ V, x0, constraints=cons, bounds=[(1e-15, 1)] * S, method="SLSQP",
                             options={"ftol": 1e-13, "maxiter": 1000})
                    for x0 in [mu0, *rng.dirichlet(np.ones(S), 4)]), key=lambda r: r.fun if r.success else np.inf)
        assert kl_dual(mu0, V, rho)[0] == pytest.approx(best.fun, abs=1e-6)
    assert kl_dual(mu0, V, 0.0)[0] == pytest.approx(mu0 @ V)


def test_estimated_duals_converge_to_the_exact_ones():
    """The learners' path: regression weights ``Lambda^{-1} sum phi e_{s'}^T`` from samples of each factor."""
    rng = np.random.default_rng(3)
    mu = rng.dirichlet(np.ones(5), size=3)
    V = rng.uniform(0, 3, 5)
    n = 20_000
    counts = np.stack([rng.multinomial(n, m) for m in mu]).astype(float)
    W = np.linalg.solve(0.1 * np.eye(3) + n * np.eye(3), counts)       # one-hot features, n samples each
    np.testing.assert_allclose(tv_dual(W, V, 0.2), tv_dual(mu, V, 0.2), atol=0.03)
    np.testing.assert_allclose(kl_dual(W, V, 0.2), kl_dual(mu, V, 0.2), atol=0.03)


def test_mirror_descent_step_is_the_argmax_of_the_regularised_objective():
    rng = np.random.default_rng(4)
    for lam in (0.0, 0.05, 0.7):
        A = 5
        pi, ref = rng.dirichlet(np.ones(A)), rng.dirichlet(np.ones(A))
        Q = rng.uniform(0, 3, A)
        eta = 0.8

        def negative(logits):
            p = np.exp(logits - logits.max())
            p /= p.sum()
            return -(p @ Q - lam * (p * np.log(p / ref)).sum() - (p * np.log(p / pi)).sum() / eta)

        numeric = minimize(negative, np.zeros(A), method="BFGS", options={"gtol": 1e-10})
        p_num = np.exp(numeric.x - numeric.x.max())
        p_num /= p_num.sum()
        closed = mirror_descent_step(pi, Q, eta, lam, ref)
        np.testing.assert_allclose(closed, p_num, atol=1e-5)
        assert -negative(np.log(closed)) >= -numeric.fun - 1e-10


def test_robust_dp_is_the_value_under_its_worst_case_kernel():
    """TV: the robust values equal exact policy evaluation on the kernel built from each factor's worst case
    (the primal), and lie below the values under the q-shifted kernel for q <= rho (it is in the set)."""
    m = five_state_model()
    rho, H = 0.3, m.horizon
    robust = robust_dynamic_programming(m.phi, m.factors, m.theta, H, rho, "tv")
    pi = robust["policy"]
    worst = np.stack([m.kernel(factors=np.stack([tv_worst_case(mu, robust["V"][h + 1], rho) for mu in m.factors]))
                      for h in range(H)])
    np.testing.assert_allclose(episodic_policy_evaluation(worst, m.reward(), pi), robust["V"], atol=1e-10)
    for q in (0.1, 0.3):
        shifted = episodic_policy_evaluation(m.kernel(q), m.reward(), pi, H)
        assert np.all(robust["V"] <= shifted + 1e-12)
    # rho = 0: the nominal optimum of the exact solver
    nominal = robust_dynamic_programming(m.phi, m.factors, m.theta, H, 0.0, "kl")
    np.testing.assert_allclose(nominal["V"], episodic_value_iteration(m.kernel(0), m.reward(), H).V, atol=1e-10)
    # the regularised optimum beats the regularised value of other policies
    lam = 0.1
    best = robust_dynamic_programming(m.phi, m.factors, m.theta, H, rho, "kl", lam=lam)
    again = robust_dynamic_programming(m.phi, m.factors, m.theta, H, rho, "kl", pi=best["policy"], lam=lam)
    np.testing.assert_allclose(again["V"], best["V"], atol=1e-9)
    rng = np.random.default_rng(5)
    for _ in range(5):
        other = rng.dirichlet(np.ones(m.num_actions), size=(H, m.num_states))
        value = robust_dynamic_programming(m.phi, m.factors, m.theta, H, rho, "kl", pi=other, lam=lam)["V"]
        assert np.all(value <= best["V"] + 1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_robust_dp_on_random_d_rectangular_models(seed):
    """On random members of the family: TV values are those of the worst-case kernel; KL values decrease in
    rho and lie below the value under any shift whose factors are inside the KL ball."""
    m = random_model(num_states=6, num_actions=3, dim=4, horizon=4, seed=seed)
    H, R = m.horizon, m.reward()
    tv = robust_dynamic_programming(m.phi, m.factors, m.theta, H, 0.2, "tv")
    worst = np.stack([m.kernel(factors=np.stack([tv_worst_case(mu, tv["V"][h + 1], 0.2) for mu in m.factors]))
                      for h in range(H)])
    np.testing.assert_allclose(episodic_policy_evaluation(worst, R, tv["policy"]), tv["V"], atol=1e-10)
    values = [robust_dynamic_programming(m.phi, m.factors, m.theta, H, rho, "kl")["V"][0] for rho in (0, 0.05, 0.3)]
    assert np.all(np.diff(values, axis=0) <= 1e-9) and np.any(values[0] - values[2] > 1e-3)
    rho = 0.3
    kl = robust_dynamic_programming(m.phi, m.factors, m.theta, H, rho, "kl")
    q = 0.9
    while _kl(m.perturbed_factors(q), m.factors).max() > rho:
        q *= 0.8
    shifted = episodic_policy_evaluation(m.kernel(q), R, kl["policy"], H)
    assert q > 0.01 and np.all(kl["V"] <= shifted + 1e-6)


def test_dr_rpo_regret_is_sublinear_on_the_five_state_mdp():
    """Acceptance: the log-log slope of DR-RPO's cumulative regret (against the exact regularised robust
    optimum, TV, rho = 0.3) is below 1 over K = 400 episodes on every one of 4 seeds and well below for the
    seed mean; the non-learning reference policy's regret is linear (slope 1) and over 4x larger."""
    m = five_state_model()
    K = 400
    runs = [train(m, LinearRLConfig(algo="dr_rpo", divergence="tv", episodes=K, seed=s)) for s in range(4)]
    slopes = [loglog_slope(r.regret) for r in runs]
    mean_regret = np.mean([r.regret for r in runs], axis=0)
    assert max(slopes) < 1.0, slopes
    assert loglog_slope(mean_regret) < 0.85, loglog_slope(mean_regret)
    ref = runs[0].config
    uniform = np.full((m.horizon, m.num_states, m.num_actions), 1.0 / m.num_actions)
    value = robust_dynamic_programming(m.phi, m.factors, m.theta, m.horizon, ref.rho, "tv", pi=uniform,
                                       lam=ref.lam)["V"][0, 0]
    uniform_regret = (runs[0].optimal - value) * np.arange(1, K + 1)
    assert loglog_slope(uniform_regret) == pytest.approx(1.0)
    assert mean_regret[-1] < 0.25 * uniform_regret[-1]


def test_dr_rpo_learns_with_the_kl_set():
    """DR-RPO (KL, rho = 0.4; one seed, 200 episodes, the KL dual is the slow part): it ends on the KL-robust
    route (safe) and its last 50 episodes' regret per episode is under a tenth of the reference policy's."""
    m = five_state_model()
    run = train(m, LinearRLConfig(algo="dr_rpo", divergence="kl", rho=0.4, episodes=200, seed=0))
    uniform = np.full((m.horizon, m.num_states, m.num_actions), 1.0 / m.num_actions)
    value = robust_dynamic_programming(m.phi, m.factors, m.theta, m.horizon, 0.4, "kl", pi=uniform,
                                       lam=run.config.lam)["V"][0, 0]
    safe = action_bits(3)[:, 0] == -1
    assert run.policy[0, 0, safe].sum() > 0.8
    assert np.diff(run.regret)[-50:].mean() < 0.1 * (run.optimal - value)


def test_value_based_learners_end_on_their_objectives_route():
    """LSVI-UCB ends on the nominal optimum (risky route, aligned bits); DR-LSVI-UCB on the robust one (safe)."""
    m = five_state_model()
    bits = action_bits(3)
    lsvi = train(m, LinearRLConfig(algo="lsvi_ucb", episodes=600, seed=0)).policy
    robust = train(m, LinearRLConfig(algo="dr_lsvi_ucb", episodes=300, seed=0)).policy
    assert bits[lsvi[0, 0].argmax(), 0] == 1 and np.all(bits[lsvi[1, 1].argmax(), 1:] == 1)
    assert bits[robust[0, 0].argmax(), 0] == -1


@pytest.mark.parametrize("kwargs, match", [
    ({"algo": "ppo"}, "algo must be one of"),
    ({"divergence": "chi2"}, r"divergence must be one of \('tv', 'kl'\), got 'chi2'"),
    ({"rho": -0.1}, "rho .* must be a finite number >= 0, got -0.1"),
    ({"eta": 0.0}, "eta must be a finite number > 0"),
    ({"episodes": 0}, "episodes must be an integer >= 1"),
])
def test_bad_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LinearRLConfig(**kwargs)
