"""Dataset generation speed: orl's collector against raw Hopper-v5 stepping, in one run.

Raw stepping is the ceiling: one ``Hopper-v5`` env (with Gymnasium's wrappers) stepped with
pre-drawn random actions and reset on episode end, doing nothing else. orl's collector steps
16 environments in lockstep, runs the SAC actor (256x256, numpy) once per step on the batch of
observations, samples tanh-Gaussian actions, and keeps every episode. Target (datasets issue):
collector / raw >= 0.6.

    python experiments/bench_generate.py [--steps 100000] [--policy path/to/actor.npz]

Without ``--policy`` the actor has random weights of the real shapes (the cost is the same).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.data.behaviour import TanhGaussianPolicy  # noqa: E402
from orl.data.collect import collect  # noqa: E402


def random_actor(obs_dim: int, act_dim: int, seed: int = 0) -> TanhGaussianPolicy:
    rng = np.random.default_rng(seed)

    def lin(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
        return (rng.normal(size=(n_out, n_in)) / np.sqrt(n_in)).astype(np.float32), np.zeros(n_out, np.float32)

    w = {}
    for name, (i, o) in {"latent_pi_0": (obs_dim, 256), "latent_pi_2": (256, 256), "mu": (256, act_dim),
                         "log_std": (256, act_dim)}.items():
        w[f"{name}_weight"], w[f"{name}_bias"] = lin(i, o)
    return TanhGaussianPolicy(w)


def raw_steps_per_s(env_id: str, steps: int) -> float:
    env = gym.make(env_id)
    actions = np.random.default_rng(0).uniform(-1, 1, (steps, env.action_space.shape[0])).astype(np.float32)
    env.reset(seed=0)
    t = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="Hopper-v5")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--envs", type=int, default=16)
    p.add_argument("--policy", type=Path)
    args = p.parse_args()
    probe = gym.make(args.env)
    actor = (TanhGaussianPolicy.load(args.policy) if args.policy else
             random_actor(probe.observation_space.shape[0], probe.action_space.shape[0]))
    raw = raw_steps_per_s(args.env, args.steps)
    t = time.perf_counter()
    buf = collect(args.env, actor.act, args.steps, seed=0, n_envs=args.envs)
    orl = len(buf) / (time.perf_counter() - t)
    print(f"{args.env}, {args.steps:,} transitions, {args.envs} envs in lockstep, numpy SAC actor "
          f"({'weights ' + str(args.policy) if args.policy else 'random weights'})")
    print(f"raw env stepping : {raw:10,.0f} steps/s")
    print(f"orl collector    : {orl:10,.0f} transitions/s  ({buf.num_episodes} episodes)")
    print(f"ratio            : {orl / raw:10.2f}   target >= 0.6: {'met' if orl / raw >= 0.6 else 'MISSED'}")


if __name__ == "__main__":
    main()
