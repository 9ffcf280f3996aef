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


def default_sigint() -> None:
    """In the child: SIGINT's default action, as in a terminal (a shell starts background jobs with SIGINT
    ignored, and Python then never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(c) for c in (task / "children").read_text().split()]
                out.update(kids)
                todo.extend(kids)
    return out


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


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
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
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


# ------------------------------------------------------------------------------------------ datasets
MINARI_FILE = "minari/orl/pendulum-random-v0/data/main_data.hdf5"


def built_data(work: Path, env: dict) -> Path:
    """An ORL_DATA_DIR holding a built pendulum-random (made once per script run; cases copy it)."""
    root = work.parent / "built-data"
    if not root.exists():
        r = cli("orl.data.build", "pendulum-random", cwd=work, env={**env, "ORL_DATA_DIR": str(root)})
        assert r.returncode == 0, r.stderr[-2000:]
    return root


def start_build(name: str, work: Path, env: dict, sig: str) -> tuple[subprocess.Popen, set[int], float]:
    """Start building ``name``, wait until its workers run, send ``sig``; (process, workers, seconds to exit)."""
    proc = subprocess.Popen([PY, "-m", "orl.data.build", name], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    wait_for(lambda: bool(descendants(proc.pid)) or proc.poll() is not None, 60)
    time.sleep(4)
    workers = descendants(proc.pid)
    proc.send_signal(getattr(signal, sig))
    t0 = time.time()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(120)
    return proc, workers, time.time() - t0


@case("Ctrl-C during a dataset build (hopper-medium, 4 worker processes)",
      "exit 130 within seconds, one line, workers gone, nothing partial kept")
def _(work: Path, env: dict) -> Outcome:
    proc, workers, took = start_build("hopper-medium", work, env, "SIGINT")
    err = proc.stderr.read()
    wait_for(lambda: not any(alive(p) for p in workers), 10)
    left = [p for p in workers if alive(p)]
    partial = list((Path(env["ORL_DATA_DIR"]) / "minari").rglob("hopper-medium*/**/*.hdf5"))
    ok = proc.returncode == 130 and took < 10 and "Traceback" not in err and not left and bool(workers)
    return Outcome(f"{last_error((proc.returncode, err))} after {took:.1f} s; {len(workers)} workers, "
                   f"{len(left)} left alive", ok, "yes" if not partial else f"no: {partial[0]}")


@case("kill -9 of a dataset build (hopper-medium)", "its workers die with it; nothing loadable is left")
def _(work: Path, env: dict) -> Outcome:
    proc, workers, _ = start_build("hopper-medium", work, env, "SIGKILL")
    wait_for(lambda: not any(alive(p) for p in workers), 10)
    left = [p for p in workers if alive(p)]
    loadable = subprocess.run([PY, "-c", "from orl.data import load_dataset; load_dataset('hopper-medium', build=False)"],
                              cwd=work, env=env, capture_output=True, text=True)
    return Outcome(f"{len(workers)} workers, {len(left)} alive after the kill; load without build: "
                   f"exit {loadable.returncode}", bool(workers) and not left and loadable.returncode != 0, "n/a")


@case("kill -9 while a dataset is written, then load", "the next load removes the dead build's temporary and builds")
def _(work: Path, env: dict) -> Outcome:
    code = ("import os, signal, time, minari\n"
            "BUILD = os.getpid()\n"  # the build process itself (the Minari write runs in a forked child)
            "def killed(*a, **k):\n"
            "    os.kill(BUILD, signal.SIGKILL)\n"
            "    time.sleep(30)\n"
            "minari.create_dataset_from_buffers = killed\n"
            "from orl.data import build_dataset; build_dataset('pendulum-random')\n")
    subprocess.run([PY, "-c", code], cwd=work, env=env, capture_output=True)
    minari = Path(env["ORL_DATA_DIR"]) / "minari"
    temps = [p for p in minari.iterdir() if p.name.startswith(".")] if minari.exists() else []
    for t in temps:  # age them past the grace period that protects a build that is just starting
        for f in [t, *t.rglob("*")]:
            os.utime(f, (time.time() - 120, time.time() - 120))
    r = subprocess.run([PY, "-c", "from orl.data import load_dataset; print(len(load_dataset('pendulum-random')))"],
                       cwd=work, env=env, capture_output=True, text=True)
    gone = not any(t.exists() for t in temps)
    return Outcome(f"{len(temps)} temporary left by the kill; next load: exit {r.returncode} ({r.stdout.strip()} rows), "
                   f"temporary removed: {gone}", r.returncode == 0 and gone, "n/a")


for _how in ("truncated", "empty", "random bytes"):
    @case(f"{_how} Minari cache file, then load and build", "one line naming the file; build rebuilds it")
    def _(work: Path, env: dict, how: str = _how) -> Outcome:
        import shutil

        root = work / "data"
        shutil.copytree(built_data(work, env), root)
        f = root / MINARI_FILE
        data = f.read_bytes()
        f.write_bytes({"truncated": data[: len(data) // 3], "empty": b"", "random bytes": os.urandom(100_000)}[how])
        e = {**env, "ORL_DATA_DIR": str(root)}
        d = cli("orl.diagnose", "pendulum-random", cwd=work, env=e)
        b = cli("orl.data.build", "pendulum-random", cwd=work, env=e)
        again = cli("orl.diagnose", "pendulum-random", cwd=work, env=e)
        ok = "Traceback" not in d.stderr + b.stderr and b.returncode == 0 and again.returncode == 0
        return Outcome(f"diagnose: exit {d.returncode}, {d.stderr.strip().splitlines()[0][:90] if d.stderr.strip() else ''}; "
                       f"build: exit {b.returncode}; diagnose after: exit {again.returncode}", ok, "n/a (a cache)")


@case("damaged D4RL HDF5 file given by path", "exit 2, one line naming the file")
def _(work: Path, env: dict) -> Outcome:
    r0 = subprocess.run([PY, "-c", "import sys; from orl.data import load_dataset, save_hdf5; "
                         "save_hdf5(load_dataset('pendulum-random'), sys.argv[1])", str(work / "d.hdf5")],
                        cwd=work, env={**env, "ORL_DATA_DIR": str(built_data(work, env))}, capture_output=True, text=True)
    assert r0.returncode == 0, r0.stderr[-2000:]
    data = (work / "d.hdf5").read_bytes()
    (work / "d.hdf5").write_bytes(data[: len(data) // 2])
    before = snapshot(work)
    r = cli("orl.run", "algo=bc", f"env={work / 'd.hdf5'}", "env.eval_env=Pendulum-v1", cwd=work, env=env)
    return Outcome(last_error(r), r.returncode == 2 and "Traceback" not in r.stderr and "d.hdf5" in r.stderr,
                   "yes" if snapshot(work) == before else "no: files changed")


@case("full disk during a dataset build (1 MiB tmpfs ORL_DATA_DIR)", "exit 2, one line; the partial build removed")
def _(work: Path, env: dict) -> Outcome:
    with tmpfs(work / "disk", "1m") as disk:
        if disk is None:
            return Outcome("skipped: cannot mount a tmpfs here", True, "n/a")
        r = cli("orl.data.build", "pendulum-random", cwd=work, env={**env, "ORL_DATA_DIR": str(disk / "orl")})
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        left = [p for p in (disk / "orl" / "minari").rglob("*")] if (disk / "orl" / "minari").exists() else []
        return Outcome(last_error(r) + f"; {len(lines)} line(s) on stderr", r.returncode == 2 and len(lines) == 1,
                       "yes (nothing partial left)" if not [p for p in left if p.is_file()] else f"no: {left[0]}")


@case("ORL_DATA_DIR is a file / read-only (read-only tmpfs)", "exit 2, one line naming it")
def _(work: Path, env: dict) -> Outcome:
    (work / "a-file").write_text("x")
    r1 = cli("orl.data.build", "pendulum-random", cwd=work, env={**env, "ORL_DATA_DIR": str(work / "a-file")})
    with tmpfs(work / "ro", "1m", readonly=True) as ro:
        r2 = cli("orl.data.build", "pendulum-random", cwd=work,
                 env={**env, "ORL_DATA_DIR": str(ro / "orl")}) if ro is not None else None
    ok = r1.returncode == 2 and "Traceback" not in r1.stderr and (r2 is None or (r2.returncode == 2 and "Traceback" not in r2.stderr))
    return Outcome(last_error(r1) + (f"; read-only: {last_error(r2)}" if r2 else "; read-only: skipped (no mount)"),
                   ok, "yes" if (work / "a-file").read_text() == "x" else "no")


@case("python -m orl.diagnose ... | head -1", "the first line, no BrokenPipeError traceback")
def _(work: Path, env: dict) -> Outcome:
    e = {**env, "ORL_DATA_DIR": str(built_data(work, env))}
    r = subprocess.run(f"{PY} -m orl.diagnose pendulum-random | head -1", shell=True, cwd=work, env=e,
                       capture_output=True, text=True)
    return Outcome(f"stdout {r.stdout.strip()[:50]!r}; stderr {r.stderr.strip()[:60]!r}",
                   bool(r.stdout.strip()) and "Traceback" not in r.stderr, "n/a")


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
        name = name.replace("|", "\\|")
        print(f"| {name} | {expected} | {cell} | {out.nothing_lost} | {'ok' if out.ok else '**FAIL**'} |")
    failed = sum(not o.ok for _, _, o in rows)
    print(f"\n{len(rows) - failed} of {len(rows)} cases as expected")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
