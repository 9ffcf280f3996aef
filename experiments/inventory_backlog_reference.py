"""Recompute the optimum columns of ``experiments/results/hdpo_one_store_backlogged.csv`` for clipped demand.

    python experiments/inventory_backlog_reference.py            # rewrite the CSV in place (about a minute)
    python experiments/inventory_backlog_reference.py --check    # only print old vs new

The grid (``inventory_one_store_grid.py``) measured HDPO against the optimal base-stock policy whose level and
exact cost came from the normal formula, which ignores that the simulator clips normal demand at 0. orl now
computes both for the demand actually drawn (``orl.algos.structured.references``: the clipped lead-time demand
by numerical convolution). Nothing is retrained: HDPO's, REINFORCE's and PPO's test costs stay as measured. For
each row this script rebuilds the same test scenarios (4096 x 5000 periods, the first 3000 ignored, seed
``SPLIT_SEED["test"]``), first checks that the old level reproduces the stored ``optimum_test_cost`` (so the
scenarios are the same), then writes the new level's cost on them (``optimum_test_cost``), the exact optimum
(``optimum_exact_cost``) and every gap column derived from them.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl_envs.inventory.settings import make_setting  # noqa: E402
from orl_envs.inventory.simulator import InventorySimulator  # noqa: E402

from orl.algos.structured.references import BaseStockPolicy, base_stock_cost, base_stock_level  # noqa: E402
from orl.train.hdpo import SPLIT_SEED, Scenarios, mean_cost  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402

N_TEST, TEST_PERIODS, TEST_IGNORE, SEED = 4096, 5000, 3000, 0  # the grid's test set (HDPOConfig defaults, seed 0)


def pct(cost: float, reference: float) -> float:
    return round(100 * (cost / reference - 1), 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--csv", type=Path, default=Path("experiments/results/hdpo_one_store_backlogged.csv"))
    p.add_argument("--check", action="store_true", help="print old vs new, write nothing")
    args = p.parse_args()
    torch.set_num_threads(1)
    with open(args.csv, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    print("L  p   old exact  new exact  old test   new test   HDPO gap vs test: old -> new   vs exact: old -> new")
    for row in rows:
        setting = make_setting(row["setting"], lead_time=int(row["lead_time"]), underage_cost=float(row["underage_cost"]))
        unclipped = dataclasses.replace(setting, demand=dataclasses.replace(setting.demand, clip=False))
        sim = InventorySimulator(setting)
        test = Scenarios(setting, N_TEST, TEST_PERIODS, SEED + SPLIT_SEED["test"])

        def cost_at(levels: torch.Tensor) -> float:
            policy = BaseStockPolicy(levels)
            return mean_cost(sim, lambda s: policy(s.stores), test, TEST_IGNORE)

        old_test = cost_at(base_stock_level(unclipped))  # the level the grid used: the normal formula
        if not math.isclose(round(old_test, 4), float(row["optimum_test_cost"]), abs_tol=1.5e-4):
            raise SystemExit(f"L={row['lead_time']} p={row['underage_cost']}: the rebuilt test scenarios give "
                             f"{old_test:.4f} for the old level, the CSV says {row['optimum_test_cost']}: not the same set")
        new_test, new_exact = cost_at(base_stock_level(setting)), base_stock_cost(setting)
        hdpo = float(row["hdpo_test_cost"])
        print(f"{row['lead_time']:>2} {float(row['underage_cost']):>3g}  {float(row['optimum_exact_cost']):.4f}     "
              f"{new_exact:.4f}     {float(row['optimum_test_cost']):.4f}     {new_test:.4f}     "
              f"{float(row['gap_vs_optimum_test_pct']):+.3f}% -> {pct(hdpo, new_test):+.3f}%            "
              f"{float(row['gap_vs_exact_pct']):+.3f}% -> {pct(hdpo, new_exact):+.3f}%")
        row.update({"optimum_test_cost": round(new_test, 4), "optimum_exact_cost": round(new_exact, 4),
                    "gap_vs_optimum_test_pct": pct(hdpo, new_test), "gap_vs_exact_pct": pct(hdpo, new_exact)})
        for name in ("reinforce", "ppo"):
            if row.get(f"{name}_test_cost"):
                row[f"{name}_gap_vs_optimum_test_pct"] = pct(float(row[f"{name}_test_cost"]), new_test)
        if row.get("capped_test_cost"):
            row["capped_gap_vs_optimum_test_pct"] = pct(float(row["capped_test_cost"]), new_test)
            row["capped_gap_vs_exact_pct"] = pct(float(row["capped_test_cost"]), new_exact)
    if not args.check:
        write_csv(args.csv, rows, fields)
        print(f"wrote {args.csv}")


if __name__ == "__main__":
    main()
