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


def test_supersede_moves_only_the_named_methods_runs(tmp_path, fake_dataset):
    import argparse

    runs = tmp_path / "o2o"
    for seed in (0, 1):
        for method in ("sac_rlpd", "expo"):
            (runs / "d" / "pre5" / f"seed{seed}" / f"{method}-10").mkdir(parents=True)
    args = argparse.Namespace(runs=runs, results=tmp_path / "results", seeds=[0], supersede=["sac_rlpd"],
                              pretrain_steps=5, steps=10)
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
    args = argparse.Namespace(runs=tmp_path / "o2o", results=tmp_path / "results", pretrain_steps=5, steps=10, chunk=4,
                              seeds=[0, 1], methods=["diffusion_bc", "dsrl_na", "iql_ft", "sac_rlpd"])
    got = {(r["method"], r["seed"]): r["state"] for r in o2o_results.status(args)}
    assert got == {("diffusion_bc", 0): "done", ("diffusion_bc", 1): "not started",
                   ("dsrl_na", 0): "at step 8",  # 2 chunk steps of 4 actions
                   ("dsrl_na", 1): "not started", ("iql_ft", 0): "done, settings not recorded",
                   ("iql_ft", 1): "not started", ("sac_rlpd", 0): "done", ("sac_rlpd", 1): "not started"}


def _args(tmp_path, **kw):
    import argparse

    return argparse.Namespace(**{"runs": tmp_path / "o2o", "results": tmp_path / "results", "pretrain_steps": 5,
                                 "steps": 10, "chunk": 4, "seeds": [0, 1], "methods": ["expo", "sac_rlpd"],
                                 "supersede": [], **kw})


def _write_curves(args, rows: list[dict]) -> None:
    from orl.utils.atomic import write_csv

    args.results.mkdir(parents=True, exist_ok=True)
    write_csv(args.results / "o2o_curves.csv", rows, o2o_results.FIELDS)


def _curve(seed: int, method: str, step: int, ret: float, dataset: str = "d") -> dict:
    return {"dataset": dataset, "env": "E-v0", "seed": seed, "method": method, "step": step, "return": ret,
            "score": ret / 10, "pretrain_steps": 5, "steps": 10, "chunk": 1, "reduced": '{"utd": 2}'}


def _finished_run(args, seed: int, method: str, evals: list[tuple[int, float]]) -> None:
    import json

    run = args.runs / "d" / "pre5" / f"seed{seed}" / f"{method}-10"
    run.mkdir(parents=True)
    (run / "eval.csv").write_text("step,return_mean,return_std\n" + "".join(f"{s},{r},0.0\n" for s, r in evals))
    (run / "result.json").write_text(json.dumps({"method": method, "steps": 10, "reduced": {"utd": 2}}))


@pytest.fixture
def fake_dataset(monkeypatch):
    """collect() reads a dataset's reference scores from its metadata: the run dirs here are of a made-up 'd'."""
    class Data:
        metadata = {"ref_min_score": 0.0, "ref_max_score": 10.0, "env_id": "E-v0"}

    monkeypatch.setattr(o2o_results, "load_dataset", lambda name: Data())


def _csv_rows(path):
    with open(path) as f:
        return [(r["dataset"], int(r["seed"]), r["method"], int(r["step"]), float(r["return"])) for r in csv.DictReader(f)]


