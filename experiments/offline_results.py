"""The offline results tables: algorithms x datasets x seeds (x samplers) at a declared budget.

    # the main table: TD3+BC, IQL, A2PR on the medium datasets, 3 seeds
    python experiments/offline_results.py --table main --steps 200000 --jobs 2
    # Hong et al.'s reweighting on the random-expert-5 mixtures: uniform vs aw vs rw
    python experiments/offline_results.py --table reweighting --steps 200000 --jobs 2
    # print the Markdown tables of what is finished (for docs/)
    python experiments/offline_results.py --table main --report

The points (dataset, algorithm, sampler, seed) of one algorithm and environment train together
as one population (``orl.train.offline.train_population``: each member learns what it would alone) —
the per-dataset paper settings of ``orl/conf/tuned/<algo>/<dataset>.yaml`` applied per member, as
``python -m orl.run`` does, and its own sampler — in ``runs/offline-results/<table>/<env>/<algo>/<steps>-<id>/``,
resuming from its checkpoint when interrupted; finished points are appended atomically to
``experiments/results/offline_<table>.csv`` (last and best normalised score, on orl's references) and
skipped on the next call. ``--jobs`` populations run in parallel, one process with one torch thread each.

The papers train 1M updates; the budget used here (``--steps``) is written in every row and must be
stated with the table. Normalised scores use orl's reference scores (its own random and expert
policies), so they are not D4RL numbers.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from orl.utils.atomic import write_csv  # noqa: E402

ENVS = ("hopper", "halfcheetah", "walker2d")
TABLES = {
    "main": {"datasets": [f"{e}-{d}" for e in ENVS for d in ("medium", "medium-replay", "medium-expert")],
             "algos": ("td3bc", "iql", "a2pr"), "samplers": ("uniform",)},
    "reweighting": {"datasets": [f"{e}-random-expert-5" for e in ENVS], "algos": ("td3bc", "iql"),
                    "samplers": ("uniform", "aw", "rw")},
}
# seconds: wall time of the member's whole population; members: its size (the points trained together)
FIELDS = ["dataset", "algo", "sampler", "seed", "steps", "last", "best", "eval_episodes", "seconds", "device",
          "members", "date"]


def tuned(algo: str, dataset: str) -> dict:
    path = ROOT / "orl" / "conf" / "tuned" / algo / f"{dataset}.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def populations(points: list[tuple[str, str, str, int]]) -> list[list[tuple[str, str, str, int]]]:
    """Group the points into populations (``orl.train.offline.train_population``): one per algorithm
    and environment (datasets of one environment share shapes; each member has its own sampler), split
    further where the tuned settings differ in a field that shapes the networks (IQL's ``deterministic_actor`` on two datasets):
    members may differ only in the algorithm's ``member_fields``."""
    from orl.algos import algorithm_class

    groups: dict[tuple, list] = {}
    for pt in points:
        dataset, algo, sampler, _ = pt
        fixed = algorithm_class(algo).member_fields
        shape = tuple(sorted((k, str(v)) for k, v in tuned(algo, dataset).items() if k not in fixed))
        groups.setdefault((algo, dataset.split("-")[0], shape), []).append(pt)  # samplers are per member
    return list(groups.values())


def run_population(points: list[tuple[str, str, str, int]], steps: int, eval_every: int, eval_episodes: int,
                   work: str, device: str = "cpu") -> list[dict]:
    """Train the points of one population together; returns their rows. The run directory is named by
    the members, so a call with the same unfinished points resumes it."""
    import hashlib

    from orl.data import load_dataset
    from orl.train.offline import Member, TrainConfig, train_population

    algo = points[0][1]
    names = [f"{d}/{sampler}/seed{seed}" for d, _, sampler, seed in points]
    tag = hashlib.sha1(" ".join(names).encode()).hexdigest()[:8]
    out = Path(work) / points[0][0].split("-")[0] / algo / f"{steps}-{tag}"
    data = {d: load_dataset(d) for d in sorted({pt[0] for pt in points})}
    members = [Member(data[d], seed, data[d].metadata["env_id"], tuned(algo, d), name, sampler=sampler)
               for (d, _, sampler, seed), name in zip(points, names)]
    cfg = TrainConfig(steps=steps, eval_every=eval_every, eval_episodes=eval_episodes, threads=1, device=device)
    t0 = time.time()
    res = train_population(algo, members, out, cfg, resume=(out / "checkpoint.pt").exists(), progress=False)
    seconds = time.time() - t0
    return [{"dataset": d, "algo": algo, "sampler": sampler, "seed": seed, "steps": steps,
             "last": f"{m['last']:.2f}", "best": f"{m['best']:.2f}", "eval_episodes": eval_episodes,
             "seconds": f"{seconds:.0f}", "device": device, "members": len(points), "date": time.strftime("%Y-%m-%d")}
            for (d, _, sampler, seed), m in zip(points, res["members"])]


def report(rows: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["algo"], r["sampler"]), []).append(r)
    lines = ["| dataset | algorithm | sampler | seeds | updates | last (mean ± std) | best (mean ± std) |",
             "|---|---|---|---|---|---|---|"]
    for (d, a, s), rs in sorted(groups.items()):
        last = np.array([float(r["last"]) for r in rs])
        best = np.array([float(r["best"]) for r in rs])
        steps = ",".join(sorted({str(r["steps"]) for r in rs}))
        lines.append(f"| {d} | {a} | {s} | {len(rs)} | {steps} | {last.mean():.1f} ± {last.std():.1f} | "
                     f"{best.mean():.1f} ± {best.std():.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--table", choices=sorted(TABLES), required=True)
    p.add_argument("--steps", type=int, default=200_000, help="updates per run (the papers: 1M)")
    p.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--datasets", nargs="*", help="restrict to these datasets")
    p.add_argument("--algos", nargs="*", help="restrict to these algorithms")
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--work", default="runs/offline-results")
    p.add_argument("--device", default="cpu", help="cpu or cuda (all --jobs processes share the GPU)")
    p.add_argument("--report", action="store_true", help="only print the table of finished points")
    a = p.parse_args(argv)
    spec = TABLES[a.table]
    out = ROOT / "experiments" / "results" / f"offline_{a.table}.csv"
    rows = list(csv.DictReader(open(out))) if out.exists() else []
    if a.report:
        print(report(rows) if rows else f"no finished points in {out}")
        return 0
    done = {(r["dataset"], r["algo"], r["sampler"], int(r["seed"]), int(r["steps"])) for r in rows}
    datasets = [d for d in spec["datasets"] if not a.datasets or d in a.datasets]
    algos = [x for x in spec["algos"] if not a.algos or x in a.algos]
    todo = [pt for pt in itertools.product(datasets, algos, spec["samplers"], a.seeds) if (*pt, a.steps) not in done]
    groups = populations(todo)
    print(f"{len(todo)} points to run ({len(done)} done) at {a.steps} updates each, as {len(groups)} population(s)")
    with ProcessPoolExecutor(a.jobs) as pool:
        futures = [pool.submit(run_population, g, a.steps, a.eval_every, a.eval_episodes, f"{a.work}/{a.table}",
                               a.device) for g in groups]
        for fut in futures:
            for row in fut.result():
                rows.append(row)
                print(f"{row['dataset']} {row['algo']} {row['sampler']} seed {row['seed']}: last {row['last']}, "
                      f"best {row['best']} ({row['seconds']} s for its population of {row['members']})", flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            write_csv(out, rows, FIELDS)
    print(report(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
