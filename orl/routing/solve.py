"""``python -m orl.routing.solve FILE [FILE ...]``: solve TSPLIB ``.tsp`` / CVRPLIB ``.vrp`` files
with a BQ-NCO model shipped in orl (or ``--model PATH``), print each cost in the file's units and
optionally write the solution (``--out DIR``: ``<name>.tour`` for a TSP, CVRPLIB ``<name>.sol``
for a CVRP). ``--list`` prints the shipped models with their training time and measured gaps.
See :mod:`orl.routing.solver`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orl.routing.solve", description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="*", type=Path, help=".tsp (TSPLIB) or .vrp (CVRPLIB) files, optionally .gz")
    p.add_argument("--list", action="store_true", help="list the shipped models (training, data, measured gaps)")
    p.add_argument("--markdown", action="store_true", help="with --list: the table of docs/routing.md")
    p.add_argument("--beam", type=int, default=16, help="beam width (0 or 1: greedy); default 16")
    p.add_argument("--model", type=Path, default=None, help="a policy.pt or checkpoint instead of the shipped model")
    p.add_argument("--out", type=Path, default=None, help="directory for the solution files (.tour / .sol)")
    a = p.parse_args(argv)
    from orl.routing.solver import _load_file, models_table, shipped_models, solve
    from orl.train.common import format_duration

    if a.list and a.markdown:
        print(models_table())
        return 0
    if a.list:
        print(f"{'model':<8} {'steps':>6} {'trained':>12}  {'greedy gap':>10} {'beam4 gap':>9}  reference (test instances)")
        for name, m in shipped_models().items():
            t, trained = m["test"], float(m["train_time_s"])
            ref = t["reference"] + (f" {t['reference_time_limit_s']} s" if t.get("reference_time_limit_s") else "")
            print(f"{name:<8} {m['steps']:>6} {format_duration(trained):>12}  {t['greedy_gap_pct']:>9.3f}% "
                  f"{t.get('beam4_gap_pct', float('nan')):>8.3f}%  {ref} ({t['instances']})")
        return 0
    if not a.files:
        p.error("give .tsp / .vrp files to solve, or --list")
    from orl_envs.routing.io import save_cvrp_solution, save_tour

    for f in a.files:
        if not f.is_file():
            p.error(f"{f}: no such file")
    try:
        instances = [_load_file(f) for f in a.files]
        problems = {type(i).__name__ for i in instances}
        if len(problems) > 1:
            p.error("give files of one problem per call (all .tsp or all .vrp)")
        result = solve(instances, beam=a.beam, model=a.model)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
    for f, inst, tour, cost in zip(a.files, instances, result.tours, result.costs):
        how = f"beam {a.beam}" if a.beam > 1 else "greedy"
        print(f"{f.name}: {result.problem} cost {cost:g} ({how}, model {result.model})")
        if a.out is not None:
            stem = inst.name or f.name.split(".")[0]
            if result.problem == "tsp":
                save_tour(tour, a.out / f"{stem}.tour", name=stem, comment=f"orl BQ {how}, length {cost:g}")
            else:
                save_cvrp_solution(tour, cost, a.out / f"{stem}.sol")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
