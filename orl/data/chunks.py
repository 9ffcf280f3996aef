"""Action chunks: a policy that outputs ``h`` consecutive actions at once, executed open-loop.

DSRL (Wagenmaker et al., "Steering Your Diffusion Policy with Latent Space Reinforcement Learning", arXiv
2506.15799) steers DPPO diffusion policies that predict chunks of ``h = 4`` actions on the Gym MuJoCo tasks; its
code's ``ActionChunkWrapper`` turns the environment into one whose action is the whole chunk, and DPPO trains the
policy on dataset windows of ``h`` consecutive actions. orl does both as data, so that every algorithm runs on
chunks unchanged:

- :class:`ActionChunkEnv` (Gymnasium id ``orl-chunk/<env id>-h<h>-v0``, registered on first use by
  :func:`ensure_registered`; ``/`` in the base id becomes ``.``): the action is a chunk, flattened to ``h * d``;
  one step executes its actions in order until the episode ends, and returns the *sum* of their rewards (the code's
  wrapper: undiscounted within the chunk, so a learner's discount applies per chunk), the last observation, and
  ``info["chunk_steps"]`` (actions executed). The time limit is the base environment's, in base steps.
- :func:`chunk_dataset`: the same transformation of a dataset. Row ``t`` of an episode becomes the chunk
  transition from ``s_t`` with actions ``a_t .. a_{t+h-1}`` — every start, overlapping, as DPPO's windows —
  reward ``sum r_t .. r_{t+h-1}``, next observation ``s_{t+h}``, terminal if the episode terminates inside.
  Near an episode's end the chunk runs past it: its actions are padded with the episode's last action (the
  environment would never execute them) and reward, next observation and end flags are those of the last row,
  as the environment would return them (choice: DPPO keeps only windows that fit; kept here so that a Q-function
  trained on the data also sees the terminal transitions). The windows overlap, so the result is a set of
  transitions, not a chain of episodes (each row ends its own "episode" by the successor rule): settings that
  need episode returns (``normalize_reward``, the rw/aw/topk samplers, TQ/SACo) are refused on it by name
  (``ReplayBuffer.episode_returns``); use the single-action dataset for those.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np

from orl.data.buffer import ReplayBuffer

_ID = re.compile(r"^orl-chunk/(?P<base>.+)-h(?P<h>\d+)-v0$")


def chunk_env_id(env_id: str, h: int) -> str:
    """The Gymnasium id of ``env_id`` with ``h``-action chunks (registered by :func:`ensure_registered`)."""
    if int(h) < 1:
        raise ValueError(f"chunk size h must be >= 1, got {h}")
    return f"orl-chunk/{env_id.replace('/', '.')}-h{int(h)}-v0"


def ensure_registered(env_id: str) -> None:
    """Register ``env_id`` if it names a chunk environment (``orl-chunk/...``) not registered yet; else nothing."""
    m = _ID.match(env_id)
    if m is None or env_id in gym.envs.registry:
        return
    base = m["base"].replace(".", "/") if m["base"] not in gym.envs.registry else m["base"]
    if base not in gym.envs.registry:
        raise ValueError(f"chunk env {env_id!r}: its base environment {base!r} is not registered")
    gym.register(env_id, entry_point=ActionChunkEnv, kwargs={"env_id": base, "h": int(m["h"])})


class ActionChunkEnv(gym.Env):
    """``env_id`` whose action is a chunk of ``h`` actions, executed in order (see the module docstring).

    ## Spaces
    Observation: the base environment's. Action: ``Box`` of shape ``(h * d,)``, the base bounds tiled ``h`` times.

    ## Rewards
    The sum of the executed actions' rewards.

    ## Episode end
    As soon as the base environment terminates or truncates inside a chunk; the rest of the chunk is dropped.
    """

    metadata = {"render_modes": []}

    def __init__(self, env_id: str, h: int) -> None:
        self.env = gym.make(env_id)
        self.h = int(h)
        space = self.env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"action chunks need a flat Box action space, {env_id!r} has {space}")
        self.d = int(space.shape[0])
        self.observation_space = self.env.observation_space
        self.action_space = gym.spaces.Box(np.tile(space.low, self.h), np.tile(space.high, self.h),
                                           (self.h * self.d,), space.dtype)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.env.reset(seed=seed, options=options)

    def step(self, action: np.ndarray):
        chunk = np.asarray(action, dtype=self.env.action_space.dtype).reshape(self.h, self.d)
        total, info = 0.0, {}
        for i, a in enumerate(chunk):
            obs, r, terminated, truncated, info = self.env.step(a)
            total += float(r)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, {**info, "chunk_steps": i + 1}

    def close(self) -> None:
        self.env.close()

    def __getstate__(self) -> dict[str, Any]:
        from orl.train.online import _env_state  # MuJoCo physics survive a checkpoint

        return {**self.__dict__, "env": _env_state(self.env)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from orl.train.online import _restore_env

        self.__dict__.update({**state, "env": _restore_env(state["env"])})


def chunk_dataset(buffer: ReplayBuffer, h: int) -> ReplayBuffer:
    """The chunk transitions of ``buffer`` (module docstring): one per row, actions of size ``h * d``; the metadata
    is copied, with ``env_id`` the chunk environment's and ``chunk`` = ``h``."""
    if int(h) < 1:
        raise ValueError(f"chunk size h must be >= 1, got {h}")
    h = int(h)
    starts, lengths = buffer.episode_bounds()
    n = len(buffer)
    ends = np.repeat(starts + lengths - 1, lengths)  # each row's episode end (logical)
    t = np.arange(n)
    idx = np.minimum(t[:, None] + np.arange(h)[None, :], ends[:, None])  # (n, h) rows of the chunk, clipped
    last = idx[:, -1]
    acts = buffer.actions[idx].reshape(n, h * buffer.action_dim)
    # rewards of the executed rows only: a row past the episode end repeats the end row, counted once
    executed = np.concatenate([np.ones((n, 1), bool), idx[:, 1:] != idx[:, :-1]], axis=1)
    rewards = (buffer.rewards.astype(np.float64)[idx] * executed).sum(1)
    ran_out = t + h - 1 >= ends  # the chunk reaches the episode's last row
    metadata = dict(buffer.metadata)
    if metadata.get("env_id"):
        metadata["env_id"] = chunk_env_id(str(metadata["env_id"]), h)
    metadata["chunk"] = h
    return ReplayBuffer.from_arrays(buffer.observations, acts, rewards, buffer.terminals[last] & ran_out,
                                    buffer.timeouts[last] & ran_out, buffer.next_observations[last],
                                    metadata=metadata)
