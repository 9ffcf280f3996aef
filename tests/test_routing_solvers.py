"""Routing solvers (orl_envs.routing.solvers) and TSPLIB/CVRPLIB files (orl_envs.routing.io).

Reference solvers are checked against brute force on tiny instances, heuristics for validity and
bounds, and every method's action sequence is replayed by a small decoder that follows the
environments' action conventions.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
import time

import numpy as np
import pytest
from orl_envs.routing.instances import (
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
from orl_envs.routing.io import load_cvrplib, load_tsplib, save_cvrplib, save_tsplib
from orl_envs.routing.solvers import METHODS, Solution, solve

# Short budgets for the time-bounded solvers: the instances here are tiny.
FAST = {"pyvrp": 0.3, "ortools": 0.3}

# The reference solvers are optional (pip install orl-envs[routing]); their tests skip without them.
PACKAGE = {"elkai": "elkai", "pyvrp": "pyvrp", "ortools": "ortools"}


def _needs(*packages: str):
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    return pytest.mark.skipif(bool(missing), reason=f"optional package(s) {missing} not installed")


needs_elkai, needs_pyvrp, needs_ortools = _needs("elkai"), _needs("pyvrp"), _needs("ortools")


def _solve(inst, method, **kw):
    return solve(inst, method, time_limit=FAST.get(method), **kw)


# ----------------------------------------------------------------------------- decoders


def replay(inst, actions: list[int]) -> float:
    """Walk ``actions`` with the environments' conventions and return the objective."""
    if isinstance(inst, (TSPInstance, ATSPInstance)):
        n = inst.num_nodes
        assert len(actions) == n - 1 and all(0 <= a < n for a in actions)
        return inst.tour_length([0, *actions])
    if isinstance(inst, CVRPInstance):
        n = inst.num_customers
        routes: list[list[int]] = []
        for step, a in enumerate(actions):
            assert 0 <= a < 2 * n
            if a >= n:  # via the depot: a new route
                assert step > 0, "the first action starts at the depot and must be direct"
                routes.append([a - n + 1])
            else:
                if not routes:
                    routes.append([])
                routes[-1].append(a + 1)
        return inst.routes_length(routes)
    if isinstance(inst, OPInstance):
        n = inst.num_nodes
        assert actions and actions[-1] == n and all(0 <= a < n for a in actions[:-1])
        return inst.prize([a + 1 for a in actions[:-1]])
    if isinstance(inst, KPInstance):
        return inst.value(actions)
    raise AssertionError(type(inst))


# ----------------------------------------------------------------------------- brute force


def tsp_brute(inst) -> float:
    n = inst.num_nodes
    perms = np.array(list(itertools.permutations(range(1, n))))
    tours = np.concatenate([np.zeros((len(perms), 1), int), perms, np.zeros((len(perms), 1), int)], 1)
    return float(inst.distances[tours[:, :-1], tours[:, 1:]].sum(1).min())


def kp_brute(inst) -> float:
    n = inst.num_items
    masks = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    ok = masks @ inst.weights <= inst.capacity
    return float((masks @ inst.values)[ok].max()) / inst.scale


def cvrp_brute(inst) -> float:
    """Exact optimum: best single route per customer subset, then a DP over set partitions."""
    n = inst.num_customers
    d = inst.distances
    route = np.full(2**n, np.inf)
    for mask in range(1, 2**n):
        members = [i + 1 for i in range(n) if mask >> i & 1]
        if inst.demands[members].sum() > inst.capacity:
            continue
        for p in itertools.permutations(members):
            path = [0, *p, 0]
            route[mask] = min(route[mask], sum(d[a, b] for a, b in zip(path[:-1], path[1:])))
    best = np.full(2**n, np.inf)
    best[0] = 0.0
    for mask in range(1, 2**n):
        low = mask & -mask
        sub = mask
        while sub:  # subsets of mask that contain its lowest customer
            if sub & low:
                best[mask] = min(best[mask], route[sub] + best[mask ^ sub])
            sub = (sub - 1) & mask
    return float(best[-1])


def op_brute(inst) -> float:
    n = inst.num_nodes
    best = 0.0
    for k in range(1, n + 1):
        for subset in itertools.combinations(range(1, n + 1), k):
            prize = float(inst.prizes[list(subset)].sum())
            if prize <= best:
                continue
            if any(inst.tour_length(list(p)) <= inst.max_length for p in itertools.permutations(subset)):
                best = prize
    return best


