"""A ready-to-use BQ-NCO solver: ``orl.routing.solve(instances, problem="cvrp", beam=16)``.

Drakulic et al., "BQ-NCO: Bisimulation Quotienting for Efficient Neural Combinatorial
Optimization" (NeurIPS 2023, arXiv 2301.03313) solve a routing instance by re-applying one
policy to the remaining sub-problem, greedily or by beam search. This module packages that
for users who do not want to train: it loads a BQ policy shipped inside orl
(``orl/routing/models/<problem><size>.pt``, with ``<problem><size>.json`` beside it recording
how it was trained, on what data, for how long, and its measured gap), decodes the given
instances and returns tours and costs.

* Instances are :mod:`orl_envs.routing` instances (``TSPInstance``, ``CVRPInstance``,
  ``OPInstance``, ``KPInstance``) or paths of TSPLIB ``.tsp`` / CVRPLIB ``.vrp`` files. The
  policy sees coordinates rescaled into the unit square (as BQ-NCO does for TSPLIB, see
  :func:`orl_envs.routing.instances.unit_square`); costs are computed on the instance's own
  distances, i.e. in the file's units and metric (``EUC_2D`` rounded as TSPLIB defines it).
* Instances of different sizes are decoded in separate batches; the model trained on the
  nearest size of the problem is used (BQ-NCO's policies generalise across sizes, with a gap
  that grows with the distance from the training size).
* ``beam <= 1`` decodes greedily; ``beam > 1`` runs beam search and keeps the final beam with
  the best objective (the official code's choice).

The shipped models are **small CPU-budget models** unless their JSON says otherwise: read the
``gap_pct`` and ``train_time_s`` recorded there before relying on them. Training continues
from the shipped checkpoint (``python experiments/bq_ship.py --problem tsp --size 50
--minutes M``), so every later run, on a CPU or a GPU, adds to the same model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MODEL_DIR = Path(__file__).parent / "models"
PROBLEMS = ("tsp", "cvrp", "op", "kp")
_INSTANCE_PROBLEM = {"TSPInstance": "tsp", "CVRPInstance": "cvrp", "OPInstance": "op", "KPInstance": "kp"}


@dataclass
class Solutions:
    """What :func:`solve` returns, one entry per instance in the order given.

    ``tours``: TSP the tour as node indices starting at 0; CVRP a list of routes, each a list of
    customer indices 1..n (the depot 0 implicit at both ends); OP the visited nodes in order
    (the depot 0 implicit); KP the items taken. ``costs``: the length travelled (TSP, CVRP, OP)
    on the instance's own distances, i.e. in its units, or the value packed (KP). ``objective``:
    the problem's objective (length for TSP/CVRP, collected prize for OP, value for KP)."""

    problem: str
    tours: list = field(default_factory=list)
    costs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    objective: np.ndarray = field(default_factory=lambda: np.zeros(0))
    model: str = ""


def shipped_models() -> dict[str, dict]:
    """The models shipped in the package: ``"tsp50"`` -> its JSON record (training, data, gap)."""
    out = {}
    for meta in sorted(MODEL_DIR.glob("*.json")):
        if (MODEL_DIR / f"{meta.stem}.pt").exists():
            out[meta.stem] = json.loads(meta.read_text())
    return out


REFERENCE_NAMES = {"dp": "exact DP", "ortools": "OR-Tools", "pyvrp": "pyvrp", "elkai": "elkai"}


