"""The offline training loop: sample, update, evaluate, log, checkpoint, resume — for a population.

A population is P runs (members) trained in lockstep as one batched model (``orl.nets.population``):
members may differ in seed, in dataset (of one shape) and in the scalar hyperparameters an algorithm
lists in ``member_fields``; each learns exactly what it would learn alone. A single run is the
population of one (:func:`train_offline`). A run directory holds

- ``checkpoint.pt``: all members' networks, optimisers, random streams (torch noise generators,
  numpy batch generators, the samplers' pre-drawn rows) and the step, written atomically after
  every evaluation;
- per member (in the run directory itself for a single run, else in ``<member name>/``):
  ``metrics.csv`` (training losses, averaged over ``log_every`` updates) and ``eval.csv`` (return
  and normalised score per evaluation), mirrored to TensorBoard under ``tb/``.

``resume=True`` continues from ``checkpoint.pt``; since every source of randomness is restored,
a resumed run ends with the same networks and scores as one that was never interrupted (with
the same seeds, thread count and library versions).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from orl.algos import algorithm_class
from orl.data.buffer import Batch, ReplayBuffer
from orl.data.collect import evaluate_population
from orl.train.common import CheckpointError, CSVLog, DurationEstimate, check_device, load_checkpoint, save_checkpoint
from orl.train.compiled import MATMUL_PRECISIONS, compiled_update, set_matmul_precision
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
    compile: bool = False  # torch.compile the update step (CUDA: as CUDA graphs); orl.train.compiled
    matmul_precision: str = "highest"  # "high": TF32 matmuls on GPUs that have them (not bit-comparable)

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
        if self.matmul_precision not in MATMUL_PRECISIONS:
            raise ValueError(f"matmul_precision must be one of {', '.join(MATMUL_PRECISIONS)}, "
                             f"got {self.matmul_precision!r}")


def sampler_alpha(algo_name: str, alpha: float | None = None) -> float:
    """The rw/aw softmax temperature of a run: ``alpha`` when given, else the algorithm's default
    (Hong et al.'s per-algorithm values: 0.2 for CQL, 0.1 for IQL and TD3+BC and orl's others)."""
    return float(alpha) if alpha is not None else float(algorithm_class(algo_name).sampler_alpha)


def make_algorithm(name: str, buffer: ReplayBuffer | Sequence[ReplayBuffer], action_low: np.ndarray,
                   action_high: np.ndarray, overrides: dict[str, Any] | Sequence[dict[str, Any] | None] | None = None,
                   total_steps: int = 1_000_000, seeds: Sequence[int] = (0,)):
    """Build algorithm ``name`` for a population with member seeds ``seeds`` (one seed: a single run).

    ``buffer`` is the members' dataset, or one dataset per member (same shapes); ``overrides`` the
    hyperparameters over the defaults, shared or one dict per member. The result is prepared for a
    run of ``total_steps`` updates (``OfflineAlgorithm.setup``)."""
    cls = algorithm_class(name)
    P = len(seeds)
    buffers = list(buffer) if isinstance(buffer, (list, tuple)) else [buffer] * P
    per_member = list(overrides) if isinstance(overrides, (list, tuple)) else [overrides] * P
    if len(buffers) != P or len(per_member) != P:
        raise ValueError(f"{name}: {P} seeds need as many datasets and overrides (got {len(buffers)} and {len(per_member)})")
    shapes = {(tuple(b.observation_shape), b.action_dim) for b in buffers}
    if len(shapes) > 1:
        raise ValueError(f"{name}: the members' datasets differ in (observation shape, action size): {sorted(shapes)}; "
                         "a population needs one shape")
    configs = [build_config(cls.Config, o, name, prefix="algo.") for o in per_member]
    stats_of = {id(b): b.observation_stats() for b in buffers}  # once per dataset, not per member
    stats = [stats_of[id(b)] for b in buffers]
    algo = cls(int(np.prod(buffers[0].observation_shape)), action_low, action_high, configs,
               np.stack([m for m, _ in stats]), np.stack([sd for _, sd in stats]), seeds=list(seeds))
    algo.setup(buffers, total_steps)
    return algo


def eval_action_space(env_id: str, buffer: ReplayBuffer | None = None):
    """The ``Box`` action space of evaluation environment ``env_id``, checked against ``buffer``'s shapes.

    Refused with a ``ValueError`` naming ``env_id`` when it is not a registered Gymnasium id, acts in a
    discrete space (every offline algorithm here outputs continuous actions) or disagrees with the
    dataset's observation or action size (a policy trained on the data could not act in it).
    """
    import gymnasium as gym

    from orl.data.chunks import ensure_registered

    try:
        ensure_registered(env_id)
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


@dataclass
class Member:
    """One run of a population: its dataset, seed, hyperparameter overrides and evaluation environment.

    ``name`` is the member's sub-directory of the run directory ("" for a single run, whose files
    sit in the run directory itself); ``score_fn(returns) -> normalised scores`` defaults to the
    dataset's reference scores, or the raw returns when it has none."""

    dataset: ReplayBuffer
    seed: int
    env_id: str
    overrides: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    score_fn: Callable[[np.ndarray], np.ndarray] | None = None
    sampler: str | None = None  # this member's batch sampler (uniform, rw, aw, topk); None: the loop's


    def scores(self, returns: np.ndarray) -> np.ndarray:
        if self.score_fn is not None:
            return np.asarray(self.score_fn(returns))
        lo, hi = self.dataset.metadata.get("ref_min_score"), self.dataset.metadata.get("ref_max_score")
        return 100.0 * (np.asarray(returns) - lo) / (hi - lo) if lo is not None and hi is not None else np.asarray(returns)


