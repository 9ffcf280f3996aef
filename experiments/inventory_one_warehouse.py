"""HDPO on one warehouse and many stores: test cost against the number of training scenarios.

    python experiments/inventory_one_warehouse.py --stores 3 10 50 --train-scenarios 16 256 8192 \
        --policies mlp symmetry_aware gnn --steps 2000 --threads 1

The acceptance table of the inventory issue: on ``one_warehouse_lost_demand`` (Alvo, Russo & Kanoria,
arXiv 2306.11246; the paper's instance draws, lost demand, warehouse h = 0.3, L = 3) with 3, 10 and 50
stores, each policy (``orl.algos.structured.hdpo``: ``mlp``, ``symmetry_aware``, ``gnn``) is trained by
HDPO (``orl.train.hdpo.train_hdpo``) on a fixed set of ``n_train`` scenarios and evaluated on a separate
test set. The paper's sample-efficiency study uses 16, 256 and 8192 training scenarios (the symmetry-aware
network also 2, 4, 8), batches of 1024 (all scenarios when fewer), 50 training periods (30 ignored in the
reported cost), dev 8192 x 100 periods (60 ignored), test 8192 x 5000 periods (3000 ignored).

Per policy, the paper's hyperparameters: ``mlp`` 512-512-512 with lr 3e-4 (``vanilla_one_warehouse.yml``;
but orl's MLPPolicy, not the paper's softmax-allocation network: see its docstring), ``symmetry_aware``
lr 1e-3, ``gnn`` lr 1e-3 with gradient norms clipped at 1.0 (``gnn.yml``).

There is no known optimum here (the paper compares against lower bounds it does not publish), so the
columns are reference-free: test cost (per store and period), best dev cost, gradient steps taken, wall
seconds (of the point's last segment, when it was resumed) and the budget that produced them.

Resumable: one row per (n_stores, n_train, policy) is appended atomically to ``--out`` (default
``experiments/results/hdpo_one_warehouse.csv``); rows already there are skipped. Each point trains in
its own directory under ``--work`` (default ``runs/hdpo-one-warehouse/``) and an interrupted point resumes
from its checkpoint; a point directory remembers its budget and refuses to resume under another one.

Budget (declared, smaller than the paper's up-to-20000 epochs with patience 500): ``--steps`` gradient
steps, a dev evaluation every ``--eval-every`` steps, early stopping after ``--patience`` evaluations
without improvement; dev 4096 x 100 and test 4096 x 5000 scenarios x periods by default (the paper: 8192).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl_envs.inventory.settings import make_setting  # noqa: E402

from orl.algos.structured.hdpo import HDPOConfig  # noqa: E402
from orl.train.hdpo import train_hdpo  # noqa: E402
from orl.utils.atomic import atomic_path, write_json  # noqa: E402

SETTING = "one_warehouse_lost_demand"
FIELDS = ["setting", "n_stores", "n_train", "policy", "seed", "test_cost", "best_dev_cost", "steps", "seconds",
          "batch_size", "lr", "grad_clip", "hidden", "n_dev", "n_test", "test_periods"]
#: The paper's per-policy hyperparameters (``config_files/policies_and_hyperparams``).
POLICY_PARAMS = {
    "mlp": dict(hidden=(512, 512, 512), lr=3e-4, grad_clip=0.0),
    "symmetry_aware": dict(hidden=None, lr=1e-3, grad_clip=0.0),
    "gnn": dict(hidden=None, lr=1e-3, grad_clip=1.0),
}


def point_config(args: argparse.Namespace, n_train: int, policy: str) -> HDPOConfig:
    return HDPOConfig(policy=policy, n_train=n_train, batch_size=min(args.batch_size, n_train),
                      train_periods=args.train_periods, train_ignore=args.train_ignore, n_dev=args.n_dev,
                      dev_periods=args.dev_periods, dev_ignore=args.dev_ignore, n_test=args.n_test,
                      test_periods=args.test_periods, test_ignore=args.test_ignore, patience=args.patience,
                      **POLICY_PARAMS[policy])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stores", type=int, nargs="+", default=[3, 10, 50])
    p.add_argument("--train-scenarios", type=int, nargs="+", default=[16, 256, 8192])
    p.add_argument("--policies", nargs="+", choices=sorted(POLICY_PARAMS), default=["mlp", "symmetry_aware", "gnn"])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--train-periods", type=int, default=50)
    p.add_argument("--train-ignore", type=int, default=30)
    p.add_argument("--n-dev", type=int, default=4096)
    p.add_argument("--dev-periods", type=int, default=100)
    p.add_argument("--dev-ignore", type=int, default=60)
    p.add_argument("--n-test", type=int, default=4096)
    p.add_argument("--test-periods", type=int, default=5000)
    p.add_argument("--test-ignore", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("experiments/results/hdpo_one_warehouse.csv"))
    p.add_argument("--work", type=Path, default=Path("runs/hdpo-one-warehouse"))
    args = p.parse_args()
    rows = list(csv.DictReader(open(args.out))) if args.out.exists() else []
    done = {(int(r["n_stores"]), int(r["n_train"]), r["policy"]) for r in rows}
    for n_stores in args.stores:
        setting = make_setting(SETTING, n_stores=n_stores)
        for n_train in args.train_scenarios:
            for policy in args.policies:
                if (n_stores, n_train, policy) in done:
                    continue
                config = point_config(args, n_train, policy)
                budget = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()},
                          "steps": args.steps, "eval_every": args.eval_every, "seed": args.seed}
                work = args.work / f"n{n_stores}-train{n_train}-{policy}-seed{args.seed}"
                resume = (work / "checkpoint.pt").exists()
                if resume and json.loads((work / "budget.json").read_text()) != budget:
                    raise SystemExit(f"{work} was started with another budget (see its budget.json); "
                                     "remove it or pass another --work")
                write_json(work / "budget.json", budget)
                t0 = time.time()
                result = train_hdpo(setting, work, config, steps=args.steps, eval_every=args.eval_every,
                                    seed=args.seed, resume=resume, threads=args.threads, progress=False)
                rows.append({"setting": SETTING, "n_stores": n_stores, "n_train": n_train, "policy": policy,
                             "seed": args.seed, "test_cost": round(result["test_cost"], 4),
                             "best_dev_cost": round(result["best_dev_cost"], 4), "steps": result["steps"],
                             "seconds": round(time.time() - t0, 1), "batch_size": config.batch_size,
                             "lr": config.lr, "grad_clip": config.grad_clip,
                             "hidden": "default" if config.hidden is None else "-".join(map(str, config.hidden)),
                             "n_dev": config.n_dev, "n_test": config.n_test, "test_periods": config.test_periods})
                with atomic_path(args.out) as tmp, open(tmp, "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=FIELDS)
                    w.writeheader()
                    w.writerows(rows)
                print(", ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)


if __name__ == "__main__":
    main()
