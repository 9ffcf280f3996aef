"""Population training speed: member-updates/s of P members in one batched model against P separate runs.

    python experiments/bench_population.py                       # CPU, all algorithms, P = 1, 3, 9, 27
    python experiments/bench_population.py --algos td3bc a2pr --populations 1 27 --device cuda

For each algorithm and population size P, one process trains a population of P members (Hopper
shapes: 11-dim observations, 3-dim actions, batch 256, the algorithms' default networks) for about
``--seconds`` and reports member-updates/s (P x updates/s). The peer, measured in the same run, is P
separate single runs. On a CPU the comparison is per core: the population and a single run each get
one thread, and P single runs on one core do P x (single-run updates/s) / P member-updates/s, i.e.
the single run's rate (a machine with c cores runs c populations or c single runs side by side, so
the ratio carries over). On a GPU the peer is min(P, ``--cores``) single-run processes sharing the
device, measured running together. FLOPs per update come from ``torch.utils.flop_counter`` on one real update, and the
achieved rate is also given as a share of the machine's dense float32 matmul rate, measured here with
a 2048 x 2048 matmul.

``--compile`` also measures every population with its update step compiled (``compile=true``,
:mod:`orl.train.compiled`: on CUDA replayed as CUDA graphs) and prints compiled / eager; ``--matmul-precision
high`` allows TF32 (stated in every row).

The speed targets of issue 16 are for an H200 (TD3+BC P=27 >= 20,000 member-updates/s; A2PR P=27
>= 7,500; A2PR P=1 >= 1,000 updates/s); on a CPU the script measures what populations gain there.
Results go to stdout (a Markdown table) and, with ``--out``, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OBS, ACT, BATCH = 11, 3, 256


def _buffer(n: int = 100_000):
    """A Hopper-shaped dataset of random transitions (speed does not depend on the values)."""
    from orl.data.buffer import ReplayBuffer

    rng = np.random.default_rng(0)
    timeouts = np.zeros(n, bool)
    timeouts[999::1000] = True
    return ReplayBuffer.from_arrays(observations=rng.normal(size=(n, OBS)).astype(np.float32),
                                    actions=rng.uniform(-1, 1, (n, ACT)).astype(np.float32),
                                    rewards=rng.normal(size=n).astype(np.float32), terminals=np.zeros(n, bool),
                                    timeouts=timeouts)


def _measure(algo_name: str, P: int, seconds: float, threads: int, device: str, seed0: int = 0,
             compile: bool = False) -> dict:
    """Updates/s of a population of P (``P = 1``: a single run) and the FLOPs of one update;
    ``compile``: through :func:`orl.train.compiled.compiled_update`, as ``compile=true`` trains."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from orl.train.compiled import compiled_update
    from orl.train.offline import Member, MemberBatches, make_algorithm

    torch.set_num_threads(threads)
    buf = _buffer()
    seeds = list(range(seed0, seed0 + P))
    algo = make_algorithm(algo_name, buf, -np.ones(ACT), np.ones(ACT), None, seeds=seeds).to(device)
    batches = MemberBatches([Member(buf, s, "Hopper-v5") for s in seeds], "uniform", 0.1, 10.0, BATCH)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with FlopCounterMode(display=False) as fc:  # two eager updates: one with and one without the actor step
        algo.update(batches.sample().to(device))
        algo.update(batches.sample().to(device))
    flops = fc.get_total_flops() / 2
    update = compiled_update(algo, device) if compile else algo.update
    t_warm = time.perf_counter()
    for _ in range(8 if compile else 3):  # warm-up: allocator, kernels; compiling and recording the graphs
        update(batches.sample().to(device))
    sync()
    warmup_s = time.perf_counter() - t_warm
    n, t0 = 0, time.perf_counter()
    while True:
        update(batches.sample().to(device))
        n += 1
        if n % 2 == 0:
            sync()
            if time.perf_counter() - t0 >= seconds:
                break
    dt = time.perf_counter() - t0
    return {"updates_per_s": n / dt, "flops_per_update": flops, "updates": n, "warmup_s": warmup_s}


def _single_worker(args) -> float:
    algo_name, seconds, device, seed = args
    os.environ["OMP_NUM_THREADS"] = "1"
    return _measure(algo_name, 1, seconds, 1, device, seed)["updates_per_s"]


