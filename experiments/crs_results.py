"""SR@5/10/15, AT and hDCG of UNICORN, the flat DQN and the rule baselines on the generated conversational
recommendation graphs (issue 21).

    python experiments/crs_results.py --baselines-only          # rules: graph seeds 0 1 2, 500 test dialogues (~90 s)
    python experiments/crs_results.py --learned                 # UNICORN + flat DQN (see --episodes; resumable)
    python experiments/crs_results.py --learned --seeds 0 --episodes 100   # a quick look

**Rules** (``crs_baselines.csv``): for each graph seed ``s`` and each registered id (``orl/CRS-LastFM-v0``:
LastFM-like graph, binary questions; ``orl/CRS-Yelp-v0``: Yelp-like graph, enumerated questions over 29
categories; ``orl/CRS-YelpStar-v0``: the same Yelp-like graph, binary questions) built with ``graph_seed=s,
split="test"``, ``--n-dialogues`` held-out dialogues (reset seeds 0..n-1) with the Max Entropy and Absolute Greedy
rules of :mod:`orl_envs.crs.baselines`.

**Learned** (``crs_learned.csv``): for each env, seed ``s`` (graph seed and training seed) and policy (UNICORN,
flat DQN), :func:`orl.train.crs.train_crs` for ``--episodes`` validation dialogues with the CPU budget settings
below, then the same ``--n-dialogues`` held-out test dialogues as the rules. Each finished run adds its row to the
CSV (rewritten atomically), and a run's checkpoints live under ``--run-root``: a killed script, started again,
skips finished runs and resumes the one in progress.

CPU budget settings (reductions of the code's, named in ``docs/crs.md``): batch 64 (code: 128), Adam lr 2e-4 (code:
1e-4), 20 candidate items in the GCN's graph, replay capacity 50,000, the env's 10 + 10 action slots.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "envs")]
import gymnasium as gym  # noqa: E402
from tqdm import tqdm  # noqa: E402

import orl_envs  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402
from orl_envs.crs import CRS_IDS, absolute_greedy_policy, evaluate, max_entropy_policy  # noqa: E402

POLICIES = {"max_entropy": max_entropy_policy, "absolute_greedy": absolute_greedy_policy}
METRICS = ["SR@5", "SR@10", "SR@15", "AT", "hDCG", "return"]
#: The CPU budget settings of the learned runs (see the module docstring).
BUDGET = dict(batch_size=64, warmup=64, lr=2e-4, max_graph_items=20)


def baselines(args: argparse.Namespace) -> None:
    rows = []
    jobs = [(e, s) for e in CRS_IDS for s in args.seeds]
    for env_id, seed in tqdm(jobs, desc="graphs"):
        env = gym.make(env_id, graph_seed=seed, split="test").unwrapped
        for name, policy in POLICIES.items():
            t0 = time.time()
            m = evaluate(env, policy, args.n_dialogues, seed=0)
            rows.append(dict(env=env_id, graph_seed=seed, policy=name, n_dialogues=args.n_dialogues,
                             **{k: round(m[k], 4) for k in METRICS}, seconds=round(time.time() - t0, 1)))
    out = args.out_dir / "crs_baselines.csv"
    write_csv(out, rows, list(rows[0]))
    print(f"wrote {out}")
    summary(rows, "policy")


def learned(args: argparse.Namespace) -> None:
    from orl.algos.crs.unicorn import UnicornConfig
    from orl.train.crs import CRS_ENVS, make_envs, train_crs

    out = args.out_dir / "crs_learned.csv"
    rows = list(csv.DictReader(open(out))) if out.exists() else []
    done = {(r["env"], int(r["seed"]), r["policy"]) for r in rows}
    jobs = [(name, s, p) for name in args.envs for s in args.seeds for p in args.policies]
    for name, seed, policy in jobs:
        kind, mode, env_id = CRS_ENVS[name]
        if (env_id, seed, policy) in done:
            print(f"skip {env_id} seed {seed} {policy}: in {out.name}")
            continue
        train_env, test_env = make_envs(kind, mode, graph_seed=seed)
        config = UnicornConfig(policy=policy, test_dialogues=args.n_dialogues, eval_dialogues=100, **BUDGET)
        run_dir = args.run_root / policy / name / str(seed)
        resume = (run_dir / "checkpoint.pt").exists()
        r = train_crs(train_env, test_env, run_dir, config, episodes=args.episodes, eval_every=args.eval_every,
                      seed=seed, resume=resume, progress=True)
        rows.append(dict(env=env_id, seed=seed, policy=policy, episodes=r["episodes"], env_steps=r["env_steps"],
                         updates=r["updates"], n_dialogues=args.n_dialogues,
                         **{k: round(r[k], 4) for k in METRICS}, train_seconds=round(r["train_time_s"], 1)))
        write_csv(out, rows, list(rows[0]))
        print(f"{env_id} seed {seed} {policy}: SR@15 {r['SR@15']:.3f} AT {r['AT']:.2f} hDCG {r['hDCG']:.3f} "
              f"({r['train_time_s']:.0f} s)")
    print(f"wrote {out}")
    summary(rows, "policy")


def summary(rows: list[dict], key: str) -> None:
    for env_id in CRS_IDS:
        for name in dict.fromkeys(r[key] for r in rows):
            sel = [r for r in rows if r["env"] == env_id and r[key] == name]
            if not sel:
                continue
            cells = []
            for k in METRICS[:5]:
                v = np.array([float(r[k]) for r in sel])
                cells.append(f"{k} {v.mean():.3f} [{v.min():.3f}, {v.max():.3f}]")
            print(f"{env_id:22s} {name:16s} n={len(sel)} " + "  ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baselines-only", action="store_true", help="only the rules (crs_baselines.csv)")
    ap.add_argument("--learned", action="store_true", help="only UNICORN and the flat DQN (crs_learned.csv)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="graph (and training) seeds; default 0 1 2 for the rules, 0 1 for the learned runs")
    ap.add_argument("--n-dialogues", type=int, default=500, help="held-out test dialogues per graph")
    ap.add_argument("--envs", nargs="+", default=["crs-lastfm", "crs-yelpstar", "crs-yelp"])
    ap.add_argument("--policies", nargs="+", default=["unicorn", "flat"], choices=["unicorn", "flat"])
    ap.add_argument("--episodes", type=int, default=600, help="training (validation) dialogues per learned run")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "experiments" / "results")
    ap.add_argument("--run-root", type=Path, default=ROOT / "runs" / "crs_results")
    args = ap.parse_args()
    gym.register_envs(orl_envs)
    if not args.learned:
        args.seeds = args.seeds or [0, 1, 2]
        baselines(args)
    if not args.baselines_only:
        args.seeds = args.seeds or [0, 1]
        learned(args)


if __name__ == "__main__":
    main()
