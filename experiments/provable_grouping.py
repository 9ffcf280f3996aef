"""Action grouping: exact suboptimality versus total sample budget N for several group counts (issue 20).

Reconstruction of Li, Ju & Shroff, "Achieving Sample and Computational Efficient Reinforcement Learning by Action
Space Reduction via Grouping" (ICLR 2024, arXiv 2306.12981); see :mod:`orl.algos.provable.action_grouping`.
On ``generate_grouped_mdp(S, A, G_true, epsilon)`` instances (one instance per seed) a pilot of ``m`` samples per
(s, a) builds nested groupings; for each candidate count and budget ``N`` the lifted MDP is estimated from ``N``
samples, solved exactly, and its lifted-back policy evaluated exactly on the true model. Baselines: no grouping
(``|g| = A``) and the ground-truth grouping. Writes ``experiments/results/provable_grouping.csv`` (one row per seed,
N, candidate) and ``docs/action_grouping_suboptimality.png``.

    python experiments/provable_grouping.py            # default budget: 5 seeds, see --help
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "envs")]
from orl.algos.provable.action_grouping import (  # noqa: E402
    grouping_errors,
    nested_groupings,
    run_grouping,
    same_partition,
    sample_model,
    select_num_groups,
)
from orl.algos.provable.exact import discounted_value_iteration  # noqa: E402
from orl.utils.atomic import atomic_path, write_csv  # noqa: E402
from orl_envs.grouped_actions import generate_grouped_mdp  # noqa: E402

FIELDS = ["seed", "N", "candidate", "num_groups", "recovered", "suboptimality", "bound_total", "bound_approximation",
          "bound_estimation", "selected", "bound_worst_case_total", "selected_worst_case"]


def run(args: argparse.Namespace) -> list[dict]:
    rows = []
    for seed in tqdm(range(args.seeds), desc="seeds"):
        m = generate_grouped_mdp(args.states, args.actions, args.true_groups, args.epsilon, seed=seed)
        rng = np.random.default_rng(10_000 + seed)
        P1, R1 = sample_model(m.P, m.R, args.pilot, rng)
        cands = nested_groupings(P1, R1, args.counts)
        V_star = discounted_value_iteration(m.P, m.R, args.gamma).V
        named = {f"g={k}": g for k, g in cands.items()}
        named["ground-truth"] = m.groups
        # the pilot's grouping errors do not depend on the budget N: once per candidate
        errors = {name: grouping_errors(P1, R1, g, args.gamma, m=args.pilot) for name, g in named.items()}
        for N in args.budgets:
            res = {name: run_grouping(m.P, m.R, g, N, args.gamma, errors[name], rng) for name, g in named.items()}
            sel = select_num_groups({k: res[f"g={k}"] for k in cands})
            sel_wc = min(cands, key=lambda k: (res[f"g={k}"].bound_worst_case["total"], k))
            for name, r in res.items():
                rows.append({"seed": seed, "N": N, "candidate": name, "num_groups": r.num_groups,
                             "recovered": int(same_partition(r.groups, m.groups)),
                             # mean over start states of V* - V^pi (exact)
                             "suboptimality": float((V_star - r.V_true).mean()),
                             "bound_total": r.bound["total"], "bound_approximation": r.bound["approximation"],
                             "bound_estimation": r.bound["estimation"], "selected": int(name == f"g={sel}"),
                             "bound_worst_case_total": r.bound_worst_case["total"],
                             "selected_worst_case": int(name == f"g={sel_wc}")})
    return rows


def plot(rows: list[dict], path: Path, args: argparse.Namespace) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    names = [f"g={k}" for k in args.counts] + ["ground-truth"]
    for name in names:
        mean = [np.mean([r["suboptimality"] for r in rows if r["candidate"] == name and r["N"] == N])
                for N in args.budgets]
        ax.plot(args.budgets, mean, marker="o", label=name, ls="--" if name == "ground-truth" else "-")
    sel = [np.mean([r["suboptimality"] for r in rows if r["selected"] and r["N"] == N]) for N in args.budgets]
    ax.plot(args.budgets, sel, "k*", ms=12, label="bound-selected (value-aware)")
    sel_wc = [np.mean([r["suboptimality"] for r in rows if r["selected_worst_case"] and r["N"] == N])
              for N in args.budgets]
    ax.plot(args.budgets, sel_wc, "kx", ms=9, label="worst-case bound's choice")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("total lifted-model samples N")
    ax.set_ylabel("mean_s V*(s) - V^pi(s) (exact)")
    ax.set_title(f"S={args.states}, A={args.actions}, true |g|={args.true_groups}, eps={args.epsilon}, "
                 f"{args.seeds} seeds", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--states", type=int, default=10)
    p.add_argument("--actions", type=int, default=100)
    p.add_argument("--true-groups", type=int, default=4)
    p.add_argument("--epsilon", type=float, default=0.01)
    p.add_argument("--gamma", type=float, default=0.9)
    p.add_argument("--pilot", type=int, default=200, help="pilot samples per (s, a) for the grouping")
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4, 8, 20, 100])
    p.add_argument("--budgets", type=int, nargs="+", default=[1000, 3000, 10000, 30000, 100000, 300000])
    p.add_argument("--out", type=Path, default=ROOT / "experiments" / "results" / "provable_grouping.csv")
    p.add_argument("--plot", type=Path, default=ROOT / "docs" / "action_grouping_suboptimality.png")
    args = p.parse_args()
    rows = run(args)
    write_csv(args.out, rows, FIELDS)
    plot(rows, args.plot, args)
    for N in args.budgets:
        line = {name: np.mean([r["suboptimality"] for r in rows if r["candidate"] == name and r["N"] == N])
                for name in [f"g={k}" for k in args.counts] + ["ground-truth"]}
        sel = [r["num_groups"] for r in rows if r["selected"] and r["N"] == N]
        sel_wc = [r["num_groups"] for r in rows if r["selected_worst_case"] and r["N"] == N]
        print(N, {k: round(float(v), 4) for k, v in line.items()}, "selected", sel, "worst-case bound", sel_wc)


if __name__ == "__main__":
    main()
