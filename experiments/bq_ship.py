"""Train (or continue training) a BQ-NCO model shipped inside orl, and record it beside the weights.

    python experiments/bq_ship.py --problem tsp --size 50 --minutes 4
    python experiments/bq_ship.py --problem cvrp --size 50 --minutes 4 --expert-time-limit 0.1
    python experiments/bq_ship.py --problem tsp --size 100 --minutes 30 --init-from orl/routing/models/tsp50.pt

The shipped file ``orl/routing/models/<problem><size>.pt`` is a full training checkpoint
(weights, Adam state, learning-rate schedule, random streams, step and accumulated training
time), so every run of this script continues the same model where the last one stopped —
on a CPU or, with ``--device cuda``, on a GPU — and adds its training time to the record.
A new model may start from another's weights (``--init-from``: its architecture and optimiser settings, this
run's data; BQ's network does not depend on the instance size, so a 50-node model is a head start for 100
nodes, where the paper trains on 100 from scratch); the record names the source. A continuation keeps the model's settings (batch, learning rate, expert limit: passing them is refused)
except the training set, which ``--train-instances N`` may grow (instance ``i`` is the same in every set).
After training it measures the greedy (and ``--beam``) gap on the seeded test instances
against the reference solver, and rewrites ``<problem><size>.json`` with the model, the data,
the accumulated training time, the gaps and the costs of three test instances (which
``tests/test_routing_solve.py`` reproduces through ``orl.routing.solve``).

Both files are written atomically; the run directory (``runs/bq-ship/<problem><size>``) holds
the logs and makes an interrupted run resumable.

Every sitting is one point of the model's gap-versus-training-time record: the run rewrites
``experiments/results/bq_ship_history.csv`` from the records of all shipped models (one row per sitting
and decoding, plus the simple heuristics' gaps on the same test instances), the file behind the
curves in docs/routing.md. ``--report`` rewrites it without training:

    python experiments/bq_ship.py --report
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import platform
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.algos.structured.bq import MAXIMISE, BQConfig, BQPolicy, beam_search, config_from_dict, greedy  # noqa: E402
from orl.data.routing import generate, solved_set  # noqa: E402
from orl.routing.solver import MODEL_DIR, solve  # noqa: E402
from orl.train.bq import gap, train_bq  # noqa: E402
from orl.train.common import load_torch, save_torch  # noqa: E402
from orl.utils.atomic import write_csv, write_json  # noqa: E402
from orl_envs.routing import solve as solve_with  # noqa: E402

from bq_routing import HEURISTICS  # noqa: E402  (the heuristics measured beside each model, as in its tables)

CHECK_INSTANCES = 3  # test instances whose costs the JSON records (and the test reproduces)
HISTORY_CSV = Path(__file__).resolve().parent / "results" / "bq_ship_history.csv"
HISTORY_FIELDS = ["model", "problem", "size", "sitting", "date", "device", "hardware", "train_hours", "steps",
                  "train_instances", "test_instances", "reference", "method", "gap_pct"]


def heuristic_gaps(problem: str, instances: list, reference: np.ndarray) -> dict[str, float]:
    """Each heuristic's mean gap (%) to ``reference`` on ``instances``."""
    return {h: round(gap(np.array([solve_with(i, h).objective for i in instances]), reference, MAXIMISE[problem]), 3)
            for h in HEURISTICS[problem]}


