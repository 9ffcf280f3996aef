"""Replay the faults of issue 15 against the real CLIs and print what happened.

    python experiments/fault_injection.py            # every case (about 3 minutes here)
    python experiments/fault_injection.py -k resume  # the cases whose name holds "resume"

Each case runs ``python -m orl.run`` / ``python -m orl.data.build`` / ``python -m orl.diagnose`` as a
subprocess in a fresh directory — kills during builds and training, Ctrl-C and SIGTERM, truncated,
empty and random-bytes files, a full disk (a small tmpfs, where this process may mount one),
read-only and missing directories, bad values — and prints one table row: the case, what is
expected, what was observed, and whether anything the user had was lost. The exit code is 1 when
any case did not behave as expected. The fast cases are also in the test suite (tests/test_cli.py,
tests/test_registry.py, tests/test_io.py); this script is the whole replay, for a person to read.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PY = sys.executable
BC = ["algo=bc", "env=pendulum-scripted", "algo.hidden=[64,64]", "eval_episodes=1"]


@dataclass
class Outcome:
    observed: str
    ok: bool
    nothing_lost: str  # "yes", "no: ..." or "n/a"


CASES: list[tuple[str, str, Callable[[Path, dict], Outcome]]] = []


def case(name: str, expected: str):
    def register(fn: Callable[[Path, dict], Outcome]):
        CASES.append((name, expected, fn))
        return fn
    return register


# ------------------------------------------------------------------------------------------ helpers
def cli(module: str, *args: str, cwd: Path, env: dict, timeout: float = 600, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=stdin)


def snapshot(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def last_error(r: subprocess.CompletedProcess | tuple[int, str]) -> str:
    code, err = (r.returncode, r.stderr) if isinstance(r, subprocess.CompletedProcess) else r
    lines = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and "it/s" not in ln and "upd/s" not in ln]
    tail = next((ln for ln in reversed(lines) if ln.startswith(("error:", "interrupted"))), lines[-1] if lines else "")
    return f"exit {code}: {tail.strip()[:150]}"


def clean_refusal(r: subprocess.CompletedProcess, needle: str) -> bool:
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error: ")]
    return r.returncode == 2 and "Traceback" not in r.stderr + r.stdout and len(errors) == 1 and needle in errors[0]


def wait_for(predicate: Callable[[], bool], timeout: float = 300) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def tmpfs(path: Path, size: str, readonly: bool = False) -> Iterator[Path | None]:
    """A small tmpfs at ``path`` (None where mounting is not permitted)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def finished_run(work: Path, env: dict) -> tuple[Path, str]:
    """A finished 1000-update BC run (made once per script run): its directory and final line."""
    cache = work.parent / "finished"
    if not cache.exists():
        cache.mkdir()
        r = cli("orl.run", *BC, "steps=1000", "eval_every=250", cwd=cache, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        (cache / "last.txt").write_text(r.stdout.strip().splitlines()[-1])
    return next((cache / "runs" / "bc" / "pendulum-scripted").iterdir()), (cache / "last.txt").read_text()


def step_of(run_dir: Path) -> int:
    import torch

    return int(torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"])


def start_and_wait_for_checkpoint(args: list[str], work: Path, env: dict) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([PY, "-m", "orl.run", *args], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    root = work / "runs" / "bc" / "pendulum-scripted"
    wait_for(lambda: bool(list(root.glob("*/checkpoint.pt"))) or proc.poll() is not None)
    return proc, next(root.iterdir())


# ------------------------------------------------------------------------------------------ training
@case("kill -9 during training, then resume", "resumes at the checkpoint's step; ends as an uninterrupted run")
def _(work: Path, env: dict) -> Outcome:
    full_dir, last = finished_run(work, env)
    proc, run_dir = start_and_wait_for_checkpoint([*BC, "steps=1000", "eval_every=250"], work, env)
    proc.kill()
    proc.communicate()
    step = step_of(run_dir)
    before = (run_dir / "eval.csv").read_text().splitlines()
    r = cli("orl.run", f"resume={run_dir}", cwd=work, env=env)
    resumed = f"resuming {run_dir} at step {step:,}" in r.stdout
    same = r.returncode == 0 and r.stdout.strip().splitlines()[-1] == last
    kept = (run_dir / "eval.csv").read_text().splitlines()[: len(before)] == before[: 1 + step // 250]
    return Outcome(f"killed at step {step}; resumed there: {resumed}; final line equal: {same}", resumed and same,
                   "yes" if kept else "no: logged rows rewritten")


for _sig in ("SIGINT", "SIGTERM"):
    @case(f"{_sig} during training", "exit 130 within seconds, no traceback, names the checkpoint and resume=")
    def _(work: Path, env: dict, sig: str = _sig) -> Outcome:
        proc, run_dir = start_and_wait_for_checkpoint([*BC, "steps=10000000", "eval_every=250"], work, env)
        time.sleep(0.5)
        proc.send_signal(getattr(signal, sig))
        t0 = time.time()
        _, err = proc.communicate(timeout=120)
        took = time.time() - t0
        ok = proc.returncode == 130 and took < 10 and "Traceback" not in err and f"resume={run_dir}" in err
        try:
            intact = f"yes (checkpoint at step {step_of(run_dir)} loads)"
        except Exception as e:  # noqa: BLE001 - reported, not raised
            intact = f"no: {e}"
        return Outcome(f"{last_error((proc.returncode, err))} after {took:.1f} s", ok, intact)


for _damage in ("truncated", "empty", "random bytes"):
    @case(f"{_damage} checkpoint, then resume", "exit 2, one line naming the file; the file is left as it was")
    def _(work: Path, env: dict, damage: str = _damage) -> Outcome:
        import shutil

        full_dir, _ = finished_run(work, env)
        run_dir = work / "run"
        shutil.copytree(full_dir, run_dir)
        data = (run_dir / "checkpoint.pt").read_bytes()
        (run_dir / "checkpoint.pt").write_bytes({"truncated": data[: len(data) // 2], "empty": b"",
                                                 "random bytes": os.urandom(4096)}[damage])
        before = snapshot(run_dir)
        r = cli("orl.run", f"resume={run_dir}", cwd=work, env=env)
        return Outcome(last_error(r), clean_refusal(r, "checkpoint.pt cannot be read"),
                       "yes" if snapshot(run_dir) == before else "no: run directory changed")


@case("resume=<run> algo=iql", "exit 2: only device=/threads= may change on resume; nothing rewritten")
def _(work: Path, env: dict) -> Outcome:
    run_dir, _ = finished_run(work, env)
    before = snapshot(run_dir)
    r = cli("orl.run", f"resume={run_dir}", "algo=iql", cwd=work, env=env)
    return Outcome(last_error(r), clean_refusal(r, "would change it"),
                   "yes" if snapshot(run_dir) == before else "no: run directory changed")


@case("resume= a missing path / a file / a broken config.yaml", "exit 2 naming it; nothing created")
def _(work: Path, env: dict) -> Outcome:
    (work / "a-file").write_text("x")
    (work / "bad").mkdir()
    (work / "bad" / "config.yaml").write_text("algo: [unclosed\n")
    rs = [cli("orl.run", f"resume={p}", cwd=work, env=env) for p in (work / "missing", work / "a-file", work / "bad")]
    ok = all(clean_refusal(r, n) for r, n in zip(rs, ("does not exist", "is a file", "cannot be read")))
    return Outcome("; ".join(last_error(r).split(": ", 1)[1][:60] for r in rs), ok,
                   "yes" if not (work / "missing").exists() and len(list((work / "bad").iterdir())) == 1 else "no")


@case("bad values: seed=1.5, seed=-1, stepz=10, algo.lr=abc, algo.hidden=abc, env.eval_env=NoSuchEnv-v0 / CartPole-v1",
      "exit 2, one line naming the value; no run directory left")
def _(work: Path, env: dict) -> Outcome:
    cases = [("seed=1.5", "seed must be an integer"), ("seed=-1", "seed must be a non-negative"),
             ("stepz=10", "unknown setting 'stepz'"), ("algo.lr=abc", "algo.lr must be a number"),
             ("algo.hidden=abc", "algo.hidden must be a list"), ("env.eval_env=NoSuchEnv-v0", "NoSuchEnv-v0"),
             ("env.eval_env=CartPole-v1", "Discrete(2)")]
    bad = []
    for arg, needle in cases:
        r = cli("orl.run", "algo=bc", "env=pendulum-scripted", arg, cwd=work, env=env)
        if not clean_refusal(r, needle):
            bad.append(f"{arg}: {last_error(r)}")
    left = (work / "runs").exists()
    return Outcome(f"{len(cases) - len(bad)}/{len(cases)} refused cleanly" + (f"; {bad[0]}" if bad else ""),
                   not bad and not left, "yes" if not left else "no: run directories left")


@case("full disk during training (300 KiB tmpfs)", "exit 2, one line naming the file; the last checkpoint whole")
def _(work: Path, env: dict) -> Outcome:
    with tmpfs(work / "disk", "300k") as disk:
        if disk is None:
            return Outcome("skipped: cannot mount a tmpfs here", True, "n/a")
        r = cli("orl.run", *BC, "steps=3000", "eval_every=200", f"out_root={disk}", cwd=work, env=env)
        run_dir = next((disk / "bc" / "pendulum-scripted").iterdir())
        try:
            intact = f"yes (checkpoint at step {step_of(run_dir)} loads)"
        except Exception as e:  # noqa: BLE001
            intact = f"no: {e}"
        return Outcome(last_error(r), clean_refusal(r, "No space left on device"), intact)


@case("read-only out_root (read-only tmpfs)", "exit 2 naming out_root, before anything is written")
def _(work: Path, env: dict) -> Outcome:
    with tmpfs(work / "ro", "1m", readonly=True) as ro:
        if ro is None:
            return Outcome("skipped: cannot mount a tmpfs here", True, "n/a")
        r = cli("orl.run", *BC, f"out_root={ro / 'runs'}", cwd=work, env=env)
        return Outcome(last_error(r), clean_refusal(r, "is not a writable directory"), "n/a")


# ------------------------------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="run only the cases whose name contains this")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="orl-faults-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "ORL_DATA_DIR": str(tmp / "data"), "PYTHONUNBUFFERED": "1"}
        for i, (name, expected, fn) in enumerate(c for c in CASES if args.k in c[0]):
            work = tmp / f"case{i}"
            work.mkdir()
            t0 = time.time()
            try:
                out = fn(work, env)
            except Exception as e:  # noqa: BLE001 - a case that crashes is a failed case, reported
                out = Outcome(f"the case itself failed: {type(e).__name__}: {e}"[:200], False, "?")
            out.observed = out.observed.replace(str(tmp), "<tmp>")
            rows.append((name, expected, out))
            print(f"[{'ok' if out.ok else 'FAIL'}] {name} ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    print("| case | expected | observed | nothing lost | |")
    print("|---|---|---|---|---|")
    for name, expected, out in rows:
        cell = out.observed.replace("|", "\\|")
        print(f"| {name} | {expected} | {cell} | {out.nothing_lost} | {'ok' if out.ok else '**FAIL**'} |")
    failed = sum(not o.ok for _, _, o in rows)
    print(f"\n{len(rows) - failed} of {len(rows)} cases as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