# ----------------------------------------------------------------------------- KP


@pytest.mark.parametrize("seed", range(5))
def test_kp_exact_and_greedy(seed):
    rng = np.random.default_rng(seed)
    inst = generate_kp(12, rng, capacity=int(rng.integers(1500, 4000)))
    opt = kp_brute(inst)
    dp = solve(inst, "dp")
    assert dp.objective == pytest.approx(opt, abs=1e-12)
    if importlib.util.find_spec("ortools") is not None:
        assert solve(inst, "ortools").objective == pytest.approx(opt, abs=1e-12)
    greedy = solve(inst, "greedy")
    assert greedy.objective <= opt + 1e-12
    assert inst.weights[greedy.nodes].sum() <= inst.capacity


@needs_ortools
def test_kp_dp_is_fast_and_matches_ortools_at_full_size():
    inst = generate_kp(100, np.random.default_rng(0))
    start = time.perf_counter()
    dp = solve(inst, "dp")
    assert time.perf_counter() - start < 2.0  # well under 0.1 s unloaded; slack for a busy machine
    assert dp.objective == pytest.approx(solve(inst, "ortools").objective, abs=1e-12)


# ----------------------------------------------------------------------------- TSP / ATSP


@needs_elkai
def test_tsp_unit_square():
    inst = TSPInstance(coords=np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    for method in METHODS["tsp"]:
        sol = solve(inst, method)
        assert sol.objective == pytest.approx(4.0, abs=1e-12), method
        assert sol.nodes[0] == 0 and sorted(sol.nodes) == [0, 1, 2, 3]


@needs_elkai
@pytest.mark.parametrize("seed", range(3))
def test_tsp_elkai_optimal_and_heuristics_valid(seed):
    inst = generate_tsp(8, np.random.default_rng(seed))
    opt = tsp_brute(inst)
    # elkai solves the matrix rounded to 1e-7, so it is optimal up to 8 * 0.5e-7.
    assert solve(inst, "elkai").objective == pytest.approx(opt, abs=1e-6)
    for method in METHODS["tsp"][1:]:
        sol = solve(inst, method)
        assert sorted(sol.nodes) == list(range(8)) and sol.nodes[0] == 0
        assert sol.objective >= opt - 1e-12


@needs_elkai
@pytest.mark.parametrize("seed", range(3))
def test_atsp_elkai_optimal(seed):
    inst = generate_atsp(7, np.random.default_rng(seed))
    opt = tsp_brute(inst)
    assert not np.allclose(inst.distances, inst.distances.T)
    assert solve(inst, "elkai").objective == pytest.approx(opt, abs=1e-6)
    for method in METHODS["atsp"][1:]:
        assert solve(inst, method).objective >= opt - 1e-12


@needs_elkai
def test_elkai_runs_reach_lkh_and_are_checked(monkeypatch):
    import elkai

    inst = generate_tsp(8, np.random.default_rng(5))
    assert solve(inst, "elkai", runs=3).objective == pytest.approx(tsp_brute(inst), abs=1e-6)
    seen = []
    real = elkai.DistanceMatrix.solve_tsp
    monkeypatch.setattr(elkai.DistanceMatrix, "solve_tsp", lambda self, runs: seen.append(runs) or real(self, runs=runs))
    solve(inst, "elkai")
    solve(inst, "elkai", runs=25)
    assert seen == [10, 25]  # the default, then the caller's
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="runs must be a positive integer"):
            solve(inst, "elkai", runs=bad)
    with pytest.raises(ValueError, match="runs= is LKH's number of runs"):
        solve(inst, "nearest_neighbour", runs=5)


