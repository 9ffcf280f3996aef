"""Samplers (Hong et al. 2023): probabilities equal the formulas; degenerate cases are uniform."""

from __future__ import annotations

import math

import numpy as np
import pytest

from orl.data import ReplayBuffer, make_sampler


def per_transition(traj_weights, lengths):
    w = np.repeat(np.asarray(traj_weights, float), lengths)
    return w / w.sum()


def test_uniform(three_episodes):
    np.testing.assert_allclose(make_sampler("uniform").probabilities(three_episodes), np.full(6, 1 / 6))


def test_return_weighted_matches_formula(three_episodes):
    # returns 3, 1, 5 -> min-max 0.5, 0, 1 -> softmax over transitions with alpha 0.1
    p = make_sampler("rw", alpha=0.1).probabilities(three_episodes)
    expected = per_transition([math.exp(5), 1.0, math.exp(10)], [3, 2, 1])
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    p2 = make_sampler("rw", alpha=1.0).probabilities(three_episodes)
    np.testing.assert_allclose(p2, per_transition([math.exp(0.5), 1.0, math.exp(1.0)], [3, 2, 1]), rtol=1e-12)


def test_advantage_weighted_matches_formula(three_episodes):
    # first states 0, 1, 2 and returns 3, 1, 5: least squares V(s0) = 2 + s0 -> A = 1, -2, 1 -> 1, 0, 1
    p = make_sampler("aw", alpha=0.1).probabilities(three_episodes)
    expected = per_transition([math.exp(10), 1.0, math.exp(10)], [3, 2, 1])
    np.testing.assert_allclose(p, expected, rtol=1e-9)


def test_advantage_regression_agrees_with_sklearn():
    from sklearn.linear_model import LinearRegression

    from orl.data.samplers import initial_state_advantages

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 6, size=40)
    n = lengths.sum()
    obs = rng.normal(size=(n, 3)).astype(np.float32)
    ends = np.cumsum(lengths) - 1
    tout = np.zeros(n, bool)
    tout[ends] = True
    buf = ReplayBuffer.from_arrays(obs, rng.normal(size=(n, 2)), rng.normal(size=n), np.zeros(n), tout)
    starts, _ = buf.episode_bounds()
    s0, g = buf.observations[starts].astype(np.float64), buf.episode_returns()
    reference = g - LinearRegression().fit(s0, g).predict(s0)
    np.testing.assert_allclose(initial_state_advantages(buf), reference, atol=1e-9)


def test_topk_is_uniform_over_the_best_trajectories(three_episodes):
    # top 34% of 3 trajectories -> ceil(1.02) = 2 trajectories: returns 5 and 3
    p = make_sampler("topk", k=34).probabilities(three_episodes)
    np.testing.assert_allclose(p, [0.25, 0.25, 0.25, 0, 0, 0.25])
    p10 = make_sampler("topk", k=10).probabilities(three_episodes)  # at least one trajectory
    np.testing.assert_allclose(p10, [0, 0, 0, 0, 0, 1.0])


@pytest.mark.parametrize("name", ["rw", "aw"])
def test_equal_returns_give_uniform_not_nan(name):
    obs = np.arange(6, dtype=np.float32)[:, None]
    buf = ReplayBuffer.from_arrays(obs, np.zeros((6, 1)), [1, 1, 0, 2, 2, 0], [0, 1, 0, 1, 0, 1])  # all returns 2
    p = make_sampler(name).probabilities(buf)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, np.full(6, 1 / 6))


@pytest.mark.parametrize("name", ["uniform", "rw", "aw", "topk"])
def test_single_trajectory_is_uniform(name):
    buf = ReplayBuffer.from_arrays(np.arange(4, dtype=np.float32)[:, None], np.zeros((4, 1)), [1, 2, 3, 4], [0, 0, 0, 1])
    np.testing.assert_allclose(make_sampler(name).probabilities(buf), np.full(4, 0.25))


@pytest.mark.parametrize("name", ["uniform", "rw", "aw", "topk"])
def test_draws_follow_the_probabilities(three_episodes, name):
    three_episodes.set_sampler(name, alpha=1.0, k=67)
    p = three_episodes.sampler.probabilities(three_episodes)
    rows = three_episodes.sample(200_000, np.random.default_rng(3)).indices
    freq = np.bincount(rows, minlength=6) / rows.size
    np.testing.assert_allclose(freq, p, atol=0.005)


def test_unknown_sampler_and_bad_parameters():
    with pytest.raises(ValueError, match="unknown sampler 'rank'; choose one of uniform, rw, aw, topk"):
        make_sampler("rank")
    with pytest.raises(ValueError, match="alpha .* must be a positive number, got 0"):
        make_sampler("rw", alpha=0)
    with pytest.raises(ValueError, match=r"k .* must be in \(0, 100\], got 150"):
        make_sampler("topk", k=150)


def test_weights_are_recomputed_after_the_buffer_changes():
    buf = ReplayBuffer(100, (1,), 1)
    buf.add_episode(np.array([[0.0], [1.0]]), np.zeros((2, 1)), [0.0, 0.0], np.array([[1.0], [2.0]]), [0, 1])
    buf.add_episode(np.array([[5.0], [6.0]]), np.zeros((2, 1)), [5.0, 5.0], np.array([[6.0], [7.0]]), [0, 1])
    buf.set_sampler("topk", k=30)  # ceil(0.3 * n) = 1 trajectory for n = 2 and 3
    assert set(buf.sample(100, np.random.default_rng(0)).indices.tolist()) == {2, 3}
    buf.add_episode(np.ones((1, 1)) * 3, np.zeros((1, 1)), [100.0], np.ones((1, 1)) * 4, [1])
    assert set(buf.sample(100, np.random.default_rng(0)).indices.tolist()) == {4}


@pytest.mark.parametrize("name", ["uniform", "aw"])
def test_a_fresh_generator_gives_fresh_draws(three_episodes, name):
    three_episodes.set_sampler(name)
    three_episodes.sample(8, np.random.default_rng(0))
    three_episodes.sample(8, np.random.default_rng(0))  # now served from a pre-drawn block
    a = three_episodes.sample(8, np.random.default_rng(5)).indices
    b = three_episodes.sample(8, np.random.default_rng(5)).indices
    np.testing.assert_array_equal(a, b)  # same seed, same rows, whatever came before


def test_sampler_state_round_trip_continues_the_sequence(three_episodes):
    from orl.data.samplers import make_sampler

    three_episodes.set_sampler("rw")
    rng = np.random.default_rng(1)
    for _ in range(3):
        three_episodes.sample(8, rng)
    state, rng_state = three_episodes.sampler.state_dict(), rng.bit_generator.state
    expected = [three_episodes.sample(8, rng).indices for _ in range(70)]
    fresh = make_sampler("rw")
    fresh.load_state_dict(state, three_episodes)
    three_episodes.sampler = fresh
    rng2 = np.random.default_rng(99)
    rng2.bit_generator.state = rng_state
    got = [three_episodes.sample(8, rng2).indices for _ in range(70)]
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)
