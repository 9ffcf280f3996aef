"""Discoverability (issue 23): ``python -m orl.list``, ``orl.run --help`` with examples, and ``--cfg job``
showing the settings a run will use, tuned ones included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, data_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "envs")])}
    if data_dir is not None:
        env["ORL_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)


def test_list_datasets_shows_built_state_and_sizes(tmp_path):
    from orl.data import load_dataset

    os.environ["ORL_DATA_DIR"], old = str(tmp_path), os.environ.get("ORL_DATA_DIR")
    try:
        load_dataset("pendulum-random")  # builds it into this empty cache
    finally:
        os.environ.pop("ORL_DATA_DIR") if old is None else os.environ.__setitem__("ORL_DATA_DIR", old)
    proc = _run("orl.list", "datasets", "--json", data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["pendulum-random"]["built"] is True
    assert rows["pendulum-random"]["transitions"] == 20000 and rows["pendulum-random"]["episodes"] == 100
    assert rows["pendulum-random"]["mb"] > 0
    assert rows["pendulum-scripted"]["built"] is False and rows["pendulum-scripted"]["transitions"] is None
    assert rows["hopper-medium"]["env"] == "Hopper-v5"
    table = _run("orl.list", "datasets", data_dir=tmp_path).stdout
    assert any(line.split()[:3] == ["pendulum-random", "Pendulum-v1", "yes"] for line in table.splitlines())


def test_list_algos_and_envs():
    proc = _run("orl.list", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    algos = {r["name"]: r for r in listed["algos"]}
    assert set(algos) >= {"bc", "td3bc", "iql", "cql", "a2pr", "ppo", "props", "hdpo", "bq"}
    assert algos["iql"]["family"] == "offline" and "Kostrikov" in algos["iql"]["paper"]
    assert algos["ppo"]["trains_on"] == "a Gymnasium environment"
    assert algos["iql"]["config"] == "orl.algos.offline.iql.IQLConfig"
    names = {r["name"] for r in listed["envs"]}
    assert {"tsp-50", "inventory-one-store-lost", "orl/TSP-v0"} <= names
    assert "hopper-medium" not in names  # datasets are listed by `datasets`
    bad = _run("orl.list", "dataset")
    assert bad.returncode == 2 and "invalid choice: 'dataset'" in bad.stderr


def test_run_help_has_examples():
    proc = _run("orl.run", "--help")
    assert proc.returncode == 0
    assert "python -m orl.run algo=a2pr env=hopper-medium" in proc.stdout
    assert "python -m orl.list" in proc.stdout and "--cfg job" in proc.stdout


def test_cfg_job_shows_tuned_settings_and_user_overrides_win():
    proc = _run("orl.run", "algo=iql", "env=hopper-medium", "algo.tau=0.01", "--cfg", "job")
    assert proc.returncode == 0, proc.stderr
    assert "tuned settings for iql on hopper-medium (in algo below): deterministic_actor=True, normalize_reward=True" \
        in proc.stdout
    import yaml

    cfg = yaml.safe_load(proc.stdout)
    assert cfg["algo"]["deterministic_actor"] is True  # tuned (CORL's hopper-medium), not IQLConfig's default
    assert cfg["algo"]["tau"] == 0.01  # the command line wins over tuned/iql/hopper-medium.yaml's 0.001
    assert cfg["env"]["dataset"] == "hopper-medium"
    bad = _run("orl.run", "algo=iqlx", "--cfg", "job")
    assert bad.returncode == 2 and "unknown algo 'iqlx'" in bad.stderr and "Traceback" not in bad.stderr
