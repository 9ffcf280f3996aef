"""orl.plot (issue 23): IQM / bootstrap statistics, learning curves from run directories, docs figures."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from orl.plot.runs import curves_by_group, group_label, load_runs, plot_runs
from orl.plot.stats import aggregate, bootstrap_ci, iqm

ROOT = Path(__file__).resolve().parents[1]


def test_iqm_trims_a_quarter_from_each_end():
    assert iqm(np.arange(8.0)) == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    assert iqm(np.array([0.0, 1.0, 2.0, 3.0, 1000.0, -1000.0, 1.0, 2.0])) == pytest.approx(1.5)  # outliers ignored


def test_bootstrap_ci_brackets_the_iqm_and_narrows_with_more_runs():
    rng = np.random.default_rng(0)
    small, large = rng.normal(10, 2, 5), rng.normal(10, 2, 200)
    for x in (small, large):
        lo, hi = bootstrap_ci(x)
        assert lo <= iqm(x) <= hi
    assert np.diff(bootstrap_ci(large)) < np.diff(bootstrap_ci(small))
    assert bootstrap_ci(np.array([3.0])) == (3.0, 3.0)
    assert bootstrap_ci(small) == bootstrap_ci(small)  # seeded
    with pytest.raises(ValueError, match="confidence must be in"):
        bootstrap_ci(small, confidence=95)
    with pytest.raises(ValueError, match="at least one non-NaN"):
        bootstrap_ci(np.array([np.nan]))


def test_aggregate_drops_missing_evaluations_per_step():
    agg = aggregate(np.array([[1.0, 2.0, np.nan], [3.0, 4.0, 5.0]]))
    assert agg["iqm"].tolist() == [2.0, 3.0, 5.0] and agg["n"].tolist() == [2, 2, 1]


def _run(root: Path, algo: str, member: str, rows: list[tuple[int, float]]) -> Path:
    (root / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "config.yaml").write_text(f"steps: 10\nalgo:\n  name: {algo}\n  lr: 0.1\nenv:\n  name: x\n")
    path = root / member / "eval.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "return_mean", "score_mean"])
        w.writerows((s, -v, v) for s, v in rows)
    return path


def test_runs_differing_by_seed_share_a_curve(tmp_path):
    # a population (seeds=0,1 in one run dir) and a separate single-seed run of the same algo/dataset,
    # plus another algorithm: two groups.
    _run(tmp_path / "pop", "iql", "hopper-medium/seed0", [(100, 1.0), (200, 3.0)])
    _run(tmp_path / "pop", "iql", "hopper-medium/seed1", [(100, 2.0), (200, 5.0)])
    single = _run(tmp_path / "iql/hopper-medium/2-20261129-010203", "iql", "hopper-medium/seed2", [(100, 3.0)])
    _run(tmp_path / "cql", "cql", "hopper-medium/seed0", [(100, 9.0), (200, 9.0)])
    assert group_label(single) == "iql/hopper-medium"
    metric, runs = load_runs([tmp_path])
    assert metric == "score_mean"
    groups = curves_by_group(runs)
    assert sorted(groups) == ["cql/hopper-medium", "iql/hopper-medium"]
    steps, mat = groups["iql/hopper-medium"]
    assert steps.tolist() == [100, 200] and mat.shape == (3, 2)
    assert np.isnan(mat).sum() == 1  # seed 2 has no evaluation at step 200

    out = tmp_path / "curves.png"
    summary = plot_runs([tmp_path], out, metric="return_mean")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    iql = next(r for r in summary if r["group"] == "iql/hopper-medium")
    assert iql["seeds"] == 3 and iql["last_iqm"] == pytest.approx(-(3.0 + 5.0 + 3.0) / 3)  # each run's last eval


def test_cli_errors_name_the_bad_value(tmp_path):
    _run(tmp_path / "r", "bc", "", [(1, 1.0)])
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'envs'}"}
    bad_dir = subprocess.run([sys.executable, "-m", "orl.plot", str(tmp_path / "nope")], capture_output=True, text=True, env=env)
    assert bad_dir.returncode == 2 and "nope" in bad_dir.stderr
    bad_metric = subprocess.run([sys.executable, "-m", "orl.plot", str(tmp_path / "r"), "--metric", "speed",
                                 "--out", str(tmp_path / "c.png")], capture_output=True, text=True, env=env)
    assert bad_metric.returncode == 2 and "'speed'" in bad_metric.stderr and "score_mean" in bad_metric.stderr
    ok = subprocess.run([sys.executable, "-m", "orl.plot", str(tmp_path / "r"), "--out", str(tmp_path / "c.png")],
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "bc/r" in ok.stdout and (tmp_path / "c.png").is_file()


def test_results_figures_regenerate_from_the_committed_files(tmp_path):
    from orl.plot.results import RESULTS, build_all

    written = build_all(tmp_path, episodes=False)
    for r in RESULTS:
        png = tmp_path / "figures" / f"{Path(r.file).stem}.png"
        assert png in written and png.stat().st_size > 5_000
    page = (tmp_path / "results.md").read_text()
    for r in RESULTS:
        assert f"experiments/results/{r.file}" in page and f"figures/{Path(r.file).stem}.png" in page
    assert page.count('!!! example "Reproduce"') == len(RESULTS)
    # the committed page is what the command writes (someone edited results.md or a CSV without rerunning it)
    assert page == (ROOT / "docs" / "results.md").read_text(), "docs/results.md is stale: run python -m orl.plot results"


def test_curves_of_two_datasets_are_panels_not_one_pooled_line(tmp_path):
    """The offline-to-online figure: the same seed on two datasets is two runs. Pooled into one matrix by seed, one
    dataset's scores overwrote the other's (the figure showed the last dataset only); now that is an error, and
    ``panel=`` draws one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    from orl.plot.results import curves_by

    rows = [{"dataset": d, "method": "m", "seed": str(s), "step": str(x), "score": str(v + s + x / 1000)}
            for d, v in (("a", 10.0), ("b", 50.0)) for s in (0, 1) for x in (1000, 2000)]
    with pytest.raises(ValueError, match="two rows with seed=0 at step=1000"):
        curves_by("step", "score", "method", "steps", "score")(rows, tmp_path / "pooled.png")
    out = curves_by("step", "score", "method", "steps", "score", panel="dataset")(rows, tmp_path / "panels.png")
    import matplotlib.image

    assert matplotlib.image.imread(out[0]).shape[1] == 840  # two panels of 4.2 inches at 100 dpi (one: 700)
