"""Small Pendulum-v1 datasets that build in about a second: orl's embedded default and test data.

``pendulum-random`` holds uniform-random actions; ``pendulum-scripted`` holds a hand-written
swing-up controller whose torques carry Gaussian noise (std 0.5, clipped to the torque limit):
a "medium" behaviour policy (noiseless it scores about -175 per episode, noisy about -285,
random about -1200). The noise is small enough that behaviour cloning recovers the data's
return and large enough that offline RL has room to do better (the tests rely on both).
Both have 100 episodes of 200 steps (20,000 transitions), every episode cut by Pendulum's
time limit (``timeouts``), never terminal. Reference scores follow the Minari convention:
``ref_min_score`` = uniform-random policy, ``ref_max_score`` = the noiseless controller, each
the mean return over 100 episodes.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np

from orl.data.buffer import ReplayBuffer

ENV_ID = "Pendulum-v1"
EPISODES = 100
NOISE_STD = 0.5


def swing_up(obs: np.ndarray) -> np.ndarray:
    """Energy-pumping swing-up with a PD balance near the top (Pendulum-v1: m = l = 1, g = 10)."""
    cos_th, sin_th, omega = obs
    theta = np.arctan2(sin_th, cos_th)
    if cos_th > 0.85:  # close to upright: balance
        u = -(10.0 * theta + 2.0 * omega)
    else:  # pump energy towards that of the upright rest state (E = 0), push along the motion
        energy = 0.5 * omega**2 + 10.0 * (cos_th - 1.0)
        direction = np.sign(omega) if omega != 0 else 1.0
        u = 2.0 * direction * (1.0 if energy < 0 else -1.0)
    return np.clip(np.array([u], np.float32), -2.0, 2.0)


def rollout(policy: str, episodes: int, seed: int, noise_std: float = NOISE_STD) -> ReplayBuffer:
    """Collect ``episodes`` episodes with ``policy`` in ``random``, ``scripted``, ``scripted-noiseless``."""
    env = gym.make(ENV_ID)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(episodes * 200, env.observation_space.shape, 1)
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            if policy == "random":
                action = env.action_space.sample()
            else:
                action = swing_up(obs)
                if policy == "scripted":
                    action = np.clip(action + noise_std * rng.standard_normal(1), -2.0, 2.0).astype(np.float32)
            nxt, reward, terminated, truncated, _ = env.step(action)
            buf.add(obs, action, float(reward), nxt, terminated, truncated)
            obs, done = nxt, terminated or truncated
    env.close()
    return buf


@functools.lru_cache(maxsize=None)
def reference_scores(seed: int = 10_000) -> tuple[float, float]:
    """(random, noiseless-controller) mean returns over 100 episodes."""
    low = rollout("random", 100, seed).episode_returns().mean()
    high = rollout("scripted-noiseless", 100, seed).episode_returns().mean()
    return float(low), float(high)


def build(policy: str, seed: int = 0) -> ReplayBuffer:
    buf = rollout(policy, EPISODES, seed)
    ref_min, ref_max = reference_scores()
    buf.metadata.update({"env_id": ENV_ID, "policy": policy, "seed": seed, "noise_std": NOISE_STD if policy == "scripted" else 0.0,
                         "ref_min_score": ref_min, "ref_max_score": ref_max})
    return buf
