"""DR-RPO against its baselines on the 5-state d-rectangular linear MDP (orl/DRLinearMDP5-v0, issue 20).

    python experiments/provable_drrpo.py                      # 5 seeds x 1000 episodes, ~100 s on one CPU thread
    python experiments/provable_drrpo.py --seeds 0 1 --episodes 300   # smaller

Every algorithm of :mod:`orl.algos.provable.dr_rpo` is trained for ``--episodes`` episodes on the nominal
dynamics (``q = 0``) of the default 5-state model (horizon 5, 8 actions, ``r_safe = 0.6``) with the module's
default settings (``bonus = 1.6``, ``ridge = 0.1``, ``eta = 0.5``, DR-RPO's ``lam = 0.02``):

* ``lsvi_ucb``, ``oppo`` — non-robust;
* ``dr_lsvi_ucb`` and ``dr_rpo`` with the TV set (``rho = 0.3``) and with the KL set (``rho = 0.4``).

It writes

* ``experiments/results/provable_drrpo_robust_return.csv`` — for the policy after the last episode and every
  test-time shift ``q`` in ``--qs``: its exact expected return under the ``q``-shifted kernel (the "robust
  return"; exact policy evaluation, no sampling) beside the exact optimal value of that shifted model;
* ``experiments/results/provable_drrpo_regret.csv`` — the cumulative regret every ``--every`` episodes,
  measured exactly against each algorithm's own objective (nominal, robust, or regularised robust optimum),
  and ``experiments/results/provable_drrpo_slopes.csv`` — the log-log slope of each run's regret;
* ``docs/dr_rpo_robust_return.png`` and ``docs/dr_rpo_regret.png``.

Each run's result is kept under ``--cache`` (default ``runs/provable_drrpo``, not committed) as it finishes,
written atomically; a rerun with the same settings reuses them, so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "envs")]
from orl.algos.provable.dr_rpo import LinearRLConfig, loglog_slope, train  # noqa: E402
from orl.algos.provable.exact import episodic_policy_evaluation, episodic_value_iteration  # noqa: E402
from orl.utils.atomic import atomic_path, write_csv, write_json  # noqa: E402
from orl_envs.linear_mdp import five_state_model  # noqa: E402

#: (label, algo, divergence, rho): the lines of the results.
VARIANTS = [
    ("LSVI-UCB", "lsvi_ucb", "tv", 0.0),
    ("OPPO", "oppo", "tv", 0.0),
    ("DR-LSVI-UCB (TV)", "dr_lsvi_ucb", "tv", 0.3),
    ("DR-LSVI-UCB (KL)", "dr_lsvi_ucb", "kl", 0.4),
    ("DR-RPO (TV)", "dr_rpo", "tv", 0.3),
    ("DR-RPO (KL)", "dr_rpo", "kl", 0.4),
]
RETURN_FIELDS = ["algorithm", "algo", "divergence", "rho", "seed", "episodes", "q", "robust_return",
                 "optimal_value_q", "gap"]
REGRET_FIELDS = ["algorithm", "algo", "divergence", "rho", "seed", "episode", "cumulative_regret", "objective_optimum"]
SLOPE_FIELDS = ["algorithm", "algo", "divergence", "rho", "seed", "episodes", "loglog_slope", "final_regret",
                "last_100_mean_regret", "start_route"]


def run_one(model, label: str, algo: str, divergence: str, rho: float, seed: int, episodes: int,
            cache: Path) -> dict:
    """Train one (variant, seed), or load it from ``cache`` when the same settings already ran."""
    config = LinearRLConfig(algo=algo, divergence=divergence, rho=rho, episodes=episodes, seed=seed)
    path = cache / f"{algo}_{divergence}_rho{rho}_seed{seed}_K{episodes}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored["config"] == vars(config):
            return stored
    t0 = time.perf_counter()
    result = train(model, config)
    out = {"label": label, "config": vars(config), "regret": result.regret.tolist(), "optimal": result.optimal,
           "policy": result.policy.tolist(), "seconds": time.perf_counter() - t0}
    write_json(path, out)
    return out


def _save(fig, name: str) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(ROOT / "docs" / name, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot(returns: list[dict], regrets: dict[str, np.ndarray], qs: np.ndarray, n_seeds: int, episodes: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = dict(zip([v[0] for v in VARIANTS], ["tab:blue", "tab:cyan", "tab:orange", "tab:brown", "tab:green",
                                                   "tab:olive"]))
    fig, (ax, gap_ax) = plt.subplots(1, 2, figsize=(11, 4.5))
    optimum = np.array([next(r["optimal_value_q"] for r in returns if r["q"] == q) for q in qs])
    for label, *_ in VARIANTS:
        rows = [r for r in returns if r["algorithm"] == label]
        values = np.array([[r["robust_return"] for r in rows if r["q"] == q] for q in qs])
        ax.plot(qs, values.mean(1), marker="o", ms=3, color=colours[label], label=label)
        gaps = optimum[:, None] - values
        gap_ax.plot(qs, gaps.mean(1), marker="o", ms=3, color=colours[label], label=label)
        gap_ax.fill_between(qs, gaps.min(1), gaps.max(1), color=colours[label], alpha=0.12)
    ax.plot(qs, optimum, "k--", label="optimal value of the shifted model")
    for a in (ax, gap_ax):
        a.set_xlabel("test-time shift q (mass moved to the fail state)")
    ax.set_ylabel("exact return under the shifted kernel (mean over seeds)")
    gap_ax.set_ylabel("optimal value - return (mean, min-max over seeds)")
    fig.suptitle(f"orl/DRLinearMDP5-v0: policies after {episodes} episodes on the nominal model, {n_seeds} seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, "dr_rpo_robust_return.png")

    fig, ax = plt.subplots(figsize=(7, 4.5))
    k = np.arange(1, episodes + 1)
    for label, curves in regrets.items():
        ax.plot(k, curves.mean(0), color=colours[label], label=label)
        ax.fill_between(k, curves.min(0), curves.max(0), color=colours[label], alpha=0.12)
    ax.plot(k, k * 0.05, "k:", lw=1, label="slope 1 (linear)")
    ax.plot(k, np.sqrt(k), "k--", lw=1, label="slope 1/2")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("episode k")
    ax.set_ylabel("cumulative regret (exact, own objective)")
    ax.set_title(f"Regret against each algorithm's own objective\nmean and min-max over {n_seeds} seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, "dr_rpo_regret.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--qs", type=float, nargs="+", default=[round(x, 2) for x in np.arange(0, 0.51, 0.05)])
    parser.add_argument("--every", type=int, default=10, help="regret CSV resolution (episodes)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "provable_drrpo")
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    if args.episodes < 10:
        parser.error(f"--episodes must be >= 10, got {args.episodes}")
    if any(not 0 <= q <= 1 for q in args.qs):
        parser.error(f"--qs must lie in [0, 1], got {args.qs}")

    from tqdm import tqdm

    model = five_state_model()
    qs = np.array(sorted(set(args.qs)))
    optimal_q = {q: float(episodic_value_iteration(model.kernel(q), model.reward(), model.horizon).V[0, 0])
                 for q in qs}
    returns, regret_rows, slope_rows = [], [], []
    regrets: dict[str, np.ndarray] = {}
    jobs = [(v, s) for v in VARIANTS for s in args.seeds]
    for (label, algo, divergence, rho), seed in tqdm(jobs, desc="runs"):
        run = run_one(model, label, algo, divergence, rho, seed, args.episodes, args.cache)
        regret = np.array(run["regret"])
        policy = np.array(run["policy"])
        regrets.setdefault(label, np.zeros((0, args.episodes)))
        regrets[label] = np.vstack([regrets[label], regret])
        common = {"algorithm": label, "algo": algo, "divergence": divergence, "rho": rho, "seed": seed}
        for q in qs:
            value = float(episodic_policy_evaluation(model.kernel(q), model.reward(), policy, model.horizon)[0, 0])
            returns.append({**common, "episodes": args.episodes, "q": q, "robust_return": value,
                            "optimal_value_q": optimal_q[q], "gap": optimal_q[q] - value})
        for k in range(args.every, args.episodes + 1, args.every):
            regret_rows.append({**common, "episode": k, "cumulative_regret": regret[k - 1],
                                "objective_optimum": run["optimal"]})
        route = "risky" if policy[0, 0, 4:].sum() > 0.5 else "safe"   # first action bit +1: actions 4..7
        slope_rows.append({**common, "episodes": args.episodes, "loglog_slope": loglog_slope(regret),
                           "final_regret": regret[-1], "last_100_mean_regret": (regret[-1] - regret[-101]) / 100
                           if args.episodes > 100 else float("nan"), "start_route": route})
    results = ROOT / "experiments" / "results"
    write_csv(results / "provable_drrpo_robust_return.csv", returns, RETURN_FIELDS)
    write_csv(results / "provable_drrpo_regret.csv", regret_rows, REGRET_FIELDS)
    write_csv(results / "provable_drrpo_slopes.csv", slope_rows, SLOPE_FIELDS)
    if not args.no_plots:
        plot(returns, regrets, qs, len(args.seeds), args.episodes)

    print(f"\nRobust return (exact, policy after the last episode; mean over {len(args.seeds)} seeds, "
          f"{args.episodes} episodes each)")
    shown = [q for q in qs if round(q * 100) % 10 == 0]
    print("| algorithm | " + " | ".join(f"q = {q:.1f}" for q in shown) + " |")
    print("|---|" + "---|" * len(shown))
    for label, *_ in VARIANTS:
        cells = [np.mean([r["robust_return"] for r in returns if r["algorithm"] == label and r["q"] == q])
                 for q in shown]
        print(f"| {label} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    print("| optimal value of the shifted model | " + " | ".join(f"{optimal_q[q]:.3f}" for q in shown) + " |")
    print("\nRegret (against own objective)")
    print("| algorithm | final regret (mean, min-max) | log-log slope (mean, min-max) | last-100 regret/episode "
          "| start route (seeds) |")
    print("|---|---|---|---|---|")
    for label, *_ in VARIANTS:
        rows = [r for r in slope_rows if r["algorithm"] == label]
        f = np.array([r["final_regret"] for r in rows])
        s = np.array([r["loglog_slope"] for r in rows])
        last = np.mean([r["last_100_mean_regret"] for r in rows])
        routes = {x: sum(r["start_route"] == x for r in rows) for x in ("risky", "safe")}
        print(f"| {label} | {f.mean():.1f} ({f.min():.1f}-{f.max():.1f}) | {s.mean():.2f} ({s.min():.2f}-"
              f"{s.max():.2f}) | {last:.4f} | risky {routes['risky']}, safe {routes['safe']} |")


if __name__ == "__main__":
    main()