@needs_elkai
def test_elkai_integer_matrix_unscaled_and_large():
    # Integer weights are passed as they are (exact optimum); weights too large for LKH's
    # 32-bit arithmetic are scaled down instead of crashing the process.
    inst = generate_tsp(8, np.random.default_rng(5))
    small = TSPInstance(coords=inst.coords, distances=np.round(inst.distances * 1000))
    assert solve(small, "elkai").objective == tsp_brute(small)
    large = TSPInstance(coords=inst.coords, distances=np.round(inst.distances * 1e9))
    assert solve(large, "elkai").objective == pytest.approx(tsp_brute(large), rel=1e-6)
    # TSPLIB ATSP files put "infinity" (9999, 1e8) on the diagonal; it must not shrink the scale.
    d = np.round(generate_atsp(7, np.random.default_rng(1)).distances * 1e6)
    np.fill_diagonal(d, 1e8)
    atsp = ATSPInstance(distances=d)
    assert solve(atsp, "elkai").objective == tsp_brute(atsp)


# ----------------------------------------------------------------------------- CVRP


@needs_pyvrp
@pytest.mark.parametrize("seed", range(2))
def test_cvrp_pyvrp_optimal(seed):
    inst = generate_cvrp(6, np.random.default_rng(seed), capacity=15)
    opt = cvrp_brute(inst)
    sol = solve(inst, "pyvrp", time_limit=0.5, seed=1)
    assert len(sol.nodes) >= 2  # the instance needs several routes
    assert sol.objective == pytest.approx(opt, abs=1e-4)  # PyVRP sees distances rounded to 1e-5
    nn = solve(inst, "nearest_neighbour")
    assert nn.objective >= opt - 1e-12
    for route in nn.nodes:
        assert inst.demands[route].sum() <= inst.capacity


@needs_pyvrp
def test_pyvrp_iterations_budget_reaches_pyvrp_and_is_checked(monkeypatch):
    import pyvrp
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

    inst = generate_cvrp(6, np.random.default_rng(0), capacity=15)
    opt = cvrp_brute(inst)
    seen, real = [], pyvrp.solve
    monkeypatch.setattr(pyvrp, "solve", lambda data, stop, **kw: seen.append(stop) or real(data, stop, **kw))
    first = solve(inst, "pyvrp", iterations=300, seed=3)
    assert first.objective == pytest.approx(opt, abs=1e-4)
    assert solve(inst, "pyvrp", iterations=300, seed=3).nodes == first.nodes  # an iteration budget: reproducible
    solve(inst, "pyvrp", iterations=300, time_limit=5.0)
    solve(inst, "pyvrp", time_limit=0.2)
    assert [type(s) for s in seen] == [MaxIterations, MaxIterations, MultipleCriteria, MaxRuntime]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="iterations must be a positive integer"):
            solve(inst, "pyvrp", iterations=bad)
    with pytest.raises(ValueError, match="iterations= is PyVRP's number of search iterations"):
        solve(inst, "nearest_neighbour", iterations=100)


def test_cvrp_nearest_neighbour_hand_made():
    # Depot at 0; customers on a line at 1, 2, 3 with demands 2, 2, 2 and capacity 4:
    # nearest-first gives [1, 2] then [3]: 2 * 2 + 2 * 3 = 10.
    coords = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    inst = CVRPInstance(coords=coords, demands=np.array([0, 2, 2, 2]), capacity=4)
    sol = solve(inst, "nearest_neighbour")
    assert sol.nodes == [[1, 2], [3]]
    assert sol.actions == [0, 1, 3 + 2]
    assert sol.objective == pytest.approx(10.0)


# ----------------------------------------------------------------------------- OP


@needs_ortools
@pytest.mark.parametrize("seed", range(3))
def test_op_ortools_optimal_and_greedy(seed):
    inst = generate_op(7, np.random.default_rng(seed), max_length=1.6)
    opt = op_brute(inst)
    assert opt < inst.prizes.sum()  # the budget binds, so the test is not trivial
    sol = solve(inst, "ortools", time_limit=0.3, seed=seed)
    assert sol.objective == pytest.approx(opt, abs=1e-9)
    greedy = solve(inst, "greedy")
    assert greedy.objective <= opt + 1e-9
    assert inst.tour_length(greedy.nodes) <= inst.max_length


# ----------------------------------------------------------------------------- replay


def _small(problem: str, rng):
    return {
        "tsp": lambda: generate_tsp(10, rng),
        "atsp": lambda: generate_atsp(10, rng),
        "cvrp": lambda: generate_cvrp(10, rng),
        "op": lambda: generate_op(10, rng, max_length=2.0),
        "kp": lambda: generate_kp(20, rng, capacity=5000),
    }[problem]()


