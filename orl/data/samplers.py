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
Weighted draws invert the cumulative distribution with ``np.searchsorted`` on uniform numbers,
which is exact and costs O(batch * log N) per batch once the CDF is cached for a buffer version.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from orl.data.buffer import ReplayBuffer

SAMPLERS = ("uniform", "rw", "aw", "topk")


class Sampler:
    """Base class: draws physical buffer rows for a minibatch."""

    name = "base"

    def __init__(self) -> None:
        self._cache_key: tuple[int, int] | None = None
        self._cdf: np.ndarray | None = None
        self._rows: np.ndarray | None = None

    def probabilities(self, buffer: "ReplayBuffer") -> np.ndarray:
        """Probability of drawing each transition, in logical (oldest-first) order."""
        raise NotImplementedError

    def _prepare(self, buffer: "ReplayBuffer") -> None:
        key = (id(buffer), buffer.version)
        if self._cache_key == key:
            return
        p = self.probabilities(buffer)
        cdf = np.cumsum(p, dtype=np.float64)
        self._cdf = cdf
        self._rows = buffer.logical_rows()
        self._cache_key = key

    def sample_rows(self, buffer: "ReplayBuffer", batch_size: int, rng: np.random.Generator) -> np.ndarray:
        self._prepare(buffer)
        assert self._cdf is not None and self._rows is not None
        u = rng.random(batch_size) * self._cdf[-1]
        idx = np.searchsorted(self._cdf, u, side="right")
        np.minimum(idx, self._cdf.size - 1, out=idx)  # guards the u == cdf[-1] rounding edge
        return self._rows[idx]


class UniformSampler(Sampler):
    """Every sampleable transition equally likely."""

    name = "uniform"

    def __init__(self) -> None:
        super().__init__()
        self._valid: np.ndarray | None = None
        self._all_valid = False

    def probabilities(self, buffer: "ReplayBuffer") -> np.ndarray:
        valid = buffer.has_next.astype(np.float64)
        return valid / valid.sum()

    def sample_rows(self, buffer: "ReplayBuffer", batch_size: int, rng: np.random.Generator) -> np.ndarray:
        key = (id(buffer), buffer.version)
        if self._cache_key != key:
            has_next = buffer._has_next[: buffer.size]  # physical rows 0..size-1 are the filled ones
            self._all_valid = bool(has_next.all())
            self._valid = None if self._all_valid else np.flatnonzero(has_next)
            if self._valid is not None and self._valid.size == 0:
                raise ValueError("no transition in the buffer has a known next observation")
            self._cache_key = key
        if self._all_valid:
            return rng.integers(0, buffer.size, batch_size)
        assert self._valid is not None
        return self._valid[rng.integers(0, self._valid.size, batch_size)]


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

    def probabilities(self, buffer: "ReplayBuffer") -> np.ndarray:
        score = self.trajectory_scores(buffer)
        logits = score / self.alpha
        w_traj = np.exp(logits - logits.max())  # shift for stability; cancels in the softmax
        w = w_traj[buffer.episode_index()] * buffer.has_next
        return w / w.sum()


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
    return returns - design @ coef


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

    def probabilities(self, buffer: "ReplayBuffer") -> np.ndarray:
        returns = buffer.episode_returns()
        n_top = max(1, math.ceil(self.k / 100.0 * returns.size))
        top = np.argsort(-returns, kind="stable")[:n_top]
        keep = np.zeros(returns.size)
        keep[top] = 1.0
        w = keep[buffer.episode_index()] * buffer.has_next
        if w.sum() == 0:
            raise ValueError("topk: the selected trajectories hold no sampleable transition")
        return w / w.sum()


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
