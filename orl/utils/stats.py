"""Aggregate scores over seeds as Agarwal et al. recommend ("Deep RL at the Edge of the Statistical Precipice",
NeurIPS 2021, arXiv 2108.13264): the interquartile mean (IQM) with a percentile bootstrap confidence interval.

A small equivalent of ``rliable``'s ``get_interval_estimates`` for the case orl reports (one task at a time, so
the stratified bootstrap is the plain bootstrap over that task's seeds): not a port of its code.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import trim_mean


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the middle 50% of ``scores`` along ``axis`` (25% trimmed each side,
    as ``scipy.stats.trim_mean``, which is what rliable's ``aggregate_iqm`` computes)."""
    return trim_mean(np.asarray(scores, np.float64), 0.25, axis=axis)


def iqm_ci(scores: np.ndarray, reps: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """IQM of a 1-D array of per-seed scores and its ``level`` percentile bootstrap interval over ``reps``
    resamples of the seeds (with replacement; seeded, so a table is reproducible). Returns (iqm, low, high)."""
    x = np.asarray(scores, np.float64).ravel()
    if x.size == 0:
        raise ValueError("iqm_ci needs at least one score, got an empty array")
    if not 0 < level < 1:
        raise ValueError(f"level={level} must be in (0, 1)")
    if reps < 1:
        raise ValueError(f"reps={reps} must be >= 1")
    idx = np.random.default_rng(seed).integers(0, x.size, (reps, x.size))
    boot = iqm(x[idx], axis=1)
    a = (1 - level) / 2
    return float(iqm(x)), float(np.quantile(boot, a)), float(np.quantile(boot, 1 - a))
