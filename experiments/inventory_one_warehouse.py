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
without improvement, and optionally ``--max-train-seconds`` of training time per point (the ``steps``
column then says how far a point got); dev 4096 x 100 and test 4096 x 5000 scenarios x periods by
default (the paper: 8192). ``--device cuda`` trains HDPO on a GPU (same scenarios as on the CPU).

``--policies`` may also name ``reinforce`` and ``ppo``, the issue's model-free baselines
(:mod:`orl.train.inventory_baselines`, on the CPU): REINFORCE gets a row per ``n_train`` (HDPO's training
scenarios, batches and patience, ``--reinforce-steps``), PPO one row per store count (``n_train = env``: it
trains on fresh episodes of ``orl/InventoryOneWarehouseLostDemand-v0``, ``--ppo-timesteps`` environment steps,
in the ``steps`` column). Both are scored on HDPO's test scenarios.
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
from orl.utils.atomic import write_csv, write_json  # noqa: E402

SETTING = "one_warehouse_lost_demand"
FIELDS = ["setting", "n_stores", "n_train", "policy", "seed", "test_cost", "best_dev_cost", "steps", "seconds",
          "device", "batch_size", "lr", "grad_clip", "hidden", "n_dev", "n_test", "test_periods"]
#: The issue's model-free baselines, in the same table (``steps`` is PPO's environment steps).
BASELINES = ("reinforce", "ppo")
PPO_N_TRAIN = "env"  # PPO's n_train column: it trains on fresh episodes of the Gymnasium env
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


def common_columns(args: argparse.Namespace, n_stores: int, n_train: int | str, policy: str) -> dict:
    return {"setting": SETTING, "n_stores": n_stores, "n_train": n_train, "policy": policy, "seed": args.seed,
            "n_dev": args.n_dev, "n_test": args.n_test, "test_periods": args.test_periods}


def run_hdpo(args: argparse.Namespace, setting, n_stores: int, n_train: int, policy: str) -> dict:
    """One HDPO point, resumed from its directory if it was interrupted."""
    config = point_config(args, n_train, policy)
    budget = {"config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(config).items()},
              "steps": args.steps, "eval_every": args.eval_every, "seed": args.seed,
              "max_train_seconds": args.max_train_seconds}
    work = args.work / f"n{n_stores}-train{n_train}-{policy}-seed{args.seed}"
    resume = (work / "checkpoint.pt").exists()
    if resume and json.loads((work / "budget.json").read_text()) != budget:
        raise SystemExit(f"{work} was started with another budget (see its budget.json); "
                         "remove it or pass another --work")
    write_json(work / "budget.json", budget)
    t0 = time.time()
    result = train_hdpo(setting, work, config, steps=args.steps, eval_every=args.eval_every, seed=args.seed,
                        resume=resume, threads=args.threads, progress=False, device=args.device,
                        max_train_seconds=args.max_train_seconds)
    return {**common_columns(args, n_stores, n_train, policy), "test_cost": round(result["test_cost"], 4),
            "best_dev_cost": round(result["best_dev_cost"], 4), "steps": result["steps"],
            "seconds": round(time.time() - t0, 1), "device": args.device, "batch_size": config.batch_size,
            "lr": config.lr, "grad_clip": config.grad_clip,
            "hidden": "default" if config.hidden is None else "-".join(map(str, config.hidden))}


def run_baseline(args: argparse.Namespace, setting, n_stores: int, n_train: int | str, name: str) -> dict:
    """REINFORCE (on the point's ``n_train`` training scenarios) or PPO (fresh env episodes), CPU, scored on
    the same dev/test scenarios as HDPO (``orl.train.inventory_baselines``)."""
    from orl.algos.structured.reinforce import ReinforceConfig
    from orl.train.inventory_baselines import PPOBaselineConfig, train_ppo, train_reinforce

    sets = dict(n_dev=args.n_dev, dev_periods=args.dev_periods, dev_ignore=args.dev_ignore, n_test=args.n_test,
                test_periods=args.test_periods, test_ignore=args.test_ignore)
    work = args.work / f"n{n_stores}-train{n_train}-{name}-seed{args.seed}"
    t0 = time.time()
    if name == "reinforce":
        rc = ReinforceConfig(n_train=n_train, batch_size=min(args.batch_size, n_train), train_periods=args.train_periods,
                             train_ignore=args.train_ignore, patience=args.patience, **sets)
        result = train_reinforce(setting, work, rc, steps=args.reinforce_steps or args.steps,
                                 eval_every=args.eval_every, seed=args.seed, threads=args.threads, progress=False,
                                 resume=(work / "checkpoint.pt").exists(), max_train_seconds=args.max_train_seconds)
        extra = {"steps": result["steps"], "batch_size": rc.batch_size, "lr": rc.lr, "grad_clip": rc.grad_clip,
                 "hidden": "-".join(map(str, rc.hidden))}
    else:
        pc = PPOBaselineConfig(train_periods=args.train_periods, **sets)
        result = train_ppo(SETTING, work, pc, timesteps=args.ppo_timesteps, seed=args.seed,
                           params={"n_stores": n_stores}, threads=args.threads, progress=False,
                           max_train_seconds=args.max_train_seconds)
        extra = {"steps": result["timesteps"], "batch_size": pc.batch_size, "lr": pc.lr, "grad_clip": 0.0,
                 "hidden": "-".join(map(str, pc.net_arch))}
    return {**common_columns(args, n_stores, n_train, name), "test_cost": round(result["test_cost"], 4),
            "best_dev_cost": round(result["best_dev_cost"], 4), "seconds": round(time.time() - t0, 1),
            "device": "cpu", **extra}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stores", type=int, nargs="+", default=[3, 10, 50])
    p.add_argument("--train-scenarios", type=int, nargs="+", default=[16, 256, 8192])
    p.add_argument("--policies", nargs="+", choices=sorted(POLICY_PARAMS) + list(BASELINES),
                   default=["mlp", "symmetry_aware", "gnn"],
                   help="HDPO policies and the model-free baselines (reinforce, ppo) to run per point")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--reinforce-steps", type=int, help="REINFORCE gradient steps (default: --steps)")
    p.add_argument("--ppo-timesteps", type=int, default=200_000, help="PPO environment steps")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--max-train-seconds", type=float,
                   help="also stop a point after this much training time (dev evaluations excluded); "
                        "the steps column says how far it got")
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
    p.add_argument("--device", default="cpu", help="HDPO's device (cuda: a GPU); the baselines run on the CPU")
    p.add_argument("--out", type=Path, default=Path("experiments/results/hdpo_one_warehouse.csv"))
    p.add_argument("--work", type=Path, default=Path("runs/hdpo-one-warehouse"))
    args = p.parse_args()
    rows = list(csv.DictReader(open(args.out))) if args.out.exists() else []
    done = {(int(r["n_stores"]), r["n_train"], r["policy"]) for r in rows}
    for n_stores in args.stores:
        setting = make_setting(SETTING, n_stores=n_stores)
        for policy in args.policies:
            # PPO learns from fresh env episodes: one row per store count, no training-set size.
            for n_train in ([PPO_N_TRAIN] if policy == "ppo" else args.train_scenarios):
                if (n_stores, str(n_train), policy) in done:
                    continue
                run = run_hdpo if policy in POLICY_PARAMS else run_baseline
                rows.append(run(args, setting, n_stores, n_train, policy))
                write_csv(args.out, rows, FIELDS)
                print(", ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)


if __name__ == "__main__":
    main()
