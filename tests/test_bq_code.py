"""BQ-NCO as its official code does it (issue 24): CVRP route order, the OP's masked return,
unscaled attention, no clipping, KP soft targets, and older checkpoints keeping their rules."""

from __future__ import annotations

from dataclasses import asdict

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import orl_envs
from orl.algos.structured.bq import (LEGACY_CONFIG, BQConfig, BQPolicy, beam_search, config_from_dict, expert_batch,
                                     expert_states, greedy, imitation_loss, shuffle_solutions)
from orl.data.routing import cvrp_actions_sorted
from orl.nets.attention import ReZeroLayer
from orl.train.bq import ExpertBatches, load_policy
from orl_envs.routing import CVRPInstance, KPInstance, OPInstance, generate_kp, generate_op, make_batch

gym.register_envs(orl_envs)
SMALL = BQConfig(dim=32, layers=2, heads=4, ff_dim=64)


# ----------------------------------------------------------------------------- (a) CVRP route order


def test_cvrp_trajectory_follows_the_codes_route_order_on_two_routes():
    # Depot at the origin, four customers on a line; capacity 10. The solver returned the emptier
    # route first: [1, 2] carries 3 + 2 = 5 (5 left), [3, 4] carries 4 + 5 = 9 (1 left).
    inst = CVRPInstance(coords=np.array([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0]], dtype=float),
                        demands=np.array([0, 3, 2, 4, 5]), capacity=10)
    n = 4
    actions = cvrp_actions_sorted([[1, 2], [3, 4]], inst)
    # The code sorts sub-tours by remaining capacity, ascending: [3, 4] (1 left) first, then
    # [1, 2] (5 left), whose first customer is reached via the depot (action n + customer - 1).
    assert actions == [2, 3, n + 0, 1]
    # The trajectory the policy is trained on: the states after each step, with the labels above.
    expected_remaining = [10, 6, 1, 7, 5]  # capacity left before each step, and after the last
    for k in range(len(actions) + 1):
        state = expert_states([inst], np.array([actions]), k)
        assert state.remaining[0] == expected_remaining[k]
    assert state.done[0] and state.objective[0] == pytest.approx(4 + 4 + 1 + 1 + 2)  # 0-3-4-0-1-2-0
    # The routes' inner order is the solver's; only the routes are reordered.
    assert cvrp_actions_sorted([[2, 1], [4, 3]], inst) == [3, 2, n + 1, 0]


def test_cvrp_routes_with_equal_slack_keep_the_solver_order():
    inst = CVRPInstance(coords=np.arange(10, dtype=float).reshape(5, 2), demands=np.array([0, 2, 2, 3, 1]), capacity=4)
    # loads 2, 2 (+ nothing), 4: [3, 4] (0 left) first, then [1] and [2] in the solver's order (stable sort)
    assert cvrp_actions_sorted([[1], [2], [3, 4]], inst) == [2, 3, 4 + 0, 4 + 1]


# ----------------------------------------------------------------------------- (b) OP return masked


def _op_line() -> OPInstance:
    # Depot at 0, nodes at x = 0.1, 0.2 and 3.0 (the last one out of reach with budget 1).
    coords = np.array([[0, 0], [0.1, 0], [0.2, 0], [3.0, 0]])
    return OPInstance(coords=coords, prizes=np.array([0, 0.5, 0.5, 1.0]), max_length=1.0)


def test_op_episode_cannot_end_while_a_node_is_feasible():
    batch = make_batch([_op_line()])
    end = batch.num_actions - 1
    mask = batch.action_mask()[0]
    assert mask.tolist() == [True, True, False, False]  # nodes 1, 2 feasible, 3 out of reach, return masked
    with pytest.raises(ValueError, match=r"action 3 of instance 0 is not allowed by the action mask; allowed: \[0, 1\]"):
        batch.step([end])
    batch.step([0])
    assert batch.action_mask()[0].tolist() == [False, True, False, False]
    batch.step([1])
    assert batch.action_mask()[0].tolist() == [False, False, False, True]  # nothing feasible: only the return
    batch.step([end])
    assert batch.done[0] and batch.objective[0] == pytest.approx(1.0)


