"""Collecting datasets from a policy in Gymnasium environments, D4RL's way.

D4RL's ``collect_data.py`` rolls a behaviour policy out for a fixed number of transitions with
stochastic actions; ``terminals`` marks a true end of the MDP (the robot fell) and ``timeouts``
the time limit (step 1000 for the locomotion tasks). :func:`collect` does the same with several
environments stepped in lockstep, so that the policy runs once per step on a whole batch of
observations (numpy, no torch), and every sub-environment's episode is kept apart until it
ends and then added whole, so episodes stay contiguous.

Determinism: the environments are reset with consecutive seeds ``seed * 1_000_000 + k`` in a
fixed order and all action noise comes from one ``numpy`` generator seeded with ``seed``, so
the same arguments give the same data, bit for bit, on the same machine and library versions.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np

from orl.data.buffer import ReplayBuffer
from orl.data.chunks import ensure_registered
from orl.data.errors import DatasetError
from orl.utils.parallel import process_pool, worker_pool

#: a batch policy: (observations (B, obs_dim), rng) -> actions (B, action_dim)
BatchPolicy = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class UniformPolicy:
    """Uniform-random actions in a Box (D4RL's ``--random``: ``action_space.sample()``)."""

    def __init__(self, space: gym.spaces.Box) -> None:
        self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)

    def __call__(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=(obs.shape[0], self.low.size)).astype(np.float32)


