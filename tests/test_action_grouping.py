"""Action grouping (Li, Ju & Shroff, ICLR 2024, arXiv 2306.12981; reconstruction) and its generator env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import orl_envs
from orl.algos.provable.action_grouping import (
    grouping_errors,
    lift_policy,
    nested_groupings,
    run_grouping,
    same_partition,
    sample_model,
    select_num_groups,
)
from orl.algos.provable.exact import discounted_value_iteration
from orl_envs.grouped_actions import GROUPED_ACTIONS_IDS, generate_grouped_mdp

GAMMA = 0.9


@pytest.mark.parametrize("env_id", list(GROUPED_ACTIONS_IDS))
def test_check_env_and_registered(env_id):
    assert env_id in orl_envs.ENV_IDS
    env = gym.make(env_id, render_mode="rgb_array")
    check_env(env.unwrapped)  # render check included
    env.reset(seed=0)
    assert env.render().shape == (16, 16 * env.observation_space.n, 3)


def test_exact_seeding_and_true_model_exposed():
    env = gym.make("orl/GroupedActions-v0")
    traj = []
    for _ in range(2):
        s, _ = env.reset(seed=3)
        out = [s]
        for a in range(20):
            s, r, *_ = env.step(a % env.action_space.n)
            out += [s, r]
        traj.append(out)
    assert traj[0] == traj[1]
    u = env.unwrapped
    np.testing.assert_allclose(u.P.sum(-1), 1.0)
    assert u.groups.shape == (u.action_space.n,) and len(np.unique(u.groups)) == 4


def test_generator_bad_input_names_value():
    with pytest.raises(ValueError, match="num_groups.*got 50"):
        generate_grouped_mdp(num_actions=40, num_groups=50)
    with pytest.raises(ValueError, match="epsilon.*got -0.1"):
        generate_grouped_mdp(epsilon=-0.1)


def test_exact_grouping_has_zero_group_error():
    m = generate_grouped_mdp(4, 12, 3, 0.0, seed=1)
    e = grouping_errors(m.P, m.R, m.groups, GAMMA)
    assert (e.eps_P, e.eps_R, e.eps_V) == (0.0, 0.0, 0.0)
    wrong = grouping_errors(m.P, m.R, np.arange(12) % 3, GAMMA)  # a wrong grouping mixes kernels
    assert wrong.eps_P > 0.1 and wrong.eps_V > 0.01


def test_lifted_policy_of_true_grouping_is_optimal_when_groups_are_exact():
    m = generate_grouped_mdp(5, 20, 4, 0.0, seed=2)
    G = np.stack([m.P[:, m.groups == k].mean(1) for k in range(4)], 1)
    Rg = np.stack([m.R[:, m.groups == k].mean(1) for k in range(4)], 1)
    lifted = discounted_value_iteration(G, Rg, GAMMA)
    full = discounted_value_iteration(m.P, m.R, GAMMA)
    np.testing.assert_allclose(lifted.V, full.V, atol=1e-8)
    assert np.allclose(lift_policy(lifted.policy, m.groups).sum(1), 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learned_grouping_recovers_truth_and_value_within_bound(seed):
    """Acceptance: the learned grouping equals the true one and |V*_lifted - V*| <= the bound."""
    m = generate_grouped_mdp(5, 40, 4, 0.02, seed=seed)
    rng = np.random.default_rng(seed)
    P1, R1 = sample_model(m.P, m.R, 200, rng)
    cands = nested_groupings(P1, R1, [1, 2, 4, 8])
    assert same_partition(cands[4], m.groups)
    assert not same_partition(cands[2], m.groups)
    V_star = discounted_value_iteration(m.P, m.R, GAMMA).V
    res = run_grouping(m.P, m.R, cands[4], 20_000, GAMMA, grouping_errors(P1, R1, cands[4], GAMMA, m=200), rng)
    gap = np.abs(res.V_lifted - V_star).max()
    for bound in (res.bound, res.bound_worst_case):
        assert gap <= bound["total"]
        assert (V_star - res.V_true).max() <= bound["total"]
    # not vacuous by accident: the learned lifted model is accurate in absolute terms
    assert gap < 0.3 * V_star.max()
    # the coarser (wrong) grouping is much worse than the recovered one
    coarse = run_grouping(m.P, m.R, cands[1], 20_000, GAMMA, grouping_errors(P1, R1, cands[1], GAMMA, m=200), rng)
    assert (V_star - coarse.V_true).max() > 2 * (V_star - res.V_true).max()


def test_bound_trades_off_and_selection_uses_it():
    m = generate_grouped_mdp(5, 40, 4, 0.02, seed=0)
    rng = np.random.default_rng(0)
    P1, R1 = sample_model(m.P, m.R, 200, rng)
    cands = nested_groupings(P1, R1, [1, 4, 40])
    res = {k: run_grouping(m.P, m.R, g, 4000, GAMMA, grouping_errors(P1, R1, g, GAMMA, m=200), rng) for k, g in cands.items()}
    assert res[1].bound["approximation"] > res[4].bound["approximation"] >= res[40].bound["approximation"]
    assert res[1].bound["estimation"] < res[4].bound["estimation"] < res[40].bound["estimation"]
    best = select_num_groups(res)
    assert res[best].bound["total"] == min(r.bound["total"] for r in res.values())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_value_aware_selection_picks_the_true_count_where_the_worst_case_bound_picks_one(seed):
    """The selection rule is useful: at a moderate budget the value-aware bound selects the true group count, whose
    exact suboptimality is far below one group's, while the worst-case bound's minimiser is the coarsest grouping
    (the setting of ``experiments/provable_grouping.py``: S=10, A=100, 4 true groups, N=3000)."""
    m = generate_grouped_mdp(10, 100, 4, 0.01, seed=seed)
    rng = np.random.default_rng(seed)
    P1, R1 = sample_model(m.P, m.R, 200, rng)
    cands = nested_groupings(P1, R1, [1, 2, 4, 8, 20, 100])
    res = {k: run_grouping(m.P, m.R, g, 3_000, GAMMA, grouping_errors(P1, R1, g, GAMMA, m=200), rng)
           for k, g in cands.items()}
    V_star = discounted_value_iteration(m.P, m.R, GAMMA).V
    subopt = {k: float((V_star - r.V_true).mean()) for k, r in res.items()}
    assert select_num_groups(res) == 4
    assert min(res, key=lambda k: (res[k].bound_worst_case["total"], k)) == 1
    assert subopt[4] < 0.2 * subopt[1]
    assert subopt[4] <= min(subopt.values()) + 0.05 * V_star.max()


def test_bad_budget_and_counts_name_value():
    m = generate_grouped_mdp(5, 10, 2, 0.0, seed=0)
    with pytest.raises(ValueError, match="N=3"):
        run_grouping(m.P, m.R, m.groups, 3, GAMMA, grouping_errors(m.P, m.R, m.groups, GAMMA),
                     np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"\[11\]"):
        nested_groupings(m.P, m.R, [2, 11])


def test_inventory_order_grid_groups_into_contiguous_runs_and_lifting_is_within_the_bound():
    """The natural case: on the lost-sales inventory MDP with a fine order grid, learned groups are runs of
    neighbouring order quantities, and the group-average (exact) lifted MDP's optimal value is within the
    approximation term of the bound."""
    from orl.algos.provable.action_grouping import inventory_grouped_mdp

    P, R = inventory_grouped_mdp()
    np.testing.assert_allclose(P.sum(-1), 1.0)
    assert 0.0 <= R.min() and R.max() <= 1.0
    V_star = discounted_value_iteration(P, R, GAMMA).V
    for k, g in nested_groupings(P, R, [3, 5, 7, 10]).items():
        G = len(np.unique(g))  # at most k: tied merge heights (orders hitting the cap) can give fewer
        assert 2 <= G <= k and np.all(np.diff(g) >= 0)  # contiguous runs in order-quantity order
        Pg = np.stack([P[:, g == j].mean(1) for j in range(G)], 1)
        Rg = np.stack([R[:, g == j].mean(1) for j in range(G)], 1)
        V_lift = discounted_value_iteration(Pg, Rg, GAMMA).V
        e = grouping_errors(P, R, g, GAMMA)
        worst = 2 * (e.eps_R + GAMMA * e.eps_P / (1 - GAMMA)) / (1 - GAMMA)
        assert np.abs(V_lift - V_star).max() <= e.eps_V / (1 - GAMMA) <= worst