def test_op_early_end_keeps_the_old_rule():
    batch = make_batch([_op_line()], op_early_end=True)
    assert batch.action_mask()[0].tolist() == [True, True, False, True]
    batch.step([3])
    assert batch.done[0] and batch.objective[0] == 0.0


def test_op_envs_v1_masks_the_return_v0_does_not():
    for env_id, end_legal in (("orl/OP-v1", False), ("orl/OP-v0", True)):
        env = gym.make(env_id, size=6, max_length=2.0)
        obs, _ = env.reset(seed=0)
        assert bool(obs["action_mask"][-1]) is end_legal, env_id
        check_env(env.unwrapped)
    env = gym.make("orl/OP-v1", size=20, max_length=2.0)
    for seed in range(5):  # random legal play: the return comes only when no node is left in reach
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        while True:
            a = env.action_space.sample()
            if a == 20:
                assert obs["action_mask"][:20].sum() == 0
            obs, _, terminated, _, _ = env.step(a)
            if terminated:
                break
    with pytest.raises(ValueError, match="OPEnv: early_end must be True or False, got 'yes'"):
        gym.make("orl/OP-v1", size=5, early_end="yes")


def test_op_training_never_targets_the_return_under_the_codes_rule():
    from orl.data.routing import SolvedSet, stack_instances

    inst = [generate_op(10, np.random.default_rng(i), max_length=2.0) for i in range(8)]
    from orl_envs.routing.solvers import solve

    sols = [solve(i, "greedy") for i in inst]
    width = max(len(s.actions) for s in sols)
    acts = np.full((8, width), -1, dtype=np.int64)
    for r, s in enumerate(sols):
        acts[r, : len(s.actions)] = s.actions
    data = SolvedSet("op", 10, stack_instances(inst), acts, np.array([s.objective for s in sols]), "greedy")
    batches = ExpertBatches(data, np.random.default_rng(0), 16, config=BQConfig())
    for _ in range(40):
        obs, target = batches.next()
        assert np.all(target < 10)  # a node, never the return (action 10)
        assert obs["action_mask"][np.arange(16), target].all()
    old = ExpertBatches(data, np.random.default_rng(0), 16, config=BQConfig(op_early_end=True))
    assert any((old.next()[1] == 10).any() for _ in range(40))


# ----------------------------------------------------------------------------- (c) attention scaling