@pytest.mark.parametrize(
    "problem,method",
    [pytest.param(p, m, marks=_needs(PACKAGE[m]) if m in PACKAGE else ()) for p, ms in METHODS.items() for m in ms],
)
def test_actions_replay_objective(problem, method):
    inst = _small(problem, np.random.default_rng(7))
    sol = _solve(inst, method)
    assert isinstance(sol, Solution) and sol.method == method and sol.runtime_s >= 0
    assert replay(inst, sol.actions) == pytest.approx(sol.objective, rel=1e-12, abs=1e-12)


@needs_elkai
def test_auto_picks_the_first_method():
    inst = generate_kp(10, np.random.default_rng(0))
    assert solve(inst).method == METHODS["kp"][0] == "dp"
    assert solve(generate_tsp(5, np.random.default_rng(0))).method == "elkai"


# ----------------------------------------------------------------------------- errors


def test_errors():
    inst = generate_tsp(5, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"unknown method 'lkh'.*elkai"):
        solve(inst, "lkh")
    with pytest.raises(ValueError, match=r"unknown method 'dp' for tsp"):
        solve(inst, "dp")  # a KP method on a TSP instance
    with pytest.raises(ValueError, match=r"unsupported instance type 'ndarray'"):
        solve(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="time_limit"):
        solve(inst, "elkai", time_limit=0)


def test_missing_optional_package_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "elkai", None)  # makes "import elkai" raise ImportError
    with pytest.raises(ImportError, match=r"pip install orl-envs\[routing\]"):
        solve(generate_tsp(5, np.random.default_rng(0)), "elkai")


# ----------------------------------------------------------------------------- io


def _write(tmp_path, name: str, text: str):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_tsplib_euc_2d_and_ceil_2d(tmp_path):
    body = "DIMENSION : 3\nNODE_COORD_SECTION\n1 0 0\n2 3 4\n3 1 1\nEOF\n"
    inst = load_tsplib(_write(tmp_path, "a.tsp", "NAME : tri\nTYPE : TSP\nEDGE_WEIGHT_TYPE : EUC_2D\n" + body))
    assert isinstance(inst, TSPInstance) and inst.name == "tri"
    # sqrt(2) = 1.41 -> 1; sqrt(4 + 9) = 3.61 -> 4
    np.testing.assert_array_equal(inst.distances, [[0, 5, 1], [5, 0, 4], [1, 4, 0]])
    np.testing.assert_array_equal(inst.coords, [[0, 0], [3, 4], [1, 1]])
    ceil = load_tsplib(_write(tmp_path, "b.tsp", "TYPE: TSP\nEDGE_WEIGHT_TYPE: CEIL_2D\n" + body))
    np.testing.assert_array_equal(ceil.distances, [[0, 5, 2], [5, 0, 4], [2, 4, 0]])
    assert ceil.name == "b"  # no NAME: the file name


def test_tsplib_att(tmp_path):
    text = (
        "NAME: att\nTYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: ATT\n"
        "NODE_COORD_SECTION\n1 0 0\n2 10 0\n3 0 3\n4 30 10\n"
    )
    inst = load_tsplib(_write(tmp_path, "att.tsp", text))
    # r(1,2) = sqrt(10) = 3.16 -> nint 3 < r -> 4; r(1,3) = sqrt(0.9) = 0.95 -> 1;
    # r(2,3) = sqrt(10.9) = 3.30 -> 4; r(1,4) = sqrt(100) = 10 exactly -> 10.
    assert inst.distances[0, 1] == 4 and inst.distances[0, 2] == 1
    assert inst.distances[1, 2] == 4 and inst.distances[0, 3] == 10


BURMA14 = """NAME: burma14
TYPE: TSP
COMMENT: 14-Staedte in Burma (Zaw Win)
DIMENSION: 14
EDGE_WEIGHT_TYPE: GEO
EDGE_WEIGHT_FORMAT: FUNCTION
DISPLAY_DATA_TYPE: COORD_DISPLAY
NODE_COORD_SECTION
   1  16.47       96.10
   2  16.47       94.44
   3  20.09       92.54
   4  22.39       93.37
   5  25.23       97.24
   6  22.00       96.05
   7  20.47       97.02
   8  17.20       96.29
   9  16.30       97.38
  10  14.05       98.12
  11  16.53       97.38
  12  21.52       95.59
  13  19.41       97.13
  14  20.09       94.55
EOF
"""

