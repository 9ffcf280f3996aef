"""Which transitions a minibatch draws: uniform and trajectory-reweighted samplers.

Hong, Agrawal, Tachet des Combes, Laroche, "Harnessing Mixed Offline Reinforcement Learning
Datasets via Trajectory Weighting", ICLR 2023 (code: ``Improbable-AI/harness-offline-rl``).
Every transition ``t`` of trajectory ``tau_i`` (return ``G_i``, first state ``s_0^i``) gets a
score, and a transition is drawn with probability ``softmax_t(score_t / alpha)`` taken over
*all transitions*, so a trajectory's total mass is proportional to ``T_i * exp(score_i / alpha)``:

- ``uniform``: every transition equally likely.
- ``rw`` (return-weighted): ``score_i = (G_i - min G) / (max G - min G)``.
- ``aw`` (advantage-weighted): ``A_i = G_i - V(s_0^i)`` with ``V`` a least-squares linear
  regression (with intercept) of ``G`` on the trajectories' first states, as the official code
  does with sklearn's ``LinearRegression``; ``score_i = min-max normalised A_i``.
- ``topk``: uniform over the transitions of the top ``k`` percent of trajectories by return
  (the paper's baseline uses 10%).

``alpha`` is the softmax temperature (paper: 0.1 for IQL and TD3+BC, 0.2 for CQL). Where all
scores are equal (all returns equal, one trajectory, or a regression that fits every return
exactly) min-max normalisation is undefined; orl then gives every score 0, i.e. uniform
sampling, instead of the NaNs a literal division by ``max - min`` would produce.

Rows without a known next observation (``ReplayBuffer.has_next`` false) get probability 0.
All four are exact; see :class:`Sampler` for how rows are drawn (alias method, pre-drawn blocks).
Hong et al.'s code likewise pre-draws the indices of all training steps at once for speed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from orl.data.buffer import ReplayBuffer

SAMPLERS = ("uniform", "rw", "aw", "topk")


class Sampler:
    """Base class: draws physical buffer rows for a minibatch.

    Subclasses give every trajectory a non-negative weight ``w_i``; a transition of trajectory
    ``i`` is then drawn with probability ``w_i / sum_j c_j w_j`` (``c_j`` = its sampleable rows).
    Drawing is two-level and exact: a trajectory with probability ``c_i w_i / sum_j c_j w_j``
    (Walker's alias method, O(1) per draw), then one of its sampleable rows uniformly.

    For an unchanging buffer (offline training) rows are drawn ``BLOCK`` batches at a time from
    the generator and handed out batch by batch, which amortises numpy's per-call overhead. So
    a generator is advanced ahead of use, and passing another generator starts a new block;
    :meth:`state_dict` holds the undrawn rest so that a resumed run draws exactly what an
    uninterrupted one would.
    """

    name = "base"
    BLOCK = 64  # batches drawn per generator call once the buffer is stable

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None  # (buffer id, version) the structures belong to
        self._block: np.ndarray | None = None
        self._pos = 0
        # The generator that drew the block (held, not just its id(): ids are reused after garbage collection).
        self._owner: np.random.Generator | None = None

    # -- what subclasses define
    def trajectory_weights(self, buffer: "ReplayBuffer") -> np.ndarray:
        """Unnormalised weight of each trajectory (oldest first)."""
        raise NotImplementedError

    # -- exact per-transition probabilities (documentation, tests, diagnostics)
    def probabilities(self, buffer: "ReplayBuffer") -> np.ndarray:
        """Probability of drawing each transition, in logical (oldest-first) order."""
        w = self.trajectory_weights(buffer)[buffer.episode_index()] * buffer.has_next
        if not w.sum() > 0:
            raise ValueError(f"{self.name}: no sampleable transition has positive weight")
        return w / w.sum()

    # -- drawing
    def _prepare(self, buffer: "ReplayBuffer") -> None:
        has_next = buffer.has_next
        starts, lengths = buffer.episode_bounds()
        counts = np.add.reduceat(has_next.astype(np.int64), starts) if starts.size else starts
        mass = self.trajectory_weights(buffer) * counts
        if not mass.sum() > 0:
            raise ValueError(f"{self.name}: no sampleable transition has positive weight")
        self._valid_rows = buffer.logical_rows()[has_next]  # grouped by trajectory, oldest first
        self._offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self._counts = counts
        self._alias_prob, self._alias = alias_table(mass / mass.sum())

    def _draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.integers(0, self._alias.size, m)
        traj = np.where(rng.random(m) < self._alias_prob[k], k, self._alias[k])
        within = (rng.random(m) * self._counts[traj]).astype(np.int64)
        return self._valid_rows[self._offsets[traj] + within]

    def sample_rows(self, buffer: "ReplayBuffer", batch_size: int, rng: np.random.Generator) -> np.ndarray:
        key = (id(buffer), buffer.version)
        if key != self._key:  # new data: rebuild, and draw just this batch (online buffers change every step)
            self._prepare(buffer)
            self._key, self._block, self._pos = key, None, 0
            return self._draw(batch_size, rng)
        if self._owner is None:  # a block restored from a checkpoint belongs to the next generator
            self._owner = rng
        if self._block is None or self._pos + batch_size > self._block.size or self._owner is not rng:
            self._block, self._pos, self._owner = self._draw(batch_size * self.BLOCK, rng), 0, rng
        rows = self._block[self._pos : self._pos + batch_size]
        self._pos += batch_size
        return rows

    def reset(self) -> None:
        """Forget pre-drawn rows: the next draw starts afresh (a new run on a buffer an earlier run sampled)."""
        self._key, self._block, self._pos, self._owner = None, None, 0, None

    def state_dict(self) -> dict:
        """The undrawn pre-drawn rows (save with the generator's state to resume exactly)."""
        return {"block": None if self._block is None else self._block.copy(), "pos": self._pos, "key_version": self._key and self._key[1]}

    def load_state_dict(self, state: dict, buffer: "ReplayBuffer") -> None:
        self._prepare(buffer)
        self._owner = None
        if state.get("key_version") is None:
            self._key, self._block, self._pos = None, None, 0
            return
        self._key = (id(buffer), buffer.version)
        self._block = None if state["block"] is None else np.asarray(state["block"])
        self._pos = int(state["pos"])


def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias method (Vose's construction): ``k ~ U{0..n-1}``, keep ``k`` with
    probability ``prob[k]``, else take ``alias[k]``; this draws ``k`` with probability ``p[k]``."""
    n = p.size
    scaled = p * n
    prob = np.ones(n)
    alias = np.arange(n)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    for i in small + large:  # numerical leftovers: probability 1 (exactly 1 up to rounding)
        prob[i] = 1.0
    return prob, alias


class UniformSampler(Sampler):
    """Every sampleable transition equally likely."""

    name = "uniform"

    def trajectory_weights(self, buffer: "ReplayBuffer") -> np.ndarray:
        return np.ones(buffer.num_episodes)

    def _prepare(self, buffer: "ReplayBuffer") -> None:
        has_next = buffer._has_next[: buffer.size]  # physical rows 0..size-1 are the filled ones
        self._size = buffer.size
        self._valid = None if has_next.all() else np.flatnonzero(has_next)
        if self._valid is not None and self._valid.size == 0:
            raise ValueError("uniform: no transition in the buffer has a known next observation")

    def _draw(self, m: int, rng: np.random.Generator) -> np.ndarray:
        if self._valid is None:
            return rng.integers(0, self._size, m)
        return self._valid[rng.integers(0, self._valid.size, m)]


def minmax(x: np.ndarray) -> np.ndarray:
    """``(x - min) / (max - min)``; all zeros when ``max == min`` (degenerate, see module doc)."""
    lo, hi = float(np.min(x)), float(np.max(x))
    if not hi > lo:
        return np.zeros_like(x, dtype=np.float64)
    return (x - lo) / (hi - lo)


class _SoftmaxTrajectorySampler(Sampler):
    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__()
        if not (isinstance(alpha, (int, float)) and alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"alpha (softmax temperature) must be a positive number, got {alpha!r}")
        self.alpha = float(alpha)

    def trajectory_scores(self, buffer: "ReplayBuffer") -> np.ndarray:
        raise NotImplementedError

    def trajectory_weights(self, buffer: "ReplayBuffer") -> np.ndarray:
        logits = self.trajectory_scores(buffer) / self.alpha
        return np.exp(logits - logits.max())  # shifted for stability; the shift cancels in the softmax


class ReturnWeightedSampler(_SoftmaxTrajectorySampler):
    """RW: softmax over transitions of the min-max normalised trajectory return."""

    name = "rw"

    def trajectory_scores(self, buffer: "ReplayBuffer") -> np.ndarray:
        return minmax(buffer.episode_returns())


def initial_state_advantages(buffer: "ReplayBuffer") -> np.ndarray:
    """``A_i = G_i - V(s_0^i)``, ``V`` a least-squares linear fit (with intercept) of G on s_0."""
    starts, _ = buffer.episode_bounds()
    returns = buffer.episode_returns()
    s0 = buffer.observations[starts].reshape(starts.size, -1).astype(np.float64)
    design = np.hstack([s0, np.ones((starts.size, 1))])
    coef, *_ = np.linalg.lstsq(design, returns, rcond=None)
    adv = returns - design @ coef
    # The fit leaves rounding noise of order eps * |G| (its exact size depends on the LAPACK build); a spread
    # that small is no advantage, and min-max normalisation would blow it up to [0, 1].
    if np.ptp(adv) <= 1e-9 * max(1.0, float(np.abs(returns).max())):
        return np.zeros_like(adv)
    return adv


class AdvantageWeightedSampler(_SoftmaxTrajectorySampler):
    """AW: softmax over transitions of the min-max normalised ``G_i - V(s_0^i)``."""

    name = "aw"

    def trajectory_scores(self, buffer: "ReplayBuffer") -> np.ndarray:
        return minmax(initial_state_advantages(buffer))


class TopKSampler(Sampler):
    """Uniform over the transitions of the top ``k`` percent of trajectories by return."""

    name = "topk"

    def __init__(self, k: float = 10.0) -> None:
        super().__init__()
        if not (isinstance(k, (int, float)) and 0 < k <= 100):
            raise ValueError(f"k (percent of trajectories kept) must be in (0, 100], got {k!r}")
        self.k = float(k)

    def trajectory_weights(self, buffer: "ReplayBuffer") -> np.ndarray:
        returns = buffer.episode_returns()
        n_top = max(1, math.ceil(self.k / 100.0 * returns.size))
        keep = np.zeros(returns.size)
        keep[np.argsort(-returns, kind="stable")[:n_top]] = 1.0
        return keep


def make_sampler(name: str, *, alpha: float = 0.1, k: float = 10.0) -> Sampler:
    """Build a sampler by name: one of ``uniform``, ``rw``, ``aw``, ``topk``."""
    if name == "uniform":
        return UniformSampler()
    if name == "rw":
        return ReturnWeightedSampler(alpha)
    if name == "aw":
        return AdvantageWeightedSampler(alpha)
    if name == "topk":
        return TopKSampler(k)
    raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
