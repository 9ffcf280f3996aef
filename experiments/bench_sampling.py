"""Cost of drawing a 256-transition batch from a 1M-transition buffer with each sampler.

Prints, per sampler, the amortised cost per batch of (a) the draw — choosing which 256
transitions, the sampler's work — and (b) the whole ``ReplayBuffer.sample`` (the draw plus
gathering the rows into torch tensors, the same for every sampler), the one-off set-up
(trajectory weights and the alias table), and a ratio against a peer measured in the same run:
``numpy.random.Generator.choice(N, 256, p=p)`` per batch, the straightforward way to draw from
the same distribution. Target (foundation issue): a draw under 50 us per batch for uniform, rw
and aw. Hopper shapes: observations 11, actions 3; 1000 episodes of 1000 steps.

Run it on an otherwise idle machine: other processes on the 2 cores inflate every figure.

    python experiments/bench_sampling.py [--transitions 1000000] [--batches 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.data import ReplayBuffer, make_sampler  # noqa: E402


def synthetic(n: int, episode_len: int, seed: int = 0) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, 11)).astype(np.float32)
    nxt = np.roll(obs, -1, axis=0)
    tout = np.zeros(n, bool)
    tout[episode_len - 1 :: episode_len] = True
    nxt[tout] = rng.normal(size=(int(tout.sum()), 11))  # episode boundaries are discontinuities
    rewards = rng.normal(loc=rng.normal(size=n // episode_len + 1).repeat(episode_len)[:n], scale=1.0)
    return ReplayBuffer.from_arrays(obs, rng.uniform(-1, 1, (n, 3)), rewards, np.zeros(n, bool), tout,
                                    next_observations=nxt)


def per_call_us(fn, batches: int) -> float:
    fn()  # warm-up (and cache fill)
    t = time.perf_counter()
    for _ in range(batches):
        fn()
    return (time.perf_counter() - t) / batches * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--transitions", type=int, default=1_000_000)
    p.add_argument("--batches", type=int, default=5000)
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args()
    torch.set_num_threads(1)
    buf = synthetic(args.transitions, 1000)
    print(f"buffer: {len(buf):,} transitions, {buf.num_episodes} episodes; batch {args.batch_size}; "
          f"{args.batches} batches per measurement; torch threads 1")
    header = f"{'sampler':<8} {'setup ms':>9} {'draw us':>8} {'batch us':>9} {'peer draw us':>13} {'peer/orl draw':>14}  target (draw)"
    print(header)
    print("-" * len(header))
    for name in ("uniform", "rw", "aw", "topk"):
        sampler = make_sampler(name)
        t = time.perf_counter()
        probs = sampler.probabilities(buf)
        sampler.sample_rows(buf, 1, np.random.default_rng(0))
        setup_ms = (time.perf_counter() - t) * 1e3
        rng = np.random.default_rng(1)
        idx_us = per_call_us(lambda: sampler.sample_rows(buf, args.batch_size, rng), args.batches)
        buf.sampler = sampler
        batch_us = per_call_us(lambda: buf.sample(args.batch_size, rng), args.batches)
        peer_batches = max(args.batches // 50, 20)  # the peer redoes O(N) work per batch
        peer_us = per_call_us(lambda: rng.choice(len(buf), args.batch_size, p=probs), peer_batches)
        target = "-" if name == "topk" else ("< 50 us: " + ("met" if idx_us < 50 else "MISSED"))
        print(f"{name:<8} {setup_ms:9.1f} {idx_us:8.1f} {batch_us:9.1f} {peer_us:13.1f} {peer_us / idx_us:14.0f}  {target}")


if __name__ == "__main__":
    main()
