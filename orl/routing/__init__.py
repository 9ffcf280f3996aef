"""Ready-to-use routing solvers: BQ-NCO policies shipped with orl (see :mod:`orl.routing.solver`).

``orl.routing.solve(instances, problem="cvrp", beam=16)`` returns tours and costs;
``python -m orl.routing.solve file.vrp`` (or ``.tsp``) solves a CVRPLIB/TSPLIB file.

(The function lives in :mod:`orl.routing.solver`; ``orl/routing/solve.py`` is only the command
line, which is why the package does not import it: importing it would shadow the function.)
"""

from __future__ import annotations

from orl.routing.solver import MODEL_DIR, Solutions, actions_to_solution, load_model, model_path, shipped_models, solve

__all__ = ["MODEL_DIR", "Solutions", "actions_to_solution", "load_model", "model_path", "shipped_models", "solve"]
