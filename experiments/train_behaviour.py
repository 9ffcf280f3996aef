"""Train the SAC behaviour policies of orl's locomotion datasets (D4RL protocol), resumably.

D4RL's behaviour policies were SAC agents (rlkit); orl trains them with stable-baselines3 SAC
on Gymnasium's MuJoCo v5 environments, with RL-Zoo's SAC settings for these tasks (defaults,
``learning_starts=10000``). See D4RL's generation protocol (Fu et al., arXiv 2004.07219; code
``Farama-Foundation/D4RL``, ``scripts/generation/mujoco/``), ``orl/data/locomotion.py`` and the datasets docs.

Every ``--ckpt-every`` environment steps (default 10k) the run

1. evaluates the current policy for ``--eval-episodes`` episodes, deterministic (mean action)
   and stochastic (tanh-Gaussian samples, the way datasets are collected), and appends a row to
   ``evals.csv`` (and TensorBoard);
2. stores the actor as a small numpy file ``snapshots/step_XXXXXXX.npz`` (the medium/expert
   candidates are chosen from these); actor snapshots are also kept every ``--snapshot-every``
   steps (default 2k) in between, so the medium-replay sequence can hold 10-30 policies even
   when the medium level is reached within the first 50k steps;
3. writes a full checkpoint (model + optimiser state in ``ckpt/model.zip``, the replay buffer
   in ``ckpt/replay_buffer.pkl``, the step in ``ckpt/state.json``), each file atomically.

Killed at any moment, the same command resumes from the last checkpoint. If the replay buffer
is gone but the model is there (the buffer of a 1M-step run is 200-300 MB and is not shipped
between machines), training resumes from the model with an empty buffer, which SB3's warm-up
refills with ``learning_starts`` steps of uniform-random actions before updates restart; every
resumption is recorded in ``manifest.json`` under ``segments``. If everything is gone, it
starts over. Run one process per core::

    nice -n 10 python experiments/train_behaviour.py --env Hopper-v5 &
    nice -n 10 python experiments/train_behaviour.py --env Walker2d-v5 &

Outputs go to ``$ORL_DATA_DIR/behaviour/<env>/seed<seed>/`` (``ORL_DATA_DIR`` defaults to ``~/.orl``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.data.behaviour import sb3_actor_arrays  # noqa: E402
from orl.utils.atomic import atomic_path, write_csv, write_json  # noqa: E402

EVAL_FIELDS = ["step", "wall_s", "det_mean", "det_std", "stoch_mean", "stoch_std", "env_steps_per_s"]


def data_root() -> Path:
    return Path(os.environ.get("ORL_DATA_DIR", Path.home() / ".orl")).expanduser()


def evaluate(model, env_id: str, episodes: int, deterministic: bool, seed: int) -> tuple[float, float]:
    env = gym.make(env_id)
    returns = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done, ret = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=deterministic)
            obs, r, term, trunc, _ = env.step(action)
            ret += float(r)
            done = term or trunc
        returns.append(ret)
    env.close()
    return float(np.mean(returns)), float(np.std(returns))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", required=True, choices=["Hopper-v5", "HalfCheetah-v5", "Walker2d-v5"])
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ckpt-every", type=int, default=10_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--snapshot-every", type=int, default=2_000, help="actor snapshots between checkpoints")
    p.add_argument("--learning-starts", type=int, default=10_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--root", type=Path, default=None, help="run directory (default: $ORL_DATA_DIR/behaviour/<env>/seed<seed>)")
    args = p.parse_args(argv)
    if args.steps <= 0 or args.ckpt_every <= 0 or args.snapshot_every <= 0:
        p.error(f"--steps, --ckpt-every and --snapshot-every must be positive, got {args.steps}, {args.ckpt_every}"
                f" and {args.snapshot_every}")

    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(args.threads)
    root = args.root or data_root() / "behaviour" / args.env / f"seed{args.seed}"
    ckpt, snaps = root / "ckpt", root / "snapshots"
    snaps.mkdir(parents=True, exist_ok=True)
    ckpt.mkdir(parents=True, exist_ok=True)
    state_file, model_file, buffer_file = ckpt / "state.json", ckpt / "model.zip", ckpt / "replay_buffer.pkl"
    evals_file = root / "evals.csv"

    env = gym.make(args.env)
    versions = {m: __import__(m).__version__ for m in ["stable_baselines3", "gymnasium", "mujoco", "torch", "numpy"]}
    start_step = 0
    if model_file.exists() and state_file.exists():
        model = SAC.load(model_file, env=env, device="cpu")
        start_step = model.num_timesteps  # the model file is the truth; state.json only mirrors it
        if buffer_file.exists():
            model.load_replay_buffer(buffer_file)
            print(f"resumed {args.env} at step {start_step} (model + {model.replay_buffer.size()} buffered transitions)")
        else:
            # The buffer was lost: SB3's warm-up (random actions) refills it before updates restart.
            model.learning_starts = start_step + args.learning_starts
            print(f"resumed {args.env} at step {start_step} from the model only; replay buffer lost, refilling")
        # Provenance: every resumption (machine, library versions, whether the buffer survived).
        manifest = json.loads((root / "manifest.json").read_text()) if (root / "manifest.json").exists() else {}
        manifest.setdefault("segments", []).append({
            "resumed_at_step": start_step, "host": os.uname().nodename, "versions": versions,
            "replay_buffer": "kept" if buffer_file.exists() else f"lost; refilled for {args.learning_starts} steps"})
        write_json(root / "manifest.json", manifest)
    else:
        model = SAC("MlpPolicy", env, learning_starts=args.learning_starts, seed=args.seed, device="cpu",
                    tensorboard_log=str(root / "tb"), verbose=0)
        write_json(root / "manifest.json", {
            "env": args.env, "seed": args.seed, "algorithm": "stable-baselines3 SAC (RL-Zoo settings)",
            "learning_starts": args.learning_starts, "target_steps": args.steps,
            "versions": versions, "host": os.uname().nodename,
        })
    # Rows past the checkpoint belong to a run that was cut off: drop them so the log stays consistent.
    rows = []
    if evals_file.exists():
        with open(evals_file) as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start_step]

    def write_evals() -> None:
        write_csv(evals_file, rows, EVAL_FIELDS)

    class Checkpointer(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.t0, self.s0 = time.time(), start_step

        def _on_step(self) -> bool:
            n = self.num_timesteps
            if n % args.snapshot_every == 0 and n % args.ckpt_every:
                with atomic_path(snaps / f"step_{n:07d}.npz", suffix=".npz") as tmp:
                    np.savez(tmp, **sb3_actor_arrays(self.model))
            if n % args.ckpt_every:
                return True
            rate = (n - self.s0) / max(time.time() - self.t0, 1e-9)
            det = evaluate(self.model, args.env, args.eval_episodes, True, seed=10_000 + n)
            sto = evaluate(self.model, args.env, args.eval_episodes, False, seed=20_000 + n)
            rows.append({"step": n, "wall_s": round(time.time() - self.t0, 1), "det_mean": det[0], "det_std": det[1],
                         "stoch_mean": sto[0], "stoch_std": sto[1], "env_steps_per_s": round(rate, 1)})
            self.logger.record("eval/det_return", det[0])
            self.logger.record("eval/stoch_return", sto[0])
            with atomic_path(snaps / f"step_{n:07d}.npz", suffix=".npz") as tmp:
                np.savez(tmp, **sb3_actor_arrays(self.model))
            with atomic_path(model_file, suffix=".zip") as tmp:
                self.model.save(tmp)
            with atomic_path(buffer_file, suffix=".pkl") as tmp:
                self.model.save_replay_buffer(tmp)
            write_json(state_file, {"step": n})  # written last: it names a complete checkpoint
            write_evals()
            print(f"{args.env} step {n}: det {det[0]:.0f}±{det[1]:.0f}, stoch {sto[0]:.0f}±{sto[1]:.0f}, "
                  f"{rate:.0f} steps/s", flush=True)
            self.t0, self.s0 = time.time(), n
            return True

    remaining = args.steps - start_step
    if remaining > 0:
        model.learn(remaining, callback=Checkpointer(), reset_num_timesteps=start_step == 0,
                    tb_log_name="sac", progress_bar=False)
    print(f"{args.env}: done at {args.steps} steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
