"""Reference solvers and simple heuristics for the routing family, behind one function.

:func:`solve` takes an instance from :mod:`orl_envs.routing.instances` and a method name and
returns a :class:`Solution`: the solution itself (``nodes``), its objective computed with the
instance's own float64 methods, and the **action sequence** that replays it in the matching
environment. :data:`METHODS` lists the methods per problem; the first one is ``"auto"``.

Reference solvers (optional dependencies, ``pip install orl-envs[routing]``, imported lazily):

* **TSP / ATSP — "elkai"**: LKH-3 (Helsgaun 2017, "An Extension of the Lin-Kernighan-Helsgaun TSP
  Solver for Constrained Traveling Salesman and Vehicle Routing Problems") through the ``elkai``
  2.x bindings, ``DistanceMatrix(...).solve_tsp(runs=10)`` (``runs=`` of :func:`solve` sets another count). ATSP instances are passed as a
  non-symmetric matrix, which elkai hands to LKH as ``TYPE : ATSP``.
  *Integer weights*: LKH works on integers. elkai 2.0 accepts floats, but only formats them into
  the TSPLIB text it hands to LKH, which converts every weight to an integer; sub-unit distances
  (unit-square instances) then collapse to 0 or 1 -- measured on a TSP50: 15.45 with floats vs
  5.79 with scaled integers. We therefore pass ``round(d * 1e7)`` (:data:`ELKAI_SCALE`); matrices
  that already hold integers are passed unscaled (TSPLIB files), and the scale is lowered so no
  entry exceeds :data:`ELKAI_MAX_WEIGHT` = 1.5e7: LKH multiplies weights by its internal
  ``PRECISION`` (100) in 32-bit ints, and entries of 5e7 made it *abort the process* (a failed C
  assertion, not an exception). ``time_limit`` and ``seed`` are not used: elkai's public API only
  exposes the number of runs, and LKH's fixed default seed makes it deterministic.
* **CVRP — "pyvrp"**: the hybrid genetic search of PyVRP (Wouda, Lan & Kool 2024, "PyVRP: a
  high-performance VRP solver package", INFORMS J. Computing), an implementation of Vidal's HGS.
  The model is built with ``pyvrp.Model`` (one depot, unit demands as ``delivery``, one vehicle
  type with ``n`` vehicles, i.e. unlimited) and given the integer matrix ``round(d * 1e5)``
  (:data:`PYVRP_SCALE`; lowered for matrices with huge entries). It stops after ``time_limit``
  seconds (``MaxRuntime``), by default :func:`default_time_limit` = ``max(1, n / 100)`` s, i.e. 1 s
  up to 100 customers and linear beyond; ``seed`` is passed to PyVRP. ``iterations=`` of :func:`solve`
  stops it after that many genetic-search iterations instead (``MaxIterations``; with ``time_limit``
  too, at whichever comes first): a budget that, unlike wall-clock time, does not depend on the
  machine or its load, so a reference built with it is the same on any machine.
* **OP — "ortools"**: Google OR-Tools' routing solver (Perron & Furnon, OR-Tools,
  https://developers.google.com/optimization) with one vehicle. Every node is optional
  (``AddDisjunction``) with its prize as the drop penalty; Kool et al.'s prizes are multiples of
  1/100, so ``round(prize * 100)`` is exact (other prizes are rounded to 1e-6). The budget is a
  distance dimension with capacity ``floor(max_length * 1e6)`` and arc transit ``ceil(d * 1e6)``:
  integer lengths are never shorter than the float ones, so every tour OR-Tools accepts is
  feasible in the float metric (the price: tours within about ``n * 1e-6`` of the budget may be
  missed). The arc cost is ``ceil(d * 1e6)`` too, and each prize unit costs more than any
  feasible tour's length (``floor(max_length * 1e6) + 1``), so the objective is lexicographic --
  maximum prize first, then the shortest tour -- while the arc costs still guide the local search
  towards short tours that leave room for more nodes. Search: OR-Tools' guided local search
  stalls on this model (its arc penalties are dwarfed by the drop penalties; on six OP50
  instances it returned the same tours after 0.5 s and 2 s, total prize 85.05), so the time
  goes to an iterated local search around OR-Tools' own local search instead: descend
  (``GREEDY_DESCENT`` with OR-Tools' default operators) from the savings construction and from
  the "greedy" tour, then repeatedly remove a random segment or random nodes (up to 30 %) of
  the best tour and descend again, keeping the result when it is at least as good (same six
  instances, 1 s: 96.45). It stops after ``time_limit`` seconds (default
  :func:`default_time_limit`); ``seed`` drives the perturbations, but being time-bounded the
  result can still depend on machine load.
* **KP — "dp"**: exact dynamic programme over the integer capacity (no dependency), vectorised
  with numpy over the capacity axis, with a boolean take-table for the reconstruction
  (O(n C) time and bits; n = 100, C = 25 000 takes a few tens of milliseconds).
* **KP — "ortools"**: OR-Tools' ``KnapsackSolver`` (``ortools.algorithms.python.knapsack_solver``
  in OR-Tools 9.x; the old ``pywrapknapsack_solver`` module is gone) with the branch-and-bound
  solver; ``time_limit`` is passed through when given.

Heuristics (numpy only, deterministic; ``time_limit`` and ``seed`` unused):

* TSP "nearest_neighbour", "nearest_insertion", "farthest_insertion" (Rosenkrantz, Stearns &
  Lewis 1977); all start from node 0. Insertion inserts the selected node where
  ``d(i,k) + d(k,j) - d(i,j)`` is smallest -- for ATSP this is the asymmetric cost, and
  "farthest" uses the distance ``min(d(t,k), d(k,t))`` between node ``k`` and tour node ``t``.
* CVRP "nearest_neighbour": go to the nearest unserved customer whose demand fits the remaining
  capacity, else return to the depot and start a new route.
* OP "greedy": repeatedly add the node with the best ``prize / d(cur, i)`` among those that still
  allow returning to the depot within the budget; stop when none does.
* KP "greedy": items by value/weight descending, take each one that still fits.

Action conventions (``Solution.actions`` replays the solution in the environment):

* TSP/ATSP: the tour starts at node 0; actions are the other ``n - 1`` nodes in visiting order.
* CVRP (``Discrete(2n)``): ``a < n`` goes straight to customer ``a + 1``; ``a >= n`` goes to the
  depot first and then to customer ``a - n + 1``. The first route starts with a direct action,
  every later route with a via-depot action; the final return to the depot is implicit.
* OP (``Discrete(n + 1)``): ``a < n`` visits node ``a + 1``; the sequence ends with ``n``
  (return to the depot).
* KP (``Discrete(n)``): the chosen items, in the order the method produced them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .instances import ATSPInstance, CVRPInstance, KPInstance, OPInstance, TSPInstance

__all__ = ["METHODS", "Solution", "default_time_limit", "problem_name", "solve"]

#: Allowed methods per problem; the first one is what ``method="auto"`` picks.
METHODS: dict[str, tuple[str, ...]] = {
    "tsp": ("elkai", "farthest_insertion", "nearest_insertion", "nearest_neighbour"),
    "atsp": ("elkai", "nearest_neighbour", "farthest_insertion"),
    "cvrp": ("pyvrp", "nearest_neighbour"),
    "op": ("ortools", "greedy"),
    "kp": ("dp", "ortools", "greedy"),
}

#: LKH's runs per elkai call (``solve(..., runs=)`` overrides it). On the 1000 seeded TSP50 test instances,
#: 100 runs improve 3 tours, by at most 0.083% (mean 0.0001%): see docs/routing.md, reference solvers.
ELKAI_RUNS = 10
#: Scale of float distances before rounding them to LKH's integers.
ELKAI_SCALE = 1e7
#: Largest integer weight handed to LKH (weights * PRECISION=100 must stay inside int32).
ELKAI_MAX_WEIGHT = 15_000_000
#: Scale of float distances before rounding them to PyVRP's integers.
PYVRP_SCALE = 1e5
#: Largest integer distance handed to PyVRP (its own warning threshold is 2**44).
PYVRP_MAX_DISTANCE = 10**12
#: Scale of OR-Tools' integer OP lengths (transit ceil(d * 1e6), capacity floor(L * 1e6)).
OP_LENGTH_SCALE = 1e6
#: Largest fraction of the best OP tour that one iterated-local-search restart removes.
OP_ILS_DESTROY = 0.3
#: DP table budget (items x capacity cells, one byte each) before "dp" refuses.
KP_DP_MAX_CELLS = 400_000_000

_INSTALL_HINT = "pip install orl-envs[routing]"


@dataclass(frozen=True)
class Solution:
    """A solution of one instance.

    ``nodes``: TSP/ATSP the tour starting at 0; CVRP a list of routes (customers 1..n); OP the
    visited nodes (1..n) in order; KP the chosen items (0-based). ``objective`` is the tour
    length (TSP/ATSP/CVRP, minimised) or the prize/value (OP/KP, maximised), computed with the
    instance's own methods; ``actions`` replays the solution in the environment.
    """

    actions: list[int]
    objective: float
    method: str
    runtime_s: float
    nodes: list


def problem_name(instance: object) -> str:
    """``"tsp"``, ``"atsp"``, ``"cvrp"``, ``"op"`` or ``"kp"``; ``ValueError`` for anything else."""
    for cls, name in (
        (TSPInstance, "tsp"),
        (ATSPInstance, "atsp"),
        (CVRPInstance, "cvrp"),
        (OPInstance, "op"),
        (KPInstance, "kp"),
    ):
        if isinstance(instance, cls):
            return name
    raise ValueError(
        f"solve: unsupported instance type {type(instance).__name__!r}; expected one of "
        "TSPInstance, ATSPInstance, CVRPInstance, OPInstance, KPInstance (problems "
        f"{sorted(METHODS)})"
    )


def default_time_limit(size: int) -> float:
    """Default budget in seconds of the time-bounded solvers: 1 s up to 100 nodes, then n / 100."""
    return max(1.0, size / 100.0)


def solve(instance, method: str = "auto", *, time_limit: float | None = None, seed: int = 0,
          runs: int | None = None, iterations: int | None = None) -> Solution:
    """Solve ``instance`` with ``method`` (see :data:`METHODS`; ``"auto"`` = the first one).

    ``time_limit`` (seconds) bounds PyVRP, OR-Tools' OP search and OR-Tools' knapsack solver;
    ``seed`` is passed to PyVRP. Other methods ignore both (see the module docstring). ``runs`` is
    LKH's number of runs for ``"elkai"`` (default :data:`ELKAI_RUNS`), ``iterations`` PyVRP's number of
    genetic-search iterations for ``"pyvrp"`` (without ``time_limit``, no time limit); each is refused for
    other methods.
    """
    problem = problem_name(instance)
    allowed = METHODS[problem]
    if method == "auto":
        method = allowed[0]
    if method not in allowed:
        raise ValueError(f"solve: unknown method {method!r} for {problem}; allowed: {('auto', *allowed)}")
    if time_limit is not None and not (float(time_limit) > 0 and math.isfinite(float(time_limit))):
        raise ValueError(f"solve: time_limit must be a positive number of seconds, got {time_limit!r}")
    extra = {}
    if runs is not None:
        if method != "elkai":
            raise ValueError(f"solve: runs= is LKH's number of runs (method 'elkai'), not an option of {method!r}")
        if isinstance(runs, bool) or not isinstance(runs, (int, np.integer)) or runs < 1:
            raise ValueError(f"solve: runs must be a positive integer, got {runs!r}")
        extra["runs"] = int(runs)
    if iterations is not None:
        if method != "pyvrp":
            raise ValueError(f"solve: iterations= is PyVRP's number of search iterations (method 'pyvrp'), not an "
                             f"option of {method!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 1:
            raise ValueError(f"solve: iterations must be a positive integer, got {iterations!r}")
        extra["iterations"] = int(iterations)
    fn = _SOLVERS[(problem, method)]
    start = time.perf_counter()
    nodes = fn(instance, time_limit=time_limit, seed=int(seed), **extra)
    runtime = time.perf_counter() - start
    nodes, objective, actions = _FINISH[problem](instance, nodes)
    return Solution(actions=actions, objective=objective, method=method, runtime_s=runtime, nodes=nodes)


# ----------------------------------------------------------------------------- finishing


# Each returns (nodes in canonical form, objective by the instance's own method, actions).


def _finish_tour(inst: TSPInstance | ATSPInstance, tour: list[int]) -> tuple[list, float, list[int]]:
    tour = [int(v) for v in tour]
    k = tour.index(0)
    tour = tour[k:] + tour[:k]  # rotated to start at node 0, where the environment starts
    return tour, inst.tour_length(tour), tour[1:]


def _finish_cvrp(inst: CVRPInstance, routes: list[list[int]]) -> tuple[list, float, list[int]]:
    n = inst.num_customers
    routes = [[int(c) for c in r] for r in routes if len(r) > 0]
    actions: list[int] = []
    for k, route in enumerate(routes):
        for j, c in enumerate(route):
            # The first customer of every route after the first is reached through the depot.
            actions.append(c - 1 + (n if (j == 0 and k > 0) else 0))
    return routes, inst.routes_length(routes), actions


def _finish_op(inst: OPInstance, tour: list[int]) -> tuple[list, float, list[int]]:
    tour = [int(v) for v in tour]
    return tour, inst.prize(tour), [v - 1 for v in tour] + [inst.num_nodes]


def _finish_kp(inst: KPInstance, items: list[int]) -> tuple[list, float, list[int]]:
    items = [int(i) for i in items]
    return items, inst.value(items), list(items)


_FINISH: dict[str, Callable] = {
    "tsp": _finish_tour,
    "atsp": _finish_tour,
    "cvrp": _finish_cvrp,
    "op": _finish_op,
    "kp": _finish_kp,
}


def _require(module: str, method: str):
    """Import an optional solver package, or explain how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"method {method!r} needs the optional package {module.split('.')[0]!r}: {_INSTALL_HINT}"
        ) from e


