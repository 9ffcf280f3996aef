"""Issue 18's results: offline-to-online fine-tuning from a D4RL-style medium dataset to its v5 environment.

Per dataset and seed, every stage writes into ``--runs`` and is skipped (finished) or resumed (checkpoint) when its
output is there, so the grid continues across sessions and machines:

1. offline pretraining, one population per dataset (all seeds in one batched model, ``--pretrain-steps`` updates):
   ``diffusion_bc`` on single actions (EXPO's base), ``diffusion_bc`` on chunks of ``--chunk`` actions (DSRL's
   base: the code's Gym MuJoCo setting is 4, :mod:`orl.data.chunks`) and ``iql`` with the settings the IQL code's
   fine-tuning script would use (``IQL_BASE``; the base of IQL fine-tuning), each only when a method needs it; each
   member is saved as its own agent file;
2. online, ``--steps`` environment steps per run, from the same seed's bases:

   ================  ===========================================================================================
   ``diffusion_bc``  the frozen single-action base alone (evaluated, no learning: EXPO's starting point)
   ``diffusion_bc_chunk``  the frozen chunk base alone, in the chunk environment (DSRL's starting point)
   ``dsrl_na``       DSRL-NA steering the frozen chunk base in its noise space (one noise per chunk)
   ``dsrl_sac``      SAC on the noise-action environment of the same chunk base
   ``expo``          EXPO: the base trained on, edit policy, on-the-fly argmax-Q (offline data mixed 50/50)
   ``iql_ft``        IQL fine-tuned online from its offline agent (the code's merged buffer)
   ``sac_rlpd``      SAC with RLPD's options and 50/50 offline data, from scratch
   ================  ===========================================================================================

Budgets are environment steps for every method: DSRL's runs take ``--steps / --chunk`` steps of the chunk
environment (and their CSV steps are converted back). Every method's settings are its code's unless ``REDUCED``
below names a change (CPU budget): RLPD's and EXPO's update-to-data ratio of 20 and EXPO's 10-critic,
8+8-candidate on-the-fly policy cost 20x to 2,750x a SAC step on a CPU (``experiments/bench_diffusion.py``); the
steps before learning starts are cut so that a 10k-step budget is not mostly spent before the first update (DSRL's
are counted in chunk steps: 250 = 1,000 environment steps; EXPO keeps its code's 5,000); the reduced values are
written into every CSV row. DSRL runs at its code's rates per transition (``orl.algos.online.dsrl``).
``--supersede METHOD ...`` moves a method's earlier runs aside before rerunning it (after a fix); ``--status`` prints
each run's state (done, settings not recorded, at step k, not started).

Outputs (rewritten after every finished run, from all finished runs: those under ``--runs`` and, for a dataset, seed
and method with no finished run there, the rows the CSV already holds, so the committed CSV is the record of runs
made on other machines or lost with their directories): ``experiments/results/o2o_curves.csv`` (dataset,
seed, method, step, return, normalised score: ``100 (R - ref_min) / (ref_max - ref_min)`` with the dataset's own
reference scores), ``o2o_final.csv`` (the last evaluation of each run) and ``o2o_summary.csv`` (per dataset and
method over seeds: the score at the first evaluation, at the end and over the run; the table of docs/diffusion.md),
from every dataset and seed under ``--runs`` at this budget. Figures: ``python -m orl.plot results``.

    python experiments/o2o_results.py --datasets hopper-medium --seeds 0 1 2 --steps 20000   # a CPU budget
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "envs")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import orl  # noqa: E402
from orl.algos.online.sac import RLPD  # noqa: E402
from orl.data.chunks import chunk_dataset, chunk_env_id  # noqa: E402
from orl.data.collect import evaluate  # noqa: E402
from orl.data.registry import load_dataset  # noqa: E402
from orl.train.common import CHECKPOINT, load_checkpoint  # noqa: E402
from orl.utils.atomic import atomic_path, write_csv  # noqa: E402

METHODS = ("diffusion_bc", "diffusion_bc_chunk", "dsrl_na", "dsrl_sac", "expo", "iql_ft", "sac_rlpd")
BASES = ("diffusion_bc", "diffusion_bc_chunk")  # evaluated, not trained online

#: Settings changed from each method's code defaults to fit a CPU, per method (the rest: orl's defaults = the code's;
#: every run records the reductions it ran with in its result.json, which the CSVs report).
REDUCED: dict[str, dict] = {
    # code: 8,004 base-policy transitions before learning (2,001 vector steps of 4 environments)
    "dsrl_na": {"start_steps": 250},
    "dsrl_sac": {"start_steps": 250},
    "expo": {"utd": 2, "n_critics": 4, "n_samples": 4, "n_edit": 4},  # code: UTD 20, 10 critics, 8 + 8 candidates
    "iql_ft": {},
    "sac_rlpd": {"utd": 2, "start_steps": 1000},  # RLPD: UTD 20, 5,000 uniform-random steps
}
#: The reductions of the first grid's runs (before 2026-11-29, their result.json does not record them); DSRL then
#: updated per transition, 20 and 10 times by default.
REDUCED_FIRST_GRID: dict[str, dict] = {**REDUCED, "dsrl_na": {"utd": 1, "distill_steps": 1, "start_steps": 250}}
#: Per-environment settings of the code's configs: DSRL-SAC's noise bound (``action_magnitude``)
ENV_SETTINGS: dict[tuple[str, str], dict] = {("dsrl_sac", "Walker2d-v5"): {"noise_bound": 2.5}}
#: AdamW weight decay of the diffusion bases (orl's default before 2026-11-29; the code's is 1e-4)
BASE_WEIGHT_DECAY = 0.01
#: The IQL fine-tuning base as the IQL code's ``train_finetune.py`` would train it on MuJoCo: ``configs/mujoco_config.py``
#: (expectile 0.7, temperature 3, tau 0.005), no learning-rate decay (its learner gets no ``max_steps``: only
#: ``opt_decay_schedule=None`` runs), rewards scaled by 1000 / (max return - min return), raw states, the Gaussian
#: actor. orl's tuned files (CORL's) differ per dataset: tau 0.001 on hopper, no reward scaling on walker2d and
#: halfcheetah, a deterministic actor, normalised states, a cosine decay; the first grid's base ("iql") used them.
IQL_BASE = {"deterministic_actor": False, "actor_lr_cosine": False, "normalize_reward": True, "normalize_states": False,
            "tau": 0.005, "expectile": 0.7, "beta": 3.0}
FIELDS = ["dataset", "env", "seed", "method", "step", "return", "score", "pretrain_steps", "steps", "chunk", "reduced"]
#: The methods' names in docs/diffusion.md's tables.
LABELS = {"diffusion_bc": "diffusion BC alone (single actions)", "diffusion_bc_chunk": "diffusion BC alone (4-action chunks)",
          "dsrl_na": "DSRL-NA (4-chunks)", "dsrl_sac": "DSRL-SAC (4-chunks)", "expo": "EXPO (50% offline data)",
          "iql_ft": "IQL fine-tuned online", "sac_rlpd": "SAC, RLPD-style (50% offline data)"}
SUMMARY_FIELDS = ["dataset", "method", "seeds", "n_seeds", "first_score", "first_std", "final_score", "final_std",
                  "mean_score", "mean_std", "pretrain_steps", "steps", "chunk", "reduced"]


def pretrained(algo: str, dataset, seeds: list[int], steps: int, root: Path, eval_every: int, name: str | None = None,
               **settings) -> list[Path]:
    """One agent file per seed: the members of an offline population trained (or resumed, or loaded) in
    ``root / <name>-seeds<s1_s2..>``; ``dataset`` a name or an in-memory buffer. The run directory is named by its
    seeds, so processes started for different seeds (one per core) each train their own and never collide."""
    name = name or algo
    files = [root / f"{name}-seed{s}.pt" for s in seeds]
    if all(f.exists() for f in files):
        return files
    run = root / f"{name}-seeds{'_'.join(str(s) for s in seeds)}"
    if (run / CHECKPOINT).exists():
        agent = orl.load(run) if int(load_checkpoint(run)["step"]) >= steps else orl.resume(run)
    elif (run / "config.yaml").exists():  # stopped before its first checkpoint: resume starts it from step 0
        agent = orl.resume(run)
    else:
        agent = orl.fit(algo, dataset, steps=steps, seeds=seeds, out_dir=run, eval_every=eval_every, eval_episodes=5,
                        **settings)
    for seed, f in zip(seeds, files):  # by name: a population trained for other seeds must not stand in for these
        names = [m for m in agent.members if m.rsplit("/", 1)[-1] == f"seed{seed}"]
        if not names:
            raise SystemExit(f"{run} holds a population of {', '.join(agent.members)}, not seed {seed}: move it aside "
                             f"(or train seed {seed} in a call of its own) and run again")
        agent.member(names[0]).save(f)
    return files


def online(method: str, env_id: str, dataset: str, seed: int, steps: int, out: Path, eval_every: int,
           episodes: int, base: dict[str, Path], chunk: int) -> None:
    """Train ``method`` for ``steps`` environment steps in ``out`` (resumed when a checkpoint is there)."""
    if (out / "result.json").exists():
        return
    if (out / CHECKPOINT).exists():
        if int(load_checkpoint(out)["step"]) < (steps // chunk if method.startswith("dsrl") else steps):
            orl.resume(out)
    elif (out / "config.yaml").exists():  # stopped before its first checkpoint: resume starts it from step 0
        orl.resume(out)
    else:
        settings = {**REDUCED[method], **ENV_SETTINGS.get((method, env_id), {})}
        algo = "sac" if method == "sac_rlpd" else method
        if method in ("dsrl_na", "dsrl_sac"):  # one step of the chunk env is ``chunk`` environment steps
            settings["base"] = str(base["diffusion_bc_chunk"])
            env_id = chunk_env_id(env_id, chunk)
            steps, eval_every = steps // chunk, max(eval_every // chunk, 1)
        if method == "expo":
            settings["base"] = str(base["diffusion_bc"])
        if method == "iql_ft":
            settings.update(base=str(base["iql"]), offline_dataset=dataset)
        if method in ("expo", "sac_rlpd"):
            settings.update(offline_dataset=dataset, offline_ratio=0.5)
        if method == "sac_rlpd":  # RLPD's locomotion settings (orl.algos.online.sac.RLPD) under the reductions
            settings.update({k: v for k, v in RLPD.items() if k not in settings})
        orl.fit(algo, env_id, steps=steps, seed=seed, out_dir=out, eval_every=eval_every, eval_episodes=episodes,
                **settings)
    with atomic_path(out / "result.json", suffix=".json") as tmp:
        tmp.write_text(json.dumps({"method": method, "steps": steps, "reduced": REDUCED[method]}))


def base_alone(agent_file: Path, env_id: str, seed: int, episodes: int, out: Path) -> float:
    """The frozen diffusion base's mean return in ``env_id`` (cached in ``out``)."""
    if out.exists():
        return float(json.loads(out.read_text())["return"])
    agent = orl.load(agent_file)
    returns = evaluate(env_id, lambda o, _r: agent.predict(o), episodes, seed=seed + 100)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".json") as tmp:
        tmp.write_text(json.dumps({"return": float(returns.mean()), "episodes": episodes}))
    return float(returns.mean())


