"""Choose and ship the behaviour policies of one SAC run (``experiments/train_behaviour.py``).

From the run's ``evals.csv`` (10 stochastic episodes per 10k-step checkpoint):

- **expert** = the checkpoint with the best evaluation (D4RL: the final/best SAC policy);
- **medium** = of the checkpoints up to the first one that reaches a third of the expert's
  evaluation, the one closest to that third, the earliest on ties (D4RL: "a policy trained to
  approximately 1/3 the performance of the expert"). Not simply the first one at or above a third:
  learning curves jump (Hopper went from 961 to 2787 between two checkpoints), so that one can be
  nearly an expert; and not any checkpoint close to a third: a later one may be an expert's
  temporary collapse (Hopper's 170k: 1029, between 3119 and 3186), not a policy partway trained;
- **replay** = up to ``--max-replay`` kept actor snapshots (every checkpoint and every
  ``--snapshot-every`` steps between) from the start to the medium checkpoint, evenly spread, for
  ``<env>-medium-replay``.

Each chosen actor, and the uniform-random policy, is then evaluated over 100 episodes with
stochastic actions (how the datasets are collected); those means are orl's reference scores
(``ref_min_score`` = random, ``ref_max_score`` = expert, the Minari convention). The actors are
copied into ``orl/data/policies/<env>/`` with a ``manifest.json`` (environment, library
versions, training steps, seed, selection, evaluation mean and std)::

    python experiments/export_behaviour.py --env hopper [--run ~/.orl/behaviour/Hopper-v5/seed0]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.data.behaviour import TanhGaussianPolicy  # noqa: E402
from orl.data.collect import evaluate  # noqa: E402
from orl.data.locomotion import ENVS, POLICY_DIR  # noqa: E402
from orl.data.registry import data_dir  # noqa: E402
from orl.utils.atomic import atomic_dir  # noqa: E402


def select(rows: list[dict], snapshot_steps: list[int], max_replay: int, learning_starts: int = 0,
           medium_rows: list[dict] | None = None) -> tuple[dict, dict, list[int]]:
    """(expert row, medium row, replay snapshot steps) from the evaluation log and the kept snapshots.

    Snapshots taken during SB3's random warm-up (before ``learning_starts``) are not replay policies:
    the warm-up's own uniform-random actions stand for those steps. With ``medium_rows`` (another
    run's evaluation log) the medium policy comes from that run, whose snapshots ``snapshot_steps``
    then are; the expert, and so the target of a third, from ``rows``."""
    rows = sorted(rows, key=lambda r: int(r["step"]))
    expert = max(rows, key=lambda r: float(r["stoch_mean"]))
    target = float(expert["stoch_mean"]) / 3.0
    rows = rows if medium_rows is None else sorted(medium_rows, key=lambda r: int(r["step"]))
    first = next((r for r in rows if float(r["stoch_mean"]) >= target), None)
    if first is None:
        raise SystemExit(f"no checkpoint of the medium run reaches a third of the expert's evaluation ({target:.0f}); "
                         f"its best is {max(float(r['stoch_mean']) for r in rows):.0f}: train it longer")
    candidates = [r for r in rows if int(r["step"]) <= int(first["step"])]
    medium = min(candidates, key=lambda r: (abs(float(r["stoch_mean"]) - target), int(r["step"])))
    before = sorted(s for s in snapshot_steps if learning_starts <= s <= int(medium["step"]))
    if len(before) > max_replay:  # evenly spread, always keeping the first and the medium one
        keep = np.unique(np.linspace(0, len(before) - 1, max_replay).round().astype(int))
        before = [before[i] for i in keep]
    return expert, medium, before


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, choices=sorted(ENVS))
    p.add_argument("--run", type=Path, help="run directory (default: $ORL_DATA_DIR/behaviour/<Env>/seed0)")
    p.add_argument("--medium-run", type=Path,
                   help="take medium and medium-replay from this run instead (a run from step 0 with snapshots every "
                        "2k steps, where --run kept too few before its medium checkpoint)")
    p.add_argument("--max-replay", type=int, default=20)
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--out", type=Path, default=POLICY_DIR)
    args = p.parse_args()
    env_id = ENVS[args.env]
    run = args.run or data_dir() / "behaviour" / env_id / "seed0"
    with open(run / "evals.csv") as f:
        rows = list(csv.DictReader(f))
    run_manifest = json.loads((run / "manifest.json").read_text())
    mrun = args.medium_run or run  # medium and replay snapshots
    medium_manifest, medium_rows = run_manifest, None
    if args.medium_run is not None:
        medium_manifest = json.loads((mrun / "manifest.json").read_text())
        with open(mrun / "evals.csv") as f:
            medium_rows = list(csv.DictReader(f))
    steps = [int(f.stem.split("_")[1]) for f in (mrun / "snapshots").glob("step_*.npz")]
    learning_starts = medium_manifest.get("learning_starts", 10_000)
    expert, medium, replay = select(rows, steps, args.max_replay, learning_starts, medium_rows)
    snap = lambda r, d=run: d / "snapshots" / f"step_{int(r['step']):07d}.npz"  # noqa: E731

    def score(policy: TanhGaussianPolicy | None, seed: int) -> dict:
        r = evaluate(env_id, policy, args.episodes, seed=seed)
        return {"mean": float(r.mean()), "std": float(r.std()), "episodes": args.episodes}

    reference = {"random": score(None, 1), "expert": score(TanhGaussianPolicy.load(snap(expert)), 2)}
    medium_eval = score(TanhGaussianPolicy.load(snap(medium, mrun)), 3)
    print(f"{env_id}: expert step {expert['step']} ({reference['expert']['mean']:.0f} ± {reference['expert']['std']:.0f}), "
          f"medium step {medium['step']} ({medium_eval['mean']:.0f} ± {medium_eval['std']:.0f}), "
          f"random {reference['random']['mean']:.0f}; {len(replay)} replay snapshots")
    manifest = {
        "env_id": env_id,
        "algorithm": run_manifest.get("algorithm"),
        "seed": run_manifest.get("seed"),
        "versions": run_manifest.get("versions"),  # of the training run
        # of these 100-episode evaluations (the reference scores): the physics may differ from training's
        "evaluation_versions": {m: __import__(m).__version__ for m in ("gymnasium", "mujoco", "numpy")},
        "segments": run_manifest.get("segments", []),
        "training": {"steps_trained": max(int(r["step"]) for r in rows), "checkpoint_every": 10_000,
                     "selection_eval": "10 stochastic episodes per checkpoint"},
        "expert": {"file": "expert", "step": int(expert["step"]), "eval": reference["expert"]},
        "medium": {"file": "medium", "step": int(medium["step"]), "eval": medium_eval,
                   "rule": "up to the first checkpoint reaching expert / 3, the one closest to expert / 3 (earliest on ties)",
                   "seed": medium_manifest.get("seed"), "versions": medium_manifest.get("versions")},
        "reference": reference,
        "replay": {"learning_starts": learning_starts, "medium_step": int(medium["step"]), "seed": medium_manifest.get("seed"),
                   "snapshots": [{"file": f"replay_{step:07d}", "step": step} for step in replay]},
    }
    with atomic_dir(args.out / args.env) as tmp:
        shutil.copy(snap(expert), tmp / "expert.npz")
        shutil.copy(snap(medium, mrun), tmp / "medium.npz")
        for step in replay:
            shutil.copy(mrun / "snapshots" / f"step_{step:07d}.npz", tmp / f"replay_{step:07d}.npz")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {args.out / args.env}")


if __name__ == "__main__":
    main()
