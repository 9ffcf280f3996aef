"""Every figure of the documentation, regenerated from the committed results by one command.

``python -m orl.plot results`` reads each file in ``experiments/results/`` that :data:`RESULTS`
describes, draws its figure(s) into ``docs/figures/`` and writes ``docs/results.md``: per file, a
"reproduce" box (the command that made the rows and its budget), the figure and the rows as a table.
It also draws the episode pictures of the environment pages (a routing tour, an inventory trajectory),
which come from seeded environments, not from results. Only committed files are read: nothing here
trains, builds a dataset or downloads. Every output is written atomically.

Figures where the rows have several seeds show the interquartile mean with a 95% percentile-bootstrap
band over seeds (:mod:`orl.plot.stats`; with fewer than 4 seeds the IQM is the mean). The dataset
table has no per-episode returns, so its "histogram" is the mean return with a +-1 std bar per
dataset, not a histogram of episodes (a true histogram needs the datasets, which are not committed).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orl.plot.stats import aggregate
from orl.utils.atomic import atomic_path

ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = ROOT / "experiments" / "results"


# ----------------------------------------------------------------------------- reading and drawing helpers

def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a results CSV, or of a JSON list of flat records."""
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
        return [{k: "" if v is None else str(v) for k, v in r.items()} for r in data]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _f(x: str) -> float:
    return float(x) if x not in ("", None) else np.nan


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path) -> Path:
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    _plt().close(fig)
    return out


def _band(ax, x: np.ndarray, runs: np.ndarray, label: str) -> None:
    """IQM line with a 95% bootstrap band over the rows of ``runs`` (runs x points)."""
    agg = aggregate(runs)
    n = runs.shape[0]
    line = ax.plot(x, agg["iqm"], marker="o", ms=3, label=f"{label} ({n} seed{'s' if n != 1 else ''})")[0]
    if n > 1:
        ax.fill_between(x, agg["lo"], agg["hi"], color=line.get_color(), alpha=0.2, linewidth=0)