def _integer_matrix(d: np.ndarray, scale: float, max_entry: float) -> np.ndarray:
    """``round(d * s)`` as int64 with ``s = scale``, or ``s = 1`` when ``d`` already holds integers.

    ``s`` is lowered when the largest entry would exceed ``max_entry`` (lossy, but the solver
    would otherwise overflow). The diagonal is never travelled and is zeroed first: TSPLIB ATSP
    files put "infinite" values such as 9999 or 1e8 there, which must not decide the scale.
    """
    d = np.array(d, dtype=np.float64)
    np.fill_diagonal(d, 0.0)
    dmax = float(d.max()) if d.size else 0.0
    s = 1.0 if np.all(d == np.round(d)) else scale
    if dmax * s > max_entry:
        s = max_entry / dmax
    return np.rint(d * s).astype(np.int64)


# ----------------------------------------------------------------------------- TSP / ATSP


def _tsp_elkai(inst: TSPInstance | ATSPInstance, *, time_limit, seed, runs: int = 0) -> list[int]:
    elkai = _require("elkai", "elkai")
    w = _integer_matrix(inst.distances, ELKAI_SCALE, ELKAI_MAX_WEIGHT)
    # elkai checks entries with isinstance(x, int): numpy integers must become Python ints.
    tour = elkai.DistanceMatrix(w.tolist()).solve_tsp(runs=runs or ELKAI_RUNS)
    tour = [int(v) for v in tour[:-1]]  # elkai repeats the first city at the end
    if sorted(tour) != list(range(inst.num_nodes)):
        raise RuntimeError(f"elkai returned an invalid tour {tour}")
    return tour


