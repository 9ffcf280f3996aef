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
from orl.train.common import CSVLog, DurationEstimate, check_device, load_checkpoint, save_checkpoint
from orl.utils.config import build_config, check_fields


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

        check_fields(self)  # types first: seed=1.5 or steps=abc name their field
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("steps", "batch_size", "eval_every", "eval_episodes", "log_every", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.sampler_alpha is not None and not self.sampler_alpha > 0:
            raise ValueError(f"sampler_alpha must be positive, got {self.sampler_alpha!r}")
        if not 0 < self.sampler_k <= 100:
            raise ValueError(f"sampler_k must be a percentage in (0, 100], got {self.sampler_k!r}")
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
    config = build_config(cls.Config, overrides, name, prefix="algo.")
    mean, std = buffer.observation_stats()
    algo = cls(int(np.prod(buffer.observation_shape)), action_low, action_high, config, mean, std)
    algo.setup(buffer, total_steps)
    return algo


def eval_action_space(env_id: str, buffer: ReplayBuffer | None = None):
    """The ``Box`` action space of evaluation environment ``env_id``, checked against ``buffer``'s shapes.

    Refused with a ``ValueError`` naming ``env_id`` when it is not a registered Gymnasium id, acts in a
    discrete space (every offline algorithm here outputs continuous actions) or disagrees with the
    dataset's observation or action size (a policy trained on the data could not act in it).
    """
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except (gym.error.Error, ImportError, TypeError) as e:  # unregistered id, missing extra, bad kwargs
        raise ValueError(f"env.eval_env={env_id!r} cannot be made: {e}") from None
    obs_space, space = env.observation_space, env.action_space
    env.close()
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"env.eval_env={env_id!r} has action space {space}; orl's offline algorithms act in "
                         "continuous (Box) action spaces")
    if buffer is not None:
        obs_shape = tuple(obs_space.shape or ())
        if int(np.prod(obs_shape)) != int(np.prod(buffer.observation_shape)):
            raise ValueError(f"env.eval_env={env_id!r} observes shape {obs_shape}, the dataset "
                             f"{tuple(buffer.observation_shape)}: choose the environment the data came from")
        if int(np.prod(space.shape)) != int(buffer.action_dim):
            raise ValueError(f"env.eval_env={env_id!r} acts in {int(np.prod(space.shape))} dimensions, the dataset in "
                             f"{buffer.action_dim}: choose the environment the data came from")
    return space


def train_offline(algo_name: str, buffer: ReplayBuffer, env_id: str, out_dir: str | Path,
                  cfg: TrainConfig | None = None, algo_overrides: dict[str, Any] | None = None,
                  resume: bool = False, progress: bool = True, score_fn=None) -> dict[str, Any]:
    """Train ``algo_name`` on ``buffer``, evaluating in ``env_id``; returns the final summary.

    ``score_fn(returns) -> normalised scores`` (default: from the buffer's reference scores, or
    the raw returns when it has none).
    """
    cfg = cfg or TrainConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    device = check_device(cfg.device)
    torch.manual_seed(cfg.seed)  # seeds the CUDA generators too
    rng = np.random.default_rng(cfg.seed)
    space = eval_action_space(env_id, buffer)
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
    bar = eta = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc=f"{algo_name}", unit="upd", dynamic_ncols=True)
        eta = DurationEstimate(start, cfg.steps, write=tqdm.write)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    t0 = time.time()
    try:
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
                eta(step)
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
    finally:  # the bar ends its line before any message (an error, Ctrl-C) is printed
        if bar is not None:
            bar.close()
        tb.close()
    scores = [float(r["score_mean"]) for r in eval_csv.rows]
    if not scores:
        raise RuntimeError("no evaluation was recorded")
    return {"last": scores[-1], "best": max(scores), "episodes": cfg.eval_episodes, "evals": len(scores),
            "algo": algo, "out_dir": str(out)}


def settings_from(cfg) -> TrainConfig:
    """The loop settings of an ``orl.run`` configuration (its top-level keys), checked by name."""
    return TrainConfig(**{k: cfg[k] for k in TrainConfig.__dataclass_fields__ if k in cfg})


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=<offline algorithm> env=<dataset>``: train and return the final line.

    Everything the user typed is checked before the dataset is loaded (which may build it for
    minutes): the loop settings, the hyperparameters and the evaluation environment."""
    from omegaconf import OmegaConf

    from orl.data import load_dataset

    train_cfg = settings_from(cfg)
    if "dataset" not in cfg.env:
        raise ValueError(f"algo={cfg.algo.name} trains on a dataset; env={cfg.env.name} is not one")
    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items() if k not in ("name", "family")}
    build_config(algorithm_class(cfg.algo.name).Config, params, cfg.algo.name, prefix="algo.")
    if cfg.env.eval_env:
        eval_action_space(cfg.env.eval_env)
    print(f"loading dataset {cfg.env.dataset} (built on first use)", flush=True)
    buffer = load_dataset(cfg.env.dataset)
    eval_env = cfg.env.eval_env or buffer.metadata.get("env_id")
    if not eval_env:
        raise ValueError("env.eval_env is not set and the dataset's metadata names no env_id")
    result = train_offline(cfg.algo.name, buffer, eval_env, out_dir, train_cfg, params, resume=resume)
    return f"normalized score: last {result['last']:.1f}, best {result['best']:.1f} over {result['episodes']} episodes"
