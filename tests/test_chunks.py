"""Action chunks (issue 18): the chunk environment, the chunked dataset, and diffusion BC + DSRL on chunks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from orl.data.buffer import ReplayBuffer
from orl.data.chunks import chunk_dataset, chunk_env_id, ensure_registered


def test_chunk_env_executes_the_actions_in_order_and_sums_rewards():
    cid = chunk_env_id("Pendulum-v1", 3)
    assert cid == "orl-chunk/Pendulum-v1-h3-v0"
    ensure_registered(cid)
    env, base = gym.make(cid), gym.make("Pendulum-v1")
    assert env.action_space.shape == (3,) and np.all(env.action_space.high == 2.0)
    o1, _ = env.reset(seed=5)
    o2, _ = base.reset(seed=5)
    np.testing.assert_array_equal(o1, o2)
    chunk = np.array([0.5, -1.0, 2.0], np.float32)
    obs, r, term, trunc, info = env.step(chunk)
    total = 0.0
    for a in chunk:
        o2, rb, *_ = base.step(np.array([a]))
        total += rb
    np.testing.assert_allclose(obs, o2)
    assert r == pytest.approx(total) and info["chunk_steps"] == 3
    check_env(gym.make(cid).unwrapped, skip_render_check=True)


def test_chunk_env_stops_at_the_episode_end():
    ensure_registered(cid := chunk_env_id("Pendulum-v1", 7))
    env = gym.make(cid)  # Pendulum truncates after 200 base steps: 28 chunks of 7, then 4 steps
    env.reset(seed=0)
    steps, done = 0, False
    while not done:
        _, _, term, trunc, info = env.step(np.zeros(7, np.float32))
        steps += info["chunk_steps"]
        done = term or trunc
    assert steps == 200 and info["chunk_steps"] == 4 and trunc


def test_unknown_base_env_is_named():
    with pytest.raises(ValueError, match="NoSuchEnv-v9"):
        ensure_registered("orl-chunk/NoSuchEnv-v9-h2-v0")


def test_chunk_dataset_by_hand():
    """Two episodes (3 rows terminated, 2 rows timed out), 1-d actions a = 10 * row, h = 2."""
    obs = np.arange(5, dtype=np.float32)[:, None]
    nxt = np.array([[1.0], [2.0], [2.5], [4.0], [4.5]], np.float32)  # continuous within each episode
    act = 10 * np.arange(5, dtype=np.float32)[:, None]
    rew = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    term = np.array([0, 0, 1, 0, 0], bool)
    tout = np.array([0, 0, 0, 0, 1], bool)
    buf = ReplayBuffer.from_arrays(obs, act, rew, term, tout, nxt, metadata={"env_id": "Pendulum-v1"})
    c = chunk_dataset(buf, 2)
    np.testing.assert_array_equal(c.actions, [[0, 10], [10, 20], [20, 20], [30, 40], [40, 40]])
    np.testing.assert_allclose(c.rewards, [3, 5, 3, 9, 5])  # a padded action executes nothing
    np.testing.assert_array_equal(c.next_observations[:, 0], [2.0, 2.5, 2.5, 4.5, 4.5])
    np.testing.assert_array_equal(c.terminals, [0, 1, 1, 0, 0])  # row 1's chunk reaches the terminal row
    np.testing.assert_array_equal(c.timeouts, [0, 0, 0, 1, 1])
    assert c.metadata["env_id"] == "orl-chunk/Pendulum-v1-h2-v0" and c.metadata["chunk"] == 2
    np.testing.assert_array_equal(chunk_dataset(buf, 1).actions, buf.actions)
    # overlapping windows have no episode returns: return-based settings are refused by name, not computed
    from orl.algos.base import return_range_scale
    from orl.data.errors import DatasetError

    with pytest.raises(DatasetError, match=r"action-chunk dataset \(chunk=2\).*normalize_reward"):
        c.episode_returns()
    with pytest.raises(DatasetError, match="action-chunk dataset"):
        return_range_scale(c)
    np.testing.assert_allclose(chunk_dataset(buf, 1).episode_returns(), [6.0, 9.0])  # h = 1: the dataset itself


def test_chunk_dataset_transitions_match_the_chunk_env():
    """An episode of the base env, chunked, gives what the chunk env returns for the same actions from the same
    reset (reward sums, next observations, the end)."""
    base, rng = gym.make("Pendulum-v1"), np.random.default_rng(0)
    data = ReplayBuffer(200, (3,), 1, metadata={"env_id": "Pendulum-v1"})
    obs, _ = base.reset(seed=3)
    for _ in range(200):
        a = rng.uniform(-2, 2, 1).astype(np.float32)
        nxt, r, term, trunc, _ = base.step(a)
        data.add(obs, a, r, nxt, term, trunc)
        obs = nxt
    c = chunk_dataset(data, 4)
    ensure_registered(c.metadata["env_id"])
    env = gym.make(c.metadata["env_id"])
    env.reset(seed=3)
    for t in range(0, 200, 4):
        o, r, term, trunc, _ = env.step(c.actions[t])
        np.testing.assert_allclose(o, c.next_observations[t], rtol=1e-5)
        assert r == pytest.approx(c.rewards[t], rel=1e-5)
    assert trunc and c.timeouts[196] and not c.timeouts[195]


def test_dsrl_na_steers_a_chunked_diffusion_policy(tmp_path):
    """Diffusion BC on 2-action chunks of random actions, then DSRL-NA on the chunk env: steering the first action
    of each chunk onto the target (the second, open-loop, can only aim at the targets' mean) beats the base."""
    import orl
    from orl.algos.online.dsrl import DSRLConfig
    from orl.data.collect import evaluate
    from orl.train.offpolicy import train_offpolicy
    from tests.test_dsrl import ENV

    rng = np.random.default_rng(0)
    data = ReplayBuffer(4000, (1,), 1, metadata={"env_id": ENV})
    for i in range(4000):  # 10-step episodes of a random walk over targets; continuous observations
        s = rng.uniform(-0.8, 0.8, 1) if i % 10 == 0 else s2
        s2 = rng.uniform(-0.8, 0.8, 1)
        data.add(s, rng.uniform(-1, 1, 1), 0.0, s2, False, i % 10 == 9)
    chunks = chunk_dataset(data, 2)
    assert chunks.action_dim == 2 and chunks.metadata["env_id"] == chunk_env_id(ENV, 2)
    base = orl.fit("diffusion_bc", chunks, steps=1000, eval_every=1000, eval_episodes=2, out_dir=tmp_path / "base",
                   hidden=32, blocks=1, time_dim=8, lr=1e-3, threads=1)
    cfg = DSRLConfig(base=str(base.run_dir), hidden=(64, 64), utd=1, distill_steps=2, start_steps=200, ddim_steps=2,
                     batch_size=128)
    result = train_offpolicy(chunk_env_id(ENV, 2), tmp_path / "dsrl", cfg, steps=1500, eval_every=1500,
                             eval_episodes=20, progress=False, algo_name="dsrl_na")
    cid = chunk_env_id(ENV, 2)
    steered = evaluate(cid, lambda o, _r: result["algo"].act(o, deterministic=True), 20, seed=7).mean()
    unsteered = evaluate(cid, lambda o, _r: base.predict(o), 20, seed=7).mean()
    assert steered > unsteered + 0.3 * abs(unsteered), (unsteered, steered)