def test_attention_logits_are_unscaled_unless_asked():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    for scaled in (False, True):
        layer = ReZeroLayer(16, 4, 32, scale_attention=scaled)
        with torch.no_grad():
            layer.alpha_attn.fill_(1.0)
            q, k, v = layer.qkv(x).view(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
            logits = q @ k.transpose(-1, -2) * (4**-0.5 if scaled else 1.0)
            h = (logits.softmax(-1) @ v).transpose(1, 2).reshape(2, 5, 16)
            expected = x + layer.out(h)
            torch.testing.assert_close(layer(x, None), expected, atol=1e-5, rtol=1e-5)
    assert BQPolicy("tsp", BQConfig()).encoder.layers[0].scale == 1.0
    assert BQPolicy("tsp", BQConfig(scale_attention=True)).encoder.layers[0].scale is None


# ----------------------------------------------------------------------------- (d) clipping


def test_defaults_follow_the_code_and_bad_values_are_named():
    c = BQConfig()
    # the code's choices, except clipping, which the issue-24 A/B kept (no worse than the code's none)
    assert (c.grad_clip, c.scale_attention, c.op_early_end, c.kp_targets) == (1.0, False, False, "soft")
    with pytest.raises(ValueError, match=r"kp_targets must be one of \('soft', 'expert'\), got 'hard'"):
        BQConfig(kp_targets="hard")
    with pytest.raises(ValueError, match="grad_clip must be >= 0 .* got -1"):
        BQConfig(grad_clip=-1)


def test_checkpoints_saved_before_the_flags_load_with_their_old_rules(tmp_path):
    old = {k: v for k, v in asdict(SMALL).items() if k not in LEGACY_CONFIG}
    assert config_from_dict(old).scale_attention is True and config_from_dict(old).op_early_end is True
    policy = BQPolicy("tsp", config_from_dict(old))
    torch.save({"policy": policy.state_dict(), "problem": "tsp", "size": 8, "config": old}, tmp_path / "policy.pt")
    loaded = load_policy(tmp_path / "policy.pt")
    assert loaded.config.scale_attention is True and loaded.encoder.layers[0].scale is None


# ----------------------------------------------------------------------------- (e) KP soft targets


def test_kp_soft_targets_are_uniform_over_the_remaining_solution_items():
    inst = KPInstance(weights=np.array([5, 4, 3, 9, 2]), values=np.array([10, 8, 1, 2, 6]), capacity=11, scale=10)
    solution = np.array([[0, 1, 4, -1]])  # weights 5 + 4 + 2 = 11
    obs, target = expert_batch([inst], solution, 1, soft=True)
    np.testing.assert_allclose(target[0], [0, 0.5, 0, 0, 0.5])
    assert obs["remaining"][0].tolist() == [0, 1, 1, 1, 1]
    _, hard = expert_batch([inst], solution, 1)
    assert hard.tolist() == [1]
    # The loss is the cross-entropy against that distribution.
    torch.manual_seed(0)
    policy = BQPolicy("kp", SMALL)
    loss, acc = imitation_loss(policy, obs, target)
    logp = torch.log_softmax(policy(obs), 1)[0].detach()
    assert float(loss.detach()) == pytest.approx(float(-(logp[1] + logp[4]) / 2), rel=1e-5)
    assert acc == float(int(policy(obs).argmax(1)) in (1, 4))


def test_shuffled_solutions_are_random_subsets_with_padding_last():
    acts = np.array([[3, 1, 4, -1, -1], [0, 2, 5, 6, 7]])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        s = shuffle_solutions(acts, rng)
        assert sorted(s[0, :3]) == [1, 3, 4] and s[0, 3:].tolist() == [-1, -1]
        assert sorted(s[1]) == [0, 2, 5, 6, 7]
        seen.add(tuple(s[0, :2]))
    assert len(seen) > 3


# ----------------------------------------------------------------------------- decoded actions


@pytest.mark.parametrize("problem", ["op", "kp"])
def test_decoded_actions_replay_the_reported_objective(problem):
    torch.manual_seed(0)
    rngs = [np.random.default_rng(i) for i in range(3)]
    inst = [generate_op(12, r, max_length=2.0) if problem == "op" else generate_kp(12, r) for r in rngs]
    policy = BQPolicy(problem, SMALL).eval()
    for obj, acts in (greedy(policy, inst, return_actions=True), beam_search(policy, inst, 3, return_actions=True)):
        for i in range(3):
            batch = make_batch([inst[i]])
            for a in acts[i][acts[i] >= 0]:
                batch.step([a])
            assert batch.done[0] and batch.objective[0] == pytest.approx(obj[i])


def test_kp_soft_batches_from_worker_processes_equal_the_inline_ones():
    from orl.data.routing import SolvedSet, stack_instances
    from orl_envs.routing.solvers import solve

    inst = [generate_kp(12, np.random.default_rng(i)) for i in range(6)]
    sols = [solve(i, "dp") for i in inst]
    acts = np.full((6, max(len(s.actions) for s in sols)), -1, dtype=np.int64)
    for r, s in enumerate(sols):
        acts[r, : len(s.actions)] = s.actions
    data = SolvedSet("kp", 12, stack_instances(inst), acts, np.array([s.objective for s in sols]), "dp")
    inline = ExpertBatches(data, np.random.default_rng(3), 8, workers=0, config=BQConfig())
    pooled = ExpertBatches(data, np.random.default_rng(3), 8, workers=1, config=BQConfig())
    try:
        for _ in range(4):
            (o1, t1), (o2, t2) = inline.next(), pooled.next()
            np.testing.assert_array_equal(t1, t2)
            np.testing.assert_array_equal(o1["remaining"], o2["remaining"])
            assert t1.ndim == 2 and np.allclose(t1.sum(1), 1.0)
    finally:
        pooled.close()
