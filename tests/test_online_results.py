"""experiments/online_results.py: the grid's settings (PPO b=1, PPO-Buffer b=2, PROPS b=2 with its tuned file),
the AUC by hand, and bad arguments stopping before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import online_results  # noqa: E402

from orl.algos.online.ppo import PPOConfig  # noqa: E402
from orl.algos.online.props import PROPSConfig  # noqa: E402
from orl.utils.config import build_config  # noqa: E402


def test_grid_settings_are_the_papers_runs():
    name, ppo = online_results.settings("ppo", "Walker2d-v5")
    assert name == "ppo" and ppo["buffer_batches"] == 1 and ppo["num_steps"] == 4096 and ppo["lr"] == 1e-3
    name, buf = online_results.settings("ppo-buffer", "Hopper-v5")
    assert name == "ppo" and buf["buffer_batches"] == 2 and buf["num_steps"] == 1024 and buf["lr"] == 1e-4
    assert buf["se_every"] == 10 and buf["ent_coef"] == 0.01 and buf["target_kl"] == 0.03
    name, props = online_results.settings("props", "HalfCheetah-v5")
    assert name == "props" and props["buffer_batches"] == 2 and props["props_num_steps"] == 512
    # every cell builds a valid config of its class
    for algo in online_results.ALGOS:
        for env in online_results.ENVS:
            name, s = online_results.settings(algo, env)
            build_config(PROPSConfig if name == "props" else PPOConfig, s, name)


def test_auc_is_the_mean_return_over_the_curve(tmp_path):
    (tmp_path / "eval.csv").write_text("step,return_mean,return_std\n10,0,0\n20,100,0\n40,100,0\n")
    final, auc = online_results.curve_metrics(tmp_path, 40)
    # trapezoid: 10*50 + 20*100 = 2500 over a width of 30
    assert final == 100 and auc == pytest.approx(2500 / 30)


def test_bad_arguments(capsys):
    with pytest.raises(ValueError, match="algo='sac'"):
        online_results.settings("sac", "Hopper-v5")
    with pytest.raises(ValueError, match="env='Ant-v5'"):
        online_results.settings("ppo", "Ant-v5")
    with pytest.raises(SystemExit):
        online_results.main(["--steps", "100"])
    assert "--steps=100" in capsys.readouterr().err


def _copy_results(tmp_path, monkeypatch) -> Path:
    import shutil

    results = tmp_path / "results"
    results.mkdir()
    for name in ("online_mujoco_runs.csv", "online_mujoco_curves.csv", "online_mujoco.csv"):
        shutil.copy(ROOT / "experiments" / "results" / name, results / name)
    monkeypatch.setattr(online_results, "RESULTS", results)
    return results


def test_a_rewrite_without_run_directories_keeps_the_committed_tables(tmp_path, monkeypatch):
    # a fresh machine (no ~/.orl/runs) running --report must not empty the committed tables
    results = _copy_results(tmp_path, monkeypatch)
    assert online_results.main(["--steps", "50000", "--report", "--runs", str(tmp_path / "none")]) == 0
    for name in ("online_mujoco_runs.csv", "online_mujoco_curves.csv", "online_mujoco.csv"):
        assert (results / name).read_bytes() == (ROOT / "experiments" / "results" / name).read_bytes(), name


def test_a_run_directory_replaces_its_recorded_rows_and_the_others_stay(tmp_path, monkeypatch):
    import json

    results = _copy_results(tmp_path, monkeypatch)
    old = online_results.read_csv(results / "online_mujoco_runs.csv")
    first = old[0]
    key = online_results.run_key(first)
    out = online_results.run_dir(tmp_path / "runs", first["algo"], first["env"], int(first["steps"]), int(first["seed"]))
    out.mkdir(parents=True)
    (out / "eval.csv").write_text("step,return_mean,return_std\n10240,1.5,0\n20480,2.5,0\n")
    (out / "metrics.csv").write_text("step,sampling_error\n10240,0.25\n")
    row = {**{k: first[k] for k in ("algo", "env")}, "seed": int(first["seed"]), "steps": int(first["steps"]),
           "final_return": 2.5, "auc": 2.0, "seconds": 1, "eval_episodes": 5, "date": "2026-11-29", "compiled": 1,
           "eval_clipped": 1}
    (out / "result.json").write_text(json.dumps(row))
    online_results.write_results(tmp_path / "runs", online_results.all_finished(tmp_path / "runs"))
    new = online_results.read_csv(results / "online_mujoco_runs.csv")
    assert len(new) == len(old)
    assert [r for r in new if online_results.run_key(r) == key] == [{k: str(v) for k, v in row.items()}]
    assert [r for r in new if online_results.run_key(r) != key] == old[1:]  # the others, unchanged, in order
    curves = [c for c in online_results.read_csv(results / "online_mujoco_curves.csv") if online_results.run_key(c) == key]
    assert [(c["step"], c["return_mean"], c["sampling_error"]) for c in curves] == [
        ("10240", "1.5", ""), ("20480", "2.5", ""), ("10240", "", "0.25")]  # the run's own, none of the recorded
