"""The one transition store of orl: :class:`ReplayBuffer`.

It serves offline datasets (built from arrays, D4RL HDF5 files or Minari datasets), online
collection (``add`` / ``add_episode`` with a fixed capacity, FIFO), trajectory-reweighted
sampling (:mod:`orl.data.samplers`) and the dataset diagnostics (:mod:`orl.data.diagnostics`).

Columns (row ``t`` is the transition ``(s_t, a_t, r_t, s_{t+1})``):

===================== ============ ===============================================================
``observations``      float32      ``s_t``
``actions``           float32      ``a_t``, shape ``(N, action_dim)``
``rewards``           float32      ``r_t``, shape ``(N,)``
``next_observations`` float32      ``s_{t+1}``
``terminals``         bool         the MDP really ended at ``s_{t+1}`` (no bootstrapping)
``timeouts``          bool         the episode was cut by a time limit after ``a_t`` (bootstrap!)
``episode_ends``      bool         ``t`` is the last transition of its episode
``has_next``          bool         ``s_{t+1}`` is known (see below); only such rows are sampled
===================== ============ ===============================================================

``terminals`` and ``timeouts`` are kept apart everywhere: a TD target uses
``r + gamma * (1 - terminal) * V(s')``, so a time-limit truncation still bootstraps.

**Next observations and D4RL semantics.** D4RL files often store no ``next_observations``.
Then ``s_{t+1}`` is taken from row ``t + 1`` *within the same episode only*. The last
transition of an episode has no successor row:

- if it is terminal, ``s_{t+1}`` never enters a target (it is multiplied by zero), so it is
  filled with ``s_t`` and the row stays sampleable;
- if it was cut by a timeout (or the data simply ends), the true ``s_{t+1}`` is unknown and
  the next row belongs to a new episode. ``d4rl.qlearning_dataset`` drops such rows; orl keeps
  them (their reward still counts in the episode's return and in the diagnostics) but marks
  them ``has_next = False`` so that no sampler ever draws them. A timeout transition therefore
  never bootstraps into the next episode's first state.

Episodes are contiguous runs of rows that end at ``episode_ends``. For online use the buffer is
a ring: once ``capacity`` is reached the oldest rows are overwritten; the oldest episode may
then have lost its beginning and is reported from its first surviving row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from orl.data.errors import DatasetError

FLOAT_COLUMNS = ("observations", "actions", "rewards", "next_observations")
BOOL_COLUMNS = ("terminals", "timeouts", "episode_ends", "has_next")


@dataclass(frozen=True)
class Batch:
    """A minibatch of transitions as torch tensors (float32, on CPU).

    ``terminals`` and ``timeouts`` are float32 0/1 so that ``1 - terminals`` can be used directly
    in a TD target; ``indices`` (a numpy array) are the buffer rows that were drawn. The tensors
    are views of one gathered block, so they may be non-contiguous along the feature axis.
    """

    observations: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_observations: torch.Tensor
    terminals: torch.Tensor
    timeouts: torch.Tensor
    indices: np.ndarray

    def __len__(self) -> int:
        return int(self.rewards.shape[0])

    def to(self, device: torch.device | str) -> "Batch":
        """The batch on ``device``. To a GPU the rows go through pinned memory with a non-blocking
        copy, so the host does not wait for the GPU's queue of earlier work (a pageable copy would)."""
        device = torch.device(device)
        if device.type == "cuda":
            moved = {k: getattr(self, k).pin_memory().to(device, non_blocking=True)
                     for k in self.__dataclass_fields__ if k != "indices"}
        else:
            moved = {k: getattr(self, k).to(device) for k in self.__dataclass_fields__ if k != "indices"}
        return Batch(**moved, indices=self.indices)