def collect(args: argparse.Namespace) -> list[dict]:
    """Rows of every finished run under ``--runs`` at this budget (``--pretrain-steps``, ``--steps``), of every
    dataset and seed found there, not only those of this call: a call for one dataset must not drop the rows of
    the others from the CSVs."""
    rows = []
    for pre in sorted(args.runs.glob(f"*/pre{args.pretrain_steps}")):
        dataset = pre.parent.name
        meta = load_dataset(dataset).metadata
        lo, hi = meta["ref_min_score"], meta["ref_max_score"]
        score = lambda r: 100.0 * (r - lo) / (hi - lo)  # noqa: E731
        for root in sorted((d for d in pre.glob("seed*") if d.is_dir() and d.name[4:].isdigit()),
                           key=lambda d: int(d.name[4:])):
            seed = int(root.name[4:])
            common = {"dataset": dataset, "env": meta["env_id"], "seed": seed, "pretrain_steps": args.pretrain_steps,
                      "steps": args.steps, "chunk": 1}
            for method in BASES:
                alone = root / f"{method}_alone.json"
                if alone.exists():
                    r = float(json.loads(alone.read_text())["return"])
                    for step in (0, args.steps):  # a frozen policy: one level over the whole budget
                        rows.append({**common, "method": method, "step": step, "return": r, "score": score(r),
                                     "reduced": "", "chunk": args.chunk if method == "diffusion_bc_chunk" else 1})
            for method in METHODS[len(BASES):]:
                out = root / f"{method}-{args.steps}"
                if not (out / "result.json").exists():
                    continue
                reduced = json.loads((out / "result.json").read_text()).get("reduced", REDUCED_FIRST_GRID[method])
                with open(out / "eval.csv") as f:
                    for e in csv.DictReader(f):
                        r = float(e["return_mean"])
                        h = args.chunk if method.startswith("dsrl") else 1  # chunk steps -> environment steps
                        rows.append({**common, "method": method, "step": int(e["step"]) * h, "return": r,
                                     "score": score(r), "reduced": json.dumps(reduced) if reduced else "",
                                     "chunk": h})
    return rows