ULYSSES16 = """NAME: ulysses16.tsp
TYPE: TSP
DIMENSION: 16
EDGE_WEIGHT_TYPE: GEO
NODE_COORD_SECTION
1 38.24 20.42
2 39.57 26.15
3 40.56 25.32
4 36.26 23.12
5 33.48 10.54
6 37.56 12.19
7 38.42 13.11
8 37.52 20.44
9 41.23 9.10
10 41.17 13.05
11 36.08 -5.21
12 38.47 15.13
13 38.15 15.35
14 37.51 15.17
15 35.49 14.32
16 39.36 19.56
"""


@needs_elkai
def test_tsplib_geo_known_optima(tmp_path):
    # TSPLIB's published optima: burma14 3323, ulysses16 6859 (the latter has a negative
    # longitude, so the truncation of DDD.MM towards zero matters).
    burma = load_tsplib(_write(tmp_path, "burma14.tsp", BURMA14))
    assert burma.distances[0, 0] == 0 and np.array_equal(burma.distances, burma.distances.T)
    assert solve(burma, "elkai").objective == 3323
    ulysses = load_tsplib(_write(tmp_path, "ulysses16.tsp", ULYSSES16))
    assert solve(ulysses, "elkai").objective == 6859


# The symmetric 4-node matrix d01=1 d02=2 d03=3 d12=4 d13=5 d23=6 in every explicit format.
EXPLICIT = {
    "FULL_MATRIX": "0 1 2 3\n1 0 4 5\n2 4 0 6\n3 5 6 0",
    "UPPER_ROW": "1 2 3\n4 5\n6",
    "LOWER_ROW": "1\n2 4\n3 5 6",
    "UPPER_DIAG_ROW": "0 1 2 3\n0 4 5\n0 6\n0",
    "LOWER_DIAG_ROW": "0\n1 0\n2 4 0\n3 5 6 0",
    "UPPER_COL": "1\n2 4\n3 5 6",
    "LOWER_DIAG_COL": "0 1 2 3\n0 4 5\n0 6\n0",
}
MATRIX4 = np.array([[0, 1, 2, 3], [1, 0, 4, 5], [2, 4, 0, 6], [3, 5, 6, 0]], float)


@pytest.mark.parametrize("fmt", EXPLICIT)
def test_tsplib_explicit_formats(tmp_path, fmt):
    text = (
        f"NAME: x\nTYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: {fmt}\n"
        f"EDGE_WEIGHT_SECTION\n{EXPLICIT[fmt]}\nEOF\n"
    )
    inst = load_tsplib(_write(tmp_path, "x.tsp", text))
    np.testing.assert_array_equal(inst.distances, MATRIX4)
    np.testing.assert_array_equal(inst.coords, np.zeros((4, 2)))  # no geometry in the file


def test_tsplib_explicit_wrapped_numbers_and_display_data(tmp_path):
    # Numbers may wrap across lines arbitrarily; DISPLAY_DATA_SECTION gives the coordinates.
    text = (
        "NAME: x\nTYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: UPPER_ROW\n"
        "DISPLAY_DATA_TYPE: TWOD_DISPLAY\nEDGE_WEIGHT_SECTION\n1 2\n3 4 5 6\n"
        "DISPLAY_DATA_SECTION\n1 0 0\n2 1 0\n3 0 1\n4 1 1\nEOF\n"
    )
    inst = load_tsplib(_write(tmp_path, "x.tsp", text))
    np.testing.assert_array_equal(inst.distances, MATRIX4)
    np.testing.assert_array_equal(inst.coords, [[0, 0], [1, 0], [0, 1], [1, 1]])


def test_tsplib_atsp(tmp_path):
    text = (
        "NAME: a3\nTYPE: ATSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: FULL_MATRIX\n"
        "EDGE_WEIGHT_SECTION\n9999 1 5\n7 9999 2\n3 8 9999\nEOF\n"
    )
    inst = load_tsplib(_write(tmp_path, "a3.atsp", text))
    assert isinstance(inst, ATSPInstance)
    assert inst.distances[0, 1] == 1 and inst.distances[1, 0] == 7
    assert inst.tour_length([0, 1, 2]) == 1 + 2 + 3


