"""The offline training loop: sample, update, evaluate, log, checkpoint, resume.

A run directory holds

- ``metrics.csv`` (training losses, averaged over ``log_every`` updates) and ``eval.csv``
  (return and normalised score per evaluation), mirrored to TensorBoard under ``tb/``;
- ``checkpoint.pt``: the algorithm's full state, the sampler's pre-drawn rows, the numpy and
  torch random states and the step, written atomically after every evaluation.

``resume=True`` continues from ``checkpoint.pt``; since every source of randomness is restored,
a resumed run ends with the same networks and scores as one that was never interrupted (with
the same seed, thread count and library versions).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from orl.algos import algorithm_class
from orl.data.buffer import ReplayBuffer
from orl.data.collect import evaluate
from orl.train.common import CSVLog, check_device, load_checkpoint, save_checkpoint


@dataclass
class TrainConfig:
    """Loop settings, checked on construction (a bad value names its field)."""

    steps: int = 1_000_000
    batch_size: int = 256
    seed: int = 0
    eval_every: int = 5000
    eval_episodes: int = 10
    log_every: int = 1000
    sampler: str = "uniform"
    sampler_alpha: float | None = None  # rw/aw temperature; None: the algorithm's (CQL 0.2, others 0.1)
    sampler_k: float = 10.0
    threads: int = 1
    device: str = "cpu"  # "cuda[:N]": networks and batches on a GPU (evaluation episodes stay on the CPU)

    def __post_init__(self) -> None:
        from orl.data.samplers import SAMPLERS

        for name in ("steps", "batch_size", "eval_every", "eval_episodes", "log_every", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.sampler_alpha is not None and not self.sampler_alpha > 0:
            raise ValueError(f"sampler_alpha must be positive, got {self.sampler_alpha!r}")
        check_device(self.device)


def sampler_alpha(algo_name: str, alpha: float | None = None) -> float:
    """The rw/aw softmax temperature of a run: ``alpha`` when given, else the algorithm's default
    (Hong et al.'s per-algorithm values: 0.2 for CQL, 0.1 for IQL and TD3+BC and orl's others)."""
    return float(alpha) if alpha is not None else float(algorithm_class(algo_name).sampler_alpha)


def make_algorithm(name: str, buffer: ReplayBuffer, action_low: np.ndarray, action_high: np.ndarray,
                   overrides: dict[str, Any] | None = None, total_steps: int = 1_000_000):
    """Build algorithm ``name`` for ``buffer``'s shapes, its config from defaults + ``overrides``,
    prepared for a run of ``total_steps`` updates (``OfflineAlgorithm.setup``)."""
    cls = algorithm_class(name)
    fields = cls.Config.__dataclass_fields__
    unknown = sorted(set(overrides or {}) - set(fields))
    if unknown:
        raise ValueError(f"{name}: unknown hyperparameter(s) {unknown}; known: {', '.join(sorted(fields))}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in (overrides or {}).items()}
    config = cls.Config(**kwargs)
    mean, std = buffer.observation_stats()
    algo = cls(int(np.prod(buffer.observation_shape)), action_low, action_high, config, mean, std)
    algo.setup(buffer, total_steps)
    return algo


def train_offline(algo_name: str, buffer: ReplayBuffer, env_id: str, out_dir: str | Path,
                  cfg: TrainConfig | None = None, algo_overrides: dict[str, Any] | None = None,
                  resume: bool = False, progress: bool = True, score_fn=None) -> dict[str, Any]:
    """Train ``algo_name`` on ``buffer``, evaluating in ``env_id``; returns the final summary.

    ``score_fn(returns) -> normalised scores`` (default: from the buffer's reference scores, or
    the raw returns when it has none).
    """
    import gymnasium as gym

    cfg = cfg or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    device = check_device(cfg.device)
    torch.manual_seed(cfg.seed)  # seeds the CUDA generators too
    rng = np.random.default_rng(cfg.seed)
    space = gym.make(env_id).action_space
    algo = make_algorithm(algo_name, buffer, space.low, space.high, algo_overrides, total_steps=cfg.steps).to(device)
    on_gpu = device.type == "cuda"
    buffer.set_sampler(cfg.sampler, alpha=sampler_alpha(algo_name, cfg.sampler_alpha), k=cfg.sampler_k)
    if score_fn is None:
        lo, hi = buffer.metadata.get("ref_min_score"), buffer.metadata.get("ref_max_score")
        score_fn = (lambda r: 100.0 * (np.asarray(r) - lo) / (hi - lo)) if lo is not None and hi is not None else np.asarray

    start = 0
    if resume:
        state = load_checkpoint(out, map_location=device)
        algo.load_state_dict(state["algo"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        if on_gpu and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        buffer.sampler.load_state_dict(state["sampler"], buffer)
        start = int(state["step"])
    metrics_csv = CSVLog(out / "metrics.csv", start if resume else None)
    eval_csv = CSVLog(out / "eval.csv", start if resume else None)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(out / "tb"), purge_step=start + 1 if resume else None)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=f"{algo_name}", unit="upd", dynamic_ncols=True)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    t0 = time.time()
    for step in range(start + 1, cfg.steps + 1):
        for k, v in algo.update(buffer.sample(cfg.batch_size, rng).to(device)).items():
            sums[k] = sums.get(k, 0.0) + v
            counts[k] = counts.get(k, 0) + 1
        if step % cfg.log_every == 0 or step == cfg.steps:
            row = {"step": step, **{k: sums[k] / counts[k] for k in sums},
                   "updates_per_s": (step - start) / max(time.time() - t0, 1e-9)}
            metrics_csv.append(row)
            for k, v in row.items():
                if k != "step":
                    tb.add_scalar(f"train/{k}", v, step)
            sums, counts = {}, {}
        if bar is not None:
            bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            returns = evaluate(env_id, lambda obs, _rng: algo.act(obs, deterministic=True), cfg.eval_episodes,
                               seed=cfg.seed + 100)
            scores = score_fn(returns)
            eval_csv.append({"step": step, "return_mean": float(returns.mean()), "return_std": float(returns.std()),
                             "score_mean": float(np.mean(scores)), "score_std": float(np.std(scores))})
            tb.add_scalar("eval/return", float(returns.mean()), step)
            tb.add_scalar("eval/normalized_score", float(np.mean(scores)), step)
            if bar is not None:
                bar.set_postfix(score=f"{np.mean(scores):.1f}")
            extra = {"cuda_rng": torch.cuda.get_rng_state(device)} if on_gpu else {}
            save_checkpoint(out, {"algo": algo.state_dict(), "numpy_rng": rng.bit_generator.state,
                                  "torch_rng": torch.get_rng_state(), "sampler": buffer.sampler.state_dict(), "step": step,
                                  **extra})
    if bar is not None:
        bar.close()
    tb.close()
    scores = [float(r["score_mean"]) for r in eval_csv.rows]
    if not scores:
        raise RuntimeError("no evaluation was recorded")
    return {"last": scores[-1], "best": max(scores), "episodes": cfg.eval_episodes, "evals": len(scores),
            "algo": algo, "out_dir": str(out)}


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=<offline algorithm> env=<dataset>``: train and return the final line."""
    from omegaconf import OmegaConf

    from orl.data import load_dataset

    train_cfg = TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, seed=cfg.seed, eval_every=cfg.eval_every,
                            eval_episodes=cfg.eval_episodes, log_every=cfg.log_every, sampler=cfg.sampler,
                            sampler_alpha=cfg.sampler_alpha, sampler_k=cfg.sampler_k, threads=cfg.threads,
                            device=str(cfg.get("device", "cpu")))
    if "dataset" not in cfg.env:
        raise ValueError(f"algo={cfg.algo.name} trains on a dataset; env={cfg.env.name} is not one")
    buffer = load_dataset(cfg.env.dataset)
    eval_env = cfg.env.eval_env or buffer.metadata.get("env_id")
    if not eval_env:
        raise ValueError("env.eval_env is not set and the dataset's metadata names no env_id")
    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items() if k not in ("name", "family")}
    result = train_offline(cfg.algo.name, buffer, eval_env, out_dir, train_cfg, params, resume=resume)
    return f"normalized score: last {result['last']:.1f}, best {result['best']:.1f} over {result['episodes']} episodes"
