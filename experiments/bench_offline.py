"""Training speed of orl's offline algorithms against d3rlpy 2.8.1, and against the machine's matmul bound.

    python experiments/bench_offline.py --d3rlpy-python /path/to/d3rlpy-venv/bin/python

d3rlpy pins gymnasium 1.0.0, so it lives in a virtual environment of its own::

    python3 -m venv ~/venv-d3rlpy && ~/venv-d3rlpy/bin/pip install torch==2.13.0 && \\
        ~/venv-d3rlpy/bin/pip install d3rlpy==2.8.1 h5py

What is measured, per algorithm, each library in a fresh process with one torch thread:

- **updates/s**: ``steps`` complete training steps (draw a batch of 256 from the same 100k-row
  Hopper-v5 dataset + one update), after ``warmup`` untimed steps. d3rlpy runs the loop of its
  own ``fit()`` (``dataset.sample_transition_batch`` + ``algo.update``) without the logger.
- **FLOPs per update**: counted by ``torch.utils.flop_counter.FlopCounterMode`` over one update
  (matrix products of the forward and backward passes), each library its own.
- **share of the bound** = FLOPs per update x updates/s / the single-thread sgemm GFLOP/s measured
  in this run (the better of 256 x 256 by 256 x 256 and 7936 x 256 by 256 x 256 products, the
  shapes of a batch and of CQL's 31 actions per state).

Same settings on both sides: batch 256, states standardised, the network sizes of orl's defaults
(BC, TD3+BC, IQL: 256-256; CQL: 256-256-256 actor and critics, 10 sampled actions per kind,
fixed conservative weight). A2PR (no d3rlpy counterpart) is reported alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH = 256
ALGOS = ("bc", "td3bc", "iql", "cql", "a2pr")
NO_PEER = {"a2pr"}


# ----------------------------------------------------------------------------- workers
def _count_flops(update, n: int = 2) -> float:
    """FLOPs per update, averaged over ``n`` updates (TD3-style actors update every second step)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        for _ in range(n):
            update()
    return float(counter.get_total_flops()) / n


def _time(step, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t0)


def worker_orl(algo_name: str, data: str, steps: int, warmup: int) -> dict:
    import numpy as np
    import torch

    from orl.data.io import load_hdf5
    from orl.train.offline import make_algorithm

    torch.set_num_threads(1)
    torch.manual_seed(0)
    buffer = load_hdf5(data)
    low, high = -np.ones(buffer.action_dim, np.float32), np.ones(buffer.action_dim, np.float32)
    algo = make_algorithm(algo_name, buffer, low, high, total_steps=steps + warmup + 2)
    rng = np.random.default_rng(0)
    flops = _count_flops(lambda: algo.update(buffer.sample(BATCH, rng)))
    rate = _time(lambda: algo.update(buffer.sample(BATCH, rng)), steps, warmup)
    return {"updates_per_s": rate, "flops_per_update": flops}


def worker_d3rlpy(algo_name: str, data: str, steps: int, warmup: int) -> dict:
    import d3rlpy
    import h5py
    import torch

    torch.set_num_threads(1)
    d3rlpy.seed(0)
    with h5py.File(data, "r") as f:
        cols = {k: f[k][()] for k in ("observations", "actions", "rewards", "terminals", "timeouts")}
    timeouts = cols["timeouts"].copy()
    timeouts[-1] = not cols["terminals"][-1]  # d3rlpy wants every episode closed
    dataset = d3rlpy.dataset.MDPDataset(cols["observations"], cols["actions"], cols["rewards"], cols["terminals"],
                                        timeouts, action_space=d3rlpy.constants.ActionSpace.CONTINUOUS)
    enc = d3rlpy.models.encoders.VectorEncoderFactory
    scaler = d3rlpy.preprocessing.StandardObservationScaler()
    two, three = enc([256, 256]), enc([256, 256, 256])
    if algo_name == "bc":
        cfg = d3rlpy.algos.BCConfig(batch_size=BATCH, learning_rate=3e-4, encoder_factory=two,
                                    observation_scaler=scaler)
    elif algo_name == "td3bc":
        cfg = d3rlpy.algos.TD3PlusBCConfig(batch_size=BATCH, actor_encoder_factory=two, critic_encoder_factory=two,
                                           observation_scaler=scaler)
    elif algo_name == "iql":
        cfg = d3rlpy.algos.IQLConfig(batch_size=BATCH, actor_encoder_factory=two, critic_encoder_factory=two,
                                     value_encoder_factory=two, observation_scaler=scaler)
    elif algo_name == "cql":
        cfg = d3rlpy.algos.CQLConfig(batch_size=BATCH, actor_encoder_factory=three, critic_encoder_factory=three,
                                     actor_learning_rate=3e-5, conservative_weight=10.0, n_action_samples=10,
                                     alpha_learning_rate=0.0, observation_scaler=scaler)
    else:
        raise ValueError(f"no d3rlpy counterpart for {algo_name!r}")
    algo = cfg.create(device="cpu:0")
    from d3rlpy.algos.utility import build_scalers_with_transition_picker

    build_scalers_with_transition_picker(algo, dataset)  # what fit() does first
    algo.build_with_dataset(dataset)

    def step():
        algo.update(dataset.sample_transition_batch(BATCH))

    flops = _count_flops(step)
    return {"updates_per_s": _time(step, steps, warmup), "flops_per_update": flops, "version": d3rlpy.__version__}