CVRP_TEXT = """NAME : tiny-n4
COMMENT : depot listed third
TYPE : CVRP
DIMENSION : 4
EDGE_WEIGHT_TYPE : EUC_2D
CAPACITY : 10
NODE_COORD_SECTION
 1 3 4
 2 1 1
 3 0 0
 4 6 8
DEMAND_SECTION
1 4
2 3
3 0
4 5
DEPOT_SECTION
 3
 -1
EOF
"""


def test_cvrplib_depot_moved_first_and_rounding(tmp_path):
    path = _write(tmp_path, "tiny.vrp", CVRP_TEXT)
    inst = load_cvrplib(path)
    assert inst.name == "tiny-n4" and inst.capacity == 10
    np.testing.assert_array_equal(inst.coords, [[0, 0], [3, 4], [1, 1], [6, 8]])  # old 3, 1, 2, 4
    np.testing.assert_array_equal(inst.demands, [0, 4, 3, 5])
    # depot-(3,4) = 5; depot-(1,1) = 1.41 -> 1; (3,4)-(1,1) = 3.61 -> 4; depot-(6,8) = 10
    assert inst.distances[0, 1] == 5 and inst.distances[0, 2] == 1
    assert inst.distances[1, 2] == 4 and inst.distances[0, 3] == 10
    exact = load_cvrplib(path, round_distances=False)
    assert exact.distances[0, 2] == pytest.approx(math.sqrt(2), abs=1e-15)
    assert exact.distances[1, 2] == pytest.approx(math.sqrt(13), abs=1e-15)


def test_cvrplib_explicit(tmp_path):
    text = (
        "NAME: e\nTYPE: CVRP\nDIMENSION: 4\nCAPACITY: 6\nEDGE_WEIGHT_TYPE: EXPLICIT\n"
        "EDGE_WEIGHT_FORMAT: LOWER_ROW\nEDGE_WEIGHT_SECTION\n1\n2 4\n3 5 6\n"
        "DEMAND_SECTION\n1 0\n2 1\n3 2\n4 3\nDEPOT_SECTION\n1\n-1\nEOF\n"
    )
    inst = load_cvrplib(_write(tmp_path, "e.vrp", text))
    np.testing.assert_array_equal(inst.distances, MATRIX4)
    np.testing.assert_array_equal(inst.demands, [0, 1, 2, 3])


@pytest.mark.parametrize("suffix", [".tsp", ".tsp.gz"])
def test_round_trip_exact(tmp_path, suffix):
    rng = np.random.default_rng(3)
    tsp = generate_tsp(9, rng)
    tsp = TSPInstance(coords=tsp.coords, distances=tsp.distances, name="rt-tsp")
    atsp = generate_atsp(6, rng)
    cvrp = generate_cvrp(10, rng)
    cases = ((tsp, save_tsplib, load_tsplib), (atsp, save_tsplib, load_tsplib), (cvrp, save_cvrplib, load_cvrplib))
    for inst, save, load in cases:
        path = tmp_path / (type(inst).__name__ + suffix)
        save(inst, path)
        back = load(path)
        assert type(back) is type(inst)
        np.testing.assert_array_equal(back.distances, inst.distances)
        if not isinstance(inst, ATSPInstance):
            np.testing.assert_array_equal(back.coords, inst.coords)
        if isinstance(inst, CVRPInstance):
            np.testing.assert_array_equal(back.demands, inst.demands)
            assert back.capacity == inst.capacity
    assert load_tsplib(tmp_path / ("TSPInstance" + suffix)).name == "rt-tsp"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        t + suffix for t in ("TSPInstance", "ATSPInstance", "CVRPInstance")
    )  # no temporary files left behind
    # a loaded TSPLIB instance (integer metric) also round-trips
    burma = load_tsplib(_write(tmp_path, "burma14.tsp", BURMA14))
    save_tsplib(burma, tmp_path / "burma-copy.tsp")
    np.testing.assert_array_equal(load_tsplib(tmp_path / "burma-copy.tsp").distances, burma.distances)


