"""The table of orl's standard locomotion datasets, beside D4RL's published TQ and SACo.

    python experiments/dataset_table.py                    # every environment whose policies are shipped
    python experiments/dataset_table.py --envs hopper --jobs 2

For each ``<env>-<level>`` (level in random, medium, expert, medium-replay, medium-expert) it builds
the dataset if needed (``orl.data.build``) and reports transitions, episodes, return mean and std,
the normalised score of the mean return on orl's references and on D4RL's, TQ (on orl's
references) and SACo relative to ``<env>-medium-replay`` with Schweighofer et al.'s D4RL settings
(5 edges per dimension, the first 100 000 transitions) — the same numbers ``python -m orl.diagnose
NAME --reference <env>-medium-replay --bins 5 --max-transitions 100000`` prints. Schweighofer et
al.'s values ("A Dataset Perspective on Offline Reinforcement Learning", CoLLAs 2022; D4RL v0 datasets,
official code ``ml-jku/OfflineRL``, ``d4rl_results/evaluate.ipynb``) stand beside them.

Writes ``experiments/results/datasets.csv`` and prints the Markdown table for ``docs/datasets.md``.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from orl.data.locomotion import ENVS, POLICY_DIR  # noqa: E402
from orl.utils.atomic import write_csv  # noqa: E402

LEVELS = ("random", "medium", "expert", "medium-replay", "medium-expert")
#: Schweighofer et al. (CoLLAs 2022), D4RL v0: (TQ, SACo relative to medium-replay).
PUBLISHED = {
    "halfcheetah-random": (-0.002, 1.23), "halfcheetah-medium": (0.341, 0.39),
    "halfcheetah-medium-replay": (0.208, 1.00), "halfcheetah-expert": (1.004, 0.63),
    "hopper-random": (0.098, 0.28), "hopper-medium": (0.320, 0.67), "hopper-medium-replay": (0.151, 1.00),
    "hopper-expert": (1.089, 0.59), "walker2d-random": (-0.0002, 1.03), "walker2d-medium": (0.108, 0.88),
    "walker2d-medium-replay": (0.078, 1.00), "walker2d-expert": (0.632, 0.93),
}
FIELDS = ["dataset", "transitions", "episodes", "return_mean", "return_std", "score_orl", "score_d4rl", "tq",
          "saco", "d4rl_tq", "d4rl_saco"]


def row(name: str) -> dict:
    from orl.data import normalized_score
    from orl.diagnose import diagnose

    env = name.split("-")[0]
    d = diagnose(name, reference=f"{env}-medium-replay", bins=5, max_transitions=100_000)
    pub = PUBLISHED.get(name, (None, None))
    return {"dataset": name, "transitions": d["transitions"], "episodes": d["episodes"],
            "return_mean": d["return_mean"], "return_std": d["return_std"],
            "score_orl": float(normalized_score(name, d["return_mean"])),
            "score_d4rl": float(normalized_score(name, d["return_mean"], reference="d4rl")),
            "tq": d["tq"], "saco": d["saco"], "d4rl_tq": pub[0], "d4rl_saco": pub[1]}


def markdown(rows: list[dict]) -> str:
    def f(v, fmt):
        return "—" if v is None or v == "" else format(float(v), fmt)

    lines = ["| dataset | transitions | episodes | return (mean ± std) | score (orl) | score (D4RL refs) | TQ | SACo "
             "| D4RL TQ | D4RL SACo |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {int(r['transitions']):,} | {int(r['episodes']):,} | "
                     f"{f(r['return_mean'], '.1f')} ± {f(r['return_std'], '.1f')} | {f(r['score_orl'], '.1f')} | "
                     f"{f(r['score_d4rl'], '.1f')} | {f(r['tq'], '.3f')} | {f(r['saco'], '.2f')} | "
                     f"{f(r['d4rl_tq'], '.3f')} | {f(r['d4rl_saco'], '.2f')} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shipped = [e for e in sorted(ENVS) if (POLICY_DIR / e / "manifest.json").exists()]
    p.add_argument("--envs", nargs="*", default=shipped, choices=sorted(ENVS))
    p.add_argument("--jobs", type=int, default=1, help="datasets computed in parallel (one process each)")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "datasets.csv")
    a = p.parse_args(argv)
    if not a.envs:
        print("no behaviour policies are shipped yet (orl/data/policies/<env>/manifest.json)", file=sys.stderr)
        return 1
    names = [f"{e}-{lvl}" for e in a.envs for lvl in LEVELS]
    # medium-replay first: every other dataset's SACo needs it
    from orl.data.build import main as build

    for e in a.envs:
        build([f"{e}-medium-replay"])
    with ProcessPoolExecutor(a.jobs) as pool:
        rows = list(pool.map(row, names))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(a.out, rows, FIELDS)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