def _tsp_nearest_neighbour(inst: TSPInstance | ATSPInstance, *, time_limit, seed) -> list[int]:
    d = inst.distances
    n = inst.num_nodes
    free = np.ones(n, dtype=bool)
    free[0] = False
    tour = [0]
    for _ in range(n - 1):
        cand = np.where(free, d[tour[-1]], np.inf)
        nxt = int(np.argmin(cand))  # ties: the lowest index
        free[nxt] = False
        tour.append(nxt)
    return tour


def _tsp_insertion(inst: TSPInstance | ATSPInstance, farthest: bool) -> list[int]:
    d = inst.distances
    n = inst.num_nodes
    # Distance of a node to a tour node in either direction (identical for symmetric matrices).
    dsym = np.minimum(d, d.T)
    tour = [0]
    free = np.ones(n, dtype=bool)
    free[0] = False
    to_tour = dsym[0].copy()  # distance of every node to the nearest tour node
    for _ in range(n - 1):
        if farthest:
            k = int(np.argmax(np.where(free, to_tour, -np.inf)))
        else:
            k = int(np.argmin(np.where(free, to_tour, np.inf)))
        t = np.asarray(tour)
        nxt = np.roll(t, -1)
        cost = d[t, k] + d[k, nxt] - d[t, nxt]  # insert k between t[i] and t[i+1]
        pos = int(np.argmin(cost))
        tour.insert(pos + 1, k)
        free[k] = False
        np.minimum(to_tour, dsym[k], out=to_tour)
    return tour