def history_rows(models: Path) -> list[dict]:
    """The gap-versus-training-time record of every shipped model in ``models``: one row per sitting and
    decoding (``train_hours`` accumulated up to the end of that sitting), and one row per heuristic
    (no training time: a horizontal line in the figure)."""
    rows = []
    for meta_path in sorted(models.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        test = meta["test"]
        ref = f"{test['reference']}" + (f" {test['reference_time_limit_s']:g} s" if test.get("reference_time_limit_s") else "")
        base = {"model": meta_path.stem, "problem": meta["problem"], "size": meta["size"],
                "test_instances": test["instances"], "reference": ref}
        hours = 0.0
        for k, h in enumerate(meta.get("history", []), 1):
            hours += h["added_train_s"] / 3600
            sitting = {**base, "sitting": k, "date": h["date"], "device": h["device"], "hardware": h["hardware"],
                       "train_hours": round(hours, 4), "steps": h["steps_after"],
                       "train_instances": h.get("train_instances", "")}
            for key in sorted(h):
                if key.endswith("_gap_pct"):
                    decoding = key[: -len("_gap_pct")]
                    method = "bq greedy" if decoding == "greedy" else f"bq beam {decoding[len('beam'):]}"
                    rows.append({**sitting, "method": method, "gap_pct": h[key]})
        for name, g in test.get("heuristics", {}).items():
            rows.append({**base, "method": name, "gap_pct": g})
    return rows


def report(models: Path, out: Path, workers: int = 0) -> Path:
    """Fill in the heuristics' gaps where a record lacks them, then rewrite the history CSV."""
    for meta_path in sorted(models.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        test = meta["test"]
        if "heuristics" not in test:
            ref = solved_set(meta["problem"], meta["size"], test["instances"], seed=test["seed"], split=test["split"],
                             time_limit=test.get("reference_time_limit_s"), workers=workers)
            test["heuristics"] = heuristic_gaps(meta["problem"], ref.instances(), ref.objective)
            write_json(meta_path, meta)
    write_csv(out, history_rows(models), HISTORY_FIELDS)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problem", choices=["tsp", "cvrp", "op", "kp"])
    p.add_argument("--size", type=int, default=50)
    p.add_argument("--minutes", type=float, help="training wall time to add in this run")
    p.add_argument("--train-instances", type=int, default=None,
                   help="solved training instances (new model: 2000); continuing, a larger number grows the set "
                        "(the first instances stay the same: each is generated from its index)")
    p.add_argument("--expert-time-limit", type=float, default=None, help="solver seconds per training instance (new model)")
    p.add_argument("--val-instances", type=int, default=None, help="validation instances, new model: 200 (checks every --eval-every steps)")
    p.add_argument("--test-instances", type=int, default=200)
    p.add_argument("--beam", type=int, default=4, help="also measure beam search of this width (0: greedy only)")
    p.add_argument("--batch-size", type=int, default=None, help="new model: 256")
    p.add_argument("--lr", type=float, default=None, help="new model: 2.5e-4")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=0, help="processes solving the training/test instances (0: this one)")
    p.add_argument("--hardware", default="one CPU core (shared)", help="recorded beside the training time")
    p.add_argument("--out", type=Path, default=Path("runs/bq-ship"))
    p.add_argument("--models", type=Path, default=MODEL_DIR)
    p.add_argument("--init-from", type=Path, default=None,
                   help="a new model starts from this model's weights and architecture (e.g. tsp50.pt for tsp100)")
    p.add_argument("--history-csv", type=Path, default=HISTORY_CSV, help="the gap-versus-training-time rows (rewritten)")
    p.add_argument("--report", action="store_true", help="only rewrite --history-csv from the models' records")
    a = p.parse_args(argv)
    if a.report:
        print(f"wrote {report(a.models, a.history_csv, a.workers)}")
        return 0
    if a.problem is None or a.minutes is None:
        p.error("--problem and --minutes are required (or --report)")
    torch.set_num_threads(a.threads)
    name = f"{a.problem}{a.size}"
    shipped, meta_path = a.models / f"{name}.pt", a.models / f"{name}.json"
    run = a.out / name
    run.mkdir(parents=True, exist_ok=True)
    history: list[dict] = []
    elapsed = 0.0
    init_policy, init_from = None, None
    if shipped.exists():
        if a.init_from is not None:
            p.error(f"--init-from: {shipped} exists and continues from its own weights")
        state = load_torch(shipped, required=("step", "config"))
        config = config_from_dict(state["config"])
        fixed = {"--batch-size": a.batch_size, "--lr": a.lr, "--expert-time-limit": a.expert_time_limit,
                 "--val-instances": a.val_instances}
        given = [flag for flag, value in fixed.items() if value is not None]
        if given:  # the shipped model's settings are part of what it is; a silent override would be ignored
            p.error(f"{', '.join(given)}: {shipped} continues with its own settings ({config.batch_size=}, {config.lr=}, "
                    f"{config.expert_time_limit=}, {config.val_instances=}); only --train-instances may grow")
        if a.train_instances is not None:
            if a.train_instances < config.train_instances:
                p.error(f"--train-instances {a.train_instances}: {shipped} was trained on {config.train_instances} "
                        f"instances; the set can grow, not shrink")
            config = replace(config, train_instances=a.train_instances)
        elapsed = float(state.get("elapsed_s", 0.0))
        previous = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        history, init_from = previous.get("history", []), previous.get("init_from")
        if not (run / "checkpoint.pt").exists() or load_torch(run / "checkpoint.pt", required=("step",))["step"] < state["step"]:
            shutil.copyfile(shipped, run / "checkpoint.pt")  # continue the shipped model
        print(f"continuing {shipped} from step {state['step']} ({elapsed / 60:.1f} min of training so far)")
    else:
        given = {"batch_size": a.batch_size, "lr": a.lr, "train_instances": a.train_instances or 2000,
                 "expert_time_limit": a.expert_time_limit, "val_instances": a.val_instances or 200}
        config = BQConfig(**{k: v for k, v in given.items() if v is not None})
        if a.init_from is not None:  # the source's architecture and optimiser settings, this run's data
            src = load_torch(a.init_from, required=("policy", "problem", "config"))
            if src["problem"] != a.problem:
                p.error(f"--init-from {a.init_from}: a {src['problem']!r} model, not {a.problem!r}")
            config = replace(config_from_dict(src["config"]), **{k: v for k, v in given.items() if v is not None})
            init_policy = src.get("best_policy") or src["policy"]
            init_from = {"model": a.init_from.name, "problem": src["problem"], "size": src.get("size"),
                         "steps": src.get("step"), "train_time_s": round(float(src.get("elapsed_s", 0.0)), 1)}
    resume = (run / "checkpoint.pt").exists()
    start_elapsed = float(load_torch(run / "checkpoint.pt")["elapsed_s"]) if resume else 0.0
    t0 = time.time()
    res = train_bq(a.problem, a.size, run, config, steps=10**9, eval_every=a.eval_every, resume=resume,
                   threads=a.threads, time_budget_s=start_elapsed + a.minutes * 60, device=a.device, test=False,
                   workers=a.workers, init_policy=init_policy)
    wall = time.time() - t0
    # The shipped checkpoint (the full training state) serves its latest weights: the best validated ones, when
    # older, are dropped, because weights + Adam state of the default model are 9.6 MB and a second set of
    # weights would take the file past the issue's ~10 MB. So the record measures exactly what is shipped,
    # and a continuation starts from it. orl.routing.load_model then uses "policy".
    ckpt = load_torch(run / "checkpoint.pt", map_location="cpu")  # a GPU sitting ships CPU tensors: loads anywhere
    ckpt["best_policy"] = None
    policy = BQPolicy(a.problem, config)
    policy.load_state_dict(ckpt["policy"])
    policy.eval()
    with open(run / "eval.csv", newline="") as f:
        last_val = float(list(csv.DictReader(f))[-1]["val_greedy_gap_pct"])  # the latest weights' validation
    test_tl = config.expert_time_limit if a.problem == "op" else None
    test = solved_set(a.problem, a.size, a.test_instances, seed=0, split="test", time_limit=test_tl, workers=a.workers)
    inst = test.instances()
    g = greedy(policy, inst)
    gaps = {"greedy_gap_pct": round(gap(g, test.objective, MAXIMISE[a.problem]), 3),
            "greedy_objective": round(float(g.mean()), 5)}
    if a.beam > 1:
        b = beam_search(policy, inst, a.beam)
        gaps.update({f"beam{a.beam}_gap_pct": round(gap(b, test.objective, MAXIMISE[a.problem]), 3),
                     f"beam{a.beam}_objective": round(float(b.mean()), 5)})
    heuristics = heuristic_gaps(a.problem, inst, test.objective)

    a.models.mkdir(parents=True, exist_ok=True)
    save_torch(shipped, ckpt)
    check = [generate(a.problem, a.size, 0, "test", i) for i in range(CHECK_INSTANCES)]
    greedy_check = solve(check, problem=a.problem, beam=0, model=shipped)
    beam_check = solve(check, problem=a.problem, beam=4, model=shipped)
    history.append({"date": datetime.date.today().isoformat(), "added_train_s": round(res["train_time_s"] - start_elapsed, 1),
                    "wall_s": round(wall, 1), "hardware": a.hardware, "device": a.device, "steps_after": res["steps"],
                    "train_instances": config.train_instances,
                    **gaps})
    meta = {
        "problem": a.problem, "size": a.size,
        "label": (f"CPU-budget model ({res['train_time_s'] / 60:.0f} min of training): read its gaps in test"
                  if res["train_time_s"] < 3600 else f"trained {res['train_time_s'] / 3600:.1f} h: read its gaps in test"),
        "paper": "Drakulic et al., BQ-NCO, NeurIPS 2023, arXiv 2301.03313",
        "config": asdict(config),
        "steps": res["steps"], "train_time_s": round(res["train_time_s"], 1),
        "train_data": {"instances": config.train_instances, "generator": f"orl_envs.routing generate_{a.problem}",
                       "seed": 0, "split": "train", "expert": res["expert"],
                       "expert_time_limit_s": config.expert_time_limit},
        "val_gap_pct": round(last_val, 3), "best_val_gap_pct": round(float(res["best_val_gap_pct"]), 3),
        "test": {"instances": len(test), "seed": 0, "split": "test", "reference": test.method,
                 "reference_time_limit_s": test_tl, "reference_objective": round(float(test.objective.mean()), 5), **gaps,
                 "heuristics": heuristics},
        "check": {"instances": f"orl.data.routing.generate({a.problem!r}, {a.size}, 0, 'test', i) for i < {CHECK_INSTANCES}",
                  "greedy_costs": [float(c) for c in greedy_check.costs], "beam4_costs": [float(c) for c in beam_check.costs],
                  "greedy_objective": [float(c) for c in greedy_check.objective],
                  "beam4_objective": [float(c) for c in beam_check.objective]},
        "versions": {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "continue": f"python experiments/bq_ship.py --problem {a.problem} --size {a.size} --minutes M",
        **({"init_from": init_from} if init_from else {}),
        "history": history,
    }
    write_json(meta_path, meta)
    write_csv(a.history_csv, history_rows(a.models), HISTORY_FIELDS)
    print(json.dumps({k: meta[k] for k in ("steps", "train_time_s", "val_gap_pct", "best_val_gap_pct", "test")}, indent=1))
    print(f"shipped {shipped} ({shipped.stat().st_size / 1e6:.1f} MB) and {meta_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
