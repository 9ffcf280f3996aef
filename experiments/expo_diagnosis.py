"""Why EXPO falls once it starts learning in the offline-to-online grid (docs/diffusion.md): a finished run's
acting policy taken apart into its pieces, each evaluated on its own.

EXPO (``orl.algos.online.expo``) acts with the on-the-fly policy: ``n_samples`` DDPM samples of its EMA base, the
first ``n_edit`` of them also edited, the candidate with the highest Q wins. In ``experiments/o2o_results.py``'s
grid its score falls once learning starts (e.g. hopper-medium from ~30-50 to ~10). Two readings: the critic,
learned from 5,000 uniform-random transitions and half offline data, ranks the candidates badly; or the base,
trained on the critic's batches (half of them from an online buffer that starts with 5,000 uniform-random actions),
no longer proposes good candidates. At the end of each finished EXPO run this script evaluates:

================  =================================================================================================
``otf``           the run's own acting policy: argmax-Q over the fine-tuned EMA base's and the edit's candidates
``base_ft``       the fine-tuned EMA base alone: one DDPM sample per state, no critic, no edit
``base_pre``      the pretrained base the run started from (its EMA, as EXPO starts acting with it) alone
``otf_pre_base``  the learned critic and edit policy choosing among the *pretrained* base's candidates
================  =================================================================================================

``base_ft`` far below ``base_pre`` says the base itself was pulled down; ``otf_pre_base`` below ``base_pre`` says
the learned critic's choice hurts even among good candidates. Every policy plays the same episodes (resets seeded
as the grid's evaluation, ``seed + 100``), its sampling from a stream seeded afresh per policy.

    python experiments/expo_diagnosis.py --datasets hopper-medium walker2d-medium halfcheetah-medium --episodes 10

Output: ``experiments/results/o2o_expo_diagnosis.csv`` (dataset, seed, policy, return, normalised score with the
dataset's reference scores, episodes, the run's last step), rows of runs not found under ``--runs`` kept as they are.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "envs")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import orl  # noqa: E402
from orl.algos.online.expo import EXPO  # noqa: E402
from orl.data.collect import evaluate  # noqa: E402
from orl.data.registry import load_dataset  # noqa: E402
from orl.train.common import load_checkpoint  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402

POLICIES = ("otf", "base_ft", "base_pre", "otf_pre_base")
FIELDS = ["dataset", "seed", "policy", "return", "score", "episodes", "run_step"]


def policies(algo: EXPO) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The four policies of the module docstring, each mapping raw observations ``(N, obs_dim)`` to actions in
    [-1, 1]."""
    if algo.base_agent is None:
        raise ValueError("this EXPO run started from a fresh base (algo.base unset): there is no pretrained base to "
                         "compare with")
    pre_ema = algo.base_agent.algorithm.ema

    def base_alone(model) -> Callable[[np.ndarray], np.ndarray]:
        def act(obs: np.ndarray) -> np.ndarray:
            s = torch.as_tensor(np.asarray(obs, np.float32)).reshape(-1, algo.obs_dim)
            with torch.no_grad():
                return algo._base_samples(model, s, 1)[:, 0].clamp(-1, 1).numpy()
        return act

    def otf_over(model) -> Callable[[np.ndarray], np.ndarray]:
        def act(obs: np.ndarray) -> np.ndarray:
            acting, algo.base_ema = algo.base_ema, model  # act() proposes with base_ema: lend it the other base
            try:
                return algo.act(obs)
            finally:
                algo.base_ema = acting
        return act

    return {"otf": algo.act, "base_ft": base_alone(algo.base_ema), "base_pre": base_alone(pre_ema),
            "otf_pre_base": otf_over(pre_ema)}


def diagnose(run: Path, dataset: str, seed: int, episodes: int) -> list[dict]:
    """The rows of one finished EXPO run directory."""
    algo = orl.load(run).algorithm
    if not isinstance(algo, EXPO):
        raise SystemExit(f"{run} is a {type(algo).__name__} run, not an EXPO one")
    meta = load_dataset(dataset).metadata
    env_id, lo, hi = meta["env_id"], meta["ref_min_score"], meta["ref_max_score"]
    import gymnasium as gym

    space = gym.make(env_id).action_space
    scale, bias = (space.high - space.low) / 2, (space.high + space.low) / 2
    step = int(load_checkpoint(run)["step"])
    rows = []
    for name, act in policies(algo).items():
        algo.gen.manual_seed(seed + 100)  # each policy samples from the same fresh stream
        returns = evaluate(env_id, lambda o, _r, act=act: bias + scale * act(o), episodes, seed=seed + 100)
        r = float(returns.mean())
        rows.append({"dataset": dataset, "seed": seed, "policy": name, "return": round(r, 2),
                     "score": round(100.0 * (r - lo) / (hi - lo), 2), "episodes": episodes, "run_step": step})
        print(f"{dataset} seed {seed} {name:13s} return {r:8.1f}  score {rows[-1]['score']:6.1f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["hopper-medium", "walker2d-medium", "halfcheetah-medium"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--pretrain-steps", type=int, default=5000)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--runs", type=Path, default=Path.home() / ".orl" / "runs" / "o2o")
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "o2o_expo_diagnosis.csv")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    new = []
    for dataset in a.datasets:
        for seed in a.seeds:
            run = a.runs / dataset / f"pre{a.pretrain_steps}" / f"seed{seed}" / f"expo-{a.steps}"
            if not (run / "result.json").exists():
                print(f"{dataset} seed {seed}: no finished EXPO run in {run}; skipped")
                continue
            new += diagnose(run, dataset, seed, a.episodes)
    fresh = {(r["dataset"], r["seed"]) for r in new}
    old = []
    if a.out.exists():
        with open(a.out) as f:
            old = [r for r in csv.DictReader(f) if (r["dataset"], int(r["seed"])) not in fresh]
    rows = sorted(new + old, key=lambda r: (r["dataset"], int(r["seed"]), POLICIES.index(r["policy"])))
    if rows:
        write_csv(a.out, rows, FIELDS)
        print(f"{len(new)} rows measured, {len(old)} kept: {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
