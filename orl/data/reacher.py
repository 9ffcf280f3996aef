"""``reacher-decoy``: a small mixed-quality Reacher-v5 dataset, orl's CI-size task for CQL.

Reacher-v5 (a two-link planar arm, 2 torques in ``[-1, 1]``, 50-step episodes, reward
``-|fingertip - target| - |a|^2``) is stable and short-horizon, so
value learning converges within a few thousand updates on a CPU. Its data mixes two behaviours
of equal share:

* **reaching** episodes: a Jacobian-transpose controller ``tau = K J(q)^T (target - tip) - D qdot``
  (gain ``K`` = 10, damping ``D`` = 0.05; link lengths 0.1 and 0.11 from the MuJoCo model) with
  Gaussian torque noise (std 0.3, clipped);
* **decoy** episodes: the same controller and noise, aimed at the target mirrored through the
  arm's base (``-target``), so the arm reaches the wrong place.

Reference
returns on 100 episodes (seed 10,000), Minari's convention: ``ref_min_score`` = uniform-random
actions (about -43), ``ref_max_score`` = the noiseless reaching controller (about -5.3); the
data's mean return is about -21. 400 episodes, 20,000 transitions, every episode cut by the time
limit (``timeouts``), never terminal. Builds in about two seconds.

Why a second small task: on ``pendulum-scripted`` (whose swing-up is bang-bang: the best actions
sit on the torque limits) CQL does not reach the data's return reliably within a CI budget, while
TD3+BC, IQL and A2PR do (docs/training.md). Here CQL, TD3+BC, IQL and BC all end well above the
data's return within 3000 updates. The decoy half makes the data's return a low bar, but behaviour cloning clears it too
(it denoises the reaching episodes and partly tells the two behaviours apart by the states they
visit), so this task shows that an algorithm learns, not that it beats imitation.
"""

from __future__ import annotations

import functools

import numpy as np

from orl.data.buffer import ReplayBuffer
from orl.data.collect import collect, evaluate

ENV_ID = "Reacher-v5"
TRANSITIONS = 20_000
NOISE_STD = 0.3
GAIN, DAMPING = 10.0, 0.05
LINKS = (0.1, 0.11)  # link lengths in reacher.xml (upper arm, forearm to fingertip)


def reach(obs: np.ndarray, mirror: bool = False) -> np.ndarray:
    """The reaching controller on a batch of Reacher-v5 observations, shape (B, 10) -> (B, 2).

    Observation layout: ``cos q1, cos q2, sin q1, sin q2, target x, y, q1', q2', (tip - target) x, y``.
    ``mirror=True`` aims at ``-target`` instead (the decoy).
    """
    obs = np.atleast_2d(obs)
    c1, c2, s1, s2 = obs[:, 0], obs[:, 1], obs[:, 2], obs[:, 3]
    error = -obs[:, 8:10]  # target - tip
    if mirror:
        error = error - 2.0 * obs[:, 4:6]  # (-target) - tip
    s12, c12 = s1 * c2 + c1 * s2, c1 * c2 - s1 * s2
    l1, l2 = LINKS
    # tip = l1 (c1, s1) + l2 (c12, s12); J^T e, row by row
    tau1 = (-l1 * s1 - l2 * s12) * error[:, 0] + (l1 * c1 + l2 * c12) * error[:, 1]
    tau2 = -l2 * s12 * error[:, 0] + l2 * c12 * error[:, 1]
    tau = GAIN * np.stack([tau1, tau2], 1) - DAMPING * obs[:, 6:8]
    return np.clip(tau, -1.0, 1.0).astype(np.float32)


class ScriptedReacher:
    """A batch policy (see :data:`orl.data.collect.BatchPolicy`): :func:`reach` plus clipped Gaussian noise."""

    def __init__(self, mirror: bool = False, noise_std: float = NOISE_STD) -> None:
        self.mirror, self.noise_std = mirror, noise_std

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        action = reach(obs, self.mirror)
        if self.noise_std > 0:
            action = np.clip(action + self.noise_std * rng.standard_normal(action.shape), -1.0, 1.0)
        return action.astype(np.float32)


@functools.lru_cache(maxsize=None)
def reference_scores(seed: int = 10_000) -> tuple[float, float]:
    """(uniform-random, noiseless reaching controller) mean returns over 100 episodes."""
    low = evaluate(ENV_ID, None, 100, seed).mean()
    high = evaluate(ENV_ID, ScriptedReacher(noise_std=0.0), 100, seed).mean()
    return float(low), float(high)


def build(seed: int = 0) -> ReplayBuffer:
    """Half reaching, half decoy episodes (whole 50-step episodes, the reaching ones first)."""
    half = TRANSITIONS // 2
    parts = [collect(ENV_ID, ScriptedReacher(mirror), half, seed=2 * seed + k, n_envs=10)
             for k, mirror in enumerate((False, True))]
    buf = ReplayBuffer.concatenate(parts)
    ref_min, ref_max = reference_scores()
    buf.metadata.update({"env_id": ENV_ID, "policy": "reaching + decoy controllers", "seed": seed,
                         "noise_std": NOISE_STD, "ref_min_score": ref_min, "ref_max_score": ref_max})
    return buf