def _tsp_farthest_insertion(inst, *, time_limit, seed) -> list[int]:
    return _tsp_insertion(inst, farthest=True)


def _tsp_nearest_insertion(inst, *, time_limit, seed) -> list[int]:
    return _tsp_insertion(inst, farthest=False)


# ----------------------------------------------------------------------------- CVRP


def _cvrp_pyvrp(inst: CVRPInstance, *, time_limit, seed, iterations: int = 0) -> list[list[int]]:
    pyvrp = _require("pyvrp", "pyvrp")
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

    n = inst.num_customers
    model = pyvrp.Model()
    # Locations carry the coordinates only for PyVRP's bookkeeping; the distances used are
    # the explicit matrix below, so rounded or explicit metrics are honoured.
    locs = [model.add_location(x=float(x), y=float(y)) for x, y in inst.coords]
    model.add_depot(locs[0])
    for i in range(1, n + 1):
        model.add_client(locs[i], delivery=[int(inst.demands[i])])
    model.add_vehicle_type(num_available=n, capacity=[inst.capacity])
    dist = _integer_matrix(inst.distances, PYVRP_SCALE, PYVRP_MAX_DISTANCE)
    # Setting the matrices directly avoids building (n+1)^2 Edge objects through add_edge.
    data = model.data().replace(distance_matrices=[dist], duration_matrices=[np.zeros_like(dist)])
    if iterations:  # a machine-independent budget; a time limit given too caps it
        stop = MaxIterations(iterations)
        if time_limit is not None:
            stop = MultipleCriteria([stop, MaxRuntime(float(time_limit))])
        budget = f"{iterations} iterations" + ("" if time_limit is None else f" or {float(time_limit):g} s")
    else:
        limit = default_time_limit(n) if time_limit is None else float(time_limit)
        stop, budget = MaxRuntime(limit), f"{limit:g} s"
    result = pyvrp.solve(data, stop, seed=seed, collect_stats=False, display=False)
    if not result.is_feasible():
        raise RuntimeError(f"pyvrp found no feasible solution in {budget}; raise its budget")
    routes = []
    for route in result.best.routes():
        # Client activities carry the 0-based client index; customers are 1..n.
        routes.append([int(a.idx) + 1 for a in route if a.is_client()])
    return routes


