"""Accuracy after t = 1..8 views on orl/MultiViewFeatures-v0: MAFR's learned selector against the exact baselines.

    python experiments/multiview_results.py                 # 5 seeds, ~1 min each on one CPU thread
    python experiments/multiview_results.py --seeds 0 1     # fewer
    python experiments/multiview_results.py --mode pixels   # 3 seeds, ~2 min each (MuJoCo + EGL; orl-envs[multiview])

For each seed ``s`` the world is drawn with ``model_seed=s`` (defaults otherwise: 4 coarse x 4 fine classes,
8 views, 1-2 key views per fine class) and the pipeline of :func:`orl.train.multiview.train_afgr` is trained
with ``AFGRConfig(seed=s)``. On the seed's test split (``--n-test`` objects, each looked at from all 8 start
views) it reports, after each number of views t:

* ``learned`` — the learned selector (greedy over its policy); readout ``classifier`` (its fine-tuned GRU
  classifier, as the paper reports) and ``bayes`` (the exact posterior of the views it chose);
* ``greedy_eig`` — greedy expected information gain under the exact posterior (readouts ``bayes`` and
  ``classifier``, the trained GRU along the greedy orders);
* ``best_fixed`` — per start view, the order maximising the area under the accuracy curve on the training
  split (exact DP over view subsets), readout ``bayes``;
* ``random`` — uniformly random orders (exact expectation), readout ``bayes``;
* ``all_views`` — all 8 views, readout ``bayes`` (the same number at every t).

Writes ``experiments/results/multiview_features.csv`` (one row per seed, policy, readout, t),
``experiments/results/multiview_features_ppo.csv`` (stage 2's learning curve: the selector's validation Bayes
accuracy, mean over t, every 50 PPO updates from the untrained selector on),
``docs/multiview_accuracy.png`` (mean over seeds, min-max band) and ``docs/multiview_env.png`` (a rendering),
and prints the tables of ``docs/multiview.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "envs")]
from orl.algos.structured.afgr import AFGRConfig  # noqa: E402
from orl.train.multiview import classifier_accuracy_along, evaluate, train_afgr  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402
from orl_envs.multiview import (  # noqa: E402
    N_VIEWS,
    accuracy_curve,
    all_views_accuracy,
    best_fixed_orders,
    fixed_orders,
    greedy_orders,
    random_accuracy_curve,
)
from orl_envs.multiview.baselines import every_start  # noqa: E402

CURVE_FIELDS = ["seed", "iteration", "val_bayes_accuracy_mean", "reward", "policy_loss", "value_loss", "entropy",
                "approx_kl", "clipfrac"]
FIELDS = ["seed", "model_seed", "policy", "readout", "t", "accuracy", "n_test_objects", "train_seconds"]


#: The pixels mode's settings (CPU-sized: 4000 rendered training objects, a CNN trained from scratch with Adam).
PIXELS_CONFIG = dict(n_train=4000, pretrain_epochs=12, n_val=1000, ppo_iterations=300, finetune_epochs=3,
                     optimizer="adam")


def run_seed(seed: int, n_test: int, config_kwargs: dict, mode: str = "features") -> tuple[list[dict], dict]:
    config = AFGRConfig(seed=seed, **config_kwargs)
    t0 = time.perf_counter()
    result = train_afgr({"model_seed": seed}, config, n_test=n_test, log=lambda m: print(f"  [seed {seed}] {m}"),
                        mode=mode)
    seconds = time.perf_counter() - t0
    model = result.model
    labels, codes = result.splits["test"]
    lab8, codes8, starts = every_start(labels, codes)
    learned = evaluate(result)
    # the pixels mode's ideal observer reads the class where the features mode reads codes
    greedy = greedy_orders(model, codes8 if mode == "features" else lab8, starts)
    train_l, train_c = result.splits["train"]
    table = best_fixed_orders(model, train_l, train_c, None if mode == "features" else model.subset_accuracies(train_l))
    curves = {
        ("learned", "classifier"): learned["classifier_accuracy"],
        ("learned", "bayes"): learned["bayes_accuracy"],
        ("greedy_eig", "bayes"): accuracy_curve(model, lab8, codes8, greedy),
        ("greedy_eig", "classifier"): classifier_accuracy_along(result, greedy),
        ("best_fixed", "bayes"): accuracy_curve(model, lab8, codes8, fixed_orders(table, starts)),
        ("random", "bayes"): random_accuracy_curve(
            model, labels, codes, None if mode == "features" else model.subset_accuracies(labels)),
        ("all_views", "bayes"): np.full(N_VIEWS, all_views_accuracy(model, labels, codes)),
    }
    if mode == "pixels":  # the trained classifier along sampled random orders (how much the selector helps it)
        rng = np.random.default_rng(seed)
        rand = np.stack([[s, *rng.permutation([v for v in range(N_VIEWS) if v != s])] for s in starts])
        curves[("random", "classifier")] = classifier_accuracy_along(result, rand)
        model.close()
    rows = [{"seed": seed, "model_seed": seed, "policy": p, "readout": r, "t": t + 1, "accuracy": float(c[t]),
             "n_test_objects": n_test, "train_seconds": round(seconds, 1)}
            for (p, r), c in curves.items() for t in range(N_VIEWS)]
    return rows, {"seconds": seconds, "history": result.history}


def views_picture(path: Path) -> None:
    """The 8 views (columns) of one object of each fine class of two body shapes (rows), 32 x 32 pixels each."""
    import matplotlib.pyplot as plt

    from orl_envs.multiview.pixels import PixelWorld

    world = PixelWorld(model_seed=0)
    colour = np.array([0.35, 0.45, 0.75])
    rows = [np.concatenate(list(world.render_object(y, colour)), 1) for y in range(8)]
    world.close()
    plt.imsave(path, np.repeat(np.repeat(np.concatenate(rows, 0), 2, 0), 2, 1))


def plot(rows: list[dict], path: Path, pixels: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {("all_views", "bayes"): ("all 8 views (Bayes)", "k", ":"),
              ("greedy_eig", "bayes"): ("greedy info. gain (Bayes, exact)", "tab:green", "-"),
              ("learned", "bayes"): ("learned PPO selector (Bayes readout)", "tab:red", "-"),
              ("learned", "classifier"): ("learned PPO selector (its GRU classifier)", "tab:red", "--"),
              ("best_fixed", "bayes"): ("best fixed order (Bayes)", "tab:blue", "-"),
              ("random", "bayes"): ("random order (Bayes)", "tab:grey", "-")}
    if pixels:
        styles = {k: (v[0].replace("Bayes", "ideal observer"), *v[1:]) for k, v in styles.items()}
        styles[("random", "classifier")] = ("random order (its GRU classifier)", "tab:grey", "--")
        styles[("greedy_eig", "classifier")] = ("greedy info. gain (its GRU classifier)", "tab:green", "--")
    fig, ax = plt.subplots(figsize=(5.2, 3.6), dpi=80)
    t = np.arange(1, N_VIEWS + 1)
    for key, (label, colour, ls) in styles.items():
        acc = np.array([[r["accuracy"] for r in rows if (r["policy"], r["readout"]) == key and r["seed"] == s]
                        for s in sorted({r["seed"] for r in rows})])
        ax.plot(t, acc.mean(0), ls, color=colour, label=label, marker="o" if ls != ":" else None, ms=3)
        if len(acc) > 1 and key[0] != "all_views":
            ax.fill_between(t, acc.min(0), acc.max(0), color=colour, alpha=0.15, lw=0)
    ax.set_xlabel("views seen t (start view included)")
    ax.set_ylabel("top-1 accuracy (16 fine classes)")
    ax.set_title("pixels mode" if pixels else "features mode", fontsize=9)
    ax.set_xticks(t)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render_picture(path: Path) -> None:
    import gymnasium as gym
    import matplotlib.pyplot as plt

    import orl_envs

    gym.register_envs(orl_envs)
    env = gym.make("orl/MultiViewFeatures-v0", render_mode="rgb_array")
    env.reset(seed=1, options={"start_view": 0})
    frames = [env.render()]
    for _ in range(3):
        env.step(int(np.argmax(env.unwrapped.information_gain())))
        frames.append(env.render())
    plt.imsave(path, np.concatenate([np.pad(f, ((0, 0), (0, 6), (0, 0)), constant_values=255) for f in frames], 1))


def table(rows: list[dict]) -> str:
    keys = [("learned", "classifier"), ("learned", "bayes"), ("greedy_eig", "bayes"), ("greedy_eig", "classifier"),
            ("best_fixed", "bayes"), ("random", "bayes"), ("random", "classifier"), ("all_views", "bayes")]
    keys = [k for k in keys if any((r["policy"], r["readout"]) == k for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| policy (readout) | " + " | ".join(f"t={t}" for t in range(1, N_VIEWS + 1)) + " | mean |",
             "|---" * (N_VIEWS + 2) + "|"]
    for key in keys:
        acc = np.array([[r["accuracy"] for r in rows if (r["policy"], r["readout"]) == key and r["seed"] == s]
                        for s in seeds])
        m, sd = acc.mean(0), acc.std(0)
        cells = [f"{100 * a:.1f} ± {100 * d:.1f}" for a, d in zip(m, sd)]
        lines.append(f"| {key[0]} ({key[1]}) | " + " | ".join(cells) + f" | {100 * acc.mean():.1f} |")
    gaps = []
    for s in seeds:
        g = np.array([r["accuracy"] for r in rows if (r["policy"], r["readout"], r["seed"]) == ("greedy_eig", "bayes", s)])
        lb = np.array([r["accuracy"] for r in rows if (r["policy"], r["readout"], r["seed"]) == ("learned", "bayes", s)])
        gaps.append(g - lb)
    gaps = np.array(gaps)
    lines.append("")
    lines.append(f"greedy minus learned (Bayes readouts), points: mean over t and seeds {100 * gaps.mean():.2f}; "
                 f"per seed mean over t {', '.join(f'{100 * x:.2f}' for x in gaps.mean(1))}; "
                 f"largest at any t and seed {100 * gaps.max():.2f}; smallest {100 * gaps.min():.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=["features", "pixels"], default="features")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0-4 (features), 0-2 (pixels)")
    p.add_argument("--n-test", type=int, default=None, help="default: 2000 (features), 500 (pixels)")
    p.add_argument("--ppo-iterations", type=int, default=None)
    args = p.parse_args(argv)
    pixels = args.mode == "pixels"
    args.seeds = args.seeds or ([0, 1, 2] if pixels else [0, 1, 2, 3, 4])
    args.n_test = args.n_test or (500 if pixels else 2000)
    args.out = str(ROOT / "experiments" / "results" / f"multiview_{args.mode}.csv")
    args.plot = str(ROOT / "docs" / ("multiview_pixels_accuracy.png" if pixels else "multiview_accuracy.png"))
    args.picture = str(ROOT / "docs" / ("multiview_pixels_views.png" if pixels else "multiview_env.png"))
    torch.set_num_threads(1)
    config_kwargs = dict(PIXELS_CONFIG) if pixels else {}
    if args.ppo_iterations is not None:
        config_kwargs["ppo_iterations"] = args.ppo_iterations
    rows, curve, total = [], [], time.perf_counter()
    for seed in args.seeds:
        seed_rows, info = run_seed(seed, args.n_test, config_kwargs, args.mode)
        rows += seed_rows
        curve += [{"seed": seed, **{k: h.get(k, "") for k in CURVE_FIELDS[1:]}}
                  for h in info["history"] if h["stage"] == "ppo"]
        print(f"seed {seed}: trained in {info['seconds']:.0f}s")
    write_csv(args.out, rows, FIELDS)
    write_csv(args.out.replace(".csv", "_ppo.csv"), curve, CURVE_FIELDS)
    plot(rows, Path(args.plot), pixels)
    (views_picture if pixels else render_picture)(Path(args.picture))
    print(table(rows))
    print(f"total wall time {time.perf_counter() - total:.0f}s; wrote {args.out}, {args.plot}, {args.picture}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
