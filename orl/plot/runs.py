"""Learning curves from a user's run directories: ``python -m orl.plot runs/...``.

Every training entry point writes ``eval.csv`` (a ``step`` column and the evaluation metrics) per run,
or per population member under ``<run dir>/<member>/`` (see :mod:`orl.train.offline`). This module
finds those files under the given paths, groups the runs that differ only by seed, and draws one curve
per group: the interquartile mean over seeds with a 95% percentile-bootstrap band
(:mod:`orl.plot.stats`). A run's group is ``<algo>/<member path without its seed part>`` (``algo`` from
the run's ``config.yaml``), so ``seeds=0,1,2`` in one run and three separate single-seed runs of the
same algorithm and dataset land in the same curve.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orl.plot.stats import aggregate, bootstrap_ci, iqm

# Which column to plot when none is asked for, in order: offline/online returns, inventory cost, routing gap.
DEFAULT_METRICS = ("score_mean", "return_mean", "dev_cost", "val_greedy_gap_pct")
_SEED_PART = re.compile(r"^(seed[-_]?\d+|\d+-\d{8}-\d{6})$")  # member 'seed3'; Hydra's default '<seed>-<date>-<time>'


@dataclass
class Run:
    """One ``eval.csv``: its group label, path, and the (step, value) columns of the chosen metric."""

    group: str
    path: Path
    steps: np.ndarray
    values: np.ndarray


def find_eval_csvs(paths: Sequence[str | Path]) -> list[Path]:
    """Every ``eval.csv`` at or under ``paths`` (sorted); a path that does not exist is an error."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"no such run directory or file: {str(p)!r}")
        if p.is_file():
            if p.name != "eval.csv":
                raise ValueError(f"expected a run directory or an eval.csv, got the file {str(p)!r}")
            found.append(p)
        else:
            found.extend(sorted(p.rglob("eval.csv")))
    if not found:
        raise FileNotFoundError(f"no eval.csv under {[str(p) for p in paths]}: pass run directories written by python -m orl.run")
    return sorted(set(found))


def _run_root(eval_csv: Path) -> Path | None:
    """The nearest ancestor holding the run's ``config.yaml`` (written by ``python -m orl.run``)."""
    for d in [eval_csv.parent, *eval_csv.parents]:
        if (d / "config.yaml").is_file():
            return d
    return None


def _algo_name(root: Path) -> str:
    """``algo.name`` from the run's config.yaml, read with a line scan (no Hydra needed to plot)."""
    in_algo = False
    for line in (root / "config.yaml").read_text().splitlines():
        if line.startswith("algo:"):
            in_algo = True
        elif in_algo and re.match(r"^\s+name:\s*", line):
            return line.split(":", 1)[1].strip().strip("'\"")
        elif in_algo and line and not line[0].isspace():
            in_algo = False
    return root.name


def group_label(eval_csv: Path) -> str:
    """``<algo>/<member path with seed parts removed>``; a run without config.yaml is grouped by its folder."""
    root = _run_root(eval_csv)
    if root is None:
        parts = [p for p in eval_csv.parent.parts if not _SEED_PART.match(p)]
        return "/".join(parts[-2:]) or "run"
    member = [p for p in eval_csv.parent.relative_to(root).parts if not _SEED_PART.match(p)]
    # A single-member run writes eval.csv in the run dir itself: name it by the folder above the seed part.
    if not member:
        member = [p for p in root.parts if not _SEED_PART.match(p)][-1:]
    return "/".join([_algo_name(root), *member])


def read_run(eval_csv: Path, metric: str | None) -> tuple[str, np.ndarray, np.ndarray]:
    """The metric's name and its (steps, values) from one ``eval.csv``."""
    with open(eval_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = list(rows[0]) if rows else []
    if "step" not in columns:
        raise ValueError(f"{eval_csv} has no 'step' column (columns: {columns}); is it an orl eval.csv?")
    if metric is None:
        metric = next((m for m in DEFAULT_METRICS if m in columns), None)
        if metric is None:
            raise ValueError(f"{eval_csv}: none of the default metrics {DEFAULT_METRICS} is a column; pass --metric (one of {columns[1:]})")
    elif metric not in columns:
        raise ValueError(f"--metric {metric!r} is not a column of {eval_csv}; allowed: {[c for c in columns if c != 'step']}")
    steps, values = [], []
    for r in rows:
        try:
            steps.append(int(float(r["step"])))
            values.append(float(r[metric]) if r[metric] not in ("", None) else np.nan)
        except (TypeError, ValueError):  # a line cut by a kill mid-append (CSVLog): skip it
            continue
    return metric, np.asarray(steps), np.asarray(values, dtype=float)


def load_runs(paths: Sequence[str | Path], metric: str | None = None) -> tuple[str, list[Run]]:
    """All runs under ``paths`` with one metric (the first default one that the first run has)."""
    runs: list[Run] = []
    for p in find_eval_csvs(paths):
        metric, steps, values = read_run(p, metric)
        runs.append(Run(group_label(p), p, steps, values))
    assert metric is not None
    return metric, runs


def curves_by_group(runs: Sequence[Run]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per group: the union of its steps and a runs x steps matrix (NaN where a run has no evaluation)."""
    groups: dict[str, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    out = {}
    for g, members in sorted(groups.items()):
        steps = np.unique(np.concatenate([m.steps for m in members]))
        mat = np.full((len(members), steps.size), np.nan)
        for i, m in enumerate(members):
            mat[i, np.searchsorted(steps, m.steps)] = m.values
        out[g] = (steps, mat)
    return out


def summarize(runs: Sequence[Run]) -> list[dict[str, object]]:
    """Per group: seeds, and the IQM with 95% CI of each run's last evaluation."""
    rows = []
    for g, (steps, mat) in curves_by_group(runs).items():
        last = np.array([row[~np.isnan(row)][-1] if (~np.isnan(row)).any() else np.nan for row in mat])
        last = last[~np.isnan(last)]
        lo, hi = bootstrap_ci(last) if last.size else (np.nan, np.nan)
        rows.append({"group": g, "seeds": int(mat.shape[0]), "last_step": int(steps[-1]),
                     "last_iqm": float(iqm(last)) if last.size else np.nan, "ci_lo": lo, "ci_hi": hi})
    return rows


def plot_runs(paths: Sequence[str | Path], out: str | Path, metric: str | None = None, title: str | None = None) -> list[dict[str, object]]:
    """Draw IQM learning curves with 95% bootstrap bands for the runs under ``paths`` into the PNG ``out``.

    Returns the per-group summary of the last evaluations (also printed by the CLI).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from orl.utils.atomic import atomic_path

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"the output must be a .png file, got {str(out)!r}")
    metric, runs = load_runs(paths, metric)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for g, (steps, mat) in curves_by_group(runs).items():
        agg = aggregate(mat)
        line = ax.plot(steps, agg["iqm"], label=f"{g} ({mat.shape[0]} run{'s' if mat.shape[0] != 1 else ''})")[0]
        ax.fill_between(steps, agg["lo"], agg["hi"], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{metric} (IQM over seeds, 95% bootstrap CI)")
    ax.set_title(title or f"{len(runs)} run{'s' if len(runs) != 1 else ''}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return summarize(runs)
