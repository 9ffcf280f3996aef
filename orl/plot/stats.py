"""Aggregate scores over seeds: the interquartile mean and its percentile-bootstrap confidence interval.

Agarwal, Schwarzer, Castro, Courville & Bellemare, *Deep Reinforcement Learning at the Edge of the
Statistical Precipice*, NeurIPS 2021 (arXiv 2108.13264), recommend the interquartile mean (IQM: the
mean of the middle 50% of runs) with stratified percentile-bootstrap confidence intervals over runs.
Here there is one task per curve, so the bootstrap resamples runs (seeds) with replacement; with a
single task stratification is a no-op. Reconstruction choices (ours, not the paper's code):

- The IQM trims ``floor(n/4)`` runs from each end (``scipy.stats.trim_mean(x, 0.25)``), so with fewer
  than 4 seeds it equals the mean: say how many seeds a curve has next to it.
- The confidence interval is the plain percentile interval of 2000 bootstrap IQMs (the paper's library
  defaults to 2000 percentile-bootstrap resamples as well); with one seed it collapses to the point.
- Missing values (a seed that has not reached a step yet) are dropped per step, not imputed.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def iqm(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Interquartile mean along ``axis`` (25% trimmed from each end)."""
    return stats.trim_mean(np.asarray(x, dtype=float), 0.25, axis=axis)


def bootstrap_ci(
    x: np.ndarray, statistic=iqm, confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic`` over the runs in the 1-D array ``x``.

    All resamples are drawn at once (one ``(resamples, n)`` index array), so this is vectorised.
    NaNs are dropped first; an empty input is an error, one run gives a zero-width interval.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples!r}")
    values = np.asarray(x, dtype=float).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one non-NaN value, got none")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(resamples, values.size))
    boot = statistic(values[idx], axis=1)
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def aggregate(curves: np.ndarray, confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Per column of ``curves`` (runs x steps, NaN where a run has no value): IQM, CI bounds, run counts."""
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    n_steps = curves.shape[1]
    out = {k: np.full(n_steps, np.nan) for k in ("iqm", "lo", "hi")}
    out["n"] = (~np.isnan(curves)).sum(axis=0)
    for j in range(n_steps):
        col = curves[:, j][~np.isnan(curves[:, j])]
        if col.size:
            out["iqm"][j] = float(iqm(col))
            out["lo"][j], out["hi"][j] = bootstrap_ci(col, confidence=confidence, resamples=resamples, seed=seed)
    return out


def iqm_ci(scores, reps: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """The IQM of a 1-D array of per-seed scores and its ``level`` percentile-bootstrap interval over ``reps``
    resamples of the seeds (seeded, so a table is reproducible): ``(iqm, low, high)``."""
    values = np.asarray(scores, dtype=float).ravel()
    lo, hi = bootstrap_ci(values, confidence=level, resamples=reps, seed=seed)
    return float(iqm(values[~np.isnan(values)])), lo, hi
