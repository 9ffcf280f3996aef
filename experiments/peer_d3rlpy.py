"""Peer cross-check (issue 16): orl's and d3rlpy's TD3+BC and IQL on the same data at the same budget.

    # d3rlpy lives in its own venv (2.8.1 pins gymnasium 1.0.0; it is never an orl dependency)
    python3 -m venv /work/venv-d3rlpy && /work/venv-d3rlpy/bin/pip install torch==2.13.0 \\
        && /work/venv-d3rlpy/bin/pip install d3rlpy==2.8.1 h5py imageio mujoco==3.4.0
    # run every point (resumable; finished points are skipped), one at a time on one core
    OMP_NUM_THREADS=1 nice -n 5 python experiments/peer_d3rlpy.py --steps 20000 \\
        --d3rlpy-python /work/venv-d3rlpy/bin/python --data-dir /work/peer-data
    # the tables of what is finished (Markdown) and the orl - d3rlpy tests
    python experiments/peer_d3rlpy.py --report

Each dataset is exported once with ``orl.data.io.save_hdf5`` to ``DATA_DIR/<dataset>.hdf5`` (the D4RL layout,
every episode end flagged), and *both* libraries read that file: orl with ``orl.data.load_dataset(path)``,
d3rlpy (``experiments/peer_d3rlpy_worker.py``, run with ``--d3rlpy-python``) into an ``MDPDataset``.

orl trains with ``orl.train.offline.train_offline`` and the per-dataset settings of
``orl/conf/tuned/<algo>/<dataset>.yaml`` (as ``experiments/offline_results.py`` applies them), one torch thread;
d3rlpy with the matched settings of ``peer_d3rlpy_worker.settings``. Both evaluate every ``--eval-every`` updates
with the same protocol: ``--eval-episodes`` Hopper-v5 episodes with resets seeded ``(seed + 100) * 1e6 + k``,
deterministic actions, normalised with orl's reference scores (its own random and expert policies, from the
dataset's metadata; not D4RL's).

A point (library, algorithm, dataset, seed) runs in ``WORK/<library>/<dataset>/<algo>/<updates>/seed<k>/`` and resumes from
its last evaluation's checkpoint; when it ends, its evaluations are appended atomically to
``experiments/results/peer_d3rlpy.csv`` (one row per evaluation, with the budget ``updates``), and the point is
skipped on the next call.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))
from offline_results import tuned  # noqa: E402  the per-dataset settings, applied as the results tables do

from orl.utils.atomic import write_csv  # noqa: E402

LIBRARIES = ("orl", "d3rlpy")
ALGOS = ("td3bc", "iql")
DATASETS = ("hopper-medium", "hopper-random-expert-5")
RESULTS = ROOT / "experiments" / "results" / "peer_d3rlpy.csv"
WORKER = ROOT / "experiments" / "peer_d3rlpy_worker.py"
FIELDS = ["library", "algo", "dataset", "seed", "updates", "step", "score_mean", "score_std", "return_mean",
          "eval_episodes", "seconds", "date", "version"]


def export(dataset: str, data_dir: Path) -> Path:
    """``DATA_DIR/<dataset>.hdf5``, written with ``save_hdf5`` from orl's registered dataset when missing."""
    from orl.data import load_dataset, save_hdf5

    path = data_dir / f"{dataset}.hdf5"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        print(f"exporting {dataset} -> {path} (built first if it is not cached)", flush=True)
        save_hdf5(load_dataset(dataset), path)
    return path


_BUFFERS: dict[Path, object] = {}


def run_orl(algo: str, dataset: str, seed: int, data: Path, out: Path, a) -> tuple[list[dict], str]:
    import orl
    from orl.data import load_dataset
    from orl.train.offline import TrainConfig, train_offline

    if data not in _BUFFERS:
        _BUFFERS.clear()  # one dataset in memory at a time
        _BUFFERS[data] = load_dataset(str(data))
    buffer = _BUFFERS[data]
    cfg = TrainConfig(steps=a.steps, seed=seed, eval_every=a.eval_every, eval_episodes=a.eval_episodes, threads=1)
    train_offline(algo, buffer, buffer.metadata["env_id"], out, cfg, tuned(algo, dataset),
                  resume=(out / "checkpoint.pt").exists(), progress=False)
    return list(csv.DictReader(open(out / "eval.csv"))), f"orl {getattr(orl, '__version__', '?')}"