def matmul_rate(device: str, threads: int) -> float:
    """Dense float32 matmul FLOP/s (2048 x 2048 x 2048) on ``device`` with ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(2):
        a @ b
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        a @ b
        n += 1
    sync()
    return 2 * 2048**3 * n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algos", nargs="+", default=["bc", "td3bc", "iql", "cql", "a2pr"])
    ap.add_argument("--populations", nargs="+", type=int, default=[1, 3, 9, 27])
    ap.add_argument("--seconds", type=float, default=4.0, help="timed seconds per measurement (after warm-up)")
    ap.add_argument("--cores", type=int, default=os.cpu_count(), help="cores the peer's separate runs may use")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, help="also write the results as JSON")
    ap.add_argument("--compile", action="store_true", help="also measure the compiled update step (compile=true)")
    ap.add_argument("--no-peer", action="store_true", help="skip the separate-runs peer (e.g. a compile-only pass)")
    ap.add_argument("--matmul-precision", default="highest", choices=["highest", "high", "medium"],
                    help="torch.set_float32_matmul_precision for every measurement (high: TF32 on a GPU)")
    args = ap.parse_args()
    import torch

    from orl.utils.atomic import atomic_path

    torch.set_float32_matmul_precision(args.matmul_precision)
    threads = 1
    peak = matmul_rate(args.device, threads)
    print(f"device {args.device}; float32 matmul rate {peak / 1e9:.1f} GFLOP/s ({threads} thread, "
          f"matmul precision {args.matmul_precision})", flush=True)
    ctx = mp.get_context("spawn")
    rows = []
    single: dict[str, float] = {}
    print("| algorithm | P | population member-updates/s | peer: P separate runs, member-updates/s | population / peer "
          "| GFLOP per member-update | share of matmul rate |" + (" compiled member-updates/s | compiled / eager |"
                                                                  if args.compile else ""))
    print("|---|---|---|---|---|---|---|" + ("---|---|" if args.compile else ""))
    for algo in args.algos:
        for P in args.populations:
            pop = _measure(algo, P, args.seconds, threads, args.device)
            if args.no_peer:
                peer = float("nan")
            elif args.device == "cpu":  # per core: P single runs share it, one after another
                peer = single.setdefault(algo, _measure(algo, 1, args.seconds, 1, "cpu")["updates_per_s"])
            else:
                k = min(P, args.cores)  # separate single-run processes that share the device at once
                with ctx.Pool(k) as pool:
                    peer = sum(pool.map(_single_worker, [(algo, args.seconds, args.device, s) for s in range(k)]))
            member_rate = P * pop["updates_per_s"]
            share = pop["flops_per_update"] * pop["updates_per_s"] / peak
            row = {"algo": algo, "P": P, "member_updates_per_s": member_rate, "peer_member_updates_per_s": peer,
                   "ratio": member_rate / peer, "gflop_per_member_update": pop["flops_per_update"] / P / 1e9,
                   "share_of_matmul_rate": share, "device": args.device, "cores": args.cores,
                   "matmul_gflops": peak / 1e9, "matmul_precision": args.matmul_precision,
                   "date": time.strftime("%Y-%m-%d")}
            extra = ""
            if args.compile:
                comp = _measure(algo, P, args.seconds, threads, args.device, compile=True)
                row.update(compiled_member_updates_per_s=P * comp["updates_per_s"],
                           compiled_over_eager=comp["updates_per_s"] / pop["updates_per_s"],
                           compiled_share_of_matmul_rate=pop["flops_per_update"] * comp["updates_per_s"] / peak,
                           compile_warmup_s=comp["warmup_s"])
                extra = f" {row['compiled_member_updates_per_s']:,.0f} | {row['compiled_over_eager']:.2f}x |"
            rows.append(row)
            print(f"| {algo} | {P} | {member_rate:,.0f} | {peer:,.0f} | {member_rate / peer:.2f}x | "
                  f"{row['gflop_per_member_update']:.2f} | {100 * share:.0f}% |" + extra, flush=True)
            if args.out:  # after every row: a run cut off by a time limit keeps what it measured
                with atomic_path(args.out) as tmp:
                    tmp.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