# ----------------------------------------------------------------------------- driver
def sgemm_gflops(rows: int, n: int = 256, seconds: float = 2.0) -> float:
    """Single-thread float32 GFLOP/s of ``(rows x n) @ (n x n)`` products."""
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(rows, n), torch.randn(n, n)
    for _ in range(20):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * rows * n * n * reps / (time.perf_counter() - t0) / 1e9


def make_data(path: Path, rows: int) -> None:
    """``rows`` transitions of uniform-random Hopper-v5 play, in the D4RL HDF5 layout."""
    from orl.data.collect import collect
    from orl.data.io import save_hdf5

    buffer = collect("Hopper-v5", None, rows, seed=0)
    save_hdf5(buffer, path)


def run_worker(python: str, lib: str, algo: str, data: Path, steps: int, warmup: int) -> dict:
    cmd = [python, __file__, "--worker", lib, "--algo", algo, "--data", str(data), "--steps", str(steps),
           "--warmup", str(warmup)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{lib} {algo} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--d3rlpy-python", default=os.environ.get("D3RLPY_PYTHON"),
                   help="python of a venv with d3rlpy 2.8.1 (or $D3RLPY_PYTHON); without it only orl is measured")
    p.add_argument("--algos", default=",".join(ALGOS))
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--worker", choices=("orl", "d3rlpy"), help=argparse.SUPPRESS)
    p.add_argument("--algo", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        fn = worker_orl if args.worker == "orl" else worker_d3rlpy
        print(json.dumps(fn(args.algo, args.data, args.steps, args.warmup)))
        return

    algos = args.algos.split(",")
    bad = [a for a in algos if a not in ALGOS]
    if bad:
        raise SystemExit(f"unknown algorithm {bad[0]!r}; choose from {', '.join(ALGOS)}")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "hopper-uniform.hdf5"
        make_data(data, args.rows)
        # the bound: the better of a batch-sized and a CQL-sized (31 x 256 rows) product
        small, large = sgemm_gflops(BATCH), sgemm_gflops(31 * BATCH)
        gflops = max(small, large)
        print(f"sgemm (1 thread): {small:.1f} GFLOP/s at 256x256x256, {large:.1f} at {31 * BATCH}x256x256; "
              f"bound {gflops:.1f}. Batch {BATCH}, {args.steps} timed steps, {args.rows} rows of Hopper-v5")
        print(f"{'algo':6} {'orl upd/s':>10} {'d3rlpy upd/s':>13} {'ratio':>6} {'orl MFLOP':>10} {'orl bound':>10} "
              f"{'d3rlpy bound':>13}")
        rows = []
        for algo in algos:
            o = run_worker(sys.executable, "orl", algo, data, args.steps, args.warmup)
            d = None
            if args.d3rlpy_python and algo not in NO_PEER:
                d = run_worker(args.d3rlpy_python, "d3rlpy", algo, data, args.steps, args.warmup)
            share = lambda r: r["updates_per_s"] * r["flops_per_update"] / (gflops * 1e9)  # noqa: E731
            rows.append({"algo": algo, "orl": o, "d3rlpy": d, "sgemm_gflops": gflops})
            d_rate = f"{d['updates_per_s']:.1f}" if d else "-"
            ratio = f"{o['updates_per_s'] / d['updates_per_s']:.2f}x" if d else "-"
            d_share = f"{share(d):.0%}" if d else "-"
            print(f"{algo:6} {o['updates_per_s']:10.1f} {d_rate:>13} {ratio:>6} {o['flops_per_update'] / 1e6:10.1f} "
                  f"{share(o):10.0%} {d_share:>13}")
        if os.environ.get("ORL_BENCH_JSON"):
            Path(os.environ["ORL_BENCH_JSON"]).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