def _cvrp_nearest_neighbour(inst: CVRPInstance, *, time_limit, seed) -> list[list[int]]:
    d = inst.distances
    q = inst.demands
    n = inst.num_customers
    free = np.ones(n + 1, dtype=bool)
    free[0] = False
    routes: list[list[int]] = []
    route: list[int] = []
    cur, load = 0, 0
    for _ in range(n):
        ok = free & (q <= inst.capacity - load)
        if not ok.any():  # nothing fits: back to the depot, where everything fits again
            routes.append(route)
            route, cur, load = [], 0, 0
            ok = free
        nxt = int(np.argmin(np.where(ok, d[cur], np.inf)))
        route.append(nxt)
        free[nxt] = False
        load += int(q[nxt])
        cur = nxt
    routes.append(route)
    return routes


# ----------------------------------------------------------------------------- OP


def _op_ortools(inst: OPInstance, *, time_limit, seed) -> list[int]:
    _require("ortools", "ortools")
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = inst.num_nodes
    budget = int(math.floor(inst.max_length * OP_LENGTH_SCALE))
    # ceil keeps integer lengths >= float lengths: OR-Tools-feasible => feasible in floats.
    length = np.ceil(inst.distances * OP_LENGTH_SCALE).astype(np.int64)
    np.fill_diagonal(length, 0)
    # Kool et al.'s prizes are multiples of 1/100, so x100 is exact; other prizes are rounded
    # on a finer grid (then the optimum is only exact up to that rounding).
    p100 = inst.prizes * 100
    pscale = 100 if np.all(np.abs(p100 - np.rint(p100)) < 1e-6) else 10**6
    prize = np.rint(inst.prizes * pscale).astype(np.int64)
    # One prize unit outweighs any feasible tour's length: maximise prize, then minimise length.
    # Should the penalties overflow int64 (huge budgets), fall back to zero arc costs.
    unit = budget + 1
    lexicographic = int(prize.sum()) * unit < 2**62
    if not lexicographic:
        unit = 1

    manager = pywrapcp.RoutingIndexManager(n + 1, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    transit = routing.RegisterTransitMatrix(length.tolist())
    if lexicographic:
        routing.SetArcCostEvaluatorOfAllVehicles(transit)
    routing.AddDimension(transit, 0, budget, True, "length")
    for node in range(1, n + 1):
        routing.AddDisjunction([manager.NodeToIndex(node)], int(prize[node]) * unit)

    # OR-Tools' guided local search stalls on this model within milliseconds (drop penalties
    # dwarf the arc penalties it works with; measured: the same prize after 0.5 s and 2 s), so
    # the time budget goes to an iterated local search instead: OR-Tools' own local search
    # (GREEDY_DESCENT: relocate, 2-opt, make-active, swap-active, ...) restarted from the best
    # tour with a random part of it removed; a restart is kept if it is at least as good.
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.SAVINGS
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    routing.CloseModelWithParameters(params)

    def read(assignment) -> list[int]:
        tour, index = [], assignment.Value(routing.NextVar(routing.Start(0)))
        while not routing.IsEnd(index):
            tour.append(manager.IndexToNode(index))
            index = assignment.Value(routing.NextVar(index))
        return tour

    def descend(tour: list[int]):
        start = routing.ReadAssignmentFromRoutes([tour], True)
        # None when ``tour`` is infeasible under the integer lengths (within ~1e-6 of the budget)
        return None if start is None else routing.SolveFromAssignmentWithParameters(start, params)

    limit = default_time_limit(n) if time_limit is None else float(time_limit)
    deadline = time.perf_counter() + limit
    rng = np.random.default_rng(seed)
    best_tour, best_cost = [], math.inf
    # Two starts: OR-Tools' savings construction and the ratio greedy, each descended.
    for assignment in (routing.SolveWithParameters(params), descend(_op_greedy(inst, time_limit=None, seed=seed))):
        if assignment is not None and assignment.ObjectiveValue() < best_cost:
            best_tour, best_cost = read(assignment), assignment.ObjectiveValue()
    while time.perf_counter() < deadline and best_tour:
        tour = list(best_tour)
        k = max(1, int(round(OP_ILS_DESTROY * len(tour) * rng.uniform())))
        if rng.uniform() < 0.5:  # drop a random segment ...
            i = int(rng.integers(len(tour)))
            tour = tour[:i] + tour[i + k :]
        else:  # ... or k random nodes
            drop = set(rng.choice(tour, size=min(k, len(tour)), replace=False).tolist())
            tour = [v for v in tour if v not in drop]
        assignment = descend(tour)
        if assignment is not None and assignment.ObjectiveValue() <= best_cost:  # sideways moves too
            best_tour, best_cost = read(assignment), assignment.ObjectiveValue()
    return best_tour


def _op_greedy(inst: OPInstance, *, time_limit, seed) -> list[int]:
    d = inst.distances
    n = inst.num_nodes
    free = np.ones(n + 1, dtype=bool)
    free[0] = False
    tour: list[int] = []
    cur, used = 0, 0.0
    while True:
        ok = free & (used + d[cur] + d[:, 0] <= inst.max_length)
        if not ok.any():
            return tour
        with np.errstate(divide="ignore"):
            ratio = np.where(d[cur] > 0, inst.prizes / np.where(d[cur] > 0, d[cur], 1.0), np.inf)
        nxt = int(np.argmax(np.where(ok, ratio, -np.inf)))
        tour.append(nxt)
        free[nxt] = False
        used += d[cur, nxt]
        cur = nxt


# ----------------------------------------------------------------------------- KP


def _kp_dp(inst: KPInstance, *, time_limit, seed) -> list[int]:
    w, v = inst.weights, inst.values
    n = inst.num_items
    cap = int(min(inst.capacity, int(w.sum())))  # more capacity than total weight is useless
    if n * (cap + 1) > KP_DP_MAX_CELLS:
        raise ValueError(
            f"KP dp: {n} items x capacity {cap} needs a {n * (cap + 1):.3g}-cell table "
            f"(limit {KP_DP_MAX_CELLS:.3g}); use method='ortools'"
        )
    best = np.zeros(cap + 1, dtype=np.int64)  # best[c] = best value with weight <= c
    take = np.zeros((n, cap + 1), dtype=bool)
    for i in range(n):
        wi, vi = int(w[i]), int(v[i])
        if wi > cap:
            continue
        cand = best[: cap + 1 - wi] + vi  # value of taking item i at capacity c = wi..cap
        better = cand > best[wi:]
        take[i, wi:] = better
        # best[wi:] reads the old row on the right-hand side before the write: 0-1, not unbounded.
        best[wi:] = np.where(better, cand, best[wi:])
    items = []
    c = cap
    for i in range(n - 1, -1, -1):
        if take[i, c]:
            items.append(i)
            c -= int(w[i])
    return items[::-1]


def _kp_ortools(inst: KPInstance, *, time_limit, seed) -> list[int]:
    _require("ortools", "ortools")
    from ortools.algorithms.python import knapsack_solver

    solver = knapsack_solver.KnapsackSolver(
        knapsack_solver.SolverType.KNAPSACK_MULTIDIMENSION_BRANCH_AND_BOUND_SOLVER, "kp"
    )
    solver.init([int(x) for x in inst.values], [[int(x) for x in inst.weights]], [inst.capacity])
    if time_limit is not None:
        solver.set_time_limit(float(time_limit))
    solver.solve()
    return [i for i in range(inst.num_items) if solver.best_solution_contains(i)]


def _kp_greedy(inst: KPInstance, *, time_limit, seed) -> list[int]:
    ratio = inst.values / inst.weights
    order = np.argsort(-ratio, kind="stable")  # ties: lower index first
    items, load = [], 0
    for i in order:
        if load + int(inst.weights[i]) <= inst.capacity:
            items.append(int(i))
            load += int(inst.weights[i])
    return items


_SOLVERS: dict[tuple[str, str], Callable] = {
    ("tsp", "elkai"): _tsp_elkai,
    ("tsp", "farthest_insertion"): _tsp_farthest_insertion,
    ("tsp", "nearest_insertion"): _tsp_nearest_insertion,
    ("tsp", "nearest_neighbour"): _tsp_nearest_neighbour,
    ("atsp", "elkai"): _tsp_elkai,
    ("atsp", "nearest_neighbour"): _tsp_nearest_neighbour,
    ("atsp", "farthest_insertion"): _tsp_farthest_insertion,
    ("cvrp", "pyvrp"): _cvrp_pyvrp,
    ("cvrp", "nearest_neighbour"): _cvrp_nearest_neighbour,
    ("op", "ortools"): _op_ortools,
    ("op", "greedy"): _op_greedy,
    ("kp", "dp"): _kp_dp,
    ("kp", "ortools"): _kp_ortools,
    ("kp", "greedy"): _kp_greedy,
}
