"""Routing and packing problems as BQ-MDPs (Drakulic et al., "BQ-NCO", NeurIPS 2023).

* :mod:`.instances`: instance dataclasses and the paper's generators;
* :mod:`.core`: batched dynamics (the single source of the rules) — :func:`make_batch`;
* :mod:`.env`: the Gymnasium environments (batch-of-one views of :mod:`.core`);
* :mod:`.solvers`: reference solvers (elkai/LKH-3, PyVRP, OR-Tools, exact DP) and heuristics
  (needs ``pip install orl-envs[routing]``);
* :mod:`.io`: TSPLIB and CVRPLIB files.
"""

from __future__ import annotations

import gymnasium as gym

from .core import CVRPBatch, KPBatch, OPBatch, TSPBatch, make_batch
from .env import ATSPEnv, CVRPEnv, KPEnv, OPEnv, TSPEnv
from .instances import (
    CVRP_CAPACITY,
    KP_CAPACITY,
    KP_SCALE,
    OP_MAX_LENGTH,
    PROBLEMS,
    ATSPInstance,
    CVRPInstance,
    KPInstance,
    OPInstance,
    TSPInstance,
    generate_atsp,
    generate_cvrp,
    generate_kp,
    generate_op,
    generate_tsp,
)

#: Gymnasium id -> entry point.
ROUTING_IDS: dict[str, str] = {
    "orl/TSP-v0": "orl_envs.routing.env:TSPEnv",
    "orl/ATSP-v0": "orl_envs.routing.env:ATSPEnv",
    "orl/CVRP-v0": "orl_envs.routing.env:CVRPEnv",
    "orl/OP-v0": "orl_envs.routing.env:OPEnv",  # registered with early_end=True (ROUTING_KWARGS)
    "orl/OP-v1": "orl_envs.routing.env:OPEnv",
    "orl/KP-v1": "orl_envs.routing.env:KPEnv",
}


#: Default arguments of a registration: ``orl/OP-v0`` keeps its original rule (the return to the
#: depot is legal at every step); ``orl/OP-v1`` masks it while a node is feasible (BQ-NCO's code).
ROUTING_KWARGS: dict[str, dict] = {"orl/OP-v0": {"early_end": True}}


def register() -> None:
    """Register the routing ids (idempotent)."""
    for env_id, entry_point in ROUTING_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=ROUTING_KWARGS.get(env_id, {}))


def __getattr__(name: str):
    # Solvers and file readers are loaded on first use: they pull optional packages lazily anyway,
    # but keeping them out of the import keeps `import orl_envs` light.
    if name in {"solve", "Solution", "METHODS"}:
        from . import solvers

        return getattr(solvers, name)
    if name in {"load_tsplib", "load_cvrplib", "save_tsplib", "save_cvrplib", "load_tour", "save_tour",
                "load_cvrp_solution", "save_cvrp_solution"}:
        from . import io

        return getattr(io, name)
    raise AttributeError(f"module 'orl_envs.routing' has no attribute {name!r}")


__all__ = [
    "ATSPEnv",
    "ATSPInstance",
    "CVRPBatch",
    "CVRPEnv",
    "CVRPInstance",
    "CVRP_CAPACITY",
    "KPBatch",
    "KPEnv",
    "KPInstance",
    "KP_CAPACITY",
    "KP_SCALE",
    "OPBatch",
    "OPEnv",
    "OPInstance",
    "OP_MAX_LENGTH",
    "PROBLEMS",
    "ROUTING_IDS",
    "ROUTING_KWARGS",
    "TSPBatch",
    "TSPEnv",
    "TSPInstance",
    "generate_atsp",
    "generate_cvrp",
    "generate_kp",
    "generate_op",
    "generate_tsp",
    "make_batch",
    "register",
]