def run_d3rlpy(algo: str, dataset: str, seed: int, data: Path, out: Path, a) -> tuple[list[dict], str]:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [a.d3rlpy_python, str(WORKER), "--data", str(data), "--algo", algo, "--seed", str(seed),
           "--steps", str(a.steps), "--eval-every", str(a.eval_every), "--eval-episodes", str(a.eval_episodes),
           "--tuned", json.dumps(tuned(algo, dataset)), "--out", str(out)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # nothing of orl on the peer's path
    env["OMP_NUM_THREADS"] = "1"
    with open(out / "worker.log", "a") as log:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"d3rlpy worker failed (exit {proc.returncode}); see {out / 'worker.log'}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return list(csv.DictReader(open(out / "eval.csv"))), f"d3rlpy {summary['d3rlpy']}"


def read_rows(path: Path = RESULTS) -> list[dict]:
    return list(csv.DictReader(open(path))) if path.exists() else []


def finished(rows: list[dict], steps: int) -> set[tuple]:
    return {(r["library"], r["algo"], r["dataset"], int(r["seed"])) for r in rows
            if int(r["updates"]) == steps and int(r["step"]) == steps}


def _welch(x: np.ndarray, y: np.ndarray) -> str:
    from scipy import stats

    if len(x) < 2 or len(y) < 2:
        return "n < 2"
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(0.95)
    return f"{x.mean() - y.mean():+.1f} [{ci.low:+.1f}, {ci.high:+.1f}], t = {res.statistic:.2f}, p = {res.pvalue:.2f}"


def report(rows: list[dict], steps: int | None = None) -> str:
    """Markdown: mean ± std over seeds at every evaluation, then orl - d3rlpy at the final one and over the
    last three evaluations (Welch's t-test, n = seeds per side)."""
    if steps is None:
        steps = max(int(r["updates"]) for r in rows)
    rows = [r for r in rows if int(r["updates"]) == steps]
    evals = sorted({int(r["step"]) for r in rows})
    groups: dict[tuple, dict[int, dict[int, float]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["algo"], r["library"]), {}).setdefault(int(r["seed"]), {})[int(r["step"])] = \
            float(r["score_mean"])
    head = "| dataset | algorithm | library | seeds | " + " | ".join(f"{s / 1000:g}k" for s in evals) + " |"
    lines = [f"Normalised score (orl's references), mean ± sample std (ddof 1) over seeds, at {steps} updates per run:", "",
             head, "|" + "---|" * (4 + len(evals))]
    for (d, al, lib), seeds in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] != "orl")):
        cells = []
        for s in evals:
            v = np.array([seeds[k][s] for k in seeds if s in seeds[k]])
            cells.append(f"{v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0:.1f}" if len(v) else "—")
        lines.append(f"| {d} | {al} | {lib} | {len(seeds)} | " + " | ".join(cells) + " |")
    lines += ["", "orl - d3rlpy per seed, at the final evaluation and averaged over the last three; the difference of the "
              "means with Welch's 95% confidence interval and t-test (n = seeds per library):", "",
              "| dataset | algorithm | final: orl | final: d3rlpy | final: orl - d3rlpy | last 3 evals: orl | "
              "last 3 evals: d3rlpy | last 3: orl - d3rlpy |", "|---|---|---|---|---|---|---|---|"]
    for d, al in sorted({(k[0], k[1]) for k in groups}):
        if (d, al, "orl") not in groups or (d, al, "d3rlpy") not in groups:
            continue
        fin, last3 = {}, {}
        for lib in LIBRARIES:
            seeds = groups[(d, al, lib)]
            done = [k for k in sorted(seeds) if steps in seeds[k]]
            fin[lib] = np.array([seeds[k][steps] for k in done])
            last3[lib] = np.array([np.mean([seeds[k][s] for s in evals[-3:]]) for k in done])
        fmt = lambda v: "—" if not len(v) else ", ".join(f"{x:.1f}" for x in v)  # noqa: E731
        lines.append(f"| {d} | {al} | {fmt(fin['orl'])} | {fmt(fin['d3rlpy'])} | {_welch(fin['orl'], fin['d3rlpy'])} | "
                     f"{fmt(last3['orl'])} | {fmt(last3['d3rlpy'])} | {_welch(last3['orl'], last3['d3rlpy'])} |")
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=20000, help="updates per run, the same for every point")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--algos", nargs="*", choices=ALGOS, default=list(ALGOS))
    p.add_argument("--datasets", nargs="*", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--libraries", nargs="*", choices=LIBRARIES, default=list(LIBRARIES))
    p.add_argument("--eval-every", type=int, default=2500)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ORL_DATA_DIR", Path.home() / ".orl")) / "peer",
                   help="where the exported HDF5 files are (written there when missing); never the repository")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "peer-d3rlpy", help="run directories (git-ignored)")
    p.add_argument("--d3rlpy-python", help="the python of the venv with d3rlpy 2.8.1 (needed unless --libraries orl)")
    p.add_argument("--results", type=Path, default=RESULTS, help="the CSV the finished points are appended to")
    p.add_argument("--report", action="store_true", help="only print the tables of what is finished")
    a = p.parse_args(argv)
    for name in ("steps", "eval_every", "eval_episodes"):
        if getattr(a, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {getattr(a, name)}")
    if not a.report and "d3rlpy" in a.libraries:
        if not a.d3rlpy_python:
            p.error("--d3rlpy-python is required to run d3rlpy's points (or pass --libraries orl)")
        if not (Path(a.d3rlpy_python).is_file() and os.access(a.d3rlpy_python, os.X_OK)):
            p.error(f"--d3rlpy-python {a.d3rlpy_python}: not an executable file")
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    rows = read_rows(a.results)
    if a.report:
        print(report(rows) if rows else f"no finished points in {a.results}")
        return 0
    import torch

    torch.set_num_threads(1)
    done = finished(rows, a.steps)
    # the open question first: TD3+BC on hopper-medium, libraries alternating seed by seed
    todo = [(lib, al, d, s) for al, d, s, lib in itertools.product(a.algos, a.datasets, a.seeds, a.libraries)
            if (lib, al, d, s) not in done]
    todo.sort(key=lambda pt: (pt[1] != "td3bc" or pt[2] != "hopper-medium", pt[2] != "hopper-medium", pt[1], pt[3]))
    print(f"{len(todo)} points to run ({len(done)} done) at {a.steps} updates each", flush=True)
    for lib, al, d, s in todo:
        data = export(d, a.data_dir)
        out = a.work / lib / d / al / f"{a.steps}" / f"seed{s}"
        t0 = time.time()
        evals, version = (run_orl if lib == "orl" else run_d3rlpy)(al, d, s, data, out, a)
        seconds = time.time() - t0
        date = dt.date.today().isoformat()
        new = [{"library": lib, "algo": al, "dataset": d, "seed": s, "updates": a.steps, "step": int(r["step"]),
                "score_mean": f"{float(r['score_mean']):.2f}", "score_std": f"{float(r['score_std']):.2f}",
                "return_mean": f"{float(r['return_mean']):.1f}", "eval_episodes": a.eval_episodes,
                "seconds": f"{seconds:.0f}", "date": date, "version": version} for r in evals]
        rows = [r for r in read_rows(a.results) if (r["library"], r["algo"], r["dataset"], int(r["seed"]), int(r["updates"]))
                != (lib, al, d, s, a.steps)] + new
        a.results.parent.mkdir(parents=True, exist_ok=True)
        write_csv(a.results, rows, FIELDS)
        print(f"{lib} {al} {d} seed {s}: final {new[-1]['score_mean']} ({seconds:.0f} s) "
              f"[{' '.join(r['score_mean'] for r in new)}]", flush=True)
    print(report(read_rows(a.results), a.steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
