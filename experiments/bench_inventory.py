"""Inventory benchmark: simulator throughput, and the wall time of HDPO vs PPO to reach 1% of the optimum.

    python experiments/bench_inventory.py                                   # full run (caps: 30 min per method)
    python experiments/bench_inventory.py --max-minutes 0.5 --throughput-periods 5 --out /tmp/bench.json  # smoke

(a) Throughput, per setting (default parameters of each ``orl_envs.inventory.settings`` factory), at batch
``--batch`` (8192): store-periods per second (batch x stores x periods / seconds) of

* ``sim``: the simulator alone (fixed orders of one mean demand per location, no autograd);
* ``forward``: HDPO's default MLP policy + simulator, a rollout under ``torch.no_grad`` (evaluation);
* ``forward_backward``: the same rollout with autograd and ``loss.backward()`` through it (one HDPO step
  without the optimiser).

(b) Time to 1% on ``one_store_backlogged`` (parameters of ``orl/conf/env/inventory-one-store-backlogged.yaml``,
L = 4, p = 9, h = 1, unless ``--lead-time`` / ``--underage-cost`` / ``--holding-cost``): each method trains
from scratch and is checked periodically on the same check set (HDPO's dev scenarios: ``--check-scenarios``
x 100 periods, the first 60 ignored, seed ``seed + 10000``); the target is ``(1 + tolerance)`` times the
cost of the optimal base-stock policy **on the same check scenarios** (common random numbers; the exact
long-run optimum is printed beside it). The clock counts training only: setup and the checks are paused
out. Each method gets ``--max-minutes`` of training time; one that does not reach the target is reported
as "not reached in X min" and the ratio becomes a bound.

* HDPO: the loop of ``orl.train.hdpo.train_hdpo`` (same policy, loss, Adam, batch order), written out
  here so that it can be stopped on the clock; budget as ``experiments/inventory_one_store_grid.py``
  (8192 training scenarios, batches of 1024, lr 1e-2), checked every ``--hdpo-check-every`` steps.
* PPO: ``orl.train.inventory_baselines.train_ppo`` (SB3 defaults, 8 envs, VecNormalize), checked every
  ``--ppo-check-every`` env steps.
* ``--methods hdpo,ppo,reinforce`` adds REINFORCE with the batch-mean baseline (same budget as HDPO).

Results: printed, and written atomically as JSON to ``--out`` (default
``experiments/results/bench_inventory.json``). Run single-threaded (``torch.set_num_threads(1)``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl_envs.inventory.scenario import initial_state, sample_demands  # noqa: E402
from orl_envs.inventory.settings import SETTINGS, make_setting  # noqa: E402
from orl_envs.inventory.simulator import InventorySimulator  # noqa: E402

from orl.algos.structured.hdpo import make_policy  # noqa: E402
from orl.algos.structured.references import BaseStockPolicy, base_stock_cost, base_stock_level  # noqa: E402
from orl.algos.structured.reinforce import ReinforceConfig  # noqa: E402
from orl.train.hdpo import SPLIT_SEED, Scenarios, mean_cost, rollout  # noqa: E402
from orl.train.inventory_baselines import PPOBaselineConfig, train_ppo, train_reinforce  # noqa: E402
from orl.utils.atomic import write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHECK_PERIODS, CHECK_IGNORE = 100, 60  # HDPO's dev horizon


# ------------------------------------------------------------------------------------------------------
# (a) throughput


def throughput(name: str, batch: int, periods: int, seed: int) -> dict:
    setting = make_setting(name)
    gen = torch.Generator().manual_seed(seed)
    sim = InventorySimulator(setting, validate=False)
    state = initial_state(setting, batch, gen)
    demands = sample_demands(setting, batch, periods + 1, gen).float()
    means = torch.tensor(setting.demand.mean, dtype=torch.float32)
    orders = torch.cat([means, means.sum().repeat(len(setting.upstream))]).expand(batch, -1).contiguous()
    torch.manual_seed(seed)
    policy = make_policy("mlp", setting)  # HDPO's default policy (32-32-32 MLP)
    store_periods = batch * setting.n_stores * periods
    out = {"setting": name, "n_stores": setting.n_stores, "action_dim": setting.action_dim, "batch": batch,
           "periods": periods}

    def sim_only():
        s = state
        with torch.no_grad():
            for t in range(periods):
                s = sim.step(s, orders, demands[:, :, t]).state

    def forward():
        with torch.no_grad():
            rollout(sim, policy, state, demands[:, :, :periods], 0)

    def forward_backward():
        total = rollout(sim, policy, state, demands[:, :, :periods], 0)[1]
        policy.zero_grad()
        (total.sum() / store_periods).backward()

    with torch.no_grad():  # warm-up: one period of each path (lazy constants, allocator)
        sim.step(state, orders, demands[:, :, 0])
        rollout(sim, policy, state, demands[:, :, :1], 0)
    for mode, fn in (("sim", sim_only), ("forward", forward), ("forward_backward", forward_backward)):
        t0 = time.perf_counter()
        fn()
        seconds = time.perf_counter() - t0
        out[f"{mode}_s"] = round(seconds, 4)
        out[f"{mode}_store_periods_per_s"] = round(store_periods / seconds)
    return out


# ------------------------------------------------------------------------------------------------------
# (b) time to target


def hdpo_to_target(setting, check, target, args) -> dict:
    """HDPO (train_hdpo's loop) until the check cost is <= target or the training clock passes the cap."""
    torch.manual_seed(args.seed)
    sim = InventorySimulator(setting, validate=False)
    train = Scenarios(setting, args.hdpo_n_train, 50, args.seed + SPLIT_SEED["train"])
    policy = make_policy("mlp", setting)
    opt = torch.optim.Adam(policy.parameters(), lr=args.hdpo_lr)
    gen = torch.Generator().manual_seed(args.seed)
    perm, pos = torch.randperm(args.hdpo_n_train, generator=gen), 0
    cap = 60 * args.max_minutes
    train_s, step, reached, history = 0.0, 0, None, []
    while True:
        cost = mean_cost(sim, policy, check, CHECK_IGNORE)
        history.append({"step": step, "train_s": round(train_s, 3), "check_cost": cost})
        print(f"  hdpo step {step:5d}  train {train_s:7.1f}s  check cost {cost:.4f}", flush=True)
        if cost <= target:
            reached = train_s
            break
        if train_s > cap:
            break
        clock = time.time()
        for _ in range(args.hdpo_check_every):
            if pos + args.hdpo_batch > args.hdpo_n_train:
                perm, pos = torch.randperm(args.hdpo_n_train, generator=gen), 0
            state, demands = train.batch(perm[pos : pos + args.hdpo_batch])
            pos += args.hdpo_batch
            loss = rollout(sim, policy, state, demands, 0)[1].sum() / (args.hdpo_batch * 50 * setting.n_stores)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        train_s += time.time() - clock
    return {"reached_s": reached, "train_s": train_s, "steps": step, "final_check_cost": history[-1]["check_cost"],
            "history": history}


def _from_run(result: dict, eval_csv: Path, unit: str) -> dict:
    import csv

    history = [{unit: int(r["step"]), "train_s": float(r["train_s"]), "check_cost": float(r["dev_cost"])}
               for r in csv.DictReader(open(eval_csv))]
    return {"reached_s": result["reached_s"], "train_s": result["train_s"], unit: result.get(unit, result.get("steps")),
            "final_check_cost": history[-1]["check_cost"], "history": history}


def ppo_to_target(name, params, target, args) -> dict:
    config = PPOBaselineConfig(n_dev=args.check_scenarios, dev_periods=CHECK_PERIODS, dev_ignore=CHECK_IGNORE)
    result = train_ppo(name, args.work / "ppo", config, timesteps=10**12, eval_every=args.ppo_check_every,
                       seed=args.seed, params=params, progress=False, target_dev_cost=target,
                       max_train_seconds=60 * args.max_minutes, test=False)
    out = _from_run(result, args.work / "ppo" / "eval.csv", "timesteps")
    for row in out["history"]:
        print(f"  ppo  env steps {row['timesteps']:8d}  train {row['train_s']:7.1f}s  "
              f"check cost {row['check_cost']:.4f}")
    return out


def reinforce_to_target(setting, target, args) -> dict:
    config = ReinforceConfig(n_train=args.hdpo_n_train, batch_size=args.hdpo_batch, n_dev=args.check_scenarios,
                             dev_periods=CHECK_PERIODS, dev_ignore=CHECK_IGNORE, lr=args.reinforce_lr, patience=10**9)
    result = train_reinforce(setting, args.work / "reinforce", config, steps=10**9, eval_every=args.hdpo_check_every,
                             seed=args.seed, progress=False, target_dev_cost=target,
                             max_train_seconds=60 * args.max_minutes, test=False)
    out = _from_run(result, args.work / "reinforce" / "eval.csv", "steps")
    for row in out["history"]:
        print(f"  reinforce step {row['steps']:5d}  train {row['train_s']:7.1f}s  check cost {row['check_cost']:.4f}")
    return out


def main() -> None:
    conf = yaml.safe_load((ROOT / "orl" / "conf" / "env" / "inventory-one-store-backlogged.yaml").read_text())["params"]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--throughput-periods", type=int, default=50)
    p.add_argument("--settings", default=",".join(SETTINGS), help="settings for the throughput table")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--skip-race", action="store_true")
    p.add_argument("--lead-time", type=int, default=conf["lead_time"])
    p.add_argument("--underage-cost", type=float, default=conf["underage_cost"])
    p.add_argument("--holding-cost", type=float, default=conf["holding_cost"])
    p.add_argument("--tolerance", type=float, default=0.01)
    p.add_argument("--max-minutes", type=float, default=30.0, help="training-time cap per method")
    p.add_argument("--methods", default="hdpo,ppo")
    p.add_argument("--check-scenarios", type=int, default=4096)
    p.add_argument("--hdpo-n-train", type=int, default=8192)
    p.add_argument("--hdpo-batch", type=int, default=1024)
    p.add_argument("--hdpo-lr", type=float, default=1e-2)
    p.add_argument("--hdpo-check-every", type=int, default=10, help="gradient steps between checks")
    p.add_argument("--reinforce-lr", type=float, default=1e-2)
    p.add_argument("--ppo-check-every", type=int, default=2048, help="env steps between checks (one rollout)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=Path("runs/bench-inventory"))
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "bench_inventory.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    report = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": {
                  "platform": platform.platform(), "cpus": os.cpu_count(), "torch": torch.__version__,
                  "torch_threads": torch.get_num_threads(),
                  "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None}}

    if not args.skip_throughput:
        print(f"(a) simulator throughput, store-periods/s at batch {args.batch}, {args.throughput_periods} periods")
        print(f"{'setting':28s} {'stores':>6s} {'sim':>12s} {'forward':>12s} {'fwd+bwd':>12s}")
        report["throughput"] = []
        for name in args.settings.split(","):
            row = throughput(name, args.batch, args.throughput_periods, args.seed)
            report["throughput"].append(row)
            print(f"{name:28s} {row['n_stores']:6d} {row['sim_store_periods_per_s']:12,d} "
                  f"{row['forward_store_periods_per_s']:12,d} {row['forward_backward_store_periods_per_s']:12,d}",
                  flush=True)

    if not args.skip_race:
        params = {"lead_time": args.lead_time, "underage_cost": args.underage_cost, "holding_cost": args.holding_cost}
        setting = make_setting("one_store_backlogged", **params)
        sim = InventorySimulator(setting, validate=False)
        check = Scenarios(setting, args.check_scenarios, CHECK_PERIODS, args.seed + SPLIT_SEED["dev"])
        optimal = BaseStockPolicy(base_stock_level(setting))
        optimum = mean_cost(sim, lambda s: optimal(s.stores), check, CHECK_IGNORE)
        target = (1 + args.tolerance) * optimum
        race = {"setting": "one_store_backlogged", "params": params, "optimum_check_cost": optimum,
                "optimum_analytic_cost": base_stock_cost(setting), "target": target, "max_minutes": args.max_minutes}
        print(f"\n(b) one_store_backlogged {params}: optimal base-stock {optimum:.4f} on the check set "
              f"({args.check_scenarios} x {CHECK_PERIODS} periods; exact {race['optimum_analytic_cost']:.4f}), "
              f"target {target:.4f} (+{100 * args.tolerance:g}%), cap {args.max_minutes:g} min of training each")
        runners = {"hdpo": lambda: hdpo_to_target(setting, check, target, args),
                   "ppo": lambda: ppo_to_target("one_store_backlogged", params, target, args),
                   "reinforce": lambda: reinforce_to_target(setting, target, args)}
        for method in args.methods.split(","):
            race[method] = runners[method]()
        print()
        for method in args.methods.split(","):
            r = race[method]
            if r["reached_s"] is not None:
                print(f"{method}: reached {100 * args.tolerance:g}% of the optimum after "
                      f"{r['reached_s']:.1f} s of training")
            else:
                print(f"{method}: not reached in {args.max_minutes:g} min (best check cost "
                      f"{min(h['check_cost'] for h in r['history']):.4f}, gap "
                      f"{100 * (min(h['check_cost'] for h in r['history']) / optimum - 1):+.2f}%)")
        if "hdpo" in race and "ppo" in race:
            h, q = race["hdpo"]["reached_s"], race["ppo"]["reached_s"]
            if h is not None and q is not None:
                race["ppo_over_hdpo"] = q / h
                print(f"PPO / HDPO wall time: {q / h:.1f}x")
            elif h is not None:
                race["ppo_over_hdpo_at_least"] = race["ppo"]["train_s"] / h
                print(f"PPO / HDPO wall time: > {race['ppo_over_hdpo_at_least']:.1f}x (PPO did not reach the target)")
            else:
                print("PPO / HDPO wall time: undefined (HDPO did not reach the target)")
        report["time_to_target"] = race
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_json(args.out, report)
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
