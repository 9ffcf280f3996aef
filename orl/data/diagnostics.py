"""Dataset diagnostics of Schweighofer et al., "A Dataset Perspective on Offline Reinforcement
Learning", CoLLAs 2022 (code: ``ml-jku/OfflineRL``).

- **TQ** (trajectory quality): ``(mean episode return - random) / (expert - random)``, where
  the paper takes ``random`` as the mean return of a uniform-random dataset and ``expert`` as the
  best evaluation return of the online behaviour agent; for D4RL it used D4RL's reference scores.
- **SACo** (state-action coverage): the number of unique discretised ``(s, a)`` pairs in a
  dataset divided by the same count in a reference dataset. The paper's D4RL variant
  (``d4rl_results/evaluate.ipynb``) discretises every state and action dimension with
  ``np.digitize`` against ``np.linspace(min, max, 5)`` edges, the limits taken from the
  environment's *medium-replay* dataset, SACo relative to medium-replay, on the first 100k
  transitions of each D4RL v0 dataset. Those settings are ``saco(ds, medium_replay, bins=5,
  max_transitions=100_000)``. Its grid-world/Atari experiments used 100 edges and counted with
  HyperLogLog (about 1% error); orl counts exactly (``np.unique`` over the packed codes).

``bins`` is therefore the number of *edges* per dimension, as in the paper's code, which makes
``bins + 1`` cells per dimension (values below the minimum, between edges, and at or above the
maximum).
"""

from __future__ import annotations

import numpy as np

from orl.data.buffer import ReplayBuffer


def tq(buffer: ReplayBuffer, random_return: float, expert_return: float) -> float:
    """Trajectory quality ``(mean return - random_return) / (expert_return - random_return)``."""
    if expert_return == random_return:
        raise ValueError(f"expert_return and random_return must differ, both are {expert_return}")
    returns = buffer.episode_returns()
    if returns.size == 0:
        raise ValueError("tq: the buffer has no episodes")
    return float((returns.mean() - random_return) / (expert_return - random_return))


def _state_actions(buffer: ReplayBuffer, max_transitions: int | None) -> np.ndarray:
    obs = buffer.observations.reshape(len(buffer), -1)
    sa = np.concatenate([obs, buffer.actions], axis=1).astype(np.float64)
    return sa[:max_transitions] if max_transitions is not None else sa


def unique_state_actions(buffer: ReplayBuffer, low: np.ndarray, high: np.ndarray, bins: int = 5,
                         max_transitions: int | None = None) -> int:
    """Exact number of distinct discretised ``(s, a)`` pairs, per-dimension edges linspace(low, high, bins)."""
    sa = _state_actions(buffer, max_transitions)
    codes = np.empty(sa.shape, dtype=np.uint16 if bins >= 255 else np.uint8)
    for d in range(sa.shape[1]):
        codes[:, d] = np.digitize(sa[:, d], np.linspace(low[d], high[d], bins))
    # One row of codes -> one opaque byte string, so np.unique compares whole rows at once.
    rows = np.ascontiguousarray(codes).view(np.dtype((np.void, codes.dtype.itemsize * codes.shape[1])))
    return int(np.unique(rows).size)


def saco(buffer: ReplayBuffer, reference: ReplayBuffer, bins: int = 5, max_transitions: int | None = None) -> float:
    """State-action coverage of ``buffer`` relative to ``reference`` (see the module docstring).

    Bin edges per dimension come from the reference's min/max over the transitions counted.
    """
    if bins < 2:
        raise ValueError(f"bins (edges per dimension) must be at least 2, got {bins}")
    if buffer.observation_shape != reference.observation_shape or buffer.action_dim != reference.action_dim:
        raise ValueError(f"saco: buffer and reference differ in shape ({buffer.observation_shape}, {buffer.action_dim}) "
                         f"vs ({reference.observation_shape}, {reference.action_dim})")
    ref = _state_actions(reference, max_transitions)
    low, high = ref.min(axis=0), ref.max(axis=0)
    return unique_state_actions(buffer, low, high, bins, max_transitions) / unique_state_actions(
        reference, low, high, bins, max_transitions)


def summary(buffer: ReplayBuffer) -> dict[str, float | int]:
    """Transitions, episodes and return statistics of a buffer."""
    returns = buffer.episode_returns()
    lengths = buffer.episode_lengths()
    return {
        "transitions": len(buffer),
        "episodes": int(returns.size),
        "terminal_episodes": int(buffer.terminals.sum()),
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "return_min": float(returns.min()),
        "return_max": float(returns.max()),
        "length_mean": float(lengths.mean()),
    }
