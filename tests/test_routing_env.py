"""orl-envs routing problems as BQ-MDPs: registration, check_env, masks, objectives, replay of solvers."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import orl_envs
from orl_envs.routing import (
    ATSPInstance,
    CVRPInstance,
    KPInstance,
    OPInstance,
    TSPInstance,
    generate_atsp,
    generate_cvrp,
    generate_kp,
    generate_op,
    generate_tsp,
    make_batch,
)
from orl_envs.routing.solvers import METHODS, solve

gym.register_envs(orl_envs)

IDS = {"tsp": "orl/TSP-v0", "atsp": "orl/ATSP-v0", "cvrp": "orl/CVRP-v0", "op": "orl/OP-v0", "kp": "orl/KP-v1"}
GEN = {"tsp": generate_tsp, "atsp": generate_atsp, "cvrp": generate_cvrp, "op": generate_op, "kp": generate_kp}
SIZES = {"tsp": 12, "atsp": 9, "cvrp": 10, "op": 20, "kp": 15}
MAXIMISE = {"tsp": False, "atsp": False, "cvrp": False, "op": True, "kp": True}


def play(env, actions, instance=None, seed=None):
    obs, info = env.reset(seed=seed, options=None if instance is None else {"instance": instance})
    total, terminated = 0.0, False
    for a in actions:
        assert not terminated
        assert obs["action_mask"][a] == 1, (a, np.flatnonzero(obs["action_mask"]))
        obs, r, terminated, truncated, info = env.step(a)
        total += r
        assert not truncated
    return total, terminated, info


@pytest.mark.parametrize("problem", list(IDS))
def test_registered_and_check_env_passes(problem):
    assert IDS[problem] in orl_envs.ENV_IDS
    env = gym.make(IDS[problem], size=SIZES[problem])
    check_env(env.unwrapped, skip_render_check=True)
    # a random legal policy (action_space.sample() respects the mask) always finishes the episode
    obs, _ = env.reset(seed=3)
    for _ in range(3 * SIZES[problem]):
        obs, r, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        if terminated:
            break
    assert terminated and info["objective"] > 0


@pytest.mark.parametrize("problem", list(IDS))
def test_seeding_is_exact(problem):
    env = gym.make(IDS[problem], size=SIZES[problem])
    a, _ = env.reset(seed=11)
    b, _ = env.reset(seed=11)
    c, _ = env.reset(seed=12)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any(not np.array_equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("problem", list(IDS))
def test_invalid_actions_raise_clear_errors(problem):
    env = gym.make(IDS[problem], size=SIZES[problem])
    obs, _ = env.reset(seed=0)
    illegal = np.flatnonzero(obs["action_mask"] == 0)
    if illegal.size:  # KP: at the start every item fits
        with pytest.raises(ValueError, match=f"action {illegal[0]} of instance 0 is not allowed by the action mask"):
            env.step(int(illegal[0]))
    with pytest.raises(ValueError, match="outside"):
        env.step(env.action_space.n)
    with pytest.raises(ValueError, match="one integer"):
        env.step(1.5)
    with pytest.raises(ValueError, match="must be a"):
        env.reset(options={"instance": "not an instance"})
    extra = {"cvrp": {"capacity": 20}, "op": {"max_length": 2.0}}.get(problem, {})
    wrong_size = GEN[problem](SIZES[problem] + 1, np.random.default_rng(0), **extra)
    with pytest.raises(ValueError, match=f"size={SIZES[problem] + 1}"):
        env.reset(options={"instance": wrong_size})


def test_tsp_mask_and_hand_computed_tour():
    square = TSPInstance(coords=np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float))
    env = gym.make("orl/TSP-v0", size=4)
    obs, _ = env.reset(options={"instance": square})
    assert obs["action_mask"].tolist() == [0, 1, 1, 1] and obs["origin"] == 0 and obs["destination"] == 0
    obs, r, term, _, _ = env.step(1)
    assert r == -1.0 and obs["action_mask"].tolist() == [0, 0, 1, 1] and obs["unvisited"].tolist() == [0, 0, 1, 1]
    total, term, info = play(env, [1, 2, 3], square)
    assert total == -4.0 and term and info["objective"] == 4.0
    total, _, _ = play(env, [2, 1, 3], square)  # 0-2-1-3-0: two diagonals
    assert total == pytest.approx(-(2 + 2 * np.sqrt(2)))


def test_atsp_uses_the_asymmetric_costs():
    d = np.array([[0, 1, 9], [9, 0, 1], [1, 9, 0]], float)
    env = gym.make("orl/ATSP-v0", size=3)
    assert play(env, [1, 2], ATSPInstance(d))[0] == -3.0
    assert play(env, [2, 1], ATSPInstance(d))[0] == -27.0
    inst = generate_atsp(15, np.random.default_rng(0))
    dd = inst.distances
    # triangle inequality d(i,j) <= d(i,k) + d(k,j) for all i, j, k
    assert np.all(dd[:, None, :] <= dd[:, :, None] + dd[None, :, :] + 1e-12)
    assert not np.allclose(dd, dd.T) and np.all(np.diag(dd) == 0)


def test_cvrp_masks_and_hand_computed_routes():
    # depot at the origin, customers at (1,0) and (0,1) with demand 3 each, capacity 5: two routes
    inst = CVRPInstance(coords=np.array([[0, 0], [1, 0], [0, 1]], float), demands=np.array([0, 3, 3]), capacity=5)
    env = gym.make("orl/CVRP-v0", size=2, capacity=5)
    obs, _ = env.reset(options={"instance": inst})
    assert obs["action_mask"].tolist() == [1, 1, 0, 0]  # at the depot "via the depot" is masked
    obs, r, term, _, _ = env.step(0)  # depot -> customer 1
    assert r == -1.0 and obs["remaining_capacity"][0] == pytest.approx(2 / 5)
    assert obs["action_mask"].tolist() == [0, 0, 0, 1]  # customer 2 (demand 3) only via the depot
    with pytest.raises(ValueError, match="action 1 of instance 0 is not allowed"):
        env.step(1)
    obs, r, term, _, info = env.step(3)  # back to the depot, refill, customer 2, then home
    assert term and r == pytest.approx(-(1 + 1 + 1)) and info["objective"] == pytest.approx(4.0)


def test_op_budget_mask_and_prizes():
    coords = np.array([[0, 0], [0.5, 0], [0, 2.0]], float)
    inst = OPInstance(coords=coords, prizes=np.array([0, 0.3, 0.9]), max_length=2.0)
    env = gym.make("orl/OP-v0", size=2, max_length=2.0)
    obs, _ = env.reset(options={"instance": inst})
    assert obs["action_mask"].tolist() == [1, 0, 1]  # node 2 needs 4 > 2; "end" always allowed
    total, term, info = play(env, [0, 2], inst)
    assert term and total == pytest.approx(0.3) and info["objective"] == pytest.approx(0.3)


def test_kp_capacity_mask_and_values():
    inst = KPInstance(weights=np.array([6, 5, 5]), values=np.array([10, 6, 6]), capacity=10, scale=1)
    env = gym.make("orl/KP-v1", size=3, capacity=10)
    obs, _ = env.reset(options={"instance": inst})
    assert obs["action_mask"].tolist() == [1, 1, 1]
    obs, r, term, _, _ = env.step(0)
    assert r == 10.0 and obs["action_mask"].tolist() == [0, 0, 0] and term  # nothing else fits
    total, term, _ = play(env, [1, 2], inst)
    assert total == 12.0 and term


def _replay_value(problem, inst, actions):
    env = gym.make(IDS[problem], size=SIZES[problem] if problem != "atsp" else inst.num_nodes)
    total, term, info = play(env, actions, inst)
    assert term
    return total, info


@pytest.mark.parametrize("problem", list(IDS))
def test_replaying_every_solver_reproduces_its_objective(problem):
    inst = GEN[problem](SIZES[problem], np.random.default_rng(5))
    for method in METHODS[problem]:
        sol = solve(inst, method, time_limit=0.2)
        total, info = _replay_value(problem, inst, sol.actions)
        expected = sol.objective if MAXIMISE[problem] else -sol.objective
        assert total == pytest.approx(expected, rel=1e-12, abs=1e-12), method
        assert info["objective"] == pytest.approx(sol.objective, rel=1e-12)


def test_replaying_elkai_on_an_integer_tsplib_metric_is_exact(tmp_path):
    from orl_envs.routing import load_tsplib

    rng = np.random.default_rng(0)
    pts = rng.integers(0, 1000, size=(14, 2))
    lines = ["NAME : rand14", "TYPE : TSP", "DIMENSION : 14", "EDGE_WEIGHT_TYPE : EUC_2D", "NODE_COORD_SECTION"]
    lines += [f"{i + 1} {x} {y}" for i, (x, y) in enumerate(pts)] + ["EOF"]
    (tmp_path / "rand14.tsp").write_text("\n".join(lines) + "\n")
    inst = load_tsplib(tmp_path / "rand14.tsp")
    assert np.all(inst.distances == np.round(inst.distances))  # TSPLIB's nint metric
    sol = solve(inst, "elkai")
    env = gym.make("orl/TSP-v0", size=14)
    total, term, info = play(env, sol.actions, inst)
    assert term and -total == sol.objective == info["objective"]  # integers: exactly equal
    obs, _ = env.reset(options={"instance": inst})
    assert obs["coords"].min() >= 0 and obs["coords"].max() <= 1  # observed in the unit square


@pytest.mark.parametrize("problem", ["tsp", "cvrp", "op", "kp"])
def test_batch_equals_single_environments(problem):
    rng = np.random.default_rng(1)
    instances = [GEN[problem](SIZES[problem], rng) for _ in range(5)]
    batch = make_batch(instances)
    singles = []
    for inst in instances:
        env = gym.make(IDS[problem], size=SIZES[problem])
        env.reset(options={"instance": inst})
        singles.append(env)
    pick = np.random.default_rng(2)
    returns = np.zeros(5)
    while not batch.done.all():
        mask = batch.action_mask()
        actions = np.array([pick.choice(np.flatnonzero(m)) if m.any() else 0 for m in mask])
        live = ~batch.done
        rewards = batch.step(actions)
        for i in np.flatnonzero(live):
            _, r, term, _, _ = singles[i].step(int(actions[i]))
            assert r == rewards[i] and term == batch.done[i]
        returns += rewards
    assert np.allclose(np.abs(returns), batch.objective)


def test_batch_rejects_mixed_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="same size"):
        make_batch([generate_tsp(5, rng), generate_tsp(6, rng)])
    with pytest.raises(ValueError, match="one problem"):
        make_batch([generate_tsp(5, rng), generate_atsp(5, rng)])


def test_generators_follow_the_paper():
    rng = np.random.default_rng(0)
    c = generate_cvrp(50, rng)
    assert c.capacity == 40 and c.demands[0] == 0 and 1 <= c.demands[1:].min() and c.demands.max() <= 9
    with pytest.raises(ValueError, match="known sizes"):
        generate_cvrp(37, rng)
    o = generate_op(100, rng)
    assert o.max_length == 4.0 and o.prizes[1:].min() >= 0.01 and o.prizes.max() == 1.0
    k = generate_kp(100, rng)
    assert k.capacity == 25000 and k.weights.min() >= 1 and k.weights.max() <= 997
    t = generate_tsp(100, rng)
    assert t.coords.min() >= 0 and t.coords.max() <= 1


@pytest.mark.parametrize("problem", ["tsp", "atsp", "cvrp", "op", "kp"])
def test_render_rgb_array(problem):
    env = gym.make(IDS[problem], size=SIZES[problem], render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8 and frame.std() > 0


@pytest.mark.parametrize("problem", ["tsp", "atsp", "cvrp", "op", "kp"])
def test_render_rgb_array_needs_no_matplotlib(problem, monkeypatch):
    """orl-envs does not depend on matplotlib: rendering (and check_env's render check) works without it."""
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    env = gym.make(IDS[problem], size=SIZES[problem], render_mode="rgb_array")
    check_env(env.unwrapped)
    env.reset(seed=1)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8 and frame.std() > 0


def test_render_draws_the_nodes_and_the_closed_tour():
    from orl_envs._raster import BLACK, GREEN, RED, Canvas

    inst = TSPInstance(coords=np.array([[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]))
    env = gym.make("orl/TSP-v0", size=4, render_mode="rgb_array")
    env.reset(options={"instance": inst})
    px = Canvas().unit_to_px(inst.coords).round().astype(int)
    frame = env.render()
    assert tuple(frame[px[0, 1] + 4, px[0, 0] + 4]) == RED  # the depot: a square
    assert tuple(frame[px[0, 1], px[0, 0]]) == GREEN  # the current node (the depot, at the start)
    mid = ((px[0] + px[1]) / 2).round().astype(int)
    assert tuple(frame[mid[1], mid[0]]) != BLACK  # no edge yet
    for a in (1, 2, 3):
        env.step(a)
    frame = env.render()
    for i, j in ((0, 1), (1, 2), (2, 3), (3, 0)):  # every edge of the closed tour is drawn
        mid = ((px[i] + px[j]) / 2).round().astype(int)
        assert tuple(frame[mid[1], mid[0]]) == BLACK, (i, j)


def test_kp_observation_works_with_sb3_multi_input_policy():
    """A Dict key ``values`` clashed with ``nn.ModuleDict.values``; KP-v1 observes ``item_values``."""
    from stable_baselines3 import PPO

    env = gym.make("orl/KP-v1", size=5, capacity=2000)
    assert "item_values" in env.observation_space.spaces and "values" not in env.observation_space.spaces
    model = PPO("MultiInputPolicy", env, n_steps=8, batch_size=8, n_epochs=1, device="cpu", seed=0)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(int(action))
    with pytest.raises(gym.error.DeprecatedEnv, match="KP-v1"):
        gym.make("orl/KP-v0")


@pytest.mark.parametrize("problem", ["tsp", "atsp", "cvrp", "op", "kp"])
def test_routing_envs_pickle_mid_episode(problem):
    import pickle

    env = gym.make(IDS[problem], size=SIZES[problem])
    obs, _ = env.reset(seed=2)
    obs, *_ = env.step(int(np.flatnonzero(obs["action_mask"])[0]))  # never OP's "return and stop"
    copy = pickle.loads(pickle.dumps(env))
    a = copy.action_space.sample()  # the copy's space knows the copy's legal actions
    assert obs["action_mask"][a] == 1
    out, out_copy = env.step(a), copy.step(a)
    for k in obs:
        np.testing.assert_array_equal(out[0][k], out_copy[0][k])
    assert out[1:] == out_copy[1:]


def test_batched_action_space_samples_legal_actions_under_the_mask():
    envs = gym.make_vec("orl/CVRP-v0", num_envs=3, vectorization_mode="sync", size=10)
    obs, _ = envs.reset(seed=0)
    envs.action_space.seed(0)
    for _ in range(40):
        mask = obs["action_mask"]
        live = mask.any(axis=1)  # a finished sub-env (all masked) is reset by the next step, whatever its action
        a = envs.action_space.sample(mask=mask)  # the vector env's batched mask, as it comes
        assert all(mask[i, a[i]] for i in np.flatnonzero(live)), (a, mask)
        b = envs.action_space.sample(mask=tuple(mask.astype(bool)))  # Gymnasium's tuple convention
        assert all(mask[i, b[i]] for i in np.flatnonzero(live))
        obs, *_ = envs.step(a)
    with pytest.raises(ValueError, match="action mask must be a 0/1"):
        envs.action_space.sample(mask=np.ones((2, 20), np.int8))
    envs.close()


_XY = np.array([[0.1, 0.2], [0.5, 0.9], [0.8, 0.3], [0.4, 0.4]])


def _with(a, index, value):
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TSPInstance(coords=_with(_XY, (2, 1), np.nan)), r"TSPInstance: coords must be finite .* coords\[2, 1\] is nan"),
        (lambda: TSPInstance(coords=_with(_XY, (0, 0), np.inf)), r"coords must be finite .* coords\[0, 0\] is inf"),
        (lambda: TSPInstance(coords=_XY * 1e300), r"TSPInstance: coords are too large .* overflow"),
        (lambda: TSPInstance(coords=[["a", "b"]] * 3), r"TSPInstance: coords must be an array of numbers"),
        (lambda: ATSPInstance(distances=_with(np.ones((3, 3)), (1, 2), np.nan)), r"distances\[1, 2\] is nan"),
        (lambda: ATSPInstance(distances=_with(np.ones((3, 3)), (0, 1), -1.0)), r"distances must be >= 0; distances\[0, 1\] is -1"),
        (lambda: CVRPInstance(_with(_XY, (1, 0), np.nan), [0, 1, 2, 3], 5), r"CVRPInstance: coords .* coords\[1, 0\] is nan"),
        (lambda: CVRPInstance(_XY, [0, 1, np.nan, 3], 5), r"CVRPInstance: demands must be finite .* demands\[2\] is nan"),
        (lambda: CVRPInstance(_XY, [0, 1, 2.5, 3], 5), r"demands must be integers >= 0 .* demands\[2\] is 2.5"),
        (lambda: CVRPInstance(_XY, [0, 1, 9, 3], 5), r"0 < demand <= capacity \(5\); demands\[2\] is 9"),
        (lambda: CVRPInstance(_XY, [0, 1, 2, 3], np.nan), r"CVRPInstance: capacity must be a positive integer, got nan"),
        (lambda: CVRPInstance(_XY, [0, 1, 2, 3], 5.5), r"capacity must be a positive integer, got 5.5"),
        (lambda: CVRPInstance(_XY, [0, 1, 2, 3], np.inf), r"capacity must be a positive integer, got inf"),
        (lambda: OPInstance(_with(_XY, (3, 1), np.inf), [0, 1, 1, 1], 2.0), r"OPInstance: coords .* coords\[3, 1\] is inf"),
        (lambda: OPInstance(_XY, [0, 1, np.nan, 1], 2.0), r"OPInstance: prizes must be finite .* prizes\[2\] is nan"),
        (lambda: OPInstance(_XY, [0, 1, np.inf, 1], 2.0), r"prizes\[2\] is inf"),
        (lambda: OPInstance(_XY, [0, 1, -1, 1], 2.0), r"prizes must be >= 0; prizes\[2\] is -1"),
        (lambda: OPInstance(_XY, [0, 1, 1, 1], np.inf), r"OPInstance: max_length must be a finite number > 0, got inf"),
        (lambda: OPInstance(_XY, [0, 1, 1, 1], np.nan), r"max_length must be a finite number > 0, got nan"),
        (lambda: KPInstance([1, np.inf, 3], [1, 2, 3], 10), r"KPInstance: weights must be finite .* weights\[1\] is inf"),
        (lambda: KPInstance([1, 2, 3], [1, 2e300, 3], 10), r"KPInstance: values must be positive integers \(at most 2\*\*53\); values\[1\]"),
        (lambda: KPInstance([1, 2, 3], [1, 2, 3], np.nan), r"KPInstance: capacity must be a positive integer, got nan"),
        (lambda: KPInstance([1, 2, 3], [1, 2, 3], 10, scale=0), r"KPInstance: scale must be a positive integer, got 0"),
    ],
)
def test_invalid_instances_raise_errors_naming_the_field_and_value(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "env_id, kwargs, message",
    [
        ("orl/CVRP-v0", {"size": 5, "capacity": np.nan}, r"CVRPEnv: capacity must be a positive integer, got nan"),
        ("orl/CVRP-v0", {"size": 5, "capacity": 10.5}, r"capacity must be a positive integer, got 10.5"),
        ("orl/OP-v0", {"size": 5, "max_length": np.inf}, r"OPEnv: max_length must be a finite number > 0, got inf"),
        ("orl/KP-v1", {"size": 5, "capacity": "big"}, r"KPEnv: capacity must be a positive integer, got 'big'"),
        ("orl/TSP-v0", {"size": np.nan}, r"TSPEnv: size must be a positive integer, got nan"),
    ],
)
def test_invalid_env_arguments_raise_errors_naming_them(env_id, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make(env_id, **kwargs)


def test_valid_instances_with_numpy_scalars_still_load():
    inst = CVRPInstance(_XY, np.array([0, 1, 2, 3]), np.int64(5))
    assert inst.capacity == 5 and isinstance(inst.capacity, int)
    op = OPInstance(_XY, np.array([0.0, 0.5, 0.5, 1.0]), np.float64(2.0))
    assert op.max_length == 2.0
    kp = KPInstance(np.array([1.0, 2.0]), np.array([3, 4]), np.array(10))
    assert kp.capacity == 10 and kp.weights.dtype == np.int64
