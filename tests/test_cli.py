"""``python -m orl.run`` as a user meets it: resume, interrupts, and bad input (issue 15).

Every fault case runs the CLI as a subprocess and asserts exit code 2, one ``error:`` line naming the
bad value, no traceback, and that nothing on disk changed (no run directory left behind, no file of an
existing run rewritten). The resume tests would fail if a resumed run silently trained from step 0.
"""

from __future__ import annotations

import csv
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

SMALL = ["algo.actor_hidden=[32,32]", "algo.critic_hidden=[32,32]", "algo.vae_hidden=[64,64]"]
COMMON = ["algo=a2pr", "env=pendulum-scripted", "steps=400", "eval_every=100", "eval_episodes=2", "seed=1", *SMALL]


def _cli(*args: str, cwd: Path, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orl.run", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _eval_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "eval.csv") as f:
        return list(csv.DictReader(f))


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _assert_refused(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr[-3000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr[-2000:]
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path, str]:
    """An uninterrupted 400-update run: (its cwd, its run directory, its final line)."""
    cwd = tmp_path_factory.mktemp("finished")
    r = _cli(*COMMON, cwd=cwd)
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = next((cwd / "runs" / "a2pr" / "pendulum-scripted").iterdir())
    assert r.stdout.splitlines()[0] == f"run directory: {run_dir}"  # said first, so TensorBoard can follow
    return cwd, run_dir, r.stdout.strip().splitlines()[-1]


def _start_and_wait_for_checkpoint(args: list[str], cwd: Path, run_root: Path) -> tuple[subprocess.Popen, Path]:
    # SIGINT's default action, as in a terminal: a shell starts background jobs (CI's among them) with
    # SIGINT ignored, and Python then never raises KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, "-m", "orl.run", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and not list(run_root.glob("*/checkpoint.pt")):
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.1)
    return proc, next(run_root.iterdir())


def _kill_after_a_checkpoint(args: list[str], cwd: Path, run_root: Path) -> tuple[Path, int]:
    """Start a 400-update run, kill -9 it after its first checkpoint: (its run directory, the checkpoint's step)."""
    import torch

    proc, run_dir = _start_and_wait_for_checkpoint(args, cwd, run_root)
    proc.kill()
    proc.communicate()
    step = int(torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"])
    assert 100 <= step < 400
    return run_dir, step


def _mark_rows(path: Path, step: int, field: str) -> list[dict]:
    """Keep the rows of the ``eval.csv`` at ``path`` up to ``step``; put the marker 12345.0 into ``field`` of the first."""
    rows = [r for r in _eval_rows(path.parent) if int(r["step"]) <= step]
    rows[0][field] = "12345.0"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return rows


def test_resume_continues_from_the_checkpoint(tmp_path, finished):
    """Killed after a checkpoint, the run resumes at the checkpoint's step (the rows before it are kept
    as they were, a marker in them included) and ends exactly where the uninterrupted run ended."""
    _, full_dir, last = finished
    run_dir, step = _kill_after_a_checkpoint([*COMMON, "out_root=killed"], tmp_path,
                                             tmp_path / "killed" / "a2pr" / "pendulum-scripted")
    # Mark the logged rows up to the checkpoint: a run that restarted from zero would rewrite them.
    rows = _mark_rows(run_dir / "eval.csv", step, "return_mean")
    hydra_before = _snapshot(run_dir / ".hydra")
    r = _cli(f"resume={run_dir}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resuming {run_dir} at step {step:,} of 400" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == last
    got, want = _eval_rows(run_dir), _eval_rows(full_dir)
    assert got[0]["return_mean"] == "12345.0"  # kept, not recomputed
    assert [r["step"] for r in got] == [r["step"] for r in want]
    assert got[len(rows):] == want[len(rows):]  # the continued part equals the uninterrupted run
    assert _snapshot(run_dir / ".hydra") == hydra_before  # Hydra's record of the original run is untouched


def test_resume_of_a_finished_run_changes_nothing(tmp_path, finished):
    cwd, run_dir, last = finished
    ckpt = (run_dir / "checkpoint.pt").read_bytes()
    rows = _eval_rows(run_dir)
    r = _cli(f"resume={run_dir}", "threads=1", cwd=cwd)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "finished at step 400 of 400; nothing left to train" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == last
    assert (run_dir / "checkpoint.pt").read_bytes() == ckpt and _eval_rows(run_dir) == rows


@pytest.mark.parametrize("damage", ["truncated", "empty", "random bytes"])
def test_resume_refuses_a_damaged_checkpoint_and_keeps_it(tmp_path, finished, damage):
    import shutil

    _, full_dir, _ = finished
    run_dir = tmp_path / "run"
    shutil.copytree(full_dir, run_dir)
    data = (run_dir / "checkpoint.pt").read_bytes()
    bad = {"truncated": data[: len(data) // 2], "empty": b"", "random bytes": os.urandom(4096)}[damage]
    (run_dir / "checkpoint.pt").write_bytes(bad)
    before = _snapshot(run_dir)
    r = _cli(f"resume={run_dir}", cwd=tmp_path)
    _assert_refused(r, str(run_dir / "checkpoint.pt"), "truncated or corrupt")
    assert _snapshot(run_dir) == before


def test_resume_refuses_what_it_cannot_continue(tmp_path, finished):
    cwd, run_dir, _ = finished
    before = _snapshot(run_dir)
    _assert_refused(_cli(f"resume={run_dir}", "algo=iql", cwd=cwd), "'algo=iql' would change it", "device=, threads=")
    _assert_refused(_cli(f"resume={run_dir}", "steps=800", cwd=cwd), "'steps=800' would change it")
    _assert_refused(_cli(f"resume={run_dir}", "threads=abc", cwd=cwd), "threads must be an integer, got 'abc'")
    assert _snapshot(run_dir) == before
    _assert_refused(_cli(f"resume={tmp_path / 'nonexistent'}", cwd=tmp_path), "does not exist")
    assert not (tmp_path / "nonexistent").exists()
    (tmp_path / "a-file").write_text("x")
    _assert_refused(_cli(f"resume={tmp_path / 'a-file'}", cwd=tmp_path), "is a file, not a run directory")
    bad = tmp_path / "bad-config"
    bad.mkdir()
    (bad / "config.yaml").write_text("algo: [unclosed\n")
    _assert_refused(_cli(f"resume={bad}", cwd=tmp_path), f"{bad / 'config.yaml'} cannot be read")
    (bad / "config.yaml").write_text("steps: 10\n")
    _assert_refused(_cli(f"resume={bad}", cwd=tmp_path), "is not an orl run configuration")
    assert sorted(p.name for p in bad.iterdir()) == ["config.yaml"]


@pytest.mark.parametrize("args, needles", [
    (["seed=1.5"], ["seed must be an integer, got 1.5"]),
    (["seed=-1"], ["seed must be a non-negative integer, got -1"]),
    (["seed=abc"], ["seed must be an integer, got 'abc'"]),
    (["stepz=10"], ["unknown setting 'stepz'", "steps"]),
    (["algo.lr=abc"], ["algo.lr must be a number, got 'abc'"]),
    (["algo.hidden=abc"], ["algo.hidden must be a list of integers", "got 'abc'"]),
    (["algo.lrr=0.1"], ["unknown setting 'algo.lrr' for algo=bc", "algo.lr"]),
    (["env.eval_env=NoSuchEnv-v0"], ["env.eval_env='NoSuchEnv-v0' cannot be made"]),
    (["env.eval_env=CartPole-v1"], ["env.eval_env='CartPole-v1' has action space Discrete(2)", "Box"]),
    (["env.eval_env=Hopper-v5"], ["env.eval_env='Hopper-v5' observes shape (11,), the dataset (3,)"]),
    (["sampler=best"], ["sampler must be one of uniform, rw, aw, topk, got 'best'"]),
    (["device=tpu"], ["device must be 'cpu' or 'cuda[:N]', got 'tpu'"]),
])
def test_bad_input_exits_2_naming_it_and_leaves_no_run_directory(tmp_path, args, needles):
    r = _cli("algo=bc", "env=pendulum-scripted", "steps=50", *args, cwd=tmp_path)
    _assert_refused(r, *needles)
    assert not (tmp_path / "runs").exists(), sorted(str(p) for p in (tmp_path / "runs").rglob("*"))


@pytest.mark.parametrize("algo, env", [("ppo", "Pendulum-v1"), ("unicorn", "crs-lastfm"),
                                       ("protected", "Pendulum-v1")])
def test_device_cuda_is_refused_by_families_that_train_on_the_cpu(tmp_path, algo, env):
    # these trainers never move their networks: device=cuda must not be accepted and silently ignored (a GPU
    # machine would otherwise report a CPU run as a GPU one); the answer is the same with or without a GPU
    r = _cli(f"algo={algo}", f"env={env}", "steps=10", "device=cuda", cwd=tmp_path)
    _assert_refused(r, f"algo={algo}", "trains on the CPU only", "device='cuda'", "use device=cpu", "td3bc", "sac")
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("algo, env, setting, needles", [
    ("sac", "Pendulum-v1", "batch_size=64", ["(offpolicy family) does not use", "set algo.batch_size=64 instead"]),
    ("ppo", "CartPole-v1", "sampler=rw", ["(online family) does not use", "it reads eval_every, eval_episodes"]),
    ("ppo", "CartPole-v1", "log_every=10", ["(online family) does not use", "it reads eval_every, eval_episodes"]),
    ("hdpo", "inventory-one-store-backlogged", "batch_size=8", ["set algo.batch_size=8 instead"]),
    ("unicorn", "crs-lastfm", "eval_episodes=3", ["(crs family) does not use", "it reads eval_every"]),
])
def test_loop_settings_a_family_does_not_read_are_refused(tmp_path, algo, env, setting, needles):
    # these loops read their batch size from algo.* (or sample no batches, or log by rollout): batch_size=64 used to
    # be accepted and silently ignored (a run of batch 256 reported as one of 64)
    r = _cli(f"algo={algo}", f"env={env}", "steps=10", setting, cwd=tmp_path)
    _assert_refused(r, f"{setting} is a loop setting that algo={algo}", *needles)
    assert not (tmp_path / "runs").exists()


def test_each_family_declares_the_loop_settings_its_trainer_reads():
    """``FAMILY_SETTINGS`` against each trainer's ``run_config`` source: a setting read but not declared would be
    refused although used; one declared but not read would be accepted and ignored."""
    import importlib
    import inspect
    import re

    from orl.train import FAMILIES, FAMILY_SETTINGS, LOOP_SETTINGS

    assert set(FAMILY_SETTINGS) == set(FAMILIES)
    for family, module in FAMILIES.items():
        if family == "offline":  # reads them all, through TrainConfig (settings_from)
            continue
        source = inspect.getsource(importlib.import_module(module).run_config)
        read = {name for name in LOOP_SETTINGS if re.search(r'cfg(\.|\.get\("|\[")' + name + r'\b', source)}
        assert read == set(FAMILY_SETTINGS[family]), family


def test_the_python_api_gives_batch_size_to_an_algorithm_that_has_its_own():
    from orl.api import overrides_for

    assert overrides_for("sac", "Pendulum-v1", batch_size=64)[0][-1] == "algo.batch_size=64"
    assert overrides_for("expo", "Hopper-v5", batch_size=64)[0][-1] == "algo.batch_size=64"
    assert overrides_for("td3bc", "hopper-medium", batch_size=64)[0][-1] == "batch_size=64"  # the offline loop's


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here: device=cuda is accepted")
def test_device_cuda_without_a_gpu_is_refused_by_the_off_policy_family(tmp_path):
    r = _cli("algo=sac", "env=Pendulum-v1", "steps=10", "device=cuda", cwd=tmp_path)
    _assert_refused(r, "device='cuda'", "torch sees no CUDA GPU here", "use device=cpu")
    assert not (tmp_path / "runs").exists()


def test_an_unwritable_out_root_is_refused_before_anything_is_written(tmp_path):
    (tmp_path / "a-file").write_text("x")
    r = _cli("algo=bc", "env=pendulum-scripted", f"out_root={tmp_path / 'a-file' / 'runs'}", cwd=tmp_path)
    _assert_refused(r, "out_root=", "is not a writable directory")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]
    if os.geteuid() != 0:  # root writes into read-only directories; the file case above covers it there
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        _assert_refused(_cli("algo=bc", "env=pendulum-scripted", f"out_root={ro}", cwd=tmp_path), "is not a writable")


def test_ctrl_c_stops_promptly_and_says_how_to_resume(tmp_path):
    args = [*COMMON, "steps=1000000", "eval_every=100"]
    proc, run_dir = _start_and_wait_for_checkpoint(args, tmp_path, tmp_path / "runs" / "a2pr" / "pendulum-scripted")
    proc.send_signal(signal.SIGINT)
    t0 = time.time()
    out, err = proc.communicate(timeout=60)
    assert time.time() - t0 < 10 and proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert f"python -m orl.run resume={run_dir}" in err and "the last checkpoint is" in err
    import torch

    step = int(torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"])
    # SIGTERM (what a scheduler sends) is handled the same way, and the resumed run continues from there.
    proc = subprocess.Popen([sys.executable, "-m", "orl.run", f"resume={run_dir}"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.2)
        rows = _eval_rows(run_dir) if (run_dir / "eval.csv").exists() else []
        if rows and int(rows[-1]["step"]) > step + 100:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert f"resuming {run_dir} at step {step:,} of 1,000,000" in out


def test_the_python_api_names_a_damaged_checkpoint(tmp_path):
    import torch

    from orl.data import load_dataset
    from orl.train.bq import load_policy
    from orl.train.common import CheckpointError
    from orl.train.offline import TrainConfig, train_offline

    (tmp_path / "checkpoint.pt").write_bytes(b"\x80\x02not a checkpoint")
    with pytest.raises(CheckpointError, match="checkpoint.pt cannot be read: it is truncated or corrupt"):
        train_offline("bc", load_dataset("pendulum-scripted"), "Pendulum-v1", tmp_path,
                      TrainConfig(steps=10, eval_every=10, eval_episodes=1), {"hidden": [8]}, resume=True,
                      progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == b"\x80\x02not a checkpoint"
    (tmp_path / "policy.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="policy.pt cannot be read"):
        load_policy(tmp_path / "policy.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="lacks 'policy'"):
        load_policy(tmp_path / "other.pt")


def test_hyperparameters_are_type_checked_by_name():
    from orl.algos.offline.a2pr import A2PRConfig
    from orl.algos.structured.hdpo import HDPOConfig
    from orl.utils.config import build_config

    assert build_config(A2PRConfig, {"actor_hidden": [64, 64], "alpha": 3}, "a2pr").actor_hidden == (64, 64)
    for values, message in [({"actor_lr": "abc"}, "algo.actor_lr must be a number, got 'abc'"),
                            ({"actor_lr": float("nan")}, "algo.actor_lr must be a number, got nan"),
                            ({"actor_hidden": [64, "x"]}, "algo.actor_hidden must be a list of integers"),
                            ({"actor_hidden": []}, "algo.actor_hidden must be a list of integers"),
                            ({"normalize_states": "yes"}, "algo.normalize_states must be true or false, got 'yes'"),
                            ({"policy_freq": 2.5}, "algo.policy_freq must be an integer, got 2.5")]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            build_config(A2PRConfig, values, "a2pr", prefix="algo.")
    with pytest.raises(ValueError, match=r"algo.lr must be a number or null, got 'fast'"):
        build_config(HDPOConfig, {"lr": "fast"}, "hdpo", prefix="algo.")


def test_the_duration_estimate_is_said_once():
    from orl.train.common import DurationEstimate, format_duration

    said: list[str] = []
    eta = DurationEstimate(start=1000, total=1_001_000, after_s=0.0, write=said.append)
    time.sleep(0.01)
    eta(1100)
    eta(1200)
    assert len(said) == 1 and "for the remaining 999,900" in said[0] and "updates/s over the first 100" in said[0]
    assert format_duration(3 * 3600 + 125) == "3 h 2 min" and format_duration(65) == "1 min 5 s"


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KiB tmpfs: room for one small checkpoint, not for its replacement beside it."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or r.returncode}): needs root in a mount namespace")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_a_full_disk_stops_training_with_one_line_and_keeps_the_last_checkpoint(tmp_path, small_disk):
    import torch

    r = _cli("algo=bc", "env=pendulum-scripted", "steps=3000", "eval_every=200", "eval_episodes=1",
             "algo.hidden=[64,64]", f"out_root={small_disk}", cwd=tmp_path)
    _assert_refused(r, "No space left on device", "the last checkpoint is", "resume=")
    run_dir = next((small_disk / "bc" / "pendulum-scripted").iterdir())
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)  # whole and loadable
    assert state["step"] == 200 and not list(run_dir.glob(".checkpoint.pt.*"))  # no temp file left


POPULATION = ["algo=td3bc", "env=pendulum-scripted,pendulum-random", "seeds=0,1", "steps=400", "eval_every=100",
              "eval_episodes=2", "log_every=100", "algo.hidden=[32,32]"]
MEMBERS = ["pendulum-scripted/seed0", "pendulum-scripted/seed1", "pendulum-random/seed0", "pendulum-random/seed1"]


def test_a_population_run_resumes_across_a_kill_as_if_uninterrupted(tmp_path):
    """``seeds=`` and ``env=a,b`` train one population in one process: per-member directories and final
    lines; killed after a checkpoint and resumed, it keeps the rows before the checkpoint (a marker in
    them survives) and ends with the uninterrupted run's lines and evaluations."""
    full = _cli(*POPULATION, cwd=tmp_path)
    assert full.returncode == 0, full.stderr[-2000:]
    full_dir = next((tmp_path / "runs" / "td3bc" / "pendulum-scripted+pendulum-random").iterdir())
    assert full_dir.name.startswith("seeds0-1-")
    lines = full.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[-5:-1]] == MEMBERS and lines[-1].startswith("population of 4:")
    for m in MEMBERS:
        assert len(_eval_rows(full_dir / m)) == 4 and (full_dir / m / "metrics.csv").exists()
    run_dir, step = _kill_after_a_checkpoint([*POPULATION, "out_root=killed"], tmp_path,
                                             tmp_path / "killed" / "td3bc" / "pendulum-scripted+pendulum-random")
    for m in MEMBERS:
        _mark_rows(run_dir / m / "eval.csv", step, "return_std")
    r = _cli(f"resume={run_dir}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resuming {run_dir} at step {step:,} of 400" in r.stdout
    assert r.stdout.strip().splitlines()[-5:] == lines[-5:]
    for m in MEMBERS:
        got, want = _eval_rows(run_dir / m), _eval_rows(full_dir / m)
        assert got[0]["return_std"] == "12345.0"  # kept, not recomputed
        assert [x["return_mean"] for x in got] == [x["return_mean"] for x in want]


@pytest.mark.parametrize("args, needles", [
    (["seeds=0,x"], ["seeds must be non-negative integers separated by commas", "'0,x'"]),
    (["seeds=1,1"], ["seeds lists a seed twice"]),
    (["env=pendulum-scripted,reacher-decoy", "seeds=0"], ["different action bounds", "Pendulum-v1", "Reacher-v5"]),
    (["algo=ppo", "env=CartPole-v1", "seeds=0,1"], ["algo=ppo is online", "-m seed=0,1,2"]),
    (["algo.actor_lr=1e-3,3e-4"], ["must share actor_lr", "may differ only in: alpha"]),
    (["algo.alpha=1,1"], ["algo.alpha lists a value twice"]),
])
def test_bad_population_input_exits_2_naming_it(tmp_path, args, needles):
    r = _cli("algo=td3bc", "env=pendulum-scripted", "steps=50", *args, cwd=tmp_path)
    _assert_refused(r, *needles)
    assert not (tmp_path / "runs").exists(), sorted(str(p) for p in (tmp_path / "runs").rglob("*"))


def test_a_sweep_inside_one_population(tmp_path):
    """``algo.<field>=a,b`` (without -m) makes one member per value, each trained with its value."""
    import yaml

    r = _cli("algo=td3bc", "env=pendulum-scripted", "algo.alpha=1,4", "seeds=0,1", "steps=20", "eval_every=20",
             "eval_episodes=1", "algo.hidden=[16]", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    run_dir = next((tmp_path / "runs" / "td3bc" / "pendulum-scripted").iterdir())
    assert run_dir.name.startswith("seeds0-1-")
    members = yaml.safe_load((run_dir / "config.yaml").read_text())["members"]
    assert [(m["name"], m["algo"]["alpha"]) for m in members] == [
        ("pendulum-scripted/alpha=1/seed0", 1), ("pendulum-scripted/alpha=1/seed1", 1),
        ("pendulum-scripted/alpha=4/seed0", 4), ("pendulum-scripted/alpha=4/seed1", 4)]
    for m in members:
        assert (run_dir / m["name"] / "eval.csv").exists()
    import torch

    configs = torch.load(run_dir / "checkpoint.pt", weights_only=False)["algo"]["configs"]
    assert [c["alpha"] for c in configs] == [1, 1, 4, 4]  # what the members trained with