@dataclass(frozen=True)
class Episode:
    """One episode's rows (views into the buffer where possible)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminals: np.ndarray
    timeouts: np.ndarray

    @property
    def length(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def return_(self) -> float:
        """Undiscounted return (sum of rewards)."""
        return float(self.rewards.sum(dtype=np.float64))

    @property
    def terminated(self) -> bool:
        return bool(self.terminals[-1])


def _as_2d_float(name: str, x: Any, n: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise DatasetError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    arr = arr.astype(np.float32, copy=False)
    if arr.ndim == 1 and name == "actions":
        arr = arr[:, None]
    if arr.ndim < 2:
        raise DatasetError(f"{name}: expected shape (N, ...) with at least 2 dimensions, got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise DatasetError(f"{name}: length {arr.shape[0]} does not match observations' length {n}")
    return arr


def _as_1d(name: str, x: Any, n: int, dtype: type) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 2 and arr.shape[1] == 1:  # (N, 1) columns, as some loaders write them
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DatasetError(f"{name}: expected shape ({n},), got {arr.shape}")
    if arr.shape[0] != n:
        raise DatasetError(f"{name}: length {arr.shape[0]} does not match observations' length {n}")
    if dtype is bool:
        if arr.dtype.kind not in "biuf":
            raise DatasetError(f"{name}: expected booleans (or 0/1), got dtype {arr.dtype}")
        if arr.dtype.kind != "b" and not np.isin(arr, (0, 1)).all():
            bad = arr[~np.isin(arr, (0, 1))][:3]
            raise DatasetError(f"{name}: expected booleans (or 0/1), found values such as {bad.tolist()}")
        return arr.astype(bool)
    if arr.dtype.kind not in "fiub":
        raise DatasetError(f"{name}: expected numeric values, got dtype {arr.dtype}")
    return arr.astype(np.float32)


def _check_finite(name: str, arr: np.ndarray) -> None:
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DatasetError(f"{name}: contains NaN or inf (first at index {tuple(int(i) for i in bad)})")


class ReplayBuffer:
    """Fixed-capacity transition store with episode structure; see the module docstring.

    Args:
        capacity: maximum number of transitions; older ones are overwritten (FIFO) beyond it.
        observation_shape: shape of one observation.
        action_dim: size of one (flat, continuous or integer-coded) action.
        metadata: free-form dataset metadata (environment id, reference scores, ...), saved with
            the data by :mod:`orl.data.io`.
    """

    def __init__(self, capacity: int, observation_shape: Sequence[int], action_dim: int,
                 metadata: dict[str, Any] | None = None) -> None:
        if int(capacity) <= 0:
            raise ValueError(f"capacity must be a positive integer, got {capacity}")
        if int(action_dim) <= 0:
            raise ValueError(f"action_dim must be a positive integer, got {action_dim}")
        self.capacity = int(capacity)
        self.observation_shape = tuple(int(d) for d in observation_shape)
        self.action_dim = int(action_dim)
        self.metadata: dict[str, Any] = dict(metadata or {})
        c, o, a = self.capacity, int(np.prod(self.observation_shape)), self.action_dim
        # All float columns live side by side in one row-major matrix, so a minibatch is a single
        # np.take of whole rows (one gather instead of six); the columns are views into it.
        self._layout = {"observations": (0, o), "actions": (o, o + a), "rewards": (o + a, o + a + 1),
                        "next_observations": (o + a + 1, 2 * o + a + 1), "terminals": (2 * o + a + 1, 2 * o + a + 2),
                        "timeouts": (2 * o + a + 2, 2 * o + a + 3)}
        self._data = np.zeros((c, 2 * o + a + 3), np.float32)
        L = self._layout  # precomputed indexers for gather(): slices for vectors, ints for scalars
        self._gather_slices = (slice(*L["observations"]), slice(*L["next_observations"]), slice(*L["actions"]),
                               L["rewards"][0], L["terminals"][0], L["timeouts"][0])
        self._make_views()
        self._term = np.zeros(c, bool)
        self._timeout = np.zeros(c, bool)
        self._ends = np.zeros(c, bool)
        self._has_next = np.zeros(c, bool)
        self._ptr = 0  # next row to write
        self._size = 0
        self._version = 0  # bumped on every write; samplers use it to notice stale weights
        self._episode_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self.sampler: Any = None  # set lazily to a UniformSampler; see set_sampler()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(cls, observations: Any, actions: Any, rewards: Any, terminals: Any,
                    timeouts: Any = None, next_observations: Any = None, episode_ends: Any = None,
                    metadata: dict[str, Any] | None = None, capacity: int | None = None) -> "ReplayBuffer":
        """Build a buffer from whole-dataset arrays (D4RL-style columns).

        Episodes end where ``terminals | timeouts`` is true, at the last row, where
        ``episode_ends`` says so and, when ``next_observations`` is given, wherever
        ``next_observations[t] != observations[t + 1]`` (a discontinuity, as D4RL loaders detect
        episode boundaries). Without ``next_observations`` they are derived within episodes only
        (module docstring). All inputs are validated: shapes, lengths, dtypes, finiteness.
        """
        obs = _as_2d_float("observations", observations)
        n = obs.shape[0]
        if n == 0:
            raise DatasetError("observations: the dataset is empty")
        act = _as_2d_float("actions", actions, n)
        if act.ndim != 2:
            raise DatasetError(f"actions: expected shape (N, action_dim), got {act.shape}")
        rew = _as_1d("rewards", rewards, n, float)
        term = _as_1d("terminals", terminals, n, bool)
        tout = np.zeros(n, bool) if timeouts is None else _as_1d("timeouts", timeouts, n, bool)
        for name, arr in (("observations", obs), ("actions", act), ("rewards", rew)):
            _check_finite(name, arr)
        ends = term | tout
        ends[-1] = True
        if episode_ends is not None:
            ends |= _as_1d("episode_ends", episode_ends, n, bool)
        if next_observations is not None:
            nxt = _as_2d_float("next_observations", next_observations, n)
            if nxt.shape != obs.shape:
                raise DatasetError(f"next_observations: shape {nxt.shape} does not match observations' {obs.shape}")
            _check_finite("next_observations", nxt)
            if n > 1:
                jump = np.any((nxt[:-1] != obs[1:]).reshape(n - 1, -1), axis=1)
                ends[:-1] |= jump
            has_next = np.ones(n, bool)
        else:
            nxt = np.empty_like(obs)
            nxt[:-1] = obs[1:]
            nxt[ends] = obs[ends]  # no successor row inside the episode: placeholder s_t
            has_next = ~ends | term  # terminal rows never bootstrap, so a placeholder is harmless
        buf = cls(capacity or n, obs.shape[1:], act.shape[1], metadata)
        if buf.capacity < n:
            raise DatasetError(f"capacity {buf.capacity} is smaller than the dataset ({n} transitions)")
        buf._write(np.arange(n), obs, act, rew, nxt, term, tout, ends, has_next)
        buf._advance(n)
        return buf

    #: the column views into ``_data``: not pickled (a pickle would store them as separate arrays, and
    #: writes after unpickling would then miss ``_data``, which ``gather`` reads); rebuilt on unpickling
    _VIEWS = ("_obs", "_next_obs", "_act", "_rew", "_term_f", "_timeout_f")

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in self._VIEWS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._make_views()

    def _make_views(self) -> None:
        a = self.action_dim
        self._obs = self._view("observations", self.observation_shape)
        self._next_obs = self._view("next_observations", self.observation_shape)
        self._act = self._view("actions", (a,))
        self._rew = self._view("rewards", ())
        self._term_f = self._view("terminals", ())
        self._timeout_f = self._view("timeouts", ())

    def _view(self, column: str, shape: tuple[int, ...]) -> np.ndarray:
        lo, hi = self._layout[column]
        view = self._data[:, lo:hi].reshape(self.capacity, *shape)
        assert np.shares_memory(view, self._data)  # writes through the view must reach _data
        return view

    def _write(self, rows: Any, obs: Any, act: Any, rew: Any, nxt: Any, term: Any, tout: Any, ends: Any,
               has_next: Any) -> None:
        self._obs[rows], self._act[rows], self._rew[rows], self._next_obs[rows] = obs, act, rew, nxt
        self._term[rows], self._timeout[rows], self._ends[rows], self._has_next[rows] = term, tout, ends, has_next
        self._term_f[rows], self._timeout_f[rows] = self._term[rows], self._timeout[rows]

    @classmethod
    def concatenate(cls, buffers: Sequence["ReplayBuffer"], metadata: dict[str, Any] | None = None,
                    limit: int | None = None) -> "ReplayBuffer":
        """One buffer holding ``buffers`` one after another (episode boundaries kept).

        ``limit`` cuts the result to its first ``limit`` transitions (the cut ends an episode).
        The last row always ends an episode; if it carries neither flag (the cut, or the last part's
        unfinished episode) it is marked a time-out: the episode was truncated, not terminated,
        and a reader that finds episodes from the flags alone (d3rlpy, ``d4rl.sequence_dataset``)
        must not merge it into whatever is appended next.
        """
        if not buffers:
            raise ValueError("concatenate needs at least one buffer")
        cols = {c: np.concatenate([getattr(b, c) for b in buffers]) for c in FLOAT_COLUMNS + BOOL_COLUMNS}
        n = cols["rewards"].shape[0] if limit is None else min(int(limit), cols["rewards"].shape[0])
        cols = {c: v[:n] for c, v in cols.items()}
        cols["episode_ends"][n - 1] = True
        if not cols["terminals"][n - 1]:
            cols["timeouts"][n - 1] = True
        out = cls.from_arrays(cols["observations"], cols["actions"], cols["rewards"], cols["terminals"],
                              cols["timeouts"], next_observations=cols["next_observations"],
                              episode_ends=cols["episode_ends"], metadata=metadata)
        out._has_next[:n] = cols["has_next"]  # successors unknown in a part stay unknown
        out._version += 1
        return out

    # ------------------------------------------------------------------ online writes
    def add(self, observation: Any, action: Any, reward: float, next_observation: Any,
            terminal: bool, timeout: bool = False) -> None:
        """Append one transition (FIFO beyond capacity). The episode ends if terminal or timeout."""
        obs = np.asarray(observation, np.float32)
        if obs.shape != self.observation_shape:
            raise ValueError(f"observation: expected shape {self.observation_shape}, got {obs.shape}")
        act = np.asarray(action, np.float32).reshape(-1)
        if act.shape != (self.action_dim,):
            raise ValueError(f"action: expected {self.action_dim} values, got shape {np.shape(action)}")
        nxt = np.asarray(next_observation, np.float32)
        if nxt.shape != self.observation_shape:
            raise ValueError(f"next_observation: expected shape {self.observation_shape}, got {nxt.shape}")
        self._write(self._ptr, obs, act, reward, nxt, bool(terminal), bool(timeout),
                    bool(terminal) or bool(timeout), True)
        self._advance(1)

    def add_episode(self, observations: Any, actions: Any, rewards: Any, next_observations: Any,
                    terminals: Any, timeouts: Any = None) -> None:
        """Append a whole episode (e.g. one finished sub-environment of a vector env).

        Vectorised collection interleaves episodes of different sub-environments; collecting
        each one apart and adding it whole keeps every episode contiguous in the buffer.
        """
        ep = ReplayBuffer.from_arrays(observations, actions, rewards, terminals, timeouts, next_observations)
        n = ep._size
        if ep.observation_shape != self.observation_shape or ep.action_dim != self.action_dim:
            raise ValueError(f"episode shapes {ep.observation_shape}/{ep.action_dim} do not match the buffer's "
                             f"{self.observation_shape}/{self.action_dim}")
        if ep._ends[:-1].any():
            raise ValueError("add_episode: the arrays hold more than one episode (an end flag or a "
                             "next_observations discontinuity before the last row)")
        if n > self.capacity:
            raise ValueError(f"add_episode: episode of {n} transitions exceeds capacity {self.capacity}")
        rows = (self._ptr + np.arange(n)) % self.capacity
        ends = np.zeros(n, bool)
        ends[-1] = True
        self._write(rows, ep._obs[:n], ep._act[:n], ep._rew[:n], ep._next_obs[:n], ep._term[:n], ep._timeout[:n],
                    ends, True)
        self._advance(n)

    def _advance(self, n: int) -> None:
        self._ptr = (self._ptr + n) % self.capacity
        self._size = min(self._size + n, self.capacity)
        self._version += 1

    # ------------------------------------------------------------------ columns
    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        return self._size

    @property
    def version(self) -> int:
        """Changes whenever rows are written (samplers recompute their weights then)."""
        return self._version

    def logical_rows(self) -> np.ndarray:
        """Physical row of each transition, oldest first."""
        if self._size < self.capacity:
            return np.arange(self._size)
        return np.concatenate([np.arange(self._ptr, self.capacity), np.arange(self._ptr)])

    def _column(self, arr: np.ndarray) -> np.ndarray:
        if self._size < self.capacity or self._ptr == 0:
            return arr[: self._size]
        return np.concatenate([arr[self._ptr :], arr[: self._ptr]])

    observations = property(lambda self: self._column(self._obs), doc="s_t, oldest first")
    next_observations = property(lambda self: self._column(self._next_obs), doc="s_{t+1}, oldest first")
    actions = property(lambda self: self._column(self._act), doc="a_t, oldest first")
    rewards = property(lambda self: self._column(self._rew), doc="r_t, oldest first")
    terminals = property(lambda self: self._column(self._term), doc="true MDP ends, oldest first")
    timeouts = property(lambda self: self._column(self._timeout), doc="time-limit cuts, oldest first")
    episode_ends = property(lambda self: self._column(self._ends), doc="last row of each episode, oldest first")
    has_next = property(lambda self: self._column(self._has_next), doc="rows whose s_{t+1} is known")

    # ------------------------------------------------------------------ episodes
    def episode_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``(starts, lengths)`` of the episodes in logical (oldest-first) positions.

        The newest episode may still be open during online collection; it is included.
        """
        if self._episode_cache is not None and self._episode_cache[0] == self._version:
            return self._episode_cache[1], self._episode_cache[2]
        if self._size == 0:
            starts = lengths = np.zeros(0, np.int64)
        else:
            ends = np.flatnonzero(self.episode_ends)
            if ends.size == 0 or ends[-1] != self._size - 1:
                ends = np.append(ends, self._size - 1)  # an episode still being collected
            starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
            lengths = (ends - starts + 1).astype(np.int64)
        self._episode_cache = (self._version, starts, lengths)
        return starts, lengths

    def unflagged_ends(self) -> np.ndarray:
        """Logical rows that end an episode but carry neither ``terminals`` nor ``timeouts``.

        Such an end is visible to orl (``episode_ends``) but not to a reader that splits episodes
        at the flags alone; orl's writers therefore flag them (see :mod:`orl.data.io`).
        """
        return np.flatnonzero(self.episode_ends & ~self.terminals & ~self.timeouts)

    @property
    def num_episodes(self) -> int:
        return int(self.episode_bounds()[0].size)

    def episode_lengths(self) -> np.ndarray:
        return self.episode_bounds()[1].copy()

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode (float64), oldest first.

        Refused for an action-chunk dataset (``metadata["chunk"] > 1``, :func:`orl.data.chunks.chunk_dataset`):
        its rows are overlapping windows of the source episodes, each its own "episode" by the successor rule,
        so per-episode sums are chunk rewards, not returns; what needs returns (reward scaling by the return
        range, trajectory-reweighted samplers, TQ/SACo) must use the single-action dataset."""
        if int(self.metadata.get("chunk", 1) or 1) > 1:
            raise DatasetError(f"episode returns of an action-chunk dataset (chunk={self.metadata['chunk']}) are not "
                               "defined: its rows are overlapping windows, not episodes; use the single-action "
                               "dataset for return-based settings (normalize_reward, samplers rw/aw/topk, TQ/SACo)")
        starts, _ = self.episode_bounds()
        if starts.size == 0:
            return np.zeros(0)
        return np.add.reduceat(self.rewards.astype(np.float64), starts)

    def episode_index(self) -> np.ndarray:
        """For each transition (logical order), the index of its episode."""
        starts, lengths = self.episode_bounds()
        return np.repeat(np.arange(starts.size), lengths)

    def episodes(self) -> Iterator[Episode]:
        """Iterate over the episodes, oldest first."""
        starts, lengths = self.episode_bounds()
        cols = (self.observations, self.actions, self.rewards, self.next_observations, self.terminals, self.timeouts)
        for s, n in zip(starts, lengths):
            yield Episode(*(c[s : s + n] for c in cols))

    # ------------------------------------------------------------------ statistics
    def observation_stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension mean and standard deviation of the observations (float32)."""
        obs = self._obs[: self._size].astype(np.float64)
        return obs.mean(0).astype(np.float32), obs.std(0).astype(np.float32)

    def checksum(self) -> str:
        """SHA-256 over all columns in logical order: equal data gives an equal checksum."""
        h = hashlib.sha256()
        for name in FLOAT_COLUMNS + BOOL_COLUMNS:
            h.update(name.encode())
            h.update(np.ascontiguousarray(getattr(self, name)).tobytes())
        return h.hexdigest()

    # ------------------------------------------------------------------ sampling
    def set_sampler(self, name: str = "uniform", **kwargs: Any) -> None:
        """Choose how :meth:`sample` draws transitions: ``uniform``, ``rw``, ``aw`` or ``topk``.

        Keyword arguments go to the sampler (``alpha`` for rw/aw, ``k`` for topk); see
        :mod:`orl.data.samplers`.
        """
        from orl.data.samplers import make_sampler

        self.sampler = make_sampler(name, **kwargs)

    def sample(self, batch_size: int, generator: np.random.Generator) -> Batch:
        """Draw ``batch_size`` transitions (with replacement) with the buffer's sampler."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if self._size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        if self.sampler is None:
            self.set_sampler("uniform")
        rows = self.sampler.sample_rows(self, batch_size, generator)
        return self.gather(rows)

    def gather(self, rows: np.ndarray) -> Batch:
        """The transitions at physical ``rows`` as a :class:`Batch`."""
        block = np.take(self._data, rows, axis=0)  # one gather of whole packed rows
        t, (o, o2, a, r, d, tout) = torch.from_numpy, self._gather_slices
        obs, nxt = block[:, o], block[:, o2]
        if len(self.observation_shape) > 1:
            obs, nxt = obs.reshape(-1, *self.observation_shape), nxt.reshape(-1, *self.observation_shape)
        return Batch(observations=t(obs), actions=t(block[:, a]), rewards=t(block[:, r]),
                     next_observations=t(nxt), terminals=t(block[:, d]), timeouts=t(block[:, tout]),
                     indices=rows)

    def __repr__(self) -> str:
        return (f"ReplayBuffer(size={self._size}, capacity={self.capacity}, episodes={self.num_episodes}, "
                f"observation_shape={self.observation_shape}, action_dim={self.action_dim})")
