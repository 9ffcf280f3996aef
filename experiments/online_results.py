"""The MuJoCo table of issue 17: PPO, PPO-Buffer (b = 2) and PROPS (b = 2) on Hopper-v5, Walker2d-v5 and
HalfCheetah-v5 (Corrado & Hanna, "On-Policy Policy Gradient RL without On-Policy Sampling", arXiv 2311.08290).

    # the grid at a declared budget (environment steps per run), 5 seeds, one process on one thread
    OMP_NUM_THREADS=1 python experiments/online_results.py --steps 100000
    # only rewrite the CSVs from the finished runs (figures: python -m orl.plot results)
    python experiments/online_results.py --steps 100000 --report

Settings. Each algorithm runs with the settings of the paper's own runs, read off the config.yml files of the
official code's logged results (``NicholasCorrado/PPOROS``, ``PROPS/plotting/neurips/data/rl/{ppo_buffer,props}``,
MuJoCo v4 there), passed explicitly by this script (``SETTINGS``) rather than through ``orl/conf/tuned/ppo/``:
a tuned file is per algorithm and environment, and PPO and PPO-Buffer are both ``algo=ppo`` with different
settings (``buffer_batches`` 1 or 2, and also a different tuned n and learning rate). PROPS uses
``orl/conf/tuned/props/<env>.yaml``. All three add PPOROS's entropy coefficient 0.01 (its default in every
logged run; orl's PPO default is CleanRL's 0.0). Everything else is orl's PPO/PROPS defaults (10 epochs,
32 minibatches, clip 0.2, GAE 0.95, LR anneal). The sampling error is measured about every 10k environment
steps (``se_every`` = 10240 // n target updates; PPOROS: every 20 updates). Runs started from 2026-11-29 on
compile their minibatch losses (``compile``: the same maths, float32 rounding apart; the ``compiled`` column).

Runs. One process, runs in the order seed -> env -> algorithm (so a cut-off leaves every cell with seeds),
through ``orl.train.online.train_online`` into ``<runs>/<env>/<algo>/<steps>/seed<k>/``: a run with a
checkpoint resumes exactly, a finished one (its ``result.json``) is skipped. The budget is part of the
directory name because ``steps`` fixes the LR anneal schedule, so a finished run cannot be extended; a
larger ``--steps`` later starts new runs beside the old ones. After every finished run the CSVs under
``experiments/results/`` are rewritten atomically from all finished runs, of every budget: those under ``--runs``
and those the CSVs already record (runs made on another machine, or whose directories are gone), which count as
finished and are not rerun; a run directory replaces its recorded rows (figures: ``python -m orl.plot results``).

Metrics. Final return: the last evaluation (``--eval-episodes`` deterministic episodes of the target policy).
AUC: the trapezoidal area under the evaluation curve (return vs environment steps, from the first evaluation
to the budget) divided by its width, i.e. the mean return over training, in return units. Both aggregated over
seeds as the IQM with a 95% percentile bootstrap interval (``orl.plot.stats``, an equivalent of rliable's).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from orl.utils.atomic import write_csv, write_json  # noqa: E402
from orl.plot.stats import iqm_ci  # noqa: E402

ENVS = ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5")
ALGOS = ("ppo", "ppo-buffer", "props")
#: PPO (b = 1) and PPO-Buffer (b = 2) as the paper ran them (PPOROS logged configs, path
#: ppo_buffer/results/<env>-v4/ppo_buffer/b_<b>/s_<n>/lr_<lr>/kl_0.03/e_10): n, learning rate, target KL 0.03.
SETTINGS = {
    ("ppo", "Hopper-v5"): {"num_steps": 2048, "lr": 1e-3},
    ("ppo", "Walker2d-v5"): {"num_steps": 4096, "lr": 1e-3},
    ("ppo", "HalfCheetah-v5"): {"num_steps": 1024, "lr": 1e-4},
    ("ppo-buffer", "Hopper-v5"): {"num_steps": 1024, "lr": 1e-4},
    ("ppo-buffer", "Walker2d-v5"): {"num_steps": 4096, "lr": 1e-3},
    ("ppo-buffer", "HalfCheetah-v5"): {"num_steps": 4096, "lr": 1e-3},
}
#: the final-return IQMs of the paper's runs (PPOROS's logged evaluations, ~50 seeds, MuJoCo v4): PPO / PPO-Buffer / PROPS
PAPER = {"Hopper-v5": (3297, 3256, 3352), "Walker2d-v5": (3590, 3854, 3913), "HalfCheetah-v5": (2005, 1841, 2617)}
PAPER_STEPS = {"Hopper-v5": 1_000_000, "Walker2d-v5": 2_000_000, "HalfCheetah-v5": 2_000_000}
RESULTS = ROOT / "experiments" / "results"
#: seconds: wall time of the call that finished the run (a resumed run counts only its last part)
#: compiled: 1 where the run's minibatch losses went through torch.compile (``PPOConfig.compile``), 0 eager
RUN_FIELDS = ["algo", "env", "seed", "steps", "final_return", "auc", "seconds", "eval_episodes", "date", "compiled",
              "eval_clipped"]
CURVE_FIELDS = ["algo", "env", "seed", "steps", "step", "return_mean", "sampling_error"]
#: se_mean: the plain mean of every sampling-error measurement of the cell (seeds have equally many)
TABLE_FIELDS = ["env", "algo", "steps", "seeds", "final_iqm", "final_lo", "final_hi", "auc_iqm", "auc_lo", "auc_hi",
                "se_mean", "paper_final", "buffer_rows"]


def settings(algo: str, env: str) -> tuple[str, dict]:
    """(orl algorithm name, its settings) of one cell of the grid."""
    if algo not in ALGOS:
        raise ValueError(f"algo={algo!r} is not one of {ALGOS}")
    if env not in ENVS:
        raise ValueError(f"env={env!r} is not one of {ENVS}")
    if algo == "props":
        s = yaml.safe_load((ROOT / "orl" / "conf" / "tuned" / "props" / f"{env}.yaml").read_text())
        s.update(buffer_batches=2)
    else:
        s = dict(SETTINGS[(algo, env)], buffer_batches=1 if algo == "ppo" else 2, target_kl=0.03)
    s["ent_coef"] = 0.01
    s["se_every"] = max(1, 10240 // s["num_steps"])
    return ("props" if algo == "props" else "ppo"), s


def rows_in_buffer(algo: str, env: str) -> int:
    """b x n: the buffer the sampling error is measured on (the error of on-policy sampling shrinks with it)."""
    s = settings(algo, env)[1]
    return s["buffer_batches"] * s["num_steps"]


def run_dir(runs: Path, algo: str, env: str, steps: int, seed: int) -> Path:
    return runs / env / algo / str(steps) / f"seed{seed}"


def run_one(runs: Path, algo: str, env: str, steps: int, seed: int, eval_every: int, eval_episodes: int) -> dict:
    """Train (or resume) one run; returns its row and writes ``result.json`` when finished."""
    from orl.train.online import ONLINE_ALGORITHMS, train_online
    from orl.utils.config import build_config

    out = run_dir(runs, algo, env, steps, seed)
    name, params = settings(algo, env)
    # Minibatch losses compiled (same maths, float32 rounding apart; ~1.2x faster per run) in runs started from
    # 2026-11-29 on; a run keeps the mode it started in (the marker file), earlier runs were eager throughout.
    marker = out / "compiled"
    params["compile"] = marker.exists() or not (out / "checkpoint.pt").exists()
    if params["compile"] and not marker.exists():
        out.mkdir(parents=True, exist_ok=True)
        marker.touch()
    config = build_config(ONLINE_ALGORITHMS[name].Config, params, name)
    t0 = time.time()
    train_online(env, out, config, steps=steps, seed=seed, eval_every=eval_every, eval_episodes=eval_episodes,
                 resume=(out / "checkpoint.pt").exists(), threads=1, progress=False, algo_name=name)
    final, auc = curve_metrics(out, steps)
    row = {"algo": algo, "env": env, "seed": seed, "steps": steps, "final_return": round(final, 2),
           "auc": round(auc, 2), "seconds": round(time.time() - t0), "eval_episodes": eval_episodes,
           "date": time.strftime("%Y-%m-%d"), "compiled": int(params["compile"]), "eval_clipped": 1}
    write_json(out / "result.json", row)
    return row


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def curve_metrics(out: Path, steps: int) -> tuple[float, float]:
    ev = read_csv(out / "eval.csv")
    x = np.array([float(r["step"]) for r in ev])
    y = np.array([float(r["return_mean"]) for r in ev])
    auc = float(np.trapezoid(y, x) / (x[-1] - x[0])) if len(x) > 1 else float(y[-1])
    return float(y[-1]), auc


def curves(runs: Path, row: dict) -> list[dict]:
    out = run_dir(runs, row["algo"], row["env"], int(row["steps"]), int(row["seed"]))
    base = {k: row[k] for k in ("algo", "env", "seed", "steps")}
    rows = [dict(base, step=r["step"], return_mean=r["return_mean"], sampling_error="")
            for r in read_csv(out / "eval.csv")]
    rows += [dict(base, step=r["step"], return_mean="", sampling_error=r["sampling_error"])
             for r in read_csv(out / "metrics.csv") if r.get("sampling_error")]
    return rows


def budgets(rows: list[dict]) -> list[int]:
    return sorted({int(r["steps"]) for r in rows})


def table(rows: list[dict], curve_rows: list[dict]) -> list[dict]:
    """One row per (env, algorithm, budget) with finished runs: a run's budget fixes its LR anneal, so runs of
    different budgets are different experiments and are never pooled."""
    out = []
    for env, steps in ((e, b) for e in ENVS for b in budgets(rows)):
        for i, algo in enumerate(ALGOS):
            rs = [r for r in rows if r["env"] == env and r["algo"] == algo and int(r["steps"]) == steps]
            if not rs:
                continue
            f = iqm_ci([float(r["final_return"]) for r in rs])
            a = iqm_ci([float(r["auc"]) for r in rs])
            se = [float(c["sampling_error"]) for c in curve_rows if c["env"] == env and c["algo"] == algo
                  and int(c["steps"]) == steps and c["sampling_error"] != ""]
            out.append({"env": env, "algo": algo, "steps": rs[0]["steps"], "seeds": len(rs),
                        "final_iqm": round(f[0], 1), "final_lo": round(f[1], 1), "final_hi": round(f[2], 1),
                        "auc_iqm": round(a[0], 1), "auc_lo": round(a[1], 1), "auc_hi": round(a[2], 1),
                        "se_mean": round(float(np.mean(se)), 5) if se else "", "paper_final": PAPER[env][i],
                        "buffer_rows": rows_in_buffer(algo, env)})
    return out


def markdown(tab: list[dict]) -> str:
    lines = ["| env | algo | seeds | env steps | final return IQM [95% CI] | AUC IQM [95% CI] | mean sampling error (buffer rows) | paper final (v4, its budget) |",
             "|---|---|---|---|---|---|---|---|"]
    for t in tab:
        lines.append(f"| {t['env']} | {t['algo']} | {t['seeds']} | {int(t['steps']):,} | {t['final_iqm']} "
                     f"[{t['final_lo']}, {t['final_hi']}] | {t['auc_iqm']} [{t['auc_lo']}, {t['auc_hi']}] | "
                     f"{t['se_mean']} ({t['buffer_rows']}) | {t['paper_final']} ({PAPER_STEPS[t['env']] // 10**6}M) |")
    return "\n".join(lines)


def all_finished(runs: Path) -> list[dict]:
    """Every finished run under ``runs``, of every budget (the CSVs keep all budgets side by side)."""
    # eval_clipped 0: finished before 2026-11-29 10:00 UTC, when the evaluation sent the Gaussian's unclipped mean
    # to the environment (charged by the control cost: a small bias on Hopper/Walker2d, a large one on HalfCheetah)
    rows = [{"compiled": 0, "eval_clipped": 0, **json.loads(p.read_text())}
            for p in sorted(runs.glob("*/*/*/seed*/result.json"))]
    return sorted(rows, key=grid_order)


def grid_order(row: dict) -> tuple[int, int, int]:
    """Budget, seed, then the grid's env -> algorithm order: the CSVs' row order."""
    cells = [(e, a) for e in ENVS for a in ALGOS]
    cell = (row["env"], row["algo"])
    return int(row["steps"]), int(row["seed"]), cells.index(cell) if cell in cells else len(cells)


def run_key(row: dict) -> tuple[str, str, int, int]:
    return row["algo"], row["env"], int(row["steps"]), int(row["seed"])


def recorded() -> tuple[list[dict], list[dict]]:
    """The runs and curve rows the committed CSVs hold: the record of runs made on other machines, or whose
    directories are gone (a new home directory), which a rewrite must keep."""
    runs_csv, curves_csv = RESULTS / "online_mujoco_runs.csv", RESULTS / "online_mujoco_curves.csv"
    if not runs_csv.exists():
        return [], []
    return read_csv(runs_csv), read_csv(curves_csv) if curves_csv.exists() else []


def write_results(runs: Path, rows: list[dict]) -> list[dict]:
    """Rewrite the CSVs and the figure from ``rows`` (the finished runs under ``runs``: :func:`all_finished`) and
    the runs recorded in the CSVs that have no finished directory there (a run directory replaces its record)."""
    per_run = {run_key(r): curves(runs, r) for r in rows}
    old_rows, old_curves = recorded()
    fresh = set(per_run)
    kept = [r for r in old_rows if run_key(r) not in fresh]
    for c in old_curves:
        if run_key(c) not in fresh:
            per_run.setdefault(run_key(c), []).append(c)
    rows = sorted(rows + kept, key=grid_order)
    if not rows:
        return []
    curve_rows = [c for r in rows for c in per_run.get(run_key(r), [])]
    tab = table(rows, curve_rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_csv(RESULTS / "online_mujoco_runs.csv", rows, RUN_FIELDS)
    write_csv(RESULTS / "online_mujoco_curves.csv", curve_rows, CURVE_FIELDS)
    write_csv(RESULTS / "online_mujoco.csv", tab, TABLE_FIELDS)
    return tab


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, required=True, help="environment steps per run (the paper: 1M Hopper, 2M others)")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4])
    p.add_argument("--envs", nargs="*", default=list(ENVS), choices=ENVS)
    p.add_argument("--algos", nargs="*", default=list(ALGOS), choices=ALGOS)
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--eval-episodes", type=int, default=5)
    p.add_argument("--runs", default=str(Path.home() / ".orl" / "runs" / "online"))
    p.add_argument("--report", action="store_true", help="only rewrite the results from finished runs")
    a = p.parse_args(argv)
    if a.steps < 4096:
        p.error(f"--steps={a.steps} is below one update of the largest n (4096)")
    runs = Path(a.runs).expanduser()
    todo = [(env, seed, algo) for seed in a.seeds for env in a.envs for algo in a.algos]

    in_csv = {run_key(r) for r in recorded()[0]}  # finished elsewhere (or their directories lost): done

    def done(env: str, seed: int, algo: str) -> bool:
        return ((run_dir(runs, algo, env, a.steps, seed) / "result.json").exists()
                or (algo, env, a.steps, seed) in in_csv)

    left = [(env, seed, algo) for env, seed, algo in todo if not done(env, seed, algo)]
    print(f"{len(left)} of {len(todo)} runs to do at {a.steps} env steps each (finished: a result.json under {runs} "
          f"or a row in {RESULTS / 'online_mujoco_runs.csv'})", flush=True)
    if not a.report:
        from tqdm import tqdm

        for env, seed, algo in tqdm(left, desc="runs"):
            row = run_one(runs, algo, env, a.steps, seed, a.eval_every, a.eval_episodes)
            tqdm.write(f"{env} {algo} seed {seed}: final {row['final_return']}, AUC {row['auc']} ({row['seconds']} s)")
            write_results(runs, all_finished(runs))
    tab = write_results(runs, all_finished(runs))
    print(markdown([t for t in tab if int(t["steps"]) == a.steps]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