def models_table() -> str:
    """docs/routing.md's markdown table of the shipped models, from their JSON records (``--list --markdown``)."""
    from orl.train.common import format_duration

    lines = ["| model | architecture | training | data | steps | greedy gap | beam 4 gap |", "|---|---|---|---|---|---|---|"]
    for name, m in shipped_models().items():
        c, d, t = m["config"], m["train_data"], m["test"]
        hardware = sorted({h["hardware"] for h in m.get("history", [])}) or ["unrecorded hardware"]
        trained = f"{format_duration(float(m['train_time_s']))} on {' + '.join(hardware)}, batch {c['batch_size']}"
        if m.get("init_from"):  # started from another model's weights (e.g. the 50-node model for 100 nodes)
            src = m["init_from"]
            trained += f", started from `{Path(src['model']).stem}` ({src['steps']} steps, {format_duration(float(src['train_time_s']))})"
        expert = REFERENCE_NAMES.get(d["expert"], d["expert"])
        data = f"{d['instances']} instances solved by {expert}" + (
            f", {d['expert_time_limit_s']:g} s each" if d.get("expert_time_limit_s") else "")
        lines.append(f"| `{name}` | dim {c['dim']}, {c['layers']} layers, {c['heads']} heads, FF {c['ff_dim']} | "
                     f"{trained} | {data} | {m['steps']} | {t['greedy_gap_pct']:+.3f}% | "
                     f"{t['beam4_gap_pct']:+.3f}% |")
    return "\n".join(lines)


def model_path(problem: str, size: int | None = None) -> Path:
    """The shipped model of ``problem`` trained nearest to ``size`` nodes (the largest if None)."""
    if problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r}; allowed: {', '.join(PROBLEMS)}")
    sizes = sorted(int(m["size"]) for name, m in shipped_models().items() if m["problem"] == problem)
    if not sizes:
        have = ", ".join(shipped_models()) or "none"
        raise FileNotFoundError(f"no shipped BQ model for {problem!r} in {MODEL_DIR} (shipped: {have}); "
                                "train one (experiments/bq_ship.py) or pass model=<path to a policy.pt>")
    best = sizes[-1] if size is None else min(sizes, key=lambda s: (abs(s - size), -s))
    return MODEL_DIR / f"{problem}{best}.pt"


def load_model(problem: str, size: int | None = None, path: str | os.PathLike | None = None):
    """A BQ policy: from ``path`` (a run's ``policy.pt`` or a shipped/resumable checkpoint), else the
    shipped model of ``problem`` nearest to ``size``."""
    from orl.algos.structured.bq import BQPolicy, config_from_dict
    from orl.train.common import load_torch

    p = Path(path) if path is not None else model_path(problem, size)
    state = load_torch(p, map_location="cpu", required=("policy", "problem", "config"))
    if state["problem"] != problem:
        raise ValueError(f"model {p} is a {state['problem']!r} model, not {problem!r}")
    # A training checkpoint keeps the best validated weights apart from the latest ones.
    weights = state.get("best_policy") or state["policy"]
    policy = BQPolicy(state["problem"], config_from_dict(state["config"]))
    policy.load_state_dict(weights)
    return policy.eval()


def actions_to_solution(problem: str, actions: np.ndarray, n: int) -> list:
    """Environment actions (padded with -1) -> the solution in :class:`Solutions` form."""
    acts = [int(a) for a in actions if a >= 0]
    if problem in ("tsp", "kp"):
        return ([0] + acts) if problem == "tsp" else acts
    if problem == "op":
        return [a + 1 for a in acts if a < n]
    routes: list[list[int]] = []
    for a in acts:  # CVRP: a < n goes directly to customer a + 1, a >= n via the depot
        if a >= n or not routes:
            routes.append([])
        routes[-1].append(a % n + 1)
    return routes


def _load_file(path: Path):
    from orl_envs.routing import load_cvrplib, load_tsplib

    suffix = path.suffixes[-2] if path.suffix == ".gz" and len(path.suffixes) > 1 else path.suffix
    if suffix == ".tsp":
        inst = load_tsplib(path)
        if type(inst).__name__ != "TSPInstance":
            raise ValueError(f"{path}: only symmetric TSP files are solved by the BQ models (ATSP is not implemented)")
        return inst
    if suffix == ".vrp":
        return load_cvrplib(path)
    raise ValueError(f"{path}: unknown file type {suffix!r}; allowed: .tsp (TSPLIB), .vrp (CVRPLIB), optionally .gz")


