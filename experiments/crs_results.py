"""SR@5/10/15, AT and hDCG of the rule-based baselines on the generated conversational recommendation graphs.

    python experiments/crs_results.py                       # graph seeds 0 1 2, 500 test dialogues each (~1 min)
    python experiments/crs_results.py --seeds 0 --n-dialogues 100

For each graph seed ``s`` and each registered id (``orl/CRS-LastFM-v0``: LastFM-like graph, binary questions;
``orl/CRS-Yelp-v0``: Yelp-like graph, enumerated questions over 29 categories; ``orl/CRS-YelpStar-v0``: the same
Yelp-like graph, binary questions) built with ``graph_seed=s, split="test"``, it runs ``--n-dialogues`` dialogues
(reset seeds 0..n-1, held-out (user, target) pairs) with the Max Entropy and Absolute Greedy rules of
:mod:`orl_envs.crs.baselines`. Writes ``experiments/results/crs_baselines.csv`` (one row per env, seed, policy;
atomically) and prints the mean and min-max over seeds.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-dialogues", type=int, default=500)
    ap.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "crs_baselines.csv")
    args = ap.parse_args()
    gym.register_envs(orl_envs)
    rows = []
    jobs = [(e, s) for e in CRS_IDS for s in args.seeds]
    for env_id, seed in tqdm(jobs, desc="graphs"):
        env = gym.make(env_id, graph_seed=seed, split="test").unwrapped
        for name, policy in POLICIES.items():
            t0 = time.time()
            m = evaluate(env, policy, args.n_dialogues, seed=0)
            rows.append(dict(env=env_id, graph_seed=seed, policy=name, n_dialogues=args.n_dialogues,
                             **{k: round(m[k], 4) for k in METRICS}, seconds=round(time.time() - t0, 1)))
    write_csv(args.out, rows, list(rows[0]))
    print(f"wrote {args.out}")
    for env_id in CRS_IDS:
        for name in POLICIES:
            sel = [r for r in rows if r["env"] == env_id and r["policy"] == name]
            cells = []
            for k in METRICS[:5]:
                v = np.array([r[k] for r in sel])
                cells.append(f"{k} {v.mean():.3f} [{v.min():.3f}, {v.max():.3f}]")
            print(f"{env_id:22s} {name:16s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