def recorded(args: argparse.Namespace) -> list[dict]:
    """The rows of ``o2o_curves.csv`` in ``--results`` at this budget: the committed record of runs whose run
    directories may be gone (another machine, a lost home directory)."""
    path = args.results / "o2o_curves.csv"
    if not path.exists():
        return []
    with open(path) as f:
        rows = [r for r in csv.DictReader(f)
                if int(r["pretrain_steps"]) == args.pretrain_steps and int(r["steps"]) == args.steps]
    types = {"seed": int, "step": int, "return": float, "score": float, "pretrain_steps": int, "steps": int,
             "chunk": int}
    return [{k: types.get(k, str)(v) for k, v in r.items()} for r in rows]


def merged(args: argparse.Namespace, drop: set[tuple] = frozenset()) -> list[dict]:
    """Every finished run's rows: those under ``--runs`` and, for a (dataset, seed, method) with no finished run
    there, the rows already in the CSV, except the runs named in ``drop`` (superseded). A run directory replaces
    its recorded rows whole, so rerunning a seed never leaves a mix of two runs' evaluations."""
    fresh = collect(args)
    key = lambda r: (r["dataset"], r["seed"], r["method"])  # noqa: E731
    have = {key(r) for r in fresh}
    kept = [r for r in recorded(args) if key(r) not in have and key(r) not in drop]
    return [r for r in fresh if key(r) not in drop] + kept