def collect(env_id: str, policy: BatchPolicy | None, n_transitions: int, seed: int = 0, n_envs: int = 16,
            shards: int = 1, workers: int | None = None, max_episode_steps: int | None = None,
            progress: bool | str = False, env_kwargs: dict | None = None) -> ReplayBuffer:
    """Roll ``policy`` (``None``: uniform-random) out until ``n_transitions`` are collected.

    Episodes are added in the order they finish. Each of ``shards`` independent parts (seed
    ``seed * 1000 + k``) collects whole episodes until it holds ``ceil(n / shards)``
    transitions; the parts are concatenated in order and cut to exactly ``n_transitions``, so
    only the last episode may be partial (it ends without a flag, as in D4RL's files). Shards run
    in ``workers`` processes (default: one per core); the data depends on ``shards``, never on
    ``workers``.

    Args:
        env_id: a Gymnasium id (its ``TimeLimit`` sets ``timeouts``).
        policy: batched policy, picklable when ``shards > 1``; see :data:`BatchPolicy`.
        n_transitions: dataset size.
        seed: seeds environment resets and action noise.
        n_envs: environments stepped in lockstep per shard.
        max_episode_steps: override the environment's time limit.
        progress: show a tqdm bar (a string is used as its description).
    """
    if n_transitions <= 0:
        raise ValueError(f"n_transitions must be positive, got {n_transitions}")
    if n_envs <= 0 or shards <= 0:
        raise ValueError(f"n_envs and shards must be positive, got {n_envs} and {shards}")
    if shards == 1:
        parts = [_rollout(env_id, policy, n_transitions, seed, n_envs, max_episode_steps, env_kwargs, progress)]
    else:
        import os

        per = -(-n_transitions // shards)
        workers = min(workers or os.cpu_count() or 1, shards)
        # worker_pool: Ctrl-C or an error ends the workers at once; they also die with this process.
        with worker_pool(process_pool(workers)) as pool:
            futures = [pool.submit(_rollout, env_id, policy, per, seed * 1000 + k, n_envs, max_episode_steps,
                                   env_kwargs, f"{progress} [{k + 1}/{shards}]" if progress and k == 0 else False)
                       for k in range(shards)]
            parts = [f.result() for f in futures]
    return ReplayBuffer.concatenate(parts, limit=n_transitions)


def _rollout(env_id: str, policy: BatchPolicy | None, n_transitions: int, seed: int, n_envs: int,
             max_episode_steps: int | None, env_kwargs: dict | None, progress: bool | str) -> ReplayBuffer:
    """Whole episodes, in the order they finish, until they hold at least ``n_transitions``."""
    kwargs = dict(env_kwargs or {})
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    try:
        ensure_registered(env_id)
        envs = [gym.make(env_id, **kwargs) for _ in range(n_envs)]
    except gym.error.Error as e:
        raise DatasetError(f"cannot make environment {env_id!r}: {e}") from None
    space = envs[0].action_space
    policy = policy or UniformPolicy(space)
    obs_dim = envs[0].observation_space.shape
    rng = np.random.default_rng(seed)
    next_seed = seed * 1_000_000
    obs = np.zeros((n_envs, *obs_dim), np.float32)
    for i, env in enumerate(envs):
        obs[i] = env.reset(seed=next_seed)[0]
        next_seed += 1
    # Generous capacity: every unfinished episode may still complete after the target is reached.
    limit = envs[0].spec.max_episode_steps or 1000
    buffer = ReplayBuffer(n_transitions + n_envs * limit, obs_dim, space.shape[0])
    episodes: list[dict[str, list]] = [_new_episode() for _ in range(n_envs)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_transitions, desc=progress if isinstance(progress, str) else env_id, unit="step")
    while len(buffer) < n_transitions:
        actions = policy(obs, rng)
        for i, env in enumerate(envs):
            nxt, reward, terminated, truncated, _ = env.step(actions[i])
            ep = episodes[i]
            ep["obs"].append(obs[i].copy())
            ep["act"].append(actions[i])
            ep["rew"].append(reward)
            ep["next"].append(nxt)
            ep["term"].append(terminated)
            ep["tout"].append(truncated and not terminated)
            if terminated or truncated:
                buffer.add_episode(np.asarray(ep["obs"]), np.asarray(ep["act"]), np.asarray(ep["rew"]),
                                   np.asarray(ep["next"]), np.asarray(ep["term"]), np.asarray(ep["tout"]))
                if bar is not None:
                    bar.update(min(len(ep["rew"]), n_transitions - bar.n))
                episodes[i] = _new_episode()
                nxt = env.reset(seed=next_seed)[0]
                next_seed += 1
            obs[i] = nxt
    if bar is not None:
        bar.close()
    for env in envs:
        env.close()
    return buffer


def _new_episode() -> dict[str, list]:
    return {"obs": [], "act": [], "rew": [], "next": [], "term": [], "tout": []}


def evaluate(env_id: str, policy: BatchPolicy | None, episodes: int, seed: int = 0) -> np.ndarray:
    """Undiscounted returns of ``episodes`` episodes of ``policy`` (``None``: uniform-random).

    One environment per episode, all stepped in lockstep until each has finished its single
    episode (so short episodes are not over-represented), resets seeded ``seed * 1_000_000 + k``.
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    ensure_registered(env_id)
    envs = [gym.make(env_id) for _ in range(episodes)]
    policy = policy or UniformPolicy(envs[0].action_space)
    rng = np.random.default_rng(seed)
    return _lockstep_returns(envs, [seed * 1_000_000 + k for k in range(episodes)],
                             lambda obs, idx: policy(obs[idx], rng))


def evaluate_population(env_ids: list[str], act: Callable[[np.ndarray], np.ndarray], episodes: int,
                        seeds: list[int]) -> np.ndarray:
    """Returns ``(P, episodes)`` of a population's members, all ``P x episodes`` episodes in lockstep.

    Member ``p`` plays ``episodes`` episodes of ``env_ids[p]`` with resets seeded as
    :func:`evaluate` seeds them for ``seeds[p]`` (so a member scores what it would score alone);
    ``act(obs)`` maps observations ``(P, episodes, obs_dim)`` to actions ``(P, episodes, ...)`` in one
    call per step (finished episodes' rows are computed and ignored, which keeps the shapes fixed).
    """
    if episodes <= 0:
        raise ValueError(f"episodes must be positive, got {episodes}")
    P = len(env_ids)
    for e in set(env_ids):
        ensure_registered(e)
    envs = [gym.make(e) for e in env_ids for _ in range(episodes)]
    reset_seeds = [s * 1_000_000 + k for s in seeds for k in range(episodes)]

    def step_actions(obs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        actions = np.asarray(act(obs.reshape(P, episodes, *obs.shape[1:])))
        return actions.reshape(P * episodes, *actions.shape[2:])[idx]

    return _lockstep_returns(envs, reset_seeds, step_actions).reshape(P, episodes)


def _lockstep_returns(envs: list[gym.Env], reset_seeds: list[int],
                      actions_for: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """Play one episode in each of ``envs`` (reset with ``reset_seeds``), stepping all unfinished ones
    together: ``actions_for(obs, idx)`` gives the actions of the active environments ``idx`` from all
    environments' current observations ``obs``. Closes the environments; returns the returns."""
    try:
        obs = np.stack([env.reset(seed=s)[0] for env, s in zip(envs, reset_seeds)]).astype(np.float32)
        returns = np.zeros(len(envs))
        active = np.ones(len(envs), bool)
        while active.any():
            idx = np.flatnonzero(active)
            actions = actions_for(obs, idx)
            for j, i in enumerate(idx):
                nxt, reward, terminated, truncated, _ = envs[i].step(actions[j])
                returns[i] += reward
                obs[i] = nxt
                if terminated or truncated:
                    active[i] = False
    finally:
        for env in envs:
            env.close()
    return returns
