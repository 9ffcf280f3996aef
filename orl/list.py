"""``python -m orl.list [datasets|algos|envs] [--json]``: what ``orl.run``/``orl.fit`` accept, at a glance.

- ``datasets``: every registered dataset with its environment, whether it is built in the cache
  (``$ORL_DATA_DIR``, default ``~/.orl``) and, if so, its transitions, episodes and size on disk; a dataset
  that is not built is built on first use (or ahead of time with ``python -m orl.data.build NAME``).
- ``algos``: every algorithm with its family (what it trains on), the paper it implements and its config
  class (whose fields are its ``algo.<field>=`` settings).
- ``envs``: the non-dataset ``env=`` entries (inventory settings for hdpo, routing problems for bq, the
  conversational recommendation graphs for unicorn/crs_dqn) and the
  Gymnasium ids of ``orl-envs``; online algorithms also take any registered Gymnasium id.

With no argument it lists all three. ``--json`` prints the same as JSON (for scripts).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from orl.utils.cli import run_cli

KINDS = ("datasets", "algos", "envs")


def datasets() -> list[dict[str, Any]]:
    """The registered datasets and their cache state."""
    from orl.data.registry import dataset_info, dataset_names, is_built, minari_cache

    rows = []
    for name in dataset_names():
        info = dataset_info(name)
        row: dict[str, Any] = {"name": name, "env": info.env_id, "built": False, "transitions": None,
                               "episodes": None, "mb": None, "description": info.description}
        data = minari_cache() / info.minari_id / "data"
        if is_built(name):
            meta = json.loads((data / "metadata.json").read_text())
            size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file())
            row.update(built=True, transitions=meta.get("total_steps"), episodes=meta.get("total_episodes"),
                       mb=round(size / 2**20, 1))
        rows.append(row)
    return rows


def algos() -> list[dict[str, Any]]:
    """Every ``algo=`` name: family, the paper (the first line of its class docstring), its config class."""
    from orl.api import _config_class
    from orl.run import algo_family, group_options

    trains_on = {"offline": "a dataset", "online": "a Gymnasium environment", "hdpo": "an inventory simulator",
                 "bq": "solved routing instances", "offpolicy": "a Gymnasium environment (+ a dataset)",
                 "protected": "a Gymnasium environment, against attacks",
                 "crs": "conversational recommendation dialogues"}
    rows = []
    for name in group_options("algo"):
        family = algo_family(name)
        config = _config_class(name) or _family_config(family)
        doc = _paper_line(name, family)
        rows.append({"name": name, "family": family, "trains_on": trains_on.get(family, family),
                     "config": config.__module__ + "." + config.__name__ if config else None, "paper": doc})
    return rows


def _family_config(family: str) -> type | None:
    if family == "hdpo":
        from orl.algos.structured.hdpo import HDPOConfig

        return HDPOConfig
    if family == "bq":
        from orl.algos.structured.bq import BQConfig

        return BQConfig
    if family == "crs":
        from orl.algos.crs.unicorn import UnicornConfig

        return UnicornConfig
    return None


#: Algorithms that share a module with the one its docstring describes: their own line.
OWN_PAPER_LINE = {
    "dsrl_sac": "DSRL-SAC: SAC over a frozen diffusion policy's initial noise, through the noise-action environment "
                "(Wagenmaker et al., \"Steering Your Diffusion Policy with Latent Space RL\", arXiv 2506.15799).",
    "crs_dqn": "Flat DQN for conversational recommendation on an EAR-like state: the non-graph baseline beside "
               "UNICORN (Deng et al., SIGIR 2021).",
}


def _paper_line(name: str, family: str) -> str:
    """The first paragraph of the implementing module's docstring: it names the paper."""
    import importlib

    if name in OWN_PAPER_LINE:
        line = OWN_PAPER_LINE[name]
        return line if len(line) <= 100 else line[:99] + "…"

    module = {"offline": f"orl.algos.offline.{name}", "online": f"orl.algos.online.{name}",
              "hdpo": "orl.algos.structured.hdpo", "bq": "orl.algos.structured.bq",
              "protected": "orl.robust.protected", "crs": "orl.algos.crs.unicorn"}.get(family)
    if family == "offpolicy":
        from orl.train.offpolicy import OFFPOLICY_ALGORITHMS

        module = OFFPOLICY_ALGORITHMS[name].__module__
    try:
        doc = (importlib.import_module(module).__doc__ or "") if module else ""
    except ImportError:
        doc = ""
    line = " ".join(doc.strip().split("\n\n")[0].split())
    return line if len(line) <= 100 else line[:99] + "…"


def envs() -> list[dict[str, Any]]:
    """The ``env=`` entries that are not datasets, and orl-envs' Gymnasium ids."""
    import gymnasium as gym

    import orl_envs
    from orl.run import CONF, _yaml, group_options

    rows = []
    for name in group_options("env"):
        data = _yaml(CONF / "env" / f"{name}.yaml")
        if "dataset" in data or name in ("custom", "gym"):
            continue  # datasets are listed by ``datasets``; custom/gym are the path and Gymnasium-id forms
        kind = ("inventory (hdpo)" if "setting" in data else "routing (bq)" if "problem" in data
                else "conversational recommendation (unicorn, crs_dqn)" if "crs" in data else "other")
        rows.append({"name": name, "kind": kind, "gymnasium_id": None})
    gym.register_envs(orl_envs)
    for env_id in sorted(k for k in gym.envs.registry if k.startswith("orl/")):
        rows.append({"name": env_id, "kind": "orl-envs Gymnasium id", "gymnasium_id": env_id})
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[("" if r[c] is None else "yes" if r[c] is True else "no" if r[c] is False else str(r[c])) for c in columns]
             for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m orl.list", description=__doc__.split("\n")[0],
                                epilog="examples: python -m orl.list datasets | python -m orl.list algos --json")
    p.add_argument("kind", nargs="?", choices=KINDS, help="what to list (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = p.parse_args(argv)
    kinds = [args.kind] if args.kind else list(KINDS)
    listed = {k: {"datasets": datasets, "algos": algos, "envs": envs}[k]() for k in kinds}
    if args.json:
        print(json.dumps(listed if len(kinds) > 1 else listed[kinds[0]], indent=1))
        return 0
    columns = {"datasets": ["name", "env", "built", "transitions", "episodes", "mb"],
               "algos": ["name", "family", "trains_on", "paper"], "envs": ["name", "kind"]}
    for k in kinds:
        if len(kinds) > 1:
            print(f"# {k}")
        print(_table(listed[k], columns[k]))
        if k == "datasets":
            from orl.data.registry import minari_cache

            print(f"(built datasets live in {minari_cache()}; the others are built on first use, or ahead of time by "
                  "python -m orl.data.build NAME)")
        if len(kinds) > 1:
            print()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
