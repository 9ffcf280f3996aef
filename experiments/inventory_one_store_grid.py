"""HDPO against the optimum on the one-store grids of Alvo, Russo & Kanoria.

    python experiments/inventory_one_store_grid.py --setting one_store_backlogged   # L in {1,4,7,10} x p in {4,9,19,39}
    python experiments/inventory_one_store_grid.py --setting one_store_lost         # L in {1,2,3,4} x p (Zipkin's grid)

Each grid point trains an HDPO MLP policy (``orl.train.hdpo.train_hdpo``) and reports its test cost
(4096 scenarios x 5000 periods, the first 3000 ignored; the paper: 32768 x 5000) beside the optimal policy's cost
on the same scenarios (base-stock for backlog, the dynamic program for lost sales) and the exact
optimum (the newsvendor cost of the clipped-normal lead-time demand, ``orl.algos.structured.references``,
resp. the DP's average cost). Results go to
``experiments/results/hdpo_<setting>.csv``.
Resumable: finished points are read back from the CSV and skipped (rows are appended atomically);
an interrupted point restarts from its own checkpoint under ``--work``.

Budget (declared, smaller than the paper's up-to-20000 epochs of 32768 scenarios): ``--steps``
gradient steps on batches of 1024 out of 8192 training scenarios, dev set 4096 x 100 periods,
lr 1e-2 (the paper: 3e-3 with far more steps).

``--capped`` also trains the capped base-stock policy (Xin 2021; ``min(max(S - IP, 0), r)``, learned S
and r) by HDPO on each point's training scenarios (``orl.train.hdpo.learned_reference``: ``--capped-steps``
steps, lr 1.0 as the paper, same batches and dev set) and writes its test cost on the same test
scenarios and its gap to the optimum into the ``capped_*`` columns. With ``--capped``, finished points
whose ``capped_*`` columns are empty (rows written without it) get only the capped policy trained.

``--baselines reinforce ppo`` adds the issue's two model-free baselines to the same rows, scored on the
same test scenarios: REINFORCE with a batch-mean baseline (``orl.train.inventory_baselines.train_reinforce``,
HDPO's training and dev scenarios, ``--reinforce-steps`` gradient steps, default HDPO's ``--steps``) and
stable-baselines3 PPO on the Gymnasium env (``train_ppo``, ``--ppo-timesteps`` environment steps, SB3's
defaults otherwise). Like ``--capped``, a finished row lacking a baseline's columns gets only that baseline.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl_envs.inventory.settings import make_setting  # noqa: E402

from orl.algos.structured.hdpo import EvaluationSets, HDPOConfig  # noqa: E402
from orl.train.hdpo import learned_reference, train_hdpo  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402

FIELDS = ["setting", "lead_time", "underage_cost", "steps", "seconds", "hdpo_test_cost", "optimum", "optimum_test_cost",
          "optimum_exact_cost", "gap_vs_optimum_test_pct", "gap_vs_exact_pct",
          # --capped: capped base-stock learned by HDPO (empty in rows written without it)
          "capped_steps", "capped_level", "capped_cap", "capped_test_cost", "capped_gap_vs_optimum_test_pct",
          "capped_gap_vs_exact_pct",
          # --baselines reinforce ppo: model-free baselines on the same test scenarios
          "reinforce_steps", "reinforce_seconds", "reinforce_test_cost", "reinforce_gap_vs_optimum_test_pct",
          "ppo_timesteps", "ppo_seconds", "ppo_test_cost", "ppo_gap_vs_optimum_test_pct"]
BASELINES = ("reinforce", "ppo")
GRIDS = {"one_store_backlogged": "1,4,7,10", "one_store_lost": "1,2,3,4"}


def train_baseline(name: str, params: dict, config: HDPOConfig, args: argparse.Namespace,
                   optimum_test_cost: float) -> dict:
    """The ``<name>_*`` columns of one grid point: a model-free baseline's test cost beside the optimum's."""
    from orl.algos.structured.reinforce import ReinforceConfig
    from orl.train.inventory_baselines import PPOBaselineConfig, train_ppo, train_reinforce

    setting = make_setting(args.setting, **params)
    work = args.work / f"{args.setting}-L{params['lead_time']}-p{params['underage_cost']:g}-{name}"
    # HDPO's scenario sets (sizes, horizons, seed): the test scenarios are the same as HDPO's.
    sets = {f.name: getattr(config, f.name) for f in fields(EvaluationSets)}
    t0 = time.time()
    if name == "reinforce":
        steps = args.reinforce_steps or args.steps
        rc = ReinforceConfig(n_train=config.n_train, batch_size=config.batch_size, **sets)
        result = train_reinforce(setting, work, rc, steps=steps, progress=False, resume=(work / "checkpoint.pt").exists())
        budget = result["steps"]
    else:
        result = train_ppo(args.setting, work, PPOBaselineConfig(**sets), timesteps=args.ppo_timesteps, params=params,
                           progress=False)
        budget = result["timesteps"]
    cost = result["test_cost"]
    return {f"{name}_{'steps' if name == 'reinforce' else 'timesteps'}": budget,
            f"{name}_seconds": round(time.time() - t0, 1), f"{name}_test_cost": round(cost, 4),
            f"{name}_gap_vs_optimum_test_pct": round(100 * (cost / optimum_test_cost - 1), 3)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--setting", choices=sorted(GRIDS), default="one_store_backlogged")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--lead-times", help="comma-separated (default: the paper's grid for the setting)")
    p.add_argument("--underage-costs", default="4,9,19,39")
    p.add_argument("--out", type=Path, help="default: experiments/results/hdpo_<setting>.csv")
    p.add_argument("--work", type=Path, default=Path("runs/hdpo-grid"))
    p.add_argument("--capped", action="store_true", help="also learn capped base-stock per point (capped_* columns)")
    p.add_argument("--capped-steps", type=int, default=300)
    p.add_argument("--baselines", nargs="*", choices=BASELINES, default=[], help="also train these per point")
    p.add_argument("--reinforce-steps", type=int, help="REINFORCE gradient steps (default: --steps)")
    p.add_argument("--ppo-timesteps", type=int, default=200_000, help="PPO environment steps")
    args = p.parse_args()
    args.lead_times = args.lead_times or GRIDS[args.setting]
    args.out = args.out or Path(f"experiments/results/hdpo_{args.setting}.csv")
    rows = []
    if args.out.exists():
        with open(args.out, newline="") as f:
            rows = list(csv.DictReader(f))
    done = {(int(r["lead_time"]), float(r["underage_cost"])): r for r in rows}
    for lead in map(int, args.lead_times.split(",")):
        for cost in map(float, args.underage_costs.split(",")):
            row = done.get((lead, cost))
            need_capped = args.capped and (row is None or not row.get("capped_test_cost"))
            need = [b for b in args.baselines if row is None or not row.get(f"{b}_test_cost")]
            if row is not None and not need_capped and not need:
                continue
            setting = make_setting(args.setting, lead_time=lead, underage_cost=cost)
            config = HDPOConfig(n_train=8192, batch_size=1024, n_dev=4096, n_test=4096, lr=1e-2, patience=20)
            if row is None:
                work = args.work / f"{args.setting}-L{lead}-p{cost:g}"
                t0 = time.time()
                result = train_hdpo(setting, work, config, steps=args.steps, eval_every=50, progress=False,
                                    resume=(work / "checkpoint.pt").exists())
                ref = result["reference"]
                row = {"setting": args.setting, "lead_time": lead, "underage_cost": cost, "steps": result["steps"],
                       "seconds": round(time.time() - t0, 1), "hdpo_test_cost": round(result["test_cost"], 4),
                       "optimum": ref["name"], "optimum_test_cost": round(ref["test_cost"], 4),
                       "optimum_exact_cost": round(ref["analytic_cost"], 4),
                       "gap_vs_optimum_test_pct": round(100 * result["gap"], 3),
                       "gap_vs_exact_pct": round(100 * (result["test_cost"] / ref["analytic_cost"] - 1), 3)}
                rows.append(row)
                done[(lead, cost)] = row
            if need_capped:
                # same config and seed as train_hdpo above: the same train, dev and test scenarios
                capped = learned_reference(setting, "capped_base_stock", config, steps=args.capped_steps, seed=0)
                row.update({"capped_steps": args.capped_steps, "capped_level": round(capped["levels"][0], 3),
                            "capped_cap": round(capped["caps"][0], 3),
                            "capped_test_cost": round(capped["test_cost"], 4),
                            "capped_gap_vs_optimum_test_pct":
                                round(100 * (capped["test_cost"] / float(row["optimum_test_cost"]) - 1), 3),
                            "capped_gap_vs_exact_pct":
                                round(100 * (capped["test_cost"] / float(row["optimum_exact_cost"]) - 1), 3)})
            for name in need:
                params = {"lead_time": lead, "underage_cost": cost}
                row.update(train_baseline(name, params, config, args, float(row["optimum_test_cost"])))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            write_csv(args.out, rows, FIELDS)
            print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
