"""``python -m orl.diagnose SPEC``: size, returns, TQ and SACo of a dataset.

Examples::

    python -m orl.diagnose pendulum-scripted --reference pendulum-random
    python -m orl.diagnose data/my.hdf5 --random-return -20.3 --expert-return 3234.3 --json

TQ needs a random and an expert return: ``--random-return``/``--expert-return``, or else the
dataset's own reference scores (``ref_min_score``/``ref_max_score`` in its metadata). SACo needs
``--reference`` (Schweighofer et al. use the environment's medium-replay dataset).
"""

from __future__ import annotations

import argparse
import json
import sys

from orl.data import DatasetError, load_dataset
from orl.data.diagnostics import saco, summary, tq
from orl.utils.cli import INTERRUPTED, run_cli


def diagnose(spec: str, reference: str | None = None, random_return: float | None = None,
             expert_return: float | None = None, bins: int = 5, max_transitions: int | None = None) -> dict:
    buffer = load_dataset(spec)
    out: dict = {"dataset": spec, **summary(buffer)}
    lo = random_return if random_return is not None else buffer.metadata.get("ref_min_score")
    hi = expert_return if expert_return is not None else buffer.metadata.get("ref_max_score")
    out["tq"] = tq(buffer, float(lo), float(hi)) if lo is not None and hi is not None else None
    out["tq_references"] = [lo, hi]
    if reference is not None:
        out["saco"] = saco(buffer, load_dataset(reference), bins=bins, max_transitions=max_transitions)
        out["saco_reference"] = reference
    else:
        out["saco"] = None
    return out


def format_table(d: dict) -> str:
    def fmt(v: object) -> str:
        if v is None:
            return "n/a"
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    rows = [(k, fmt(v)) for k, v in d.items()]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orl.diagnose", description=__doc__.split("\n")[0])
    p.add_argument("spec", help="dataset name, path to a D4RL-layout .hdf5 file, or minari:<dataset_id>")
    p.add_argument("--reference", help="dataset for SACo's denominator and bin limits (e.g. <env>-medium-replay)")
    p.add_argument("--random-return", type=float, help="TQ's random return (default: the dataset's ref_min_score)")
    p.add_argument("--expert-return", type=float, help="TQ's expert return (default: the dataset's ref_max_score)")
    p.add_argument("--bins", type=int, default=5, help="SACo edges per dimension (paper's D4RL setting: 5)")
    p.add_argument("--max-transitions", type=int, help="count only the first N transitions (paper's D4RL setting: 100000)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    if (args.random_return is None) != (args.expert_return is None):
        p.error("give both --random-return and --expert-return, or neither")
    if args.bins < 2:
        p.error(f"--bins must be at least 2, got {args.bins}")
    if args.max_transitions is not None and args.max_transitions <= 0:
        p.error(f"--max-transitions must be positive, got {args.max_transitions}")
    try:
        result = diagnose(args.spec, args.reference, args.random_return, args.expert_return, args.bins, args.max_transitions)
    except (DatasetError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # e.g. during a first-use build: nothing partial is kept (orl.data.registry)
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
