"""experiments/o2o_results.py: the summary's statistics by hand, and docs/diffusion.md's tables equal to what the
script prints from the committed ``o2o_summary.csv`` (a stale page fails)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import o2o_results  # noqa: E402

SUMMARY = ROOT / "experiments" / "results" / "o2o_summary.csv"


def _row(seed: int, step: int, score: float) -> dict:
    return {"dataset": "d", "method": "dsrl_na", "seed": seed, "step": step, "score": score, "pretrain_steps": 5,
            "steps": 10, "chunk": 4, "reduced": ""}


def test_summary_is_first_final_and_run_mean_over_seeds():
    rows = [_row(0, 0, 10.0), _row(0, 10, 30.0), _row(0, 5, 20.0), _row(1, 0, 14.0), _row(1, 5, 0.0), _row(1, 10, 40.0)]
    (s,) = o2o_results.summary(rows)
    assert s["seeds"] == "0 1" and s["n_seeds"] == 2
    assert s["first_score"] == 12.0 and s["first_std"] == 2.0  # (10, 14)
    assert s["final_score"] == 35.0 and s["final_std"] == 5.0  # (30, 40): the last step, not the last row
    assert s["mean_score"] == pytest.approx(19.0) and s["mean_std"] == pytest.approx(1.0)  # run means 20 and 18


def test_docs_tables_match_the_committed_summary():
    with open(SUMMARY) as f:
        datasets = sorted({r["dataset"] for r in csv.DictReader(f)})
    assert datasets, "o2o_summary.csv is empty"
    page = (ROOT / "docs" / "diffusion.md").read_text()
    for dataset in datasets:
        table = o2o_results.table(SUMMARY, dataset)
        assert table in page, (f"docs/diffusion.md's {dataset} table is stale; regenerate it with "
                               f"python experiments/o2o_results.py --table {dataset}")


def test_supersede_moves_only_the_named_methods_runs(tmp_path):
    import argparse

    runs = tmp_path / "o2o"
    for seed in (0, 1):
        for method in ("sac_rlpd", "expo"):
            (runs / "d" / "pre5" / f"seed{seed}" / f"{method}-10").mkdir(parents=True)
    args = argparse.Namespace(runs=runs, seeds=[0], supersede=["sac_rlpd"], pretrain_steps=5, steps=10)
    o2o_results.supersede(args, "d")
    assert not (runs / "d" / "pre5" / "seed0" / "sac_rlpd-10").exists()
    assert (runs / "d" / "pre5" / "seed1" / "sac_rlpd-10").exists()  # another seed: kept
    assert (runs / "d" / "pre5" / "seed0" / "expo-10").exists()
    (moved,) = (tmp_path / "o2o_superseded").glob("*/d/pre5/seed0/sac_rlpd-10")
    assert moved.is_dir()


def test_status_tells_done_first_grid_unfinished_and_missing_runs(tmp_path):
    import argparse
    import json

    seed0 = tmp_path / "o2o" / "d" / "pre5" / "seed0"
    for method, result in (("sac_rlpd", {"method": "sac_rlpd", "reduced": {"utd": 2}}), ("iql_ft", {"method": "x"})):
        (seed0 / f"{method}-10").mkdir(parents=True)
        (seed0 / f"{method}-10" / "result.json").write_text(json.dumps(result))
    (seed0 / "dsrl_na-10").mkdir()
    (seed0 / "dsrl_na-10" / "eval.csv").write_text("step,return_mean,return_std\n1,5.0,0.0\n2,6.0,0.0\n")
    (seed0 / "diffusion_bc_alone.json").write_text("{}")
    args = argparse.Namespace(runs=tmp_path / "o2o", pretrain_steps=5, steps=10, chunk=4, seeds=[0, 1],
                              methods=["diffusion_bc", "dsrl_na", "iql_ft", "sac_rlpd"])
    got = {(r["method"], r["seed"]): r["state"] for r in o2o_results.status(args)}
    assert got == {("diffusion_bc", 0): "done", ("diffusion_bc", 1): "not started",
                   ("dsrl_na", 0): "at step 8",  # 2 chunk steps of 4 actions
                   ("dsrl_na", 1): "not started", ("iql_ft", 0): "done, settings not recorded",
                   ("iql_ft", 1): "not started", ("sac_rlpd", 0): "done", ("sac_rlpd", 1): "not started"}
