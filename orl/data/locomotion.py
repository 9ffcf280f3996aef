"""orl's locomotion datasets: the D4RL protocol on Gymnasium's MuJoCo v5 environments.

**These are not D4RL's datasets**, and their normalised scores are not comparable to D4RL
tables: the simulator (MuJoCo 3+/Gymnasium v5 vs mujoco-py/gym v2), the behaviour policies
(stable-baselines3 SAC trained by orl vs rlkit SAC) and the reference scores all differ. What
carries over is the protocol of D4RL (Fu, Kumar, Nachum, Tucker & Levine, "D4RL: Datasets for Deep
Data-Driven Reinforcement Learning", arXiv 2004.07219, 2020; code ``Farama-Foundation/D4RL``: generation
scripts ``scripts/generation/mujoco/``, reference scores ``d4rl/infos.py``):

- ``<env>-random``: 1M transitions of uniform-random actions;
- ``<env>-medium`` / ``<env>-expert``: 1M transitions of the stochastic (tanh-Gaussian) medium /
  expert actor; expert = the best evaluated checkpoint of one SAC run, medium = the earliest
  checkpoint whose evaluation reaches a third of the expert's return (D4RL's definition);
- ``<env>-medium-expert``: medium followed by expert (2M transitions);
- ``<env>-medium-replay``: the replay buffer of the run up to the medium checkpoint,
  re-created from the kept snapshots: SB3's warm-up (uniform-random actions for the first
  ``learning_starts`` steps), then each snapshot policy for the training steps it covered
  (from its own step to the next snapshot's), so every policy contributes in proportion to the
  steps it acted in the real buffer;
- ``<env>-random-<medium|expert>-<p>`` (Hong et al. 2023's mixed datasets, p in 1, 5, 10,
  50 percent): whole trajectories drawn with replacement from the good dataset until they hold
  at least p% of 1M transitions, then random-dataset trajectories until 1M, cut to exactly 1M.

``terminals`` mark falls, ``timeouts`` step 1000 and every other cut: the last episode of a
dataset cut at its size, and the episodes cut at medium-replay's snapshot boundaries, so every
episode end carries one of the two flags (as readers that split episodes at the flags need). Each dataset's metadata holds orl's reference
scores (``ref_min_score`` = uniform-random policy, ``ref_max_score`` = expert policy, 100
episodes each, the Minari convention), D4RL's constants (``d4rl_ref_min_score``,
``d4rl_ref_max_score``, from ``d4rl/infos.py``) and a checksum of the data.

The behaviour policies ship inside the package (``orl/data/policies/<env>/``: numpy weight
files and a ``manifest.json`` written by ``experiments/export_behaviour.py``), so generation
needs neither torch nor a download.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from orl.data.behaviour import TanhGaussianPolicy
from orl.data.buffer import ReplayBuffer
from orl.data.collect import collect
from orl.data.errors import DatasetError

ENVS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5"}
LEVELS = ("random", "medium", "expert", "medium-replay", "medium-expert")
MIXED_GOOD = ("medium", "expert")
MIXED_PERCENT = (1, 5, 10, 50)
SIZE = 1_000_000
SHARDS = 4  # fixed: the data depends on it (never on the number of cores)
#: Revision of the generation code, part of each dataset's ``source`` fingerprint: a change that
#: alters the data (2: episodes cut at the size limit or a snapshot boundary end in a timeout flag)
#: makes cached datasets of earlier revisions stale, so they are rebuilt on the next load.
GENERATION = 2

#: D4RL reference scores (``d4rl/infos.py``; v2 datasets reuse the v0 values).
D4RL_REF = {"hopper": (-20.272305, 3234.3), "halfcheetah": (-280.178953, 12135.0), "walker2d": (1.629008, 4592.3)}

POLICY_DIR = Path(__file__).parent / "policies"


def policy_manifest(env: str, policy_dir: Path | None = None) -> dict[str, Any]:
    """The shipped behaviour policies of ``env`` (raises a clear error if none are shipped)."""
    path = (policy_dir or POLICY_DIR) / env / "manifest.json"
    if not path.exists():
        raise DatasetError(
            f"no behaviour policies for {env!r} are shipped in this version of orl (expected {path}); "
            f"they are trained by experiments/train_behaviour.py and exported by experiments/export_behaviour.py")
    return json.loads(path.read_text())


def load_policy(env: str, name: str, policy_dir: Path | None = None) -> TanhGaussianPolicy:
    return TanhGaussianPolicy.load((policy_dir or POLICY_DIR) / env / f"{name}.npz")


def _metadata(env: str, level: str, manifest: dict[str, Any]) -> dict[str, Any]:
    lo, hi = D4RL_REF[env]
    return {"env_id": ENVS[env], "policy": level, "protocol": "D4RL (orl re-creation on Gymnasium v5)",
            "ref_min_score": manifest["reference"]["random"]["mean"], "ref_max_score": manifest["reference"]["expert"]["mean"],
            "d4rl_ref_min_score": lo, "d4rl_ref_max_score": hi, "behaviour": manifest.get("training", {})}


def build_standard(env: str, level: str, size: int = SIZE, seed: int = 0, policy_dir: Path | None = None,
                   progress: bool = True, shards: int = SHARDS) -> ReplayBuffer:
    """Build ``<env>-<level>`` (see the module docstring)."""
    manifest = policy_manifest(env, policy_dir)
    env_id, tag = ENVS[env], f"{env}-{level}"
    if level == "random":
        buf = collect(env_id, None, size, seed=seed, shards=shards, progress=tag if progress else False)
    elif level in ("medium", "expert"):
        actor = load_policy(env, level, policy_dir)
        buf = collect(env_id, actor, size, seed=seed + (1 if level == "medium" else 2), shards=shards,
                      progress=tag if progress else False)
    elif level == "medium-expert":
        if policy_dir is None:  # registered datasets: reuse the cached medium and expert data
            from orl.data.registry import load_dataset

            parts = [load_dataset(f"{env}-{lvl}") for lvl in ("medium", "expert")]
        else:
            parts = [build_standard(env, lvl, size, seed, policy_dir, progress, shards) for lvl in ("medium", "expert")]
        buf = ReplayBuffer.concatenate(parts)
    elif level == "medium-replay":
        buf = build_medium_replay(env, manifest, seed, policy_dir, progress)
    else:
        raise DatasetError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    buf.metadata.update(_metadata(env, level, manifest))
    return buf


def replay_segments(manifest: dict[str, Any]) -> list[tuple[str | None, int]]:
    """``(snapshot file or None for random warm-up, transitions)`` of the medium-replay buffer."""
    replay = manifest["replay"]
    warmup = int(replay["learning_starts"])
    # [{"file": ..., "step": ...}], ascending, last one <= medium step; the warm-up stands for any before it
    snaps = [s for s in replay["snapshots"] if int(s["step"]) >= warmup]
    end = int(replay["medium_step"])
    segments: list[tuple[str | None, int]] = [(None, warmup)]
    for k, snap in enumerate(snaps):
        nxt = snaps[k + 1]["step"] if k + 1 < len(snaps) else end
        if nxt > snap["step"]:
            segments.append((snap["file"], int(nxt - snap["step"])))
    return segments


def build_medium_replay(env: str, manifest: dict[str, Any], seed: int = 0, policy_dir: Path | None = None,
                        progress: bool = True) -> ReplayBuffer:
    parts = []
    for k, (name, n) in enumerate(replay_segments(manifest)):
        actor = None if name is None else load_policy(env, name, policy_dir)
        parts.append(collect(ENVS[env], actor, n, seed=seed + 100 + k, n_envs=8,
                             progress=f"{env}-medium-replay [{k + 1}]" if progress else False))
    return ReplayBuffer.concatenate(parts)


def mix(good: ReplayBuffer, random: ReplayBuffer, percent: float, size: int, seed: int = 0) -> ReplayBuffer:
    """Hong et al.'s mixed dataset: ``percent`` % good transitions (whole trajectories, drawn
    with replacement), the rest random trajectories, ``size`` transitions in all."""
    rng = np.random.default_rng(seed)

    def draw(src: ReplayBuffer, target: int) -> list[ReplayBuffer]:
        starts, lengths = src.episode_bounds()
        chosen, total = [], 0
        while total < target:
            i = int(rng.integers(starts.size))
            chosen.append(i)
            total += int(lengths[i])
        rows = np.concatenate([np.arange(starts[i], starts[i] + lengths[i]) for i in chosen]) if chosen else np.zeros(0, int)
        ends = np.zeros(rows.size, bool)
        ends[np.cumsum([lengths[i] for i in chosen]) - 1] = True
        if rows.size == 0:
            return []
        return [ReplayBuffer.from_arrays(src.observations[rows], src.actions[rows], src.rewards[rows], src.terminals[rows],
                                         src.timeouts[rows], next_observations=src.next_observations[rows], episode_ends=ends)]

    n_good = int(np.ceil(percent / 100.0 * size))
    good_part = draw(good, n_good)
    got = len(good_part[0]) if good_part else 0
    return ReplayBuffer.concatenate(good_part + draw(random, size - got), limit=size)


def build_mixed(env: str, good_level: str, percent: int, size: int = SIZE, seed: int = 0) -> ReplayBuffer:
    from orl.data.registry import load_dataset

    good, random = load_dataset(f"{env}-{good_level}"), load_dataset(f"{env}-random")
    buf = mix(good, random, percent, size, seed)
    buf.metadata.update(good.metadata)
    buf.metadata.update({"policy": f"random+{good_level}", "good_percent": percent})
    return buf


def policies_fingerprint(env: str, policy_dir: Path | None = None) -> str | None:
    """SHA-256 of ``env``'s shipped policy files (manifest and weights), or None if none are shipped:
    a dataset built from other policies (an older orl, a re-export) is stale."""
    import hashlib

    folder = (policy_dir or POLICY_DIR) / env
    files = sorted(folder.glob("*.json")) + sorted(folder.glob("*.npz"))
    if not (folder / "manifest.json").exists():
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def source_fingerprint(env: str, policy_dir: Path | None = None) -> str | None:
    """What ``env``'s datasets are made from: the generation revision and the shipped policies
    (None if no policies are shipped). Stored as ``source`` in each built dataset's metadata."""
    policies = policies_fingerprint(env, policy_dir)
    return None if policies is None else f"generation-{GENERATION}:{policies}"


def dataset_specs() -> list[tuple[str, str, Any, str, Any]]:
    """``(name, env_id, builder, description, source fingerprint)`` of every locomotion dataset."""
    specs = []
    for env, env_id in ENVS.items():
        source = partial(source_fingerprint, env)
        for level in LEVELS:
            specs.append((f"{env}-{level}", env_id, partial(build_standard, env, level),
                          f"{env_id}, {level}: orl's re-creation of the D4RL protocol (not D4RL's data)", source))
        for good in MIXED_GOOD:
            for pct in MIXED_PERCENT:
                specs.append((f"{env}-random-{good}-{pct}", env_id, partial(build_mixed, env, good, pct),
                              f"{env_id}: {pct}% {good} trajectories + random ones (Hong et al. 2023), 1M transitions",
                              source))
    return specs