def write_results(args: argparse.Namespace, drop: set[tuple] = frozenset()) -> None:
    rows = sorted(merged(args, drop), key=lambda r: (r["dataset"], r["seed"], METHODS.index(r["method"]), r["step"]))
    if not rows:
        return
    write_csv(args.results / "o2o_curves.csv", rows, FIELDS)
    last: dict[tuple, dict] = {}
    for r in rows:
        key = (r["dataset"], r["seed"], r["method"])
        if key not in last or r["step"] >= last[key]["step"]:
            last[key] = r
    write_csv(args.results / "o2o_final.csv", list(last.values()), FIELDS)
    write_csv(args.results / "o2o_summary.csv", summary(rows), SUMMARY_FIELDS)


def summary(rows: list[dict]) -> list[dict]:
    """Per dataset and method, over seeds: the normalised score at the first evaluation, at the end and averaged
    over the run's evaluations (each run's mean first), as mean and standard deviation (``ddof=0``) — the table of
    docs/diffusion.md."""
    runs: dict[tuple, list[dict]] = {}
    for r in rows:
        runs.setdefault((r["dataset"], r["method"], r["seed"]), []).append(r)
    groups: dict[tuple, dict[str, list[float]]] = {}
    meta: dict[tuple, dict] = {}
    for (dataset, method, seed), rs in runs.items():
        rs = sorted(rs, key=lambda r: r["step"])
        g = groups.setdefault((dataset, method), {"seeds": [], "first": [], "final": [], "mean": []})
        g["seeds"].append(seed)
        g["first"].append(rs[0]["score"])
        g["final"].append(rs[-1]["score"])
        g["mean"].append(float(np.mean([r["score"] for r in rs])))
        meta[(dataset, method)] = {k: rs[-1][k] for k in ("pretrain_steps", "steps", "chunk", "reduced")}
    out = []
    for (dataset, method), g in sorted(groups.items(), key=lambda kv: (kv[0][0], METHODS.index(kv[0][1]))):
        row = {"dataset": dataset, "method": method, "seeds": " ".join(str(s) for s in sorted(g["seeds"])),
               "n_seeds": len(g["seeds"])}
        for k in ("first", "final", "mean"):
            row[f"{k}_score"], row[f"{k}_std"] = round(float(np.mean(g[k])), 2), round(float(np.std(g[k])), 2)
        out.append({**row, **meta[(dataset, method)]})
    return out


