"""The off-policy online loop: act, store, update ``utd`` times per environment step, evaluate, log, checkpoint.

The online family's second loop, beside the on-policy one (:mod:`orl.train.online`), with the same buffer
type: transitions go into one :class:`~orl.data.buffer.ReplayBuffer` (FIFO, ``buffer_size`` rows, terminals and
time-outs apart, so a time-out bootstraps). With an offline dataset (``offline_dataset``, ``offline_ratio``), each
batch takes that share of its rows from the dataset and the rest from the online buffer — RLPD's symmetric
sampling at 0.5 (Ball et al., ICML 2023) — which makes ``algo=sac`` the RLPD-style baseline of offline-to-online
fine-tuning. The first ``start_steps`` actions are uniform-random (or the algorithm's ``random_action``); learning
starts when the buffer holds a batch, in rounds of ``utd`` updates every ``train_every`` environment steps (SB3's
``train_freq``), each on a fresh batch; an algorithm with ``after_updates(sample)`` (DSRL-NA's distillation) gets it
after each round with a sampler of fresh batches. Evaluation acts with the policy's mean, or samples it from a
stream of its own when the algorithm's ``deterministic_eval`` is false.

Checkpoints (atomic, after every evaluation) hold the algorithm, the buffer, the environment (orl's env
serialiser: MuJoCo physics included), the current observation, episode counters and every random stream, so a
resumed run continues exactly as an uninterrupted one (tested).

``device="cuda"``: the algorithm's networks, optimiser states and training stream live on the GPU
(:mod:`orl.algos.online.device`: built on the CPU, so a seed gives the same initial weights; the GPU's stream is
its own), each batch is copied there, the environment and the buffers stay on the CPU. A checkpoint loads on
either device type (a stream saved on the other type starts again from the seed, with a warning).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from orl.algos.online.dsrl import DSRLNA, DSRLSAC, register_noise_env
from orl.algos.online.expo import EXPO
from orl.algos.online.iql_ft import IQLFinetune
from orl.algos.online.sac import SAC
from orl.data.buffer import Batch, ReplayBuffer
from orl.data.collect import evaluate
from orl.train.common import CSVLog, DurationEstimate, check_device, load_checkpoint, save_checkpoint

#: ``orl.run algo=<name>`` of the off-policy family -> its class (constructor ``(obs_dim, action_dim, config, seed)``;
#: ``act``, ``update(s, a, r, s', d)``, ``state_dict``; optional ``random_action(obs, rng)`` for the first steps).
#: ``offline_share(n_offline, n_online)``, when an algorithm has it, sets each batch's dataset share instead of the
#: fixed ``offline_ratio`` (IQL's merged buffer).
OFFPOLICY_ALGORITHMS: dict[str, type] = {"sac": SAC, "dsrl_na": DSRLNA, "dsrl_sac": DSRLSAC, "expo": EXPO,
                                         "iql_ft": IQLFinetune}


def mixed_batch(online: ReplayBuffer, offline: ReplayBuffer | None, batch_size: int, ratio: float,
                rng: np.random.Generator, offline_actions=None) -> Batch:
    """A batch with ``round(ratio * batch_size)`` rows from ``offline`` and the rest from ``online``;
    ``offline_actions`` maps the dataset's actions to the online buffer's (e.g. into [-1, 1])."""
    n_off = int(round(ratio * batch_size)) if offline is not None else 0
    # uniform over the online rows: every row written by the loop has its successor stored, so each is valid,
    # and drawing row numbers directly avoids rebuilding a sampler after every added transition
    parts = [online.gather(rng.integers(0, len(online), batch_size - n_off))]
    if n_off:
        off = offline.sample(n_off, rng)
        if offline_actions is not None:
            off = dataclasses.replace(off, actions=offline_actions(off.actions))
        parts.append(off)
    if len(parts) == 1:
        return parts[0]
    cat = lambda f: torch.cat([getattr(p, f) for p in parts])  # noqa: E731
    return Batch(observations=cat("observations"), actions=cat("actions"), rewards=cat("rewards"),
                 next_observations=cat("next_observations"), terminals=cat("terminals"), timeouts=cat("timeouts"),
                 indices=np.concatenate([p.indices for p in parts]))


def train_offpolicy(env_id: str, out_dir: str | Path, config: Any = None, steps: int = 1_000_000,
                    seed: int = 0, eval_every: int = 10_000, eval_episodes: int = 10, resume: bool = False,
                    threads: int = 1, progress: bool = True, log_every: int = 1000,
                    offline: ReplayBuffer | None = None, algo_name: str = "sac",
                    device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train ``algo_name`` (one of :data:`OFFPOLICY_ALGORITHMS`) on Gymnasium env ``env_id`` for ``steps``
    environment steps (``offline``: the dataset mixed into every batch by ``config.offline_ratio``) on ``device``
    (``cpu`` or ``cuda[:N]``); returns the summary (``last``/``best`` return, ``algo``)."""
    import gymnasium as gym

    from orl.train.online import _env_state, _restore_env, make_env

    if algo_name not in OFFPOLICY_ALGORITHMS:
        raise ValueError(f"unknown off-policy algorithm {algo_name!r}; choose one of {', '.join(OFFPOLICY_ALGORITHMS)}")
    cls = OFFPOLICY_ALGORITHMS[algo_name]
    device = check_device(device)
    c = config or cls.Config()
    if algo_name == "dsrl_sac":  # SAC in the base policy's noise space: the env decodes the noise
        env_id = register_noise_env(env_id, c.base, c.noise_bound, c.ddim_steps)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    env = make_env(env_id)
    space = env.action_space
    if not isinstance(space, gym.spaces.Box) or env.observation_space.shape is None or len(env.observation_space.shape) != 1:
        raise ValueError(f"env {env_id!r}: SAC here needs a Box action space and flat Box observations, got "
                         f"{space} and {env.observation_space}")
    obs_dim, action_dim = int(env.observation_space.shape[0]), int(np.prod(space.shape))
    if offline is not None and (tuple(offline.observation_shape) != (obs_dim,) or offline.action_dim != action_dim):
        raise ValueError(f"the offline dataset has observations {tuple(offline.observation_shape)} and actions of size "
                         f"{offline.action_dim}; env {env_id!r} has ({obs_dim},) and {action_dim}")
    algo = cls(obs_dim, action_dim, c, seed).to(device)
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    scale, bias = (high - low) / 2, (high + low) / 2
    unit_scale, unit_bias = torch.as_tensor(scale, dtype=torch.float32), torch.as_tensor(bias, dtype=torch.float32)
    to_unit = lambda a: ((a - unit_bias) / unit_scale).clamp(-1, 1)  # noqa: E731  (dataset actions into [-1, 1])
    buffer = ReplayBuffer(min(c.buffer_size, steps), (obs_dim,), action_dim, metadata={"env_id": env_id})
    rng = np.random.default_rng(seed)
    step, ep_return, ep_length, finished = 0, 0.0, 0, []
    if offline is not None:
        # the dataset's sampler draws rows ahead in blocks: start it afresh, or where the checkpoint left it
        if offline.sampler is None:
            offline.set_sampler("uniform")
        offline.sampler.reset()
    if resume:
        state = load_checkpoint(out, map_location="cpu")  # the algorithm's load puts its tensors on the device
        algo.load_state_dict(state["algo"])
        buffer, env = state["buffer"], _restore_env(state["env"])
        obs, rng = state["obs"], state["rng"]
        step, ep_return, ep_length = int(state["step"]), float(state["ep_return"]), int(state["ep_length"])
        torch.set_rng_state(state["torch_rng"])
        if offline is not None and state.get("offline_sampler") is not None:
            offline.sampler.load_state_dict(state["offline_sampler"], offline)
    else:
        obs, _ = env.reset(seed=seed)
    metrics_csv = CSVLog(out / "metrics.csv", step if resume else None)
    eval_csv = CSVLog(out / "eval.csv", step if resume else None)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(out / "tb"), purge_step=step + 1 if resume else None)
    bar = eta = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=step, desc=f"{algo_name} {env_id}", unit="step", dynamic_ncols=True)
        eta = DurationEstimate(step, steps, unit="env steps", write=tqdm.write)
    # each update's metrics are 0-d tensors on the device, summed there in float64 and read once per log_every:
    # a read per update would be a host synchronisation per update on a GPU (20 per env step at EXPO's UTD)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    count, t0, start = 0, time.time(), step
    try:
        while step < steps:
            if step < c.start_steps:  # uniform-random (SAC), or the un-steered base policy (DSRL)
                a_unit = (algo.random_action(obs, rng) if hasattr(algo, "random_action")
                          else rng.uniform(-1, 1, action_dim)).astype(np.float32)
            else:
                a_unit = algo.act(obs)
            nxt, reward, terminated, truncated, _ = env.step(bias + scale * a_unit)
            buffer.add(obs, a_unit, float(reward), nxt, terminated, truncated)
            ep_return, ep_length = ep_return + float(reward), ep_length + 1
            obs = nxt
            if terminated or truncated:
                finished.append((ep_return, ep_length))
                ep_return, ep_length = 0.0, 0
                obs, _ = env.reset()
            step += 1
            # with a merged dataset buffer (IQL) updates start at once, as there; otherwise once a batch is stored
            merged = offline is not None and hasattr(algo, "offline_share")
            if (step >= c.start_steps and len(buffer) >= (1 if merged else c.batch_size)
                    and step % getattr(c, "train_every", 1) == 0):
                ratio = algo.offline_share(len(offline), step) if merged else c.offline_ratio
                sample = lambda: mixed_batch(buffer, offline, c.batch_size, ratio, rng, to_unit).to(device)  # noqa: E731
                reports = []
                for _ in range(c.utd):
                    b = sample()
                    reports.append(algo.update(b.observations, b.actions, b.rewards, b.next_observations, b.terminals))
                if hasattr(algo, "after_updates"):  # once per round, e.g. DSRL-NA's noise-critic distillation
                    reports.append(algo.after_updates(sample))
                for metrics in reports:
                    for k, v in metrics.items():
                        sums[k] = sums[k] + v.double() if k in sums else v.double()
                        counts[k] = counts.get(k, 0) + 1  # a metric of a step taken once per round: its own count
                count += c.utd
            if bar is not None:
                bar.update(1)
                eta(step)
            if step % log_every == 0 and count:
                row = {"step": step, **{k: float(v) / counts[k] for k, v in sums.items()},
                       "env_steps_per_s": (step - start) / max(time.time() - t0, 1e-9)}
                if finished:
                    row["episode_return"] = float(np.mean([r for r, _ in finished]))
                    finished = []
                metrics_csv.append(row)
                for k, v in row.items():
                    if k != "step":
                        tb.add_scalar(f"train/{k}", v, step)
                sums, counts, count = {}, {}, 0
            if step % eval_every == 0 or step == steps:
                if getattr(c, "deterministic_eval", True):
                    policy = lambda o, _r: bias + scale * algo.act(o, deterministic=True)  # noqa: E731
                else:  # sampled from a stream of its own, the same at every evaluation: training's is untouched
                    g = torch.Generator(device).manual_seed(seed + 100)
                    policy = lambda o, _r: bias + scale * algo.act(o, generator=g)  # noqa: E731
                returns = evaluate(env_id, policy, eval_episodes, seed=seed + 100)
                eval_csv.append({"step": step, "return_mean": float(returns.mean()), "return_std": float(returns.std())})
                tb.add_scalar("eval/return", float(returns.mean()), step)
                if bar is not None:
                    bar.set_postfix(ret=f"{returns.mean():.1f}")
                save_checkpoint(out, {"algo": algo.state_dict(), "buffer": buffer, "env": _env_state(env), "obs": obs,
                                      "rng": rng, "step": step, "ep_return": ep_return, "ep_length": ep_length,
                                      "torch_rng": torch.get_rng_state(),
                                      "offline_sampler": None if offline is None else offline.sampler.state_dict()})
    finally:
        if bar is not None:
            bar.close()
        tb.close()
        env.close()
    returns = [float(r["return_mean"]) for r in eval_csv.rows]
    if not returns:
        raise RuntimeError("no evaluation was recorded")
    return {"last": returns[-1], "best": max(returns), "episodes": eval_episodes, "algo": algo, "out_dir": str(out)}


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=sac|dsrl_na env=<Gymnasium id>`` (``algo.offline_dataset=<dataset>``: RLPD-style)."""
    from omegaconf import OmegaConf

    from orl.utils.config import build_config

    if "id" not in cfg.env:
        raise ValueError(f"algo={cfg.algo.name} trains online in a Gymnasium environment (env=<id>, e.g. "
                         f"env=Hopper-v5); env={cfg.env.name} is a dataset or simulator entry")
    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items() if k not in ("name", "family")}
    config = build_config(OFFPOLICY_ALGORITHMS[cfg.algo.name].Config, params, cfg.algo.name, prefix="algo.")
    offline = None
    if config.offline_dataset:
        from orl.data import load_dataset

        offline = load_dataset(config.offline_dataset)
    result = train_offpolicy(cfg.env.id, out_dir, config, steps=cfg.steps, seed=cfg.seed, eval_every=cfg.eval_every,
                             eval_episodes=cfg.eval_episodes, resume=resume, threads=cfg.threads,
                             log_every=cfg.log_every, offline=offline, algo_name=cfg.algo.name,
                             device=cfg.get("device", "cpu"))
    return f"return: last {result['last']:.1f}, best {result['best']:.1f} over {result['episodes']} episodes"
