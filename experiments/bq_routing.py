"""BQ-NCO on orl's routing environments: train within a wall-time budget, then the gap table.

    python experiments/bq_routing.py --problem tsp --size 50 --hours 3
    python experiments/bq_routing.py --problem cvrp --size 50 --hours 3 --expert-time-limit 0.3

1. Solves ``--train-instances`` generated instances with the problem's reference solver
   (elkai's LKH-3 for the TSP, PyVRP's HGS for the CVRP), cached and resumable.
2. Trains :class:`orl.algos.structured.bq.BQPolicy` by imitation for at most ``--hours`` of
   training wall time (``runs/bq-routing/<problem><size>/``; rerun the same command to resume).
3. Evaluates on seeded test sets: ``--test-instances`` of the training size and
   ``--gen-instances`` of each ``--gen-sizes`` (generalisation), greedy and beam
   (``--beam``), beside the simple heuristics on the same instances; gaps are to the reference
   solver's objective on each instance.

Results are appended to ``experiments/results/bq_<problem><size>.csv`` (one row per test size
and method); the policy is saved as ``runs/bq-routing/<problem><size>/policy.pt``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.algos.structured.bq import MAXIMISE, BQConfig, beam_search, greedy  # noqa: E402
from orl.data.routing import solved_set  # noqa: E402
from orl.train.bq import gap, train_bq  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402

HEURISTICS = {"tsp": ("nearest_neighbour", "farthest_insertion"), "cvrp": ("nearest_neighbour",),
              "op": ("greedy",), "kp": ("greedy",)}
FIELDS = ["problem", "train_size", "test_size", "instances", "method", "objective", "gap_pct", "s_per_instance",
          "reference", "train_steps", "train_hours"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problem", choices=["tsp", "cvrp", "op", "kp"], required=True)
    p.add_argument("--size", type=int, default=50)
    p.add_argument("--hours", type=float, default=3.0, help="training wall-time budget (solving excluded)")
    p.add_argument("--steps", type=int, default=10**9, help="training step cap (the time budget usually binds)")
    p.add_argument("--train-instances", type=int, default=10000)
    p.add_argument("--expert-time-limit", type=float, default=None, help="solver seconds per training instance")
    p.add_argument("--test-instances", type=int, default=1000)
    p.add_argument("--gen-sizes", type=int, nargs="*", default=[100, 200])
    p.add_argument("--gen-instances", type=int, default=200)
    p.add_argument("--beam", type=int, default=16, help="beam width on the training size (0 or 1: greedy only)")
    p.add_argument("--gen-beam", type=int, default=None,
                   help="beam width on the generalisation sizes (default: --beam; beam search on 200 nodes is slow on a CPU)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ff-dim", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--grad-clip", type=float, default=1.0,
                   help="gradient-norm clipping (orl's default 1.0; 0: none, as BQ-NCO's code)")
    p.add_argument("--scale-attention", action="store_true",
                   help="divide attention logits by sqrt(d_head) (BQ-NCO's code does not; the runs before issue 24 did)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=0,
                   help="processes that solve the expert sets and build the minibatches ahead (numpy; the bottleneck of a GPU run)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (the model; environments stay in numpy)")
    p.add_argument("--tf32", action="store_true", help="TF32 matrix products on a GPU (float32 precision 'high')")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bq-routing"))
    p.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.tf32:
        torch.set_float32_matmul_precision("high")

    cfg = BQConfig(dim=a.dim, layers=a.layers, heads=a.heads, ff_dim=a.ff_dim, batch_size=a.batch_size, lr=a.lr,
                   train_instances=a.train_instances, expert_time_limit=a.expert_time_limit, beam_size=0,
                   grad_clip=a.grad_clip, scale_attention=a.scale_attention)
    run = a.out / f"{a.problem}{a.size}"
    resume = (run / "checkpoint.pt").exists()
    res = train_bq(a.problem, a.size, run, cfg, steps=a.steps, eval_every=a.eval_every, seed=a.seed, resume=resume,
                   threads=a.threads, time_budget_s=a.hours * 3600, device=a.device, test=False, workers=a.workers)
    policy = res["policy"].eval()
    print(f"trained {res['steps']} steps in {res['train_time_s'] / 3600:.2f} h "
          f"(best validation greedy gap {res['best_val_gap_pct']:+.2f}%)")

    rows = []
    for size, count in [(a.size, a.test_instances)] + [(s, a.gen_instances) for s in a.gen_sizes]:
        test = solved_set(a.problem, size, count, seed=0, split="test", workers=a.workers)
        inst = test.instances()
        ref = test.objective
        methods = {"bq greedy": lambda: greedy(policy, inst)}
        width = a.beam if size == a.size or a.gen_beam is None else a.gen_beam
        if width > 1:
            methods[f"bq beam {width}"] = lambda: beam_search(policy, inst, width)
        from orl_envs.routing.solvers import solve

        for h in HEURISTICS[a.problem]:
            methods[h] = lambda h=h: np.array([solve(i, h).objective for i in inst])
        for name, fn in methods.items():
            t = time.time()
            obj = fn()
            dt = (time.time() - t) / count
            rows.append({"problem": a.problem, "train_size": a.size, "test_size": size, "instances": count,
                         "method": name, "objective": f"{obj.mean():.5f}",
                         "gap_pct": f"{gap(obj, ref, MAXIMISE[a.problem]):.3f}", "s_per_instance": f"{dt:.4f}",
                         "reference": f"{test.method} {ref.mean():.5f}", "train_steps": res["steps"],
                         "train_hours": f"{res['train_time_s'] / 3600:.2f}"})
            print(f"{a.problem}{size} ({count} instances) {name:>20}: objective {obj.mean():.4f}, gap "
                  f"{rows[-1]['gap_pct']}% ({dt * 1000:.1f} ms/instance); {test.method} {ref.mean():.4f}")
    a.results.mkdir(parents=True, exist_ok=True)
    write_csv(a.results / f"bq_{a.problem}{a.size}.csv", rows, FIELDS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