def supersede(args: argparse.Namespace, dataset: str) -> None:
    """Move the runs of ``--supersede`` methods (this dataset, ``--seeds``, this budget) out of ``--runs``, into
    ``<runs>_superseded/<UTC time>/``: their settings changed, so they are rerun and leave the CSVs."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    if args.supersede:  # their recorded rows leave the CSVs too (a run directory may not be here to move)
        write_results(args, drop={(dataset, seed, method) for seed in args.seeds for method in args.supersede})
    for seed in args.seeds:
        for method in args.supersede:
            run = args.runs / dataset / f"pre{args.pretrain_steps}" / f"seed{seed}" / f"{method}-{args.steps}"
            if run.exists():
                dest = args.runs.parent / f"{args.runs.name}_superseded" / stamp / run.relative_to(args.runs)
                dest.parent.mkdir(parents=True, exist_ok=True)
                run.rename(dest)
                print(f"superseded: {run} -> {dest}")


def runs_to_do(args: argparse.Namespace, dataset: str) -> list[tuple[int, str]]:
    """The (seed, method) runs of ``dataset`` that this call trains, seed-major (every method gets seed 0 first):
    all of ``--seeds`` x ``--methods`` except those recorded in the CSV (made on another machine, or their
    directories lost), which are done; a run directory here is continued (or found finished) whatever the CSV says."""
    in_csv = {(r["seed"], r["method"]) for r in recorded(args) if r["dataset"] == dataset}
    root = args.runs / dataset / f"pre{args.pretrain_steps}"
    here = lambda seed, method: (root / f"seed{seed}" / (f"{method}_alone.json" if method in BASES  # noqa: E731
                                                          else f"{method}-{args.steps}")).exists()
    return [(seed, method) for seed in args.seeds for method in args.methods
            if (seed, method) not in in_csv or here(seed, method)]


def status(args: argparse.Namespace) -> list[dict]:
    """Where the grid stands: per dataset under ``--runs`` at this budget, method (of ``--methods``) and seed (of
    ``--seeds``), the run's state: ``done``, ``done, settings not recorded`` (a finished run whose result.json
    predates the record of its reductions, 2026-11-29: the first grid's runs and EXPO's first two), ``at step k``
    (the last evaluation of an unfinished run, in environment steps), ``done, recorded in the CSV`` (rows in
    ``o2o_curves.csv``, no run directory here) or ``not started``."""
    out = []
    in_csv = {(r["dataset"], r["seed"], r["method"]) for r in recorded(args)}
    datasets = sorted({p.parent.name for p in args.runs.glob(f"*/pre{args.pretrain_steps}")} | {k[0] for k in in_csv})
    for dataset in datasets:
        pre = args.runs / dataset / f"pre{args.pretrain_steps}"
        for method in args.methods:
            for seed in args.seeds:
                root = pre / f"seed{seed}"
                if method in BASES:
                    state = "done" if (root / f"{method}_alone.json").exists() else "not started"
                    if state == "not started" and (dataset, seed, method) in in_csv:
                        state = "done, recorded in the CSV"
                    out.append({"dataset": dataset, "method": method, "seed": seed, "state": state})
                    continue
                run = root / f"{method}-{args.steps}"
                if (run / "result.json").exists():
                    noted = "reduced" in json.loads((run / "result.json").read_text())
                    state = "done" if noted else "done, settings not recorded"
                elif (run / "eval.csv").exists():
                    with open(run / "eval.csv") as f:
                        evals = list(csv.DictReader(f))
                    h = args.chunk if method.startswith("dsrl") else 1
                    state = f"at step {int(evals[-1]['step']) * h if evals else 0}"
                elif run.exists():
                    state = "started"
                else:
                    state = "done, recorded in the CSV" if (dataset, seed, method) in in_csv else "not started"
                out.append({"dataset": dataset, "method": method, "seed": seed, "state": state})
    return out


def table(summary_csv: Path, dataset: str) -> str:
    """docs/diffusion.md's markdown table of ``dataset`` from ``o2o_summary.csv`` (mean ± std over the seeds)."""
    with open(summary_csv) as f:
        rows = [r for r in csv.DictReader(f) if r["dataset"] == dataset]
    if not rows:
        raise SystemExit(f"no rows for dataset {dataset!r} in {summary_csv}")
    steps = {int(r["steps"]) for r in rows}
    if len(steps) != 1:
        raise SystemExit(f"{summary_csv} mixes budgets {sorted(steps)} for {dataset!r}")

    def cell(r: dict, k: str) -> str:
        return f"{float(r[k + '_score']):.1f}" + (f" ± {float(r[k + '_std']):.1f}" if int(r["n_seeds"]) > 1 else "")

    lines = [f"| method | seeds | score at the first evaluation | score at {steps.pop() // 1000}k env steps "
             "| mean score over the run | reduced settings |", "|---|---|---|---|---|---|"]
    for r in rows:
        reduced = ", ".join(f"{k}: {v}" for k, v in json.loads(r["reduced"]).items()) if r["reduced"] else ""
        lines.append(f"| {LABELS[r['method']]} | {r['seeds'].replace(' ', ', ')} | {cell(r, 'first')} | "
                     f"{cell(r, 'final')} | {cell(r, 'mean')} | {reduced} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["hopper-medium"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--steps", type=int, default=20_000, help="environment steps per online run")
    p.add_argument("--pretrain-steps", type=int, default=20_000, help="offline updates of diffusion_bc and iql")
    p.add_argument("--chunk", type=int, default=4, help="actions per chunk of DSRL's base (the code's Gym value)")
    p.add_argument("--eval-every", type=int, default=2_000)
    p.add_argument("--pretrain-eval-every", type=int, default=1_000,
                   help="offline updates between evaluations and checkpoints of the pretraining runs")
    p.add_argument("--episodes", type=int, default=5, help="evaluation episodes")
    p.add_argument("--runs", type=Path, default=Path.home() / ".orl" / "runs" / "o2o")
    p.add_argument("--results", type=Path, default=ROOT / "experiments" / "results")
    p.add_argument("--collect-only", action="store_true", help="only rewrite the CSVs from finished runs")
    p.add_argument("--supersede", nargs="+", default=[], choices=METHODS[len(BASES):], metavar="METHOD",
                   help="first move these methods' runs (of --datasets, --seeds) out of --runs: rerun them")
    p.add_argument("--table", metavar="DATASET", help="print docs/diffusion.md's table of DATASET from "
                   "o2o_summary.csv in --results, and stop")
    p.add_argument("--status", action="store_true", help="print each run's state (of --methods, --seeds, at this "
                   "budget, every dataset under --runs), and stop")
    args = p.parse_args()
    if args.table:
        print(table(args.results / "o2o_summary.csv", args.table))
        return
    if args.status:
        for r in status(args):
            print(f"{r['dataset']:20s} {r['method']:19s} seed {r['seed']}: {r['state']}")
        return
    torch.set_num_threads(1)
    if not args.collect_only:
        for dataset in args.datasets:
            env_id = load_dataset(dataset).metadata["env_id"]
            pre = args.runs / dataset / f"pre{args.pretrain_steps}"
            pre.mkdir(parents=True, exist_ok=True)
            data = load_dataset(dataset)
            supersede(args, dataset)
            todo = runs_to_do(args, dataset)
            seeds_for = lambda methods: [s for s in args.seeds if any((s, m) in todo for m in methods)]  # noqa: E731
            files: dict[str, dict[int, Path]] = {}  # only the bases that the runs left to do need are trained
            # the committed tables' bases were trained with AdamW's weight decay 0.01 before diffusion_bc took the
            # code's 1e-4: kept, so that the grid reproduces them (5,000 updates at lr 3e-4 shrink weights by 1.5%)
            if seeds := seeds_for(("diffusion_bc", "expo")):
                files["diffusion_bc"] = dict(zip(seeds, pretrained(
                    "diffusion_bc", dataset, seeds, args.pretrain_steps, pre, args.pretrain_eval_every,
                    weight_decay=BASE_WEIGHT_DECAY)))
            if seeds := seeds_for(("diffusion_bc_chunk", "dsrl_na", "dsrl_sac")):
                files["diffusion_bc_chunk"] = dict(zip(seeds, pretrained(
                    "diffusion_bc", chunk_dataset(data, args.chunk), seeds, args.pretrain_steps, pre,
                    args.pretrain_eval_every, name=f"diffusion_bc_h{args.chunk}", weight_decay=BASE_WEIGHT_DECAY)))
            if seeds := seeds_for(("iql_ft",)):
                files["iql"] = dict(zip(seeds, pretrained("iql", dataset, seeds, args.pretrain_steps, pre,
                                                          args.pretrain_eval_every, name="iql_code", **IQL_BASE)))
            for seed in args.seeds:
                root = pre / f"seed{seed}"
                bases = {name: f[seed] for name, f in files.items() if seed in f}
                for method in (m for m in args.methods if (seed, m) in todo):
                    if method in BASES:
                        env = env_id if method == "diffusion_bc" else chunk_env_id(env_id, args.chunk)
                        base_alone(bases[method], env, seed, args.episodes, root / f"{method}_alone.json")
                    else:
                        online(method, env_id, dataset, seed, args.steps, root / f"{method}-{args.steps}",
                               args.eval_every, args.episodes, bases, args.chunk)
                    write_results(args)
    write_results(args)
    for r in sorted(collect(args), key=lambda r: (r["dataset"], r["method"], r["seed"], r["step"])):
        if r["step"] == args.steps:
            print(f"{r['dataset']:16s} {r['method']:13s} seed {r['seed']}: return {r['return']:8.1f}  score {r['score']:6.1f}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
