"""orl/DRLinearMDP5-v0 and the d-rectangular linear MDP model (issue 20, DR-RPO half)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import orl_envs
from orl_envs.linear_mdp import DRectangularLinearMDP, action_bits, five_state_model

gym.register_envs(orl_envs)


def test_check_env_and_registration():
    assert "orl/DRLinearMDP5-v0" in orl_envs.ENV_IDS
    env = gym.make("orl/DRLinearMDP5-v0", q=0.2, render_mode="rgb_array")
    check_env(env.unwrapped)
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (200, 200, 3) and image.dtype == np.uint8 and image.std() > 0


def test_seeding_is_exact():
    def rollout(seed):
        env = gym.make("orl/DRLinearMDP5-v0", q=0.3)
        obs, _ = env.reset(seed=seed)
        out, done = [obs], False
        rng = np.random.default_rng(123)
        while not done:
            obs, r, done, trunc, info = env.step(int(rng.integers(8)))
            out += [obs, r, info["step"]]
        return out

    assert rollout(7) == rollout(7)
    assert any(rollout(s) != rollout(7) for s in range(5))


def test_model_is_a_d_rectangular_linear_mdp_and_env_samples_its_kernel():
    m = five_state_model()
    P = m.kernel(0.0)
    np.testing.assert_allclose(P, np.einsum("sai,it->sat", m.phi, m.factors))
    np.testing.assert_allclose(P.sum(-1), 1.0)
    np.testing.assert_allclose(m.reward(), m.phi @ m.theta)
    # the shifted factors lie in the TV ball of radius q around the nominal ones
    for q in (0.1, 0.4):
        tv = 0.5 * np.abs(m.perturbed_factors(q) - m.factors).sum(-1)
        assert np.all(tv <= q + 1e-12) and tv.max() > 0.5 * q
    # the env's transitions follow the q-shifted kernel (frequency of goal from transit with the best action)
    env = gym.make("orl/DRLinearMDP5-v0", q=0.3).unwrapped
    best = int(np.flatnonzero((action_bits(3)[:, 1:] == 1).all(1))[0])
    env.reset(seed=0)
    hits = 0
    n = 4000
    for _ in range(n):
        env.state, env.step_index = 1, 0
        s, *_ = env.step(best)
        hits += s == 4
    p = env.kernel[1, best, 4]
    assert abs(hits / n - p) < 4 * np.sqrt(p * (1 - p) / n)
    assert np.isclose(p, 0.7 * 0.9 * 0.95)


def test_nominal_and_shifted_optima_take_different_routes():
    """The instance is built so robustness matters: risky route nominally, safe route under a large shift."""
    from orl.algos.provable.exact import episodic_value_iteration

    m = five_state_model()
    bits = action_bits(3)
    route = lambda q: bits[episodic_value_iteration(m.kernel(q), m.reward(), m.horizon).policy[0, 0], 0]  # noqa: E731
    assert route(0.0) == 1 and route(0.4) == -1


@pytest.mark.filterwarnings("ignore:.*render_mode='ansi'")
@pytest.mark.parametrize("kwargs, match", [
    ({"q": 1.5}, r"q must be in \[0.0, 1.0\], got 1.5"),
    ({"q": "a"}, "q must be a finite number"),
    ({"horizon": 1}, r"horizon must be an integer in \[2, 1000\], got 1"),
    ({"n_bits": 9}, r"n_bits must be an integer in \[2, 8\]"),
    ({"xi": (1, 0)}, "xi must be 2 entries in"),
    ({"render_mode": "ansi"}, "render_mode must be one of"),
    ({"model": "five"}, "model must be a DRectangularLinearMDP"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gym.make("orl/DRLinearMDP5-v0", **kwargs)


def test_bad_actions_and_models_are_named():
    env = gym.make("orl/DRLinearMDP5-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must be one integer in \[0, 7\], got 8"):
        env.step(8)
    for _ in range(5):
        env.step(0)
    with pytest.raises(RuntimeError, match="episode has ended after 5 steps"):
        env.step(0)
    with pytest.raises(ValueError, match="phi\\[s, a\\] must be a probability vector"):
        DRectangularLinearMDP(phi=np.full((2, 1, 2), 0.7), factors=np.full((2, 2), 0.5), theta=np.zeros(2),
                              horizon=2)
    with pytest.raises(ValueError, match="theta must lie in"):
        DRectangularLinearMDP(phi=np.full((2, 1, 2), 0.5), factors=np.full((2, 2), 0.5), theta=np.full(2, 2.0),
                              horizon=2)
