"""d3rlpy side of the peer cross-check (``experiments/peer_d3rlpy.py``): one (algorithm, dataset, seed) run.

Runs with the python of a separate d3rlpy venv (d3rlpy 2.8.1 pins gymnasium 1.0.0; it is never an orl
dependency) and imports nothing from orl. It reads a D4RL-layout HDF5 file written by
``orl.data.io.save_hdf5`` into a d3rlpy ``MDPDataset`` (episodes split at ``terminals | timeouts``, as
d3rlpy does), trains d3rlpy's ``TD3PlusBC`` or ``IQL`` with settings matched to orl's (see ``settings``),
and evaluates every ``--eval-every`` updates with orl's protocol (``orl.data.collect.evaluate``, re-stated
here): ``--eval-episodes`` Gymnasium environments stepped in lockstep, resets seeded
``(seed + 100) * 1_000_000 + k``, deterministic actions, scores normalised with the reference scores in the
file's metadata (orl's own random and expert policies, not D4RL's).

``OUT/eval.csv`` gets one row per evaluation (``step, return_mean, return_std, score_mean, score_std``, the
columns of orl's ``eval.csv``); after each evaluation the networks, optimisers (with the cosine schedule),
the update counter and the numpy/torch random states are written atomically to ``OUT/checkpoint.pkl``, and a
rerun with the same arguments continues from there. The last line printed is a JSON summary.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import pickle
import sys
import time
from pathlib import Path

import numpy as np

EVAL_FIELDS = ["step", "return_mean", "return_std", "score_mean", "score_std"]


def load_mdp_dataset(path: Path):
    """(d3rlpy MDPDataset, metadata dict) from an orl-written D4RL-layout HDF5 file."""
    import d3rlpy
    import h5py

    with h5py.File(path, "r") as f:
        obs = f["observations"][:].astype(np.float32)
        actions = f["actions"][:].astype(np.float32)
        rewards = f["rewards"][:].astype(np.float32)
        terminals = f["terminals"][:].astype(np.float32)
        timeouts = f["timeouts"][:].astype(np.float32)
        meta = json.loads(f.attrs["orl_metadata"]) if "orl_metadata" in f.attrs else dict(f.attrs)
    ends = np.flatnonzero(np.logical_or(terminals > 0, timeouts > 0))
    if ends.size == 0 or ends[-1] != len(obs) - 1:
        raise SystemExit(f"{path}: the last row carries no terminal or time-out flag; export it with orl.data.io.save_hdf5")
    dataset = d3rlpy.dataset.MDPDataset(obs, actions, rewards, terminals, timeouts=timeouts,
                                        action_space=d3rlpy.ActionSpace.CONTINUOUS)
    return dataset, meta


def settings(algo: str, tuned: dict, steps: int) -> dict:
    """d3rlpy config kwargs matched to orl's ``algo`` with orl's tuned overrides ``tuned`` for a run of ``steps``."""
    import d3rlpy

    obs_scaler = d3rlpy.preprocessing.StandardObservationScaler()  # (x - mean) / (std + 1e-3), as orl
    if algo == "td3bc":
        known = {"alpha", "discount", "tau", "policy_noise", "noise_clip", "policy_freq", "actor_lr", "critic_lr"}
        if set(tuned) - known:
            raise SystemExit(f"td3bc: orl settings without a d3rlpy counterpart here: {sorted(set(tuned) - known)}")
        return dict(actor_learning_rate=tuned.get("actor_lr", 3e-4), critic_learning_rate=tuned.get("critic_lr", 3e-4),
                    batch_size=256, gamma=tuned.get("discount", 0.99), tau=tuned.get("tau", 0.005), n_critics=2,
                    target_smoothing_sigma=tuned.get("policy_noise", 0.2),
                    target_smoothing_clip=tuned.get("noise_clip", 0.5), alpha=tuned.get("alpha", 2.5),
                    update_actor_interval=tuned.get("policy_freq", 2), observation_scaler=obs_scaler)
    if algo == "iql":
        # deterministic_actor has no d3rlpy counterpart (its IQL always has a Gaussian actor): recorded, not matched
        known = {"deterministic_actor", "tau", "normalize_reward", "expectile", "beta", "discount"}
        if set(tuned) - known:
            raise SystemExit(f"iql: orl settings without a d3rlpy counterpart here: {sorted(set(tuned) - known)}")
        kw = dict(actor_learning_rate=3e-4, critic_learning_rate=3e-4, batch_size=256, gamma=tuned.get("discount", 0.99),
                  tau=tuned.get("tau", 0.005), n_critics=2, expectile=tuned.get("expectile", 0.7),
                  weight_temp=tuned.get("beta", 3.0), max_weight=100.0, observation_scaler=obs_scaler,
                  # orl: the actor's lr decays to 0 by a cosine over the run (T_max = the run's updates)
                  actor_optim_factory=d3rlpy.optimizers.AdamFactory(
                      lr_scheduler_factory=d3rlpy.optimizers.CosineAnnealingLRFactory(T_max=steps)))
        if tuned.get("normalize_reward", True):
            # orl: r * horizon / (max - min episode return), horizon = the longest episode (1000 on Hopper)
            kw["reward_scaler"] = d3rlpy.preprocessing.ReturnBasedRewardScaler(multiplier=1000.0)
        return kw
    raise SystemExit(f"unknown algorithm {algo!r}: td3bc | iql")


def evaluate(env_id: str, act, episodes: int, seed: int) -> np.ndarray:
    """orl's evaluation protocol: one env per episode, stepped in lockstep, resets seeded seed * 1e6 + k."""
    import gymnasium as gym

    envs = [gym.make(env_id) for _ in range(episodes)]
    obs = np.stack([env.reset(seed=seed * 1_000_000 + k)[0] for k, env in enumerate(envs)]).astype(np.float32)
    returns = np.zeros(episodes)
    active = np.ones(episodes, bool)
    while active.any():
        idx = np.flatnonzero(active)
        actions = act(obs[idx])
        for j, i in enumerate(idx):
            nxt, reward, terminated, truncated, _ = envs[i].step(actions[j])
            returns[i] += reward
            obs[i] = nxt
            if terminated or truncated:
                active[i] = False
    for env in envs:
        env.close()
    return returns


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_eval(path: Path, rows: list[dict]) -> None:
    def write(f):
        s = io.StringIO()
        w = csv.DictWriter(s, EVAL_FIELDS)
        w.writeheader()
        w.writerows(rows)
        f.write(s.getvalue().encode())

    _atomic_write(path, write)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="D4RL-layout HDF5 written by orl.data.io.save_hdf5")
    p.add_argument("--algo", choices=("td3bc", "iql"), required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--eval-every", type=int, default=5000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--tuned", default="{}", help="orl's tuned overrides for this (algo, dataset), as JSON")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)

    import d3rlpy
    import torch

    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    dataset, meta = load_mdp_dataset(a.data)
    env_id = meta["env_id"]
    lo, hi = float(meta["ref_min_score"]), float(meta["ref_max_score"])
    d3rlpy.seed(a.seed)
    cls = {"td3bc": d3rlpy.algos.TD3PlusBCConfig, "iql": d3rlpy.algos.IQLConfig}[a.algo]
    algo = cls(**settings(a.algo, json.loads(a.tuned), a.steps)).create(device="cpu:0")
    # what d3rlpy's fit() does before its loop: fit the scalers on the dataset, build the networks
    d3rlpy.algos.utility.build_scalers_with_transition_picker(algo, dataset)
    algo.create_impl(dataset.sample_transition().observation_signature.shape[0], dataset.dataset_info.action_size)
    d3rlpy.seed(a.seed)  # the networks' initialisation and the sampling both follow the seed

    ckpt, eval_file = a.out / "checkpoint.pkl", a.out / "eval.csv"
    rows: list[dict] = []
    start = 0
    if ckpt.exists():
        with open(ckpt, "rb") as f:
            st = pickle.load(f)
        algo._impl.load_model(io.BytesIO(st["model"]))
        algo._grad_step = st["step"]
        np.random.set_state(st["numpy"])
        torch.set_rng_state(st["torch"])
        start = st["step"]
        rows = [r for r in csv.DictReader(open(eval_file))] if eval_file.exists() else []
        rows = [r for r in rows if int(r["step"]) <= start]
        print(f"resumed at {start} updates", file=sys.stderr, flush=True)

    def eval_row(step: int) -> dict:
        returns = evaluate(env_id, lambda o: algo.predict(o), a.eval_episodes, seed=a.seed + 100)
        scores = 100.0 * (returns - lo) / (hi - lo)
        return {"step": step, "return_mean": float(returns.mean()), "return_std": float(returns.std()),
                "score_mean": float(scores.mean()), "score_std": float(scores.std())}

    if start and not any(int(r["step"]) == start for r in rows):  # stopped between checkpoint and row
        rows.append(eval_row(start))
        _write_eval(eval_file, rows)
    t0 = time.time()
    for step in range(start + 1, a.steps + 1):
        algo.update(dataset.sample_transition_batch(256))
        if step % a.eval_every == 0 or step == a.steps:
            row = eval_row(step)
            model = io.BytesIO()
            algo._impl.save_model(model)  # networks and optimisers (with the lr schedule), as algo.save_model
            st = {"step": step, "model": model.getvalue(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
            _atomic_write(ckpt, lambda f: pickle.dump(st, f))  # one file: the model and its step never disagree
            rows.append(row)
            _write_eval(eval_file, rows)
            print(f"{a.algo} seed {a.seed} step {step}: score {row['score_mean']:.1f} "
                  f"({(step - start) / (time.time() - t0):.0f} updates/s incl. evaluation)", file=sys.stderr, flush=True)
    print(json.dumps({"last": rows[-1]["score_mean"], "evals": len(rows), "seconds": time.time() - t0,
                      "d3rlpy": d3rlpy.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
