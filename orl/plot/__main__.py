"""CLI: ``python -m orl.plot RUN_DIR ...`` (learning curves) or ``python -m orl.plot results`` (docs figures)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EPILOG = """examples:
  python -m orl.plot runs/iql/hopper-medium                  # every eval.csv below, seeds aggregated
  python -m orl.plot runs/iql runs/cql --out iql_vs_cql.png  # one curve per algorithm/dataset
  python -m orl.plot runs/hdpo --metric dev_cost
  python -m orl.plot results                                 # regenerate docs/figures and docs/results.md
(a run directory literally named 'results' is plotted with ./results)"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orl.plot", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", help="run directories (or eval.csv files), or the single word 'results'")
    parser.add_argument("--out", default=None, help="PNG to write (runs: default curves.png; results: the repository's docs/)")
    parser.add_argument("--metric", default=None, help="eval.csv column to plot (default: score_mean, return_mean, dev_cost or val_greedy_gap_pct)")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    if args.paths == ["results"]:
        from orl.plot.results import build_all

        written = build_all(Path(args.out) if args.out else None)
        print(f"wrote {len(written)} files")
        return 0
    from orl.plot.runs import plot_runs

    out = args.out or "curves.png"
    try:
        summary = plot_runs(args.paths, out, metric=args.metric, title=args.title)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{'group':40s} {'seeds':>5s} {'last step':>9s}  last eval: IQM [95% CI]")
    for r in summary:
        print(f"{r['group']:40s} {r['seeds']:5d} {r['last_step']:9d}  {r['last_iqm']:.2f} [{r['ci_lo']:.2f}, {r['ci_hi']:.2f}]")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