def test_saved_cvrp_readable_by_vrplib(tmp_path):
    vrplib = pytest.importorskip("vrplib")
    inst = generate_cvrp(5, np.random.default_rng(0), capacity=12)
    save_cvrplib(inst, tmp_path / "x.vrp")
    data = vrplib.read_instance(str(tmp_path / "x.vrp"))
    np.testing.assert_allclose(data["edge_weight"], inst.distances, rtol=0, atol=0)
    np.testing.assert_array_equal(data["demand"], inst.demands)


BAD = {
    "wrong count": ("TYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: UPPER_ROW\n"
                    "EDGE_WEIGHT_SECTION\n1 2 3 4 5\nEOF\n", r"EDGE_WEIGHT_SECTION has 5 numbers.*UPPER_ROW.*needs 6"),
    "3-d type": ("TYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_3D\nNODE_COORD_SECTION\n1 0 0 0\n",
                 r"line 3: EDGE_WEIGHT_TYPE EUC_3D is not supported \(supported: EUC_2D"),
    "no dimension": ("TYPE: TSP\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n", r"missing DIMENSION"),
    "bad number": ("TYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 x\n3 2 2\n",
                   r"line 6: NODE_COORD_SECTION: non-numeric entry"),
    "node id": ("TYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n7 2 2\n",
                r"line 7: NODE_COORD_SECTION: node id 7 outside 1..3"),
    "missing node": ("TYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n",
                     r"no entry for node\(s\) \[3\]"),
    "type": ("TYPE: HCP\nDIMENSION: 3\n", r"TYPE HCP is not supported here \(supported: TSP, ATSP\)"),
    "section": ("TYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nTOUR_SECTION\n1 2 3 -1\n",
                r"line 4: unsupported section TOUR_SECTION"),
    "garbage": ("TYPE: TSP\nthis is not tsplib\n", r"line 2: expected 'KEY : VALUE'"),
    "asymmetric tsp": ("TYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: FULL_MATRIX\n"
                       "EDGE_WEIGHT_SECTION\n0 1 2\n3 0 4\n5 6 0\n", r"not symmetric"),
}


@pytest.mark.parametrize("case", BAD)
def test_corrupt_tsplib_files(tmp_path, case):
    text, pattern = BAD[case]
    path = _write(tmp_path, "bad.tsp", text)
    with pytest.raises(ValueError, match=pattern) as err:
        load_tsplib(path)
    assert str(path) in str(err.value)  # the message names the file


def test_corrupt_cvrplib_files(tmp_path):
    two_depots = CVRP_TEXT.replace(" 3\n -1", " 3\n 1\n -1")
    with pytest.raises(ValueError, match=r"exactly one depot.*\[3, 1\]"):
        load_cvrplib(_write(tmp_path, "a.vrp", two_depots))
    with pytest.raises(ValueError, match=r"DISTANCE \(distance-constrained VRP\) is not supported"):
        load_cvrplib(_write(tmp_path, "b.vrp", CVRP_TEXT.replace("CAPACITY : 10", "CAPACITY : 10\nDISTANCE : 50")))
    with pytest.raises(ValueError, match=r"missing CAPACITY"):
        load_cvrplib(_write(tmp_path, "c.vrp", CVRP_TEXT.replace("CAPACITY : 10\n", "")))
    with pytest.raises(ValueError, match=r"0 < demand <= capacity \(3\); demands\[1\] is 4"):
        load_cvrplib(_write(tmp_path, "d.vrp", CVRP_TEXT.replace("CAPACITY : 10", "CAPACITY : 3")))
    with pytest.raises(ValueError, match=r"TYPE TSP is not supported here \(supported: CVRP\)"):
        load_cvrplib(_write(tmp_path, "e.vrp", BURMA14))
    with pytest.raises(ValueError, match=r"round_distances=False needs EDGE_WEIGHT_TYPE EUC_2D"):
        load_cvrplib(_write(tmp_path, "f.vrp", CVRP_TEXT.replace("EUC_2D", "CEIL_2D")), round_distances=False)


def test_save_rejects_wrong_instance(tmp_path):
    with pytest.raises(ValueError, match="expected a TSPInstance or ATSPInstance"):
        save_tsplib(generate_cvrp(3, np.random.default_rng(0), capacity=20), tmp_path / "x.tsp")
    with pytest.raises(ValueError, match="expected a CVRPInstance"):
        save_cvrplib(generate_tsp(3, np.random.default_rng(0)), tmp_path / "x.vrp")