def _size(inst) -> int:
    from orl_envs.routing.core import _size as size_of

    return size_of(inst)


def _problem_of(inst) -> str:
    name = type(inst).__name__
    if name not in _INSTANCE_PROBLEM:
        raise ValueError(f"cannot solve a {name}; allowed: {', '.join(_INSTANCE_PROBLEM)} or .tsp/.vrp file paths")
    return _INSTANCE_PROBLEM[name]


def solve(instances, problem: str | None = None, beam: int = 16, model=None, chunk: int | None = None) -> Solutions:
    """Solve routing instances with a BQ-NCO policy (a shipped one unless ``model`` is given).

    ``instances``: one instance or path, or a list of them (one problem; sizes may differ).
    ``problem``: "tsp", "cvrp", "op" or "kp"; inferred from the instances when None, checked
    against them otherwise. ``beam``: beam width (0 or 1 = greedy). ``model``: None (shipped),
    a path to a ``policy.pt``/checkpoint, or a :class:`~orl.algos.structured.bq.BQPolicy`.
    """
    import torch

    from orl.algos.structured.bq import BQPolicy, beam_search, greedy

    items = list(instances) if isinstance(instances, (list, tuple)) else [instances]
    if not items:
        raise ValueError("solve: no instances given")
    items = [_load_file(Path(i)) if isinstance(i, (str, os.PathLike)) else i for i in items]
    found = sorted({_problem_of(i) for i in items})
    if len(found) > 1:
        raise ValueError(f"solve: the instances mix problems {found}; solve one problem per call")
    if problem is None:
        problem = found[0]
    if problem not in PROBLEMS:
        raise ValueError(f"solve: unknown problem {problem!r}; allowed: {', '.join(PROBLEMS)}")
    if problem != found[0]:
        raise ValueError(f"solve: problem={problem!r} but the instances are {found[0]!r} instances")
    if isinstance(beam, bool) or not isinstance(beam, (int, np.integer)) or beam < 0:
        raise ValueError(f"solve: beam must be an integer >= 0 (0 or 1 = greedy), got {beam!r}")
    tours: list = [None] * len(items)
    objective = np.zeros(len(items))
    costs = np.zeros(len(items))
    sizes = np.array([_size(i) for i in items])
    used = []
    with torch.no_grad():
        for size in sorted(set(sizes.tolist())):
            idx = np.flatnonzero(sizes == size)
            if isinstance(model, BQPolicy):
                policy, name = model.eval(), "given policy"
            else:
                path = Path(model) if model is not None else model_path(problem, size)
                policy, name = load_model(problem, size, path), str(path.name)
            if policy.problem != problem:
                raise ValueError(f"solve: the model solves {policy.problem!r}, not {problem!r}")
            used.append(name)
            group = [items[i] for i in idx]
            if beam > 1:
                obj, acts = beam_search(policy, group, int(beam), chunk=chunk or 32, return_actions=True)
            else:
                obj, acts = greedy(policy, group, chunk=chunk or 256, return_actions=True)
            n = size
            for j, i in enumerate(idx):
                tours[i] = actions_to_solution(problem, acts[j], n)
                objective[i] = obj[j]
                costs[i] = _length(items[i], problem, tours[i]) if problem != "kp" else obj[j]
    return Solutions(problem, tours, costs, objective, ", ".join(dict.fromkeys(used)))


def _length(inst, problem: str, tour: list) -> float:
    """Tour length on the instance's own distances (its units and metric)."""
    d = inst.distances
    if problem == "tsp":
        return float(inst.tour_length(tour))
    if problem == "cvrp":
        return float(inst.routes_length(tour))
    path = [0] + list(tour) + [0]
    return float(sum(d[a, b] for a, b in zip(path, path[1:])))
