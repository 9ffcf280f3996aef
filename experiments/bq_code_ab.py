"""A/B of BQ-NCO's code-following changes (issue 24) at one small, equal training budget.

    python experiments/bq_code_ab.py --change op_early_end --problem op --size 50
    python experiments/bq_code_ab.py --change kp_targets --problem kp --size 100
    python experiments/bq_code_ab.py --change scale_attention --problem cvrp --size 50
    python experiments/bq_code_ab.py --change grad_clip --problem cvrp --size 50

Each arm trains :class:`orl.algos.structured.bq.BQPolicy` for ``--steps`` minibatches from the
same initial weights (``--seeds``), the same solved training instances and the same minibatch
stream (the KP soft-target arm draws one extra random permutation per batch), then reports the
greedy gap to the reference solver on the same seeded test instances. Only the flag under test
differs: its value in orl before issue 24 ("orl") against the official code's ("code").

Rows are appended to ``experiments/results/bq_code_ab.csv`` (atomically; an arm already in the
file with the same budget is skipped, so an interrupted sweep resumes).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.algos.structured.bq import BQConfig  # noqa: E402
from orl.data.routing import solved_set  # noqa: E402
from orl.train.bq import train_bq  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402

#: flag -> (orl's value before issue 24, the official code's value)
ARMS = {"op_early_end": (True, False), "kp_targets": ("expert", "soft"), "scale_attention": (True, False),
        "grad_clip": (1.0, 0.0)}
FIELDS = ["change", "problem", "size", "arm", "value", "seed", "steps", "batch_size", "model", "train_instances",
          "expert", "test_instances", "greedy_gap_pct", "greedy_objective", "reference_objective", "train_s"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--change", choices=list(ARMS), required=True)
    p.add_argument("--problem", choices=["cvrp", "op", "kp", "tsp"], required=True)
    p.add_argument("--size", type=int, default=50)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--train-instances", type=int, default=2000)
    p.add_argument("--expert-time-limit", type=float, default=0.1, help="solver seconds per training instance")
    p.add_argument("--test-instances", type=int, default=200)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ff-dim", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--out", type=Path, default=Path("runs/bq-code-ab"))
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "bq_code_ab.csv")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    tl = a.expert_time_limit if a.problem in ("cvrp", "op") else None
    train = solved_set(a.problem, a.size, a.train_instances, seed=0, split="train", time_limit=tl)
    val = solved_set(a.problem, a.size, 100, seed=0, split="val", time_limit=tl if a.problem == "op" else None)
    test = solved_set(a.problem, a.size, a.test_instances, seed=0, split="test",
                      time_limit=tl if a.problem == "op" else None)
    # Every arm starts from the official code's settings (no clipping, unscaled attention, masked
    # OP return, KP soft targets) and changes only the flag under test.
    base = BQConfig(dim=a.dim, layers=a.layers, heads=a.heads, ff_dim=a.ff_dim, batch_size=a.batch_size, lr=a.lr,
                    train_instances=a.train_instances, grad_clip=0.0, scale_attention=False, op_early_end=False,
                    kp_targets="soft")
    model = f"dim {a.dim}, {a.layers} layers, {a.heads} heads, FF {a.ff_dim}"
    rows = list(csv.DictReader(a.results.open())) if a.results.exists() else []
    for seed in a.seeds:
        for arm, value in zip(("orl", "code"), ARMS[a.change]):
            key = (a.change, a.problem, str(a.size), arm, str(seed), str(a.steps))
            if any((r["change"], r["problem"], r["size"], r["arm"], r["seed"], r["steps"]) == key for r in rows):
                continue
            cfg = replace(base, **{a.change: value})
            t = time.time()
            res = train_bq(a.problem, a.size, a.out / f"{a.change}-{a.problem}{a.size}-{arm}-s{seed}", cfg,
                           steps=a.steps, eval_every=a.steps, seed=seed, log_every=50, train_data=train, val_data=val,
                           test_data=test, progress=False)
            rows.append({"change": a.change, "problem": a.problem, "size": a.size, "arm": arm, "value": value,
                         "seed": seed, "steps": a.steps, "batch_size": a.batch_size, "model": model,
                         "train_instances": a.train_instances, "expert": f"{train.method}" + (f" {tl:g} s" if tl else ""),
                         "test_instances": len(test), "greedy_gap_pct": f"{res['greedy_gap_pct']:.3f}",
                         "greedy_objective": f"{res['greedy_objective']:.5f}",
                         "reference_objective": f"{res['reference_objective']:.5f}", "train_s": f"{res['train_time_s']:.0f}"})
            print(f"{a.change} {a.problem}{a.size} {arm}={value} seed {seed}: greedy gap {res['greedy_gap_pct']:+.2f}% "
                  f"({time.time() - t:.0f} s)", flush=True)
            a.results.parent.mkdir(parents=True, exist_ok=True)
            write_csv(a.results, rows, FIELDS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
