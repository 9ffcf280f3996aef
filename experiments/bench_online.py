"""PPO speed: env-steps/s of orl's PPO against Stable-Baselines3's PPO, measured in the same run.

    python experiments/bench_online.py                        # Hopper-v5, 5 updates of 2048 steps each
    python experiments/bench_online.py --env Walker2d-v5 --updates 10 --repeats 3

Both train PPO with the same settings on one thread: CleanRL's / SB3's MuJoCo defaults, one
environment, n = 2048 steps per update, 10 epochs of 32 minibatches (64 samples), separate 64-64
tanh actor and critic, observation and reward normalisation (SB3: ``VecNormalize``), clip 0.2,
GAE(0.99, 0.95). A measurement is the wall time of ``--updates`` updates including the environment
steps, from a fresh agent, excluding set-up. orl's sampling-error diagnostic is off (``se_every=0``)
and its one evaluation episode is excluded, so both time the same work. The best of ``--repeats``
alternating measurements is kept for each (the machine is shared; the best is the least disturbed).

``--compile`` measures orl with its minibatch losses compiled (``compile=true``, the same maths); the
compile time falls in the first repeat, so keep ``--repeats`` >= 2.

Issue 17's target: orl >= 1.5x SB3.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_STEPS = 2048


def time_orl(env_id: str, updates: int, seed: int, compile: bool = False) -> float:
    """Seconds for ``updates`` PPO updates (env steps included) in orl, one evaluation episode excluded."""
    import orl.train.online as online
    from orl.algos.online.ppo import PPOConfig

    evaluated: list[float] = []
    real_evaluate = online.evaluate

    def timed_evaluate(*args, **kwargs):  # the evaluation is not part of the comparison
        t = time.perf_counter()
        out = real_evaluate(*args, **kwargs)
        evaluated.append(time.perf_counter() - t)
        return out

    online.evaluate = timed_evaluate
    try:
        with tempfile.TemporaryDirectory() as d:
            cfg = PPOConfig(num_steps=N_STEPS, se_every=0, compile=compile)
            t0 = time.perf_counter()
            online.train_online(env_id, d, cfg, steps=updates * N_STEPS, seed=seed, eval_every=updates * N_STEPS,
                                eval_episodes=1, threads=1, progress=False)
            return time.perf_counter() - t0 - sum(evaluated)
    finally:
        online.evaluate = real_evaluate


def time_sb3(env_id: str, updates: int, seed: int) -> float:
    """Seconds for ``updates`` updates of Stable-Baselines3's PPO with the same settings."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.set_num_threads(1)
    env = VecNormalize(DummyVecEnv([lambda: gym.make(env_id)]), norm_obs=True, norm_reward=True, clip_obs=10.0,
                       clip_reward=10.0, gamma=0.99)
    model = PPO("MlpPolicy", env, n_steps=N_STEPS, batch_size=N_STEPS // 32, n_epochs=10, gamma=0.99,
                gae_lambda=0.95, clip_range=0.2, ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, learning_rate=3e-4,
                policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": torch.nn.Tanh},
                seed=seed, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=updates * N_STEPS)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="Hopper-v5")
    ap.add_argument("--updates", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="orl with compiled minibatch losses (compile=true)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    steps = args.updates * N_STEPS
    orl_s, sb3_s = [], []
    for r in range(args.repeats):  # alternate, so a disturbance hits both alike
        orl_s.append(time_orl(args.env, args.updates, r, args.compile))
        sb3_s.append(time_sb3(args.env, args.updates, r))
        print(f"repeat {r}: orl {steps / orl_s[-1]:,.0f} env-steps/s, SB3 {steps / sb3_s[-1]:,.0f} env-steps/s",
              flush=True)
    orl_rate, sb3_rate = steps / min(orl_s), steps / min(sb3_s)
    if args.compile:
        print("orl: compile=true")
    print(f"| env | updates x steps | orl PPO env-steps/s | SB3 PPO env-steps/s | orl / SB3 |\n|---|---|---|---|---|\n"
          f"| {args.env} | {args.updates} x {N_STEPS} | {orl_rate:,.0f} | {sb3_rate:,.0f} | {orl_rate / sb3_rate:.2f}x |")


if __name__ == "__main__":
    main()