def test_rows_recorded_in_the_csv_survive_their_lost_run_directories(tmp_path, fake_dataset):
    # the committed CSV is the record: a machine whose run directories are gone (a new home directory, another
    # machine) must not drop earlier runs from the tables when one new run finishes
    args = _args(tmp_path)
    old = [_curve(0, "expo", 5, 100.0), _curve(0, "expo", 10, 50.0), _curve(1, "expo", 5, 70.0),
           _curve(1, "expo", 10, 60.0), _curve(0, "sac_rlpd", 5, 1.0), _curve(0, "sac_rlpd", 10, 2.0),
           _curve(0, "sac_rlpd", 7, 3.0, dataset="other")]
    _write_curves(args, old)
    _finished_run(args, 0, "sac_rlpd", [(5, 30.0), (10, 40.0)])  # rerun here: replaces its recorded rows, whole
    o2o_results.write_results(args)
    got = _csv_rows(args.results / "o2o_curves.csv")
    assert sorted(got) == sorted([("d", 0, "expo", 5, 100.0), ("d", 0, "expo", 10, 50.0), ("d", 1, "expo", 5, 70.0),
                                  ("d", 1, "expo", 10, 60.0), ("d", 0, "sac_rlpd", 5, 30.0),
                                  ("d", 0, "sac_rlpd", 10, 40.0), ("other", 0, "sac_rlpd", 7, 3.0)])
    with open(args.results / "o2o_summary.csv") as f:
        summary = {(r["dataset"], r["method"]): r for r in csv.DictReader(f)}
    assert summary[("d", "expo")]["seeds"] == "0 1" and float(summary[("d", "expo")]["final_score"]) == 5.5
    # and the run left to do: only what neither the CSV nor a run directory holds
    assert o2o_results.runs_to_do(args, "d") == [(0, "sac_rlpd"), (1, "sac_rlpd")]
    states = {(r["dataset"], r["method"], r["seed"]): r["state"] for r in o2o_results.status(args)}
    assert states[("d", "expo", 0)] == "done, recorded in the CSV" and states[("d", "sac_rlpd", 0)] == "done"
    assert states[("d", "sac_rlpd", 1)] == "not started" and states[("other", "sac_rlpd", 0)] == "done, recorded in the CSV"


def test_an_unchanged_grid_rewrites_the_committed_csvs_byte_for_byte(tmp_path):
    # no run directories at all (a fresh machine): --collect-only must leave the committed tables as they are
    import shutil

    results = tmp_path / "results"
    results.mkdir()
    for name in ("o2o_curves.csv", "o2o_final.csv", "o2o_summary.csv"):
        shutil.copy(ROOT / "experiments" / "results" / name, results / name)
    with open(results / "o2o_summary.csv") as f:
        budget = next(csv.DictReader(f))
    args = _args(tmp_path, pretrain_steps=int(budget["pretrain_steps"]), steps=int(budget["steps"]))
    o2o_results.write_results(args)
    for name in ("o2o_curves.csv", "o2o_final.csv", "o2o_summary.csv"):
        assert (results / name).read_bytes() == (ROOT / "experiments" / "results" / name).read_bytes(), name


def test_supersede_also_drops_the_recorded_rows(tmp_path, fake_dataset):
    args = _args(tmp_path)
    _write_curves(args, [_curve(0, "expo", 10, 50.0), _curve(1, "expo", 10, 60.0), _curve(0, "sac_rlpd", 10, 2.0)])
    args.seeds, args.supersede = [0], ["expo"]
    o2o_results.supersede(args, "d")
    assert sorted(_csv_rows(args.results / "o2o_curves.csv")) == [("d", 0, "sac_rlpd", 10, 2.0),
                                                                   ("d", 1, "expo", 10, 60.0)]
    assert (0, "expo") in o2o_results.runs_to_do(args, "d")


def test_bases_for_different_seeds_train_side_by_side(tmp_path):
    # one process per seed (one per core) is how the grid is spread over a machine: the second must not find the
    # first's population in its way, and each seed's file must hold that seed's member
    import orl

    small = dict(hidden=16, blocks=1, time_dim=8)
    for seed in (1, 2):
        (f,) = o2o_results.pretrained("diffusion_bc", "pendulum-scripted", [seed], 20, tmp_path, 20, **small)
        assert f == tmp_path / f"diffusion_bc-seed{seed}.pt"
        assert orl.load(f).members == [f"pendulum-scripted/seed{seed}"]
    before = {s: (tmp_path / f"diffusion_bc-seed{s}.pt").stat().st_mtime_ns for s in (1, 2)}
    assert o2o_results.pretrained("diffusion_bc", "pendulum-scripted", [1, 2], 20, tmp_path, 20, **small) == [
        tmp_path / "diffusion_bc-seed1.pt", tmp_path / "diffusion_bc-seed2.pt"]  # both there: nothing retrained
    assert {s: (tmp_path / f"diffusion_bc-seed{s}.pt").stat().st_mtime_ns for s in (1, 2)} == before