def _grouped_bars(ax, categories: list[str], series: dict[str, list[float]], errors: dict[str, list[float]] | None = None) -> None:
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(categories))
    for i, (name, values) in enumerate(series.items()):
        yerr = None if errors is None else errors.get(name)
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name, yerr=yerr, capsize=2)
    ax.set_xticks(x, categories, rotation=30, ha="right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)


# ----------------------------------------------------------------------------- one plotter per results file

def plot_bq(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Routing: gap to the reference solver per method and test size (lower is better)."""
    plt = _plt()
    sizes = sorted({int(r["test_size"]) for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    series = {m: [next((_f(r["gap_pct"]) for r in rows if r["method"] == m and int(r["test_size"]) == s), np.nan) for s in sizes] for m in methods}
    fig, ax = plt.subplots(figsize=(7, 3.6))
    _grouped_bars(ax, [f"{rows[0]['problem'].upper()}{s}" for s in sizes], series)
    ax.set_ylabel(f"gap to {rows[0]['reference'].split()[0]} (%)")
    ax.set_title(f"{rows[0]['problem'].upper()}, trained on {rows[0]['train_size']} nodes, {rows[0]['train_steps']} steps ({rows[0]['train_hours']} h)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_bq_ab(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Issue 24: greedy gap of orl's earlier rule against the official code's, per change (mean over seeds)."""
    plt = _plt()
    keys = list(dict.fromkeys((r["change"], r["problem"], r["size"]) for r in rows))
    cats = [f"{c}\n{p.upper()}{n}" for c, p, n in keys]
    series = {}
    for arm in ("orl", "code"):
        series[f"{arm}'s rule"] = [float(np.mean([_f(r["greedy_gap_pct"]) for r in rows
                                                  if (r["change"], r["problem"], r["size"]) == k and r["arm"] == arm]))
                                   for k in keys]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    _grouped_bars(ax, cats, series)
    ax.set_ylabel("greedy gap to the reference (%)")
    ax.set_title(f"BQ-NCO code-following changes, {rows[0]['steps']} steps of batch {rows[0]['batch_size']} ({rows[0]['model']})",
                 fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_datasets(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Locomotion datasets: mean episode return +- std (no per-episode returns are committed) and scores."""
    plt = _plt()
    names = [r["dataset"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    mean = np.array([_f(r["return_mean"]) for r in rows])
    std = np.array([_f(r["return_std"]) for r in rows])
    a1.barh(names, mean, xerr=std, capsize=2, color="tab:blue")
    a1.set_xlabel("episode return, mean +- std over the dataset's episodes")
    a1.tick_params(axis="y", labelsize=7)
    a1.invert_yaxis()
    y = np.arange(len(rows))
    a2.barh(y - 0.2, [_f(r["score_orl"]) for r in rows], 0.4, label="orl's references")
    a2.barh(y + 0.2, [_f(r["score_d4rl"]) for r in rows], 0.4, label="D4RL's references")
    a2.set_yticks(y, [""] * len(rows))
    a2.invert_yaxis()
    a2.set_xlabel("normalised score of the data")
    a2.legend(fontsize=8)
    for a in (a1, a2):
        a.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_hdpo_one_store(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """One store: HDPO's (and the baselines') gap to the optimal policy per lead time L and underage cost p."""
    plt = _plt()
    cats = [f"L={r['lead_time']}, p={float(r['underage_cost']):g}" for r in rows]
    series = {"HDPO": [_f(r["gap_vs_optimum_test_pct"]) for r in rows]}
    for col, name in (("capped_gap_vs_optimum_test_pct", "capped base-stock (HDPO-trained)"),
                      ("reinforce_gap_vs_optimum_test_pct", "REINFORCE"), ("ppo_gap_vs_optimum_test_pct", "PPO")):
        vals = [_f(r.get(col, "")) for r in rows]
        if not all(np.isnan(vals)):
            series[name] = vals
    fig, ax = plt.subplots(figsize=(10, 3.8))
    _grouped_bars(ax, cats, series)
    ax.set_yscale("symlog", linthresh=0.5)
    ax.set_ylabel("gap vs optimum, same test scenarios (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_hdpo_one_warehouse(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """One warehouse: test cost against the number of training scenarios, per policy and store count."""
    plt = _plt()
    stores = sorted({int(r["n_stores"]) for r in rows})
    fig, axes = plt.subplots(1, len(stores), figsize=(4 * len(stores), 3.6), squeeze=False)
    for ax, n in zip(axes[0], stores):
        sub = [r for r in rows if int(r["n_stores"]) == n]
        for policy in dict.fromkeys(r["policy"] for r in sub):
            pts = sorted((int(r["n_train"]), _f(r["test_cost"])) for r in sub if r["policy"] == policy and r["n_train"].isdigit())
            if pts:
                ax.plot(*zip(*pts), marker="o", label=policy)
            for r in sub:  # PPO trains on the environment, not on a scenario count: a horizontal line
                if r["policy"] == policy and not r["n_train"].isdigit():
                    ax.axhline(_f(r["test_cost"]), ls="--", color="grey", lw=1, label=f"{policy} ({r['n_train']})")
        ax.set_xscale("log")
        ax.set_title(f"{n} stores", fontsize=9)
        ax.set_xlabel("training scenarios")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test cost per store and period")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_multiview(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Multi-view recognition: accuracy after t views per policy/readout, IQM and 95% band over seeds."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in dict.fromkeys((r["policy"], r["readout"]) for r in rows):
        sub = [r for r in rows if (r["policy"], r["readout"]) == key]
        ts = sorted({int(r["t"]) for r in sub})
        seeds = sorted({r["seed"] for r in sub})
        mat = np.full((len(seeds), len(ts)), np.nan)
        for r in sub:
            mat[seeds.index(r["seed"]), ts.index(int(r["t"]))] = 100 * _f(r["accuracy"])
        _band(ax, np.array(ts), mat, f"{key[0]} ({key[1]})")
    ax.set_xlabel("views seen t")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return [_save(fig, out)]


def _curves(ax, rows: list[dict[str, str]], x: str, y: str, run: str = "seed", label: str = "") -> None:
    xs = sorted({float(r[x]) for r in rows})
    runs = sorted({r[run] for r in rows})
    mat = np.full((len(runs), len(xs)), np.nan)
    for r in rows:
        i, j = runs.index(r[run]), xs.index(float(r[x]))
        if not np.isnan(mat[i, j]):  # two rows of one run at one x: the caller mixed runs (e.g. of two datasets)
            raise ValueError(f"{label or y}: two rows with {run}={r[run]} at {x}={r[x]}; split them (panel=)")
        mat[i, j] = _f(r[y])
    _band(ax, np.array(xs), mat, label)


def plot_multiview_ppo(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Multi-view stage 2 (PPO selector): validation accuracy over iterations, IQM and band over seeds."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    _curves(ax, rows, "iteration", "val_bayes_accuracy_mean", label="learned selector")
    ax.set_xlabel("PPO iteration")
    ax.set_ylabel("validation accuracy (exact posterior)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_offline_table(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Offline tables: last and best normalised score per dataset/algorithm/sampler, IQM with seeds as dots."""
    plt = _plt()
    keys = list(dict.fromkeys((r["dataset"], r["algo"], r["sampler"]) for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(keys)), 3.8))
    x = np.arange(len(keys))
    for off, col, color in ((-0.2, "last", "tab:blue"), (0.2, "best", "tab:orange")):
        vals = [[_f(r[col]) for r in rows if (r["dataset"], r["algo"], r["sampler"]) == k] for k in keys]
        agg = [aggregate(np.array(v)[:, None]) for v in vals]
        ax.bar(x + off, [a["iqm"][0] for a in agg], 0.4, label=f"{col} (IQM over seeds)", color=color, alpha=0.7,
               yerr=np.array([[a["iqm"][0] - a["lo"][0], a["hi"][0] - a["iqm"][0]] for a in agg]).T, capsize=2)
        for xi, v in zip(x, vals):
            ax.plot(np.full(len(v), xi + off), v, "k.", ms=4)
    ax.set_xticks(x, [f"{d}\n{a}, {s}" for d, a, s in keys], fontsize=7)
    ax.set_ylabel("normalised score (orl's references)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_peer(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """orl vs d3rlpy: learning curves per algorithm and dataset, IQM and 95% band over seeds."""
    plt = _plt()
    panels = list(dict.fromkeys((r["algo"], r["dataset"]) for r in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.4), squeeze=False, sharey=True)
    for ax, (algo, ds) in zip(axes[0], panels):
        for lib in dict.fromkeys(r["library"] for r in rows):
            sub = [r for r in rows if (r["algo"], r["dataset"], r["library"]) == (algo, ds, lib)]
            if sub:
                _curves(ax, sub, "step", "score_mean", label=lib)
        ax.set_title(f"{algo}, {ds}", fontsize=9)
        ax.set_xlabel("updates")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("normalised score")
    fig.tight_layout()
    return [_save(fig, out)]


def plot_population_speed(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Population training: per-member update rate relative to one independent run (speed ratio) per size P."""
    plt = _plt()
    algos = list(dict.fromkeys(r["algo"] for r in rows))
    sizes = sorted({int(r["P"]) for r in rows})
    series = {f"P={p}": [next((_f(r["ratio"]) for r in rows if r["algo"] == a and int(r["P"]) == p), np.nan) for a in algos] for p in sizes}
    fig, ax = plt.subplots(figsize=(7, 3.6))
    _grouped_bars(ax, algos, series)
    ax.axhline(1.0, color="k", lw=1)
    ax.set_ylabel("member updates/s vs one plain run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [_save(fig, out)]


# ----------------------------------------------------------------------------- what each results file is

def curves_by(x: str, y: str, group: str, xlabel: str, ylabel: str, run: str = "seed",
              ref: str | None = None, panel: str | None = None) -> Callable[[list[dict[str, str]], Path], list[Path]]:
    """A plot function: ``y`` against ``x``, one IQM line with a 95% band over ``run`` per value of ``group``
    (``ref``: a column drawn once per x as a dashed reference, e.g. an exact optimum; ``panel``: one panel per value
    of that column, e.g. the dataset, whose runs must not be pooled)."""

    def plot(rows: list[dict[str, str]], out: Path) -> list[Path]:
        plt = _plt()
        panels = list(dict.fromkeys(r[panel] for r in rows)) if panel else [None]
        fig, axes = plt.subplots(1, len(panels), figsize=(7 if len(panels) == 1 else 4.2 * len(panels), 3.8),
                                 squeeze=False)
        for ax, value in zip(axes[0], panels):
            sub = [r for r in rows if panel is None or r[panel] == value]
            for g in dict.fromkeys(r[group] for r in sub):
                _curves(ax, [r for r in sub if r[group] == g], x, y, run, g)
            if ref is not None:
                pts = sorted({(float(r[x]), _f(r[ref])) for r in sub})
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "k--", lw=1, label=ref)
            if value is not None:
                ax.set_title(value, fontsize=9)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
        if len(panels) == 1:
            axes[0][0].legend(fontsize=7)
            fig.tight_layout()
        else:  # one legend under the panels, where it covers no curve
            handles, labels = axes[0][0].get_legend_handles_labels()
            fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7)
            fig.tight_layout(rect=(0, 0.06 * ((len(labels) + 3) // 4), 1, 1))
        return [_save(fig, out)]

    return plot


def bars_by(category: str, series: str, value: str, ylabel: str,
            error: str | None = None) -> Callable[[list[dict[str, str]], Path], list[Path]]:
    """A plot function: the mean of ``value`` over the other columns, bars per ``category`` and ``series``
    (with a +-1 std bar over the rows averaged, or the ``error`` column where the rows are already summaries)."""

    def plot(rows: list[dict[str, str]], out: Path) -> list[Path]:
        plt = _plt()
        cats = list(dict.fromkeys(r[category] for r in rows))
        names = list(dict.fromkeys(r[series] for r in rows))
        means = {n: [np.nanmean([_f(r[value]) for r in rows if r[category] == c and r[series] == n] or [np.nan])
                     for c in cats] for n in names}
        spread = (lambda v: np.nanstd(v)) if error is None else (lambda v: np.nanmean(v))
        stds = {n: [spread([_f(r[error or value]) for r in rows if r[category] == c and r[series] == n] or [np.nan])
                    for c in cats] for n in names}
        fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(cats)), 3.8))
        _grouped_bars(ax, cats, means, stds)
        ax.set_xticks(np.arange(len(cats)), cats, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return [_save(fig, out)]

    return plot


def plot_robust_returns(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Issue 19: return under each attack per policy, one panel per environment (mean over seeds, +-1 std)."""
    plt = _plt()
    envs = list(dict.fromkeys(r["env"] for r in rows))
    attacks = list(dict.fromkeys(r["attack"] for r in rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(6.5 * len(envs), 3.8), squeeze=False)
    for ax, env in zip(axes[0], envs):
        sub = [r for r in rows if r["env"] == env]
        policies = list(dict.fromkeys(r["policy"] for r in sub))
        cell = lambda p, a: [_f(r["mean"]) for r in sub if r["policy"] == p and r["attack"] == a]  # noqa: E731
        means = {p: [np.mean(cell(p, a)) if cell(p, a) else np.nan for a in attacks] for p in policies}
        stds = {p: [np.std(cell(p, a)) if cell(p, a) else np.nan for a in attacks] for p in policies}
        _grouped_bars(ax, attacks, means, stds)
        ax.set_xticks(np.arange(len(attacks)), attacks, fontsize=8)
        ax.set_title(f"{env} ({len({r['seed'] for r in sub})} seed(s))", fontsize=9)
        ax.set_ylabel("return under attack")
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_robust_exp3(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Issue 19: EXP3's average regret per round against the best fixed arm, per environment/attack/schedule."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for key in dict.fromkeys((r["env"], r["attack"], r["schedule"]) for r in rows):
        sub = [r for r in rows if (r["env"], r["attack"], r["schedule"]) == key]
        per_round = [{**r, "avg": str(_f(r["regret"]) / (int(r["round"]) + 1))} for r in sub]
        _curves(ax, per_round, "round", "avg", "seed", " ".join(key))
    ax.set_xlabel("round (one episode each)")
    ax.set_ylabel("regret / round")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_online_curves(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Issue 17: evaluation return (top) and sampling error (bottom) over environment steps per algorithm,
    one column per environment; IQM over seeds with 95% bootstrap bands."""
    plt = _plt()
    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, axes = plt.subplots(2, len(envs), figsize=(5.2 * len(envs), 6.6), squeeze=False)
    # one file holds both: evaluation rows (a return) and sampling-error rows (at other steps)
    for k, (col, ylabel) in enumerate((("return_mean", "evaluation return"), ("sampling_error", "sampling error"))):
        for ax, env in zip(axes[k], envs):
            sub = [r for r in rows if r["env"] == env and r.get(col) not in ("", None)]
            for algo in dict.fromkeys(r["algo"] for r in sub):
                _curves(ax, [r for r in sub if r["algo"] == algo], "step", col, "seed", algo)
            ax.set_title(env, fontsize=9)
            ax.set_xlabel("environment steps")
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if sub:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_reference_gaps(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Issue 24: how much longer the reference solver's tours are than a stronger setting's (mean and max, %)."""
    plt = _plt()
    labels = [f"{r['problem']}{r['size']}: {r['reference']}\nvs {r['strong']}" for r in rows]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6, 2.6 * len(rows)), 3.8))
    ax.bar(x - 0.2, [_f(r["mean_gap_pct"]) for r in rows], 0.4, label="mean over instances")
    ax.bar(x + 0.2, [_f(r["max_gap_pct"]) for r in rows], 0.4, label="worst instance")
    for i, r in enumerate(rows):
        ax.annotate(f"{r['longer']} of {r['instances']} longer", (i, _f(r["max_gap_pct"])), ha="center",
                    va="bottom", fontsize=7)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("reference longer than stronger (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return [_save(fig, out)]


def plot_bq_training(rows: list[dict[str, str]], out: Path) -> list[Path]:
    """Issue 24: each shipped BQ model's test gap against its accumulated training time (greedy and beam,
    one point per training sitting), the simple heuristics on the same instances as dashed lines."""
    plt = _plt()
    from matplotlib.ticker import FuncFormatter

    models = list(dict.fromkeys(r["model"] for r in rows))
    cols = min(2, len(models))
    nrows = -(-len(models) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.4 * nrows), squeeze=False)
    for ax, model in zip(axes.flat, models):
        mine = [r for r in rows if r["model"] == model]
        for method in dict.fromkeys(r["method"] for r in mine):
            pts = sorted(((_f(r["train_hours"]), _f(r["gap_pct"])) for r in mine if r["method"] == method))
            if np.isnan(pts[0][0]):  # a heuristic: no training time
                ax.axhline(pts[0][1], ls="--", lw=1, color="grey")
                ax.annotate(f"{method} {pts[0][1]:.2f}%", (0.01, pts[0][1]), xycoords=("axes fraction", "data"),
                            va="bottom", fontsize=7, color="dimgrey")
                continue
            x, y = zip(*pts)
            ax.plot(x, y, marker="o", ms=4, label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 20, not 2 x 10^1
        ax.xaxis.set_major_formatter(plain)
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(plain)  # a gap range often spans less than a decade
        ax.tick_params(axis="y", which="minor", labelsize=6)
        ax.set_xlabel("accumulated training time (h)")
        ax.set_ylabel(f"gap to {mine[0]['reference']} (%)")
        ax.set_title(f"{model}, {mine[0]['test_instances']} test instances", fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(models):]:
        ax.set_visible(False)
    fig.tight_layout()
    return [_save(fig, out)]


def per_budget(plot: Callable[[list[dict[str, str]], Path], list[Path]], key: str = "env"
               ) -> Callable[[list[dict[str, str]], Path], list[Path]]:
    """``plot`` with ``key`` relabelled ``<key> (<steps> steps)``: runs of different budgets (the ``steps``
    column) are different experiments, drawn apart, never averaged together."""

    def wrapped(rows: list[dict[str, str]], out: Path) -> list[Path]:
        return plot([dict(r, **{key: f"{r[key]} ({int(float(r['steps'])):,} steps)"}) for r in rows], out)

    return wrapped


@dataclass(frozen=True)
class Result:
    """One committed results file: where it is explained, how it was made, and how to draw it."""

    file: str
    title: str
    page: str  # the docs page that discusses the numbers
    command: str
    budget: str
    plot: Callable[[list[dict[str, str]], Path], list[Path]]


RESULTS: tuple[Result, ...] = (
    Result("offline_main.csv", "Offline main table (TD3+BC, IQL on hopper)", "training.md",
           "python experiments/offline_results.py --table main --algos td3bc --datasets hopper-medium hopper-medium-replay hopper-medium-expert --steps 20000",
           "20,000 updates per run (2% of the papers' 1M), seeds 0-2, 10 evaluation episodes every 5,000 updates, one CPU core", plot_offline_table),
    Result("offline_reweighting.csv", "Offline re-weighted sampling (Hong et al. 2023)", "training.md",
           "python experiments/offline_results.py --table reweighting --steps 50000 --seeds 0 --datasets hopper-random-expert-5 --algos td3bc --eval-every 10000",
           "50,000 updates per run (the paper: 1M), seeds 0-1 (TD3+BC) and 0 (IQL), 10 evaluation episodes every 10,000 updates", plot_offline_table),
    Result("peer_d3rlpy.csv", "Peer cross-check: orl vs d3rlpy", "benchmarks.md",
           "python experiments/peer_d3rlpy.py --steps 20000 --eval-every 2500 (see the Benchmarks page for the d3rlpy venv)",
           "20,000 updates per run, 3 seeds per library, algorithm and dataset, 10 evaluation episodes every 2,500 updates", plot_peer),
    Result("datasets.csv", "Locomotion datasets", "datasets.md", "python experiments/dataset_table.py",
           "the 15 shipped datasets, 1M transitions each, every episode of each", plot_datasets),
    Result("bq_tsp50.csv", "BQ-NCO, TSP50, 3 hours on one CPU core", "routing.md",
           "python experiments/bq_routing.py --problem tsp --size 50 --hours 3 --train-instances 10000 --beam 4 --gen-beam 0 --grad-clip 1 --scale-attention",
           "3 h of training on one CPU core (12,548 steps), 10,000 training instances, seed 0; 1000 test instances at 50 nodes, 200 at 100 and 200", plot_bq),
    Result("bq_cvrp50.csv", "BQ-NCO, CVRP50, 3 hours on one CPU core", "routing.md",
           "python experiments/bq_routing.py --problem cvrp --size 50 --hours 3 --train-instances 10000 --expert-time-limit 0.3 --beam 4 --gen-beam 0 --grad-clip 1 --scale-attention",
           "3 h of training on one CPU core (15,310 steps), 10,000 training instances, seed 0; 1000 test instances at 50 nodes, 200 at 100 and 200", plot_bq),
    Result("routing_references.csv", "Routing references: the reference solvers against stronger settings",
           "routing.md", "python experiments/routing_references.py --problem tsp --size 50 --count 1000 "
           "--strong-runs 100 (CVRP: --problem cvrp --strong-iterations 20000, about 2.5 core-hours, resumable)",
           "the seeded 1000-instance test sets; elkai deterministic (LKH's fixed seed)", plot_reference_gaps),
    Result("bq_ship_history.csv", "BQ-NCO shipped models: test gap against accumulated training time", "routing.md",
           "python experiments/bq_ship.py --problem cvrp --size 50 --minutes M (each sitting adds a point; --report redraws the rows)",
           "each model's sittings, accumulated training time on the hardware each row names; 200 seeded test instances", plot_bq_training),
    Result("bq_code_ab.csv", "BQ-NCO: orl's earlier rules against the official code's (issue 24)", "routing.md",
           "python experiments/bq_code_ab.py --change kp_targets --problem kp --size 100 --steps 300 (and --change op_early_end --problem op --size 50, --change scale_attention / grad_clip --problem cvrp --size 50)",
           "300 steps of batch 128 per arm on one shared CPU core, model dim 64 / 2 layers / 4 heads / FF 128, 2000 training instances, seeds 0 and 1; 200 seeded test instances", plot_bq_ab),
    Result("bq_tsp50_h200.csv", "BQ-NCO, TSP50, six minutes on a GPU", "routing.md",
           "python experiments/bq_routing.py --problem tsp --size 50 --hours 0.095 --device cuda --grad-clip 1 --scale-attention (the full flags are on the Routing page)",
           "342 s of training on one NVIDIA H200 (7,554 steps), seed 0; same test sets as the CPU run", plot_bq),
    Result("bq_cvrp50_h200.csv", "BQ-NCO, CVRP50, six minutes on a GPU", "routing.md",
           "python experiments/bq_routing.py --problem cvrp --size 50 --hours 0.095 --device cuda --grad-clip 1 --scale-attention (the full flags are on the Routing page)",
           "342 s of training on one NVIDIA H200 (4,521 steps), seed 0; same test sets as the CPU run", plot_bq),
    Result("hdpo_one_store_backlogged.csv", "HDPO, one store, backlogged demand", "inventory.md",
           "python experiments/inventory_one_store_grid.py --setting one_store_backlogged",
           "1000 HDPO steps per point (batches of 1024 from 8192 scenarios, lr 1e-2), seed 0; test 4096 scenarios x 5000 periods", plot_hdpo_one_store),
    Result("hdpo_one_store_lost.csv", "HDPO, one store, lost sales", "inventory.md",
           "python experiments/inventory_one_store_grid.py --setting one_store_lost --capped",
           "1000 HDPO steps per point (capped base-stock: 300), seed 0; test 4096 scenarios x 5000 periods", plot_hdpo_one_store),
    Result("hdpo_one_warehouse.csv", "HDPO, one warehouse, lost demand", "inventory.md",
           "python experiments/inventory_one_warehouse.py --stores 3 10 50 --train-scenarios 16 256 8192 --policies mlp symmetry_aware gnn reinforce ppo --device cuda",
           "at most 2000 steps or 300 s of training per point, seed 0; test 1024 scenarios x 5000 periods", plot_hdpo_one_warehouse),
    Result("o2o_curves.csv", "Offline-to-online: normalised score over environment steps", "diffusion.md",
           "OMP_NUM_THREADS=1 python experiments/o2o_results.py --datasets hopper-medium walker2d-medium "
           "halfcheetah-medium --seeds 0 1 2 --methods diffusion_bc diffusion_bc_chunk dsrl_na dsrl_sac iql_ft "
           "sac_rlpd --pretrain-steps 5000 --steps 10000 --eval-every 1000 --episodes 5 (EXPO: the same with "
           "--methods expo, one process per seed)",
           "5,000 offline updates per base, 10,000 env steps per online run, 5 evaluation episodes; CPU reductions in "
           "each row's `reduced`; the datasets and seeds in the rows",
           curves_by("step", "score", "method", "environment steps", "normalised score", panel="dataset")),
    Result("o2o_final.csv", "Offline-to-online: final normalised score per run", "diffusion.md",
           "python experiments/o2o_results.py (as above)", "as above, the last evaluation of each run",
           bars_by("dataset", "method", "score", "final normalised score (mean +- std over seeds)")),
    Result("o2o_summary.csv", "Offline-to-online: score per dataset and method over seeds", "diffusion.md",
           "python experiments/o2o_results.py --pretrain-steps 5000 --steps 10000 --collect-only",
           "as above; the score at the first evaluation, at the end and averaged over each run's evaluations, "
           "mean and std over the seeds listed",
           bars_by("dataset", "method", "mean_score", "normalised score over the run (mean +- std over seeds)",
                   error="mean_std")),
    Result("o2o_expo_diagnosis.csv", "Offline-to-online: EXPO's final acting policy taken apart", "diffusion.md",
           "OMP_NUM_THREADS=1 python experiments/expo_diagnosis.py --datasets hopper-medium walker2d-medium "
           "halfcheetah-medium --episodes 10",
           "the finished EXPO runs of the grid above (10,000 env steps), each policy evaluated on 10 episodes",
           bars_by("dataset", "policy", "score", "normalised score at the end of the run (mean +- std over seeds)")),
    Result("multiview_features.csv", "Multi-view recognition: accuracy per view count", "multiview.md",
           "python experiments/multiview_results.py", "5 seeds, 2000 test objects per seed, 32-46 s of training per seed on one CPU thread", plot_multiview),
    Result("multiview_features_ppo.csv", "Multi-view recognition: PPO selector learning curve", "multiview.md",
           "python experiments/multiview_results.py", "5 seeds, stage 2 of the training above", plot_multiview_ppo),
    Result("multiview_pixels.csv", "Multi-view recognition, pixels mode: accuracy per view count", "multiview.md",
           "python experiments/multiview_results.py --mode pixels",
           "3 seeds, 500 test objects x 8 start views per seed, 39-51 s of training per seed on one CPU thread", plot_multiview),
    Result("multiview_pixels_ppo.csv", "Multi-view recognition, pixels mode: PPO selector learning curve", "multiview.md",
           "python experiments/multiview_results.py --mode pixels", "3 seeds, stage 2 of the training above",
           plot_multiview_ppo),
    Result("provable_drrpo_robust_return.csv", "DR-RPO: robust return against the test-time shift q", "dr_rpo.md",
           "python experiments/provable_drrpo.py", "5 seeds x 1000 episodes per algorithm on orl/DRLinearMDP5-v0",
           curves_by("q", "robust_return", "algorithm", "test-time shift q", "exact return of the final policy",
                     ref="optimal_value_q")),
    Result("provable_drrpo_regret.csv", "DR-RPO: cumulative regret (each algorithm against its own objective)",
           "dr_rpo.md", "python experiments/provable_drrpo.py", "5 seeds x 1000 episodes per algorithm",
           curves_by("episode", "cumulative_regret", "algorithm", "episode", "cumulative regret")),
    Result("provable_drrpo_slopes.csv", "DR-RPO: log-log slope of the regret per seed", "dr_rpo.md",
           "python experiments/provable_drrpo.py", "5 seeds x 1000 episodes per algorithm",
           bars_by("algorithm", "divergence", "loglog_slope", "log-log slope of the cumulative regret")),
    Result("provable_grouping.csv", "Action grouping: exact suboptimality against the sample budget N", "action_grouping.md",
           "OMP_NUM_THREADS=1 python experiments/provable_grouping.py",
           "S=10, A=100, 4 true groups, epsilon 0.01, gamma 0.9, a pilot of 200 samples per (s, a), 5 seeds, about 6 s",
           curves_by("N", "suboptimality", "candidate", "sample budget N", "mean exact suboptimality")),
    Result("online_mujoco_curves.csv", "Online MuJoCo: learning curves of PPO, PPO-Buffer and PROPS", "online.md",
           "OMP_NUM_THREADS=1 python experiments/online_results.py --steps 50000 (and --steps 1000000 --envs Hopper-v5)",
           "50,000 env steps per run, 5 seeds, all three envs; 1M steps per run (the paper's Hopper budget) on "
           "Hopper-v5 for the seeds in the rows; 5 evaluation episodes every 10k steps; budgets drawn apart",
           per_budget(plot_online_curves)),
    Result("online_mujoco_runs.csv", "Online MuJoCo: final return per run", "online.md",
           "OMP_NUM_THREADS=1 python experiments/online_results.py --steps 50000 (and --steps 1000000 --envs Hopper-v5)",
           "as above, one row per run", per_budget(bars_by("env", "algo", "final_return",
                                                            "final return (mean +- std over seeds)"))),
    Result("online_mujoco.csv", "Online MuJoCo: IQM of the final return over seeds", "online.md",
           "OMP_NUM_THREADS=1 python experiments/online_results.py --steps 50000 (and --steps 1000000 --envs Hopper-v5)",
           "as above; IQM with 95% bootstrap CIs over the seeds of each row",
           per_budget(bars_by("env", "algo", "final_iqm", "final return, IQM over seeds"))),
    Result("robust_returns.csv", "Robustness: returns under observation attacks (PPO, SA-PPO, PROTECTED)",
           "robustness.md",
           "python experiments/robust_results.py --envs Hopper-v5 Walker2d-v5 --seeds 0 1 2 --victim-steps 300000 "
           "--iterations 2 --train-steps 15 --attacker-steps 100000 --sarsa-steps 20000 --episodes 5 --rounds 200",
           "victims 300k env steps; PROTECTED 2 iterations x 15 alternations x 2048 steps; attackers 100k steps each, "
           "trained against each evaluated policy; SARSA 20k transitions; 5 episodes per cell; the seeds in the rows",
           plot_robust_returns),
    Result("robust_exp3.csv", "Robustness: EXP3 over the PROTECTED set, regret per round", "robustness.md",
           "python experiments/robust_results.py (as above)", "200 rounds (episodes) per attack and schedule",
           plot_robust_exp3),
    Result("crs_baselines.csv", "Conversational recommendation: rule baselines", "crs.md",
           "OMP_NUM_THREADS=1 python experiments/crs_results.py --baselines-only",
           "graph seeds 0-2 (default statistics), 500 held-out dialogues per graph, about 90 s on one CPU thread",
           bars_by("env", "policy", "SR@15", "SR@15 (success within 15 turns)")),
    Result("crs_learned.csv", "Conversational recommendation: UNICORN and the flat DQN", "crs.md",
           "OMP_NUM_THREADS=1 python experiments/crs_results.py --learned --seeds 0 1 2 --envs crs-lastfm crs-yelp "
           "--episodes 300 --eval-every 100",
           "300 training (validation) dialogues per run, batch 64, lr 2e-4, 20 graph items; graph = training seeds 0, 1, 2; "
           "crs-yelpstar with the same command and --envs crs-yelpstar; "
           "500 held-out test dialogues per run (the rules' dialogues)",
           bars_by("env", "policy", "SR@15", "SR@15 (success within 15 turns)")),
    Result("bench_population_cpu.json", "Population training speed (CPU)", "benchmarks.md",
           "python experiments/bench_population.py", "2-core CPU, one torch thread, 2026-11-28 (rates per algorithm and population size P)", plot_population_speed),
)


def figure_path(docs: Path, result: Result) -> Path:
    return docs / "figures" / f"{Path(result.file).stem}.png"


def _fmt(v: str) -> str:
    try:
        x = float(v)
    except ValueError:
        return v.replace("|", "\\|")
    if x.is_integer() and abs(x) < 1e15 and "." not in v and "e" not in v.lower():
        return v
    return f"{x:.4g}"


def markdown_table(rows: list[dict[str, str]]) -> str:
    """A Markdown table of every row (numbers to 4 significant digits; pipes escaped)."""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def results_page(results: tuple[Result, ...] = RESULTS, results_dir: Path = RESULTS_DIR) -> str:
    parts = [
        "# All result files",
        "",
        "<!-- written by `python -m orl.plot results`: edit orl/plot/results.py, not this page -->",
        "",
        "Every file in `experiments/results/`, drawn and listed in full. Each section names the page that",
        "discusses the numbers, the command that wrote the rows and its budget. Regenerate this page and every",
        "figure with `python -m orl.plot results` (reads only the committed files; a few seconds).",
        "",
    ]
    for r in results:
        rows = read_rows(results_dir / r.file)
        parts += [
            f"## {r.title}",
            "",
            f"`experiments/results/{r.file}` ({len(rows)} rows), discussed on [{r.page.removesuffix('.md')}]({r.page}).",
            "",
            '!!! example "Reproduce"',
            "",
            f"    `{r.command}`",
            "",
            f"    Budget: {r.budget}.",
            "",
            f"![{r.title}](figures/{Path(r.file).stem}.png)",
            "",
            f'??? note "Table: {r.file}, {len(rows)} rows"',
            "",
            *("    " + line for line in markdown_table(rows).splitlines()),
            "",
        ]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- episode pictures of the env pages

def plot_routing_tour(out: Path) -> Path:
    """A TSP50 and a CVRP50 episode of the routing envs (seed 0), solved by the greedy heuristics, as the env renders them."""
    import gymnasium as gym

    import orl_envs  # noqa: F401  (registers the ids)
    from orl_envs.routing.solvers import solve

    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.3))
    for row, (env_id, method) in enumerate((("orl/TSP-v0", "farthest_insertion"), ("orl/CVRP-v0", "nearest_neighbour"))):
        env = gym.make(env_id, size=50, render_mode="rgb_array")
        env.reset(seed=0)
        sol = solve(env.unwrapped.instance, method)
        half = len(sol.actions) // 2
        for i, a in enumerate(sol.actions):
            env.step(a)
            if i + 1 == half:
                axes[2 * row].imshow(env.render())
                axes[2 * row].set_title(f"{env_id[4:-3]}50, {method}: step {half}", fontsize=8)
        axes[2 * row + 1].imshow(env.render())
        axes[2 * row + 1].set_title(f"done: length {sol.objective:.3f}", fontsize=8)
        env.close()
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, out)


def plot_inventory_trajectory(out: Path) -> Path:
    """One 50-period episode of orl/InventoryOneStoreBacklogged-v0 (L=4, p=9, seed 0) under the optimal base-stock policy."""
    import gymnasium as gym

    import orl_envs  # noqa: F401
    from orl.algos.structured.references import _per_store  # the closed-form optimal level (Arrow/Karlin/Scarf)

    env = gym.make("orl/InventoryOneStoreBacklogged-v0", lead_time=4, underage_cost=9)
    level = _per_store(env.unwrapped.setting)[0][0]
    obs, _ = env.reset(seed=0)
    on_hand, orders, costs = [], [], []
    done = False
    while not done:
        position = float(obs[:4].sum())  # on-hand plus the pipeline: the store's inventory position
        order = max(0.0, level - position)
        obs, reward, term, trunc, info = env.step(np.array([order], dtype=np.float32))
        on_hand.append(float(obs[0]))
        orders.append(order)
        costs.append(float(info["cost"]))
        done = term or trunc
    env.close()
    plt = _plt()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    t = np.arange(1, len(on_hand) + 1)
    a1.step(t, on_hand, where="post", label="on-hand in the next observation (negative: backlog)")
    a1.bar(t, orders, alpha=0.4, color="tab:green", label="order placed (arrives 4 periods later)")
    a1.axhline(0, color="k", lw=0.8)
    a1.set_title(f"InventoryOneStoreBacklogged-v0, L=4, p=9, seed 0: base-stock level {level:.2f}", fontsize=9)
    a1.legend(fontsize=7)
    a2.plot(t, costs, color="tab:red")
    a2.set_ylabel("period cost")
    a2.set_xlabel("period")
    for a in (a1, a2):
        a.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, out)


def build_all(docs: Path | None = None, results_dir: Path = RESULTS_DIR, episodes: bool = True) -> list[Path]:
    """Write every figure and ``results.md`` under ``docs`` (default: the repository's ``docs/``)."""
    from tqdm import tqdm

    docs = docs or ROOT / "docs"
    missing = sorted(p.name for p in results_dir.iterdir() if p.suffix == ".csv" and p.name not in {r.file for r in RESULTS})
    if missing:
        raise ValueError(f"results files without an entry in orl.plot.results.RESULTS: {missing}; add one (page, command, budget, plot)")
    written = []
    for r in tqdm(RESULTS, desc="figures", unit="file"):
        written += r.plot(read_rows(results_dir / r.file), figure_path(docs, r))
    if episodes:
        written.append(plot_routing_tour(docs / "figures" / "routing_tour.png"))
        written.append(plot_inventory_trajectory(docs / "figures" / "inventory_trajectory.png"))
    with atomic_path(docs / "results.md") as tmp:
        tmp.write_text(results_page(RESULTS, results_dir))
    written.append(docs / "results.md")
    return written