class MemberBatches:
    """Minibatches ``(P, B, ...)`` for a population: member ``p`` draws its rows from its own dataset
    with its own sampler and generator, exactly as it would alone; members on one dataset are
    gathered in one call."""

    def __init__(self, members: Sequence[Member], sampler: str, alpha: float, k: float, batch_size: int) -> None:
        from orl.data.samplers import SAMPLERS, make_sampler

        self.buffers = [m.dataset for m in members]
        names = [m.sampler or sampler for m in members]
        bad = [n for n in names if n not in SAMPLERS]
        if bad:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {bad[0]!r}")
        self.samplers = [make_sampler(n, **({"alpha": alpha} if n in ("rw", "aw") else {"k": k} if n == "topk" else {}))
                         for n in names]
        self.rngs = [np.random.default_rng(m.seed) for m in members]
        self.batch_size = batch_size
        self.groups: dict[int, list[int]] = {}
        for p, b in enumerate(self.buffers):
            self.groups.setdefault(id(b), []).append(p)

    def sample(self) -> Batch:
        B, P = self.batch_size, len(self.buffers)
        parts: dict[int, Batch] = {}
        for members in self.groups.values():
            buf = self.buffers[members[0]]
            rows = np.concatenate([self.samplers[p].sample_rows(buf, B, self.rngs[p]) for p in members])
            parts[members[0]] = buf.gather(rows)
        if len(self.groups) == 1:  # one dataset: the gathered block is already in member order
            batch = parts[0]
            return Batch(**{f: getattr(batch, f).reshape(P, B, *getattr(batch, f).shape[1:])
                            for f in Batch.__dataclass_fields__ if f != "indices"}, indices=batch.indices.reshape(P, B))
        order = {p: (first, j) for first, ms in ((ms[0], ms) for ms in self.groups.values()) for j, p in enumerate(ms)}

        def member_rows(f: str, p: int):
            first, j = order[p]
            return getattr(parts[first], f)[j * B:(j + 1) * B]

        fields = {f: torch.stack([member_rows(f, p) for p in range(P)]) for f in Batch.__dataclass_fields__
                  if f != "indices"}
        return Batch(**fields, indices=np.stack([member_rows("indices", p) for p in range(P)]))

    def state_dict(self) -> dict[str, Any]:
        return {"rngs": [r.bit_generator.state for r in self.rngs], "samplers": [s.state_dict() for s in self.samplers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for r, st in zip(self.rngs, state["rngs"]):
            r.bit_generator.state = st
        for s, st, b in zip(self.samplers, state["samplers"], self.buffers):
            s.load_state_dict(st, b)


def train_offline(algo_name: str, buffer: ReplayBuffer, env_id: str, out_dir: str | Path,
                  cfg: TrainConfig | None = None, algo_overrides: dict[str, Any] | None = None,
                  resume: bool = False, progress: bool = True, score_fn=None) -> dict[str, Any]:
    """Train ``algo_name`` on ``buffer`` with seed ``cfg.seed``, evaluating in ``env_id``: a population of
    one (:func:`train_population`) whose files sit in ``out_dir`` itself. Returns the final summary
    (``last``/``best`` normalised score, ``episodes``, ``evals``, ``algo``, ``out_dir``)."""
    cfg = cfg or TrainConfig()
    member = Member(buffer, cfg.seed, env_id, dict(algo_overrides or {}), "", score_fn)
    result = train_population(algo_name, [member], out_dir, cfg, resume=resume, progress=progress)
    return {**result["members"][0], "algo": result["algo"], "out_dir": result["out_dir"]}


def train_population(algo_name: str, members: Sequence[Member], out_dir: str | Path, cfg: TrainConfig | None = None,
                     resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train the ``members`` of a population in lockstep as one batched model (``orl.nets.population``).

    Each member learns exactly what it would learn alone with its seed, dataset and settings (its own
    initial weights, batches, update noise and evaluation episodes); ``cfg`` holds the shared loop
    settings (its ``seed`` is not used: the members carry theirs). Files: ``out_dir/checkpoint.pt``
    (one atomic checkpoint of all members), and per member ``out_dir/<name>/`` ``metrics.csv``,
    ``eval.csv`` and ``tb/``. Metrics stay on the device between logs (one read per ``log_every``).
    Returns ``{"members": [per-member summary], "algo", "out_dir"}``.
    """
    cfg = cfg or TrainConfig()
    members = list(members)
    if not members:
        raise ValueError("a population needs at least one member")
    names = [m.name for m in members]
    if len(set(names)) != len(names) or (len(members) > 1 and "" in names):
        raise ValueError(f"population members need distinct, non-empty names; got {names}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    device = check_device(cfg.device)
    set_matmul_precision(cfg.matmul_precision)
    checked = {(m.env_id, id(m.dataset)): eval_action_space(m.env_id, m.dataset) for m in members}  # once per pair
    spaces = [checked[(m.env_id, id(m.dataset))] for m in members]
    bounds = {(tuple(s.low.ravel()), tuple(s.high.ravel())) for s in spaces}
    if len(bounds) > 1:
        raise ValueError(f"population members act in environments with different action bounds "
                         f"({sorted({m.env_id for m in members})}); train them in separate populations")
    seeds = [m.seed for m in members]
    algo = make_algorithm(algo_name, [m.dataset for m in members], spaces[0].low, spaces[0].high,
                          [m.overrides for m in members], total_steps=cfg.steps, seeds=seeds).to(device)
    batches = MemberBatches(members, cfg.sampler, sampler_alpha(algo_name, cfg.sampler_alpha), cfg.sampler_k,
                            cfg.batch_size)
    start = 0
    if resume:
        state = load_checkpoint(out, map_location=device)
        if "batches" not in state or state["algo"].get("members") is None:
            raise CheckpointError(f"{out / 'checkpoint.pt'} was written by an older orl (before populations) "
                                  "and cannot be resumed; start the run again")
        if list(state.get("member_names", [""])) != names:
            raise CheckpointError(f"{out / 'checkpoint.pt'} holds members {state.get('member_names')}, "
                                  f"this population has {names}")
        algo.load_state_dict(state["algo"])
        batches.load_state_dict(state["batches"])
        start = int(state["step"])
    dirs = [out / m.name for m in members]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    metrics_csv = [CSVLog(d / "metrics.csv", start if resume else None) for d in dirs]
    eval_csv = [CSVLog(d / "eval.csv", start if resume else None) for d in dirs]
    from torch.utils.tensorboard import SummaryWriter

    tbs = [SummaryWriter(str(d / "tb"), purge_step=start + 1 if resume else None) for d in dirs]
    bar = eta = None
    if progress:
        from tqdm.auto import tqdm

        desc = algo_name if len(members) == 1 else f"{algo_name} x{len(members)}"
        bar = tqdm(total=cfg.steps, initial=start, desc=desc, unit="upd", dynamic_ncols=True)
        eta = DurationEstimate(start, cfg.steps, write=tqdm.write)
    update = compiled_update(algo, device) if cfg.compile else algo.update
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    t0 = time.time()
    try:
        for step in range(start + 1, cfg.steps + 1):
            for k, v in update(batches.sample().to(device)).items():
                sums[k] = sums[k] + v if k in sums else v.clone()  # stays on the device until the log step
                counts[k] = counts.get(k, 0) + 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                means = {k: (sums[k] / counts[k]).cpu().numpy() for k in sums}  # the one read per log_every
                speed = (step - start) / max(time.time() - t0, 1e-9)
                for p, (log, tb) in enumerate(zip(metrics_csv, tbs)):
                    row = {"step": step, **{k: float(v[p]) for k, v in means.items()}, "updates_per_s": speed}
                    log.append(row)
                    for k, v in row.items():
                        if k != "step":
                            tb.add_scalar(f"train/{k}", v, step)
                sums, counts = {}, {}
            if bar is not None:
                bar.update(1)
                eta(step)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                returns = evaluate_population([m.env_id for m in members], lambda obs: algo.act(obs, deterministic=True),
                                              cfg.eval_episodes, [s + 100 for s in seeds])
                score_means = []
                for m, r, log, tb in zip(members, returns, eval_csv, tbs):
                    scores = m.scores(r)
                    log.append({"step": step, "return_mean": float(r.mean()), "return_std": float(r.std()),
                                "score_mean": float(np.mean(scores)), "score_std": float(np.std(scores))})
                    tb.add_scalar("eval/return", float(r.mean()), step)
                    tb.add_scalar("eval/normalized_score", float(np.mean(scores)), step)
                    score_means.append(float(np.mean(scores)))
                if bar is not None:
                    bar.set_postfix(score=f"{np.mean(score_means):.1f}" if len(members) == 1 else
                                    f"{min(score_means):.1f}..{max(score_means):.1f}")
                save_checkpoint(out, {"algo": algo.state_dict(), "batches": batches.state_dict(), "step": step,
                                      "member_names": names})
    finally:  # the bar ends its line before any message (an error, Ctrl-C) is printed
        if bar is not None:
            bar.close()
        for tb in tbs:
            tb.close()
    summaries = []
    for m, log in zip(members, eval_csv):
        scores = [float(r["score_mean"]) for r in log.rows]
        if not scores:
            raise RuntimeError("no evaluation was recorded")
        summaries.append({"name": m.name, "seed": m.seed, "last": scores[-1], "best": max(scores),
                          "episodes": cfg.eval_episodes, "evals": len(scores)})
    return {"members": summaries, "algo": algo, "out_dir": str(out), "samplers": batches.samplers}


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
    params = _algo_params(OmegaConf.to_container(cfg.algo, resolve=True))
    build_config(algorithm_class(cfg.algo.name).Config, params, cfg.algo.name, prefix="algo.")
    if cfg.env.eval_env:
        eval_action_space(cfg.env.eval_env)
    print(f"loading dataset {cfg.env.dataset} (built on first use)", flush=True)
    buffer = load_dataset(cfg.env.dataset)
    eval_env = cfg.env.eval_env or buffer.metadata.get("env_id")
    if not eval_env:
        raise ValueError("env.eval_env is not set and the dataset's metadata names no env_id")
    if cfg.get("members"):
        return _run_population(cfg, out_dir, resume, train_cfg, {cfg.env.dataset: buffer})
    result = train_offline(cfg.algo.name, buffer, eval_env, out_dir, train_cfg, params, resume=resume)
    return _score_line(result)


def _score_line(summary: dict[str, Any]) -> str:
    return f"normalized score: last {summary['last']:.1f}, best {summary['best']:.1f} over {summary['episodes']} episodes"


def _run_population(cfg, out_dir: Path, resume: bool, train_cfg: TrainConfig, loaded: dict[str, ReplayBuffer]) -> str:
    """A population run of ``orl.run`` (``seeds=``, ``env=a,b``): ``cfg.members`` as written by
    ``orl.run.population_members``; one line per member, then the members' mean."""
    from omegaconf import OmegaConf

    from orl.data import load_dataset

    specs = OmegaConf.to_container(cfg.members, resolve=True)
    cls = algorithm_class(cfg.algo.name)
    configs = []
    for spec in specs:  # every member's settings, checked before any dataset is built
        configs.append(build_config(cls.Config, _algo_params(spec["algo"]), cfg.algo.name,
                                    prefix=f"algo ({spec['name']})."))
        if spec.get("eval_env"):
            eval_action_space(spec["eval_env"])
    cls.check_members(configs)
    members = []
    for spec in specs:
        if not spec.get("dataset"):
            raise ValueError(f"algo={cfg.algo.name} trains on a dataset; env={spec['env']} is not one")
        if spec["dataset"] not in loaded:
            print(f"loading dataset {spec['dataset']} (built on first use)", flush=True)
            loaded[spec["dataset"]] = load_dataset(spec["dataset"])
        buffer = loaded[spec["dataset"]]
        eval_env = spec.get("eval_env") or buffer.metadata.get("env_id")
        if not eval_env:
            raise ValueError(f"env {spec['env']}: eval_env is not set and the dataset's metadata names no env_id")
        members.append(Member(buffer, int(spec["seed"]), eval_env, _algo_params(spec["algo"]), spec["name"]))
    print(f"population of {len(members)}: {', '.join(m.name for m in members)}", flush=True)
    result = train_population(cfg.algo.name, members, out_dir, train_cfg, resume=resume)
    lines = [f"{m['name']}: {_score_line(m)}" for m in result["members"]]
    last = np.array([m["last"] for m in result["members"]])
    lines.append(f"population of {len(last)}: normalized score: last {last.mean():.1f} +- {last.std():.1f} (mean +- std "
                 f"over members), best member {last.max():.1f}")
    return "\n".join(lines)


def _algo_params(algo: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in algo.items() if k not in ("name", "family")}
