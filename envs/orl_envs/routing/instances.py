"""Problem instances of the routing family and their instance generators.

The generators follow the test distributions of BQ-NCO (Drakulic et al., NeurIPS 2023,
arXiv 2301.03313), which are those of Kool et al. (ICLR 2019) for TSP, CVRP and OP:

* **TSP** — ``n`` cities uniform in the unit square; Euclidean distances.
* **ATSP** — MatNet's "tmat" matrices (Kwon et al. 2021): integer costs uniform in
  ``{1, ..., 10**6}``, zero diagonal, closed under shortest paths so the triangle inequality
  holds, then divided by ``10**6``. (BQ-NCO's public code has no ATSP generator; its paper
  evaluates on MatNet's distribution.)
* **CVRP** — depot and ``n`` customers uniform in the unit square, integer demands uniform in
  ``{1, ..., 9}``, vehicle capacity from Kool et al.'s table extended by RL4CO
  (:data:`CVRP_CAPACITY`).
* **OP** — depot and ``n`` nodes uniform in the unit square, Kool et al.'s "distance" prizes
  ``(1 + floor(99 d(0, i) / max_j d(0, j))) / 100`` and tour-length budget :data:`OP_MAX_LENGTH`.
* **KP** — integer weights and values uniform in ``{1, ..., 997}`` on the scale ``1000`` and
  capacity ``25 * 1000`` (BQ-NCO's data script), i.e. weights and values in (0, 1) and capacity
  25 in normalised units.

Every instance is an immutable dataclass holding exactly the numbers its objective needs, so a
solver, an environment and a test all compute the same objective from the same arrays.
Distances are float64 matrices; node 0 is the depot for CVRP and OP (customers are ``1..n``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: CVRP vehicle capacity by number of customers (Kool et al. 2019 for 10-100; RL4CO beyond).
CVRP_CAPACITY: dict[int, int] = {10: 20, 20: 30, 50: 40, 100: 50, 200: 70, 500: 100, 1000: 150}

#: OP tour-length budget by number of nodes (Kool et al. 2019; BQ-NCO uses 4 for OP100).
OP_MAX_LENGTH: dict[int, float] = {20: 2.0, 50: 3.0, 100: 4.0}

#: KP integer scale: weights, values and capacity are integers; observations divide by it.
KP_SCALE = 1000
KP_CAPACITY = 25 * KP_SCALE


def euclidean(points: np.ndarray) -> np.ndarray:
    """Pairwise Euclidean distances of ``points`` (m, 2), as float64 (m, m)."""
    p = np.asarray(points, dtype=np.float64)
    diff = p[:, None, :] - p[None, :, :]
    return np.sqrt((diff**2).sum(-1))


def unit_square(coords: np.ndarray) -> np.ndarray:
    """Coordinates as the environments observe them: inside the unit square.

    Generated instances already are and are returned unchanged; others (TSPLIB, CVRPLIB) are
    shifted and divided by their larger bounding-box side, keeping the aspect ratio — BQ-NCO
    rescales TSPLIB instances the same way before its model sees them. Rewards always use the
    instance's own distances.
    """
    c = np.asarray(coords, dtype=np.float64)
    if c.size == 0 or (c.min() >= 0.0 and c.max() <= 1.0):
        return c
    lo = c.min(axis=0)
    span = float((c.max(axis=0) - lo).max())
    return (c - lo) / span if span > 0 else np.zeros_like(c)


#: Largest integer weight, value, demand or capacity accepted: float64 holds every integer up to 2**53 exactly.
MAX_INTEGER = 2**53


def _numbers(a, field: str, what: str) -> np.ndarray:
    """``a`` as a float64 array of finite numbers, or a ``ValueError`` naming the first bad entry."""
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: {field} must be an array of numbers, got {np.asarray(a, dtype=object)!r}") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{field}[{', '.join(map(str, idx))}]" if idx else field
        raise ValueError(
            f"{what}: {field} must be finite numbers (no NaN or inf); {where} is {arr[idx]}"
            f"{f' ({int(bad.sum())} non-finite entries)' if bad.sum() > 1 else ''}"
        )
    return arr


def _integers(a, field: str, what: str, low: int, allowed: str) -> np.ndarray:
    """``a`` as an int64 array of integers in ``[low, MAX_INTEGER]``; ``allowed`` words the rule for errors."""
    arr = _numbers(a, field, what)
    bad = (arr != np.round(arr)) | (arr < low) | (arr > MAX_INTEGER)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f"{field}[{', '.join(map(str, idx))}]" if idx else field
        raise ValueError(f"{what}: {field} must be {allowed}; {where} is {float(arr[idx]):g}")
    return arr.astype(np.int64)


def _scalar(x):
    """A Python number from a number or a 0-d numeric array; None for anything else (bools included)."""
    a = np.asarray(x) if isinstance(x, np.ndarray) else None
    if a is not None and a.ndim == 0:
        x = a.item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        return None
    return x


def positive_int(x, field: str, what: str) -> int:
    """A scalar that must be an integer >= 1 (an integral float is accepted), or a ``ValueError`` naming it."""
    given, x = x, _scalar(x)
    if x is None:
        raise ValueError(f"{what}: {field} must be a positive integer, got {given!r}")
    if not (math.isfinite(x) and x == round(x) and 1 <= x <= MAX_INTEGER):
        raise ValueError(f"{what}: {field} must be a positive integer, got {given!r}")
    return int(x)


def positive_number(x, field: str, what: str) -> float:
    """A scalar that must be a finite number > 0, or a ``ValueError`` naming it."""
    given, x = x, _scalar(x)
    if x is None or not (math.isfinite(x) and x > 0):
        raise ValueError(f"{what}: {field} must be a finite number > 0, got {given!r}")
    return float(x)


def _coords(c, what: str, min_nodes: int, layout: str) -> np.ndarray:
    c = _numbers(c, "coords", what)
    if c.ndim != 2 or c.shape[1] != 2 or c.shape[0] < min_nodes:
        raise ValueError(f"{what}: coords must have shape {layout}, got {c.shape}")
    return c


def _distances(c: np.ndarray, given, what: str) -> np.ndarray:
    """The instance's distance matrix: ``given`` (checked) or the Euclidean one of ``c``, which must not overflow."""
    if given is not None:
        return _check_matrix(given, len(c), what)
    d = euclidean(c)
    if not np.all(np.isfinite(d)):
        raise ValueError(
            f"{what}: coords are too large (largest |coordinate| {np.abs(c).max():.3g}): "
            "their distances overflow float64"
        )
    return d


def _check_matrix(d: np.ndarray, m: int, what: str) -> np.ndarray:
    d = _numbers(d, "distances", what)
    if d.shape != (m, m):
        raise ValueError(f"{what}: distance matrix has shape {d.shape}, expected ({m}, {m})")
    if np.any(d < 0):
        i, j = (int(k) for k in np.argwhere(d < 0)[0])
        raise ValueError(f"{what}: distances must be >= 0; distances[{i}, {j}] is {d[i, j]}")
    return d


@dataclass(frozen=True, eq=False)
class TSPInstance:
    """A (symmetric) travelling-salesman instance: ``n`` cities, a closed tour through all.

    ``distances`` defaults to the Euclidean matrix of ``coords``; give it explicitly for TSPLIB's
    rounded metrics. The objective (to minimise) is the closed tour's length.
    """

    coords: np.ndarray
    distances: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        c = _coords(self.coords, "TSPInstance", 3, "(n >= 3, 2)")
        object.__setattr__(self, "coords", c)
        d = _distances(c, self.distances, "TSPInstance")
        if not np.array_equal(d, d.T):
            raise ValueError("TSPInstance: distances must be symmetric; use ATSPInstance for asymmetric costs")
        object.__setattr__(self, "distances", d)

    @property
    def num_nodes(self) -> int:
        return len(self.coords)

    def tour_length(self, tour: np.ndarray | list[int]) -> float:
        """Length of the closed tour visiting ``tour`` in order (a permutation of 0..n-1)."""
        return closed_tour_length(self.distances, tour, self.num_nodes)


@dataclass(frozen=True, eq=False)
class ATSPInstance:
    """An asymmetric TSP instance: a full cost matrix ``distances[i, j]`` (from i to j)."""

    distances: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        d = _numbers(self.distances, "distances", "ATSPInstance")
        if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] < 3:
            raise ValueError(f"ATSPInstance: distances must be square with n >= 3, got {d.shape}")
        object.__setattr__(self, "distances", _check_matrix(d, d.shape[0], "ATSPInstance"))

    @property
    def num_nodes(self) -> int:
        return len(self.distances)

    def tour_length(self, tour: np.ndarray | list[int]) -> float:
        return closed_tour_length(self.distances, tour, self.num_nodes)


@dataclass(frozen=True, eq=False)
class CVRPInstance:
    """A capacitated vehicle-routing instance: node 0 is the depot, nodes 1..n the customers.

    ``coords`` (n+1, 2) include the depot first; ``demands`` (n+1,) are integers with
    ``demands[0] == 0``; every route starts and ends at the depot and carries at most
    ``capacity``. The number of vehicles is unlimited. The objective is the total length.
    """

    coords: np.ndarray
    demands: np.ndarray
    capacity: int
    distances: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        what = "CVRPInstance"
        c = _coords(self.coords, what, 2, "(n + 1 >= 2, 2) with the depot first")
        capacity = positive_int(self.capacity, "capacity", what)
        q = _integers(self.demands, "demands", what, 0, "integers >= 0 (0 for the depot)")
        if q.shape != (len(c),):
            raise ValueError(f"{what}: demands must have shape ({len(c)},) (depot first), got {q.shape}")
        if q[0] != 0:
            raise ValueError(f"{what}: the depot's demand (demands[0]) must be 0, got {q[0]}")
        bad = np.flatnonzero((q[1:] <= 0) | (q[1:] > capacity))
        if bad.size:
            i = int(bad[0]) + 1
            raise ValueError(
                f"{what}: every customer needs 0 < demand <= capacity ({capacity}); demands[{i}] is {q[i]}"
            )
        object.__setattr__(self, "coords", c)
        object.__setattr__(self, "demands", q)
        object.__setattr__(self, "capacity", capacity)
        object.__setattr__(self, "distances", _distances(c, self.distances, what))

    @property
    def num_customers(self) -> int:
        return len(self.coords) - 1

    def routes_length(self, routes: list[list[int]]) -> float:
        """Total length of ``routes`` (lists of customers 1..n, each from and back to the depot).

        Raises ``ValueError`` unless every customer is served exactly once within capacity.
        """
        seen = np.zeros(len(self.coords), dtype=bool)
        total = 0.0
        for r in routes:
            r = [int(v) for v in r]
            if not r:
                continue
            if any(v < 1 or v > self.num_customers for v in r) or seen[r].any() or len(set(r)) != len(r):
                raise ValueError(f"CVRPInstance: invalid route {r}")
            if int(self.demands[r].sum()) > self.capacity:
                raise ValueError(f"CVRPInstance: route {r} carries {int(self.demands[r].sum())} > capacity {self.capacity}")
            seen[r] = True
            path = [0, *r, 0]
            for a, b in zip(path[:-1], path[1:]):
                total += self.distances[a, b]
        if not seen[1:].all():
            raise ValueError(f"CVRPInstance: customers {np.flatnonzero(~seen[1:]) + 1} are not served")
        return float(total)


@dataclass(frozen=True, eq=False)
class OPInstance:
    """An orienteering instance: node 0 is the depot, nodes 1..n carry ``prizes``.

    A tour leaves the depot, visits a subset of nodes and returns, with total length at most
    ``max_length``; the objective (to maximise) is the collected prize.
    """

    coords: np.ndarray
    prizes: np.ndarray
    max_length: float
    distances: np.ndarray | None = None
    name: str = ""

    def __post_init__(self) -> None:
        what = "OPInstance"
        c = _coords(self.coords, what, 2, "(n + 1 >= 2, 2) with the depot first")
        p = _numbers(self.prizes, "prizes", what)
        if p.shape != (len(c),):
            raise ValueError(f"{what}: prizes must have shape ({len(c)},) (depot first), got {p.shape}")
        if p[0] != 0:
            raise ValueError(f"{what}: the depot's prize (prizes[0]) must be 0, got {p[0]}")
        if np.any(p < 0):
            i = int(np.flatnonzero(p < 0)[0])
            raise ValueError(f"{what}: prizes must be >= 0; prizes[{i}] is {p[i]}")
        max_length = positive_number(self.max_length, "max_length", what)
        object.__setattr__(self, "coords", c)
        object.__setattr__(self, "prizes", p)
        object.__setattr__(self, "max_length", max_length)
        object.__setattr__(self, "distances", _distances(c, self.distances, what))

    @property
    def num_nodes(self) -> int:
        return len(self.coords) - 1

    def tour_length(self, tour: list[int]) -> float:
        """Length of depot -> ``tour`` -> depot (``tour`` lists nodes 1..n, no repeats)."""
        path = [0, *[int(v) for v in tour], 0]
        return float(sum(self.distances[a, b] for a, b in zip(path[:-1], path[1:])))

    def prize(self, tour: list[int]) -> float:
        """Prize of ``tour``; raises ``ValueError`` if it repeats a node or exceeds the budget."""
        t = [int(v) for v in tour]
        if len(set(t)) != len(t) or any(v < 1 or v > self.num_nodes for v in t):
            raise ValueError(f"OPInstance: invalid tour {t}")
        if self.tour_length(t) > self.max_length + 1e-9:
            raise ValueError(f"OPInstance: tour length {self.tour_length(t):.6f} exceeds max_length {self.max_length}")
        return float(sum(self.prizes[v] for v in t))


@dataclass(frozen=True, eq=False)
class KPInstance:
    """A 0-1 knapsack instance with integer ``weights``, ``values`` and ``capacity``.

    ``scale`` maps the integers to the normalised units the environment observes and rewards
    (value / scale), as BQ-NCO does; the objective is the total value of the chosen items.
    """

    weights: np.ndarray
    values: np.ndarray
    capacity: int
    scale: int = KP_SCALE
    name: str = ""

    def __post_init__(self) -> None:
        what = "KPInstance"
        w = _integers(self.weights, "weights", what, 1, "positive integers (at most 2**53)")
        v = _integers(self.values, "values", what, 1, "positive integers (at most 2**53)")
        if w.ndim != 1 or w.shape != v.shape or len(w) < 1:
            raise ValueError(f"{what}: weights and values must be 1-d of equal length, got {w.shape} and {v.shape}")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "capacity", positive_int(self.capacity, "capacity", what))
        object.__setattr__(self, "scale", positive_int(self.scale, "scale", what))

    @property
    def num_items(self) -> int:
        return len(self.weights)

    def value(self, items: list[int]) -> float:
        """Normalised value of ``items``; raises ``ValueError`` if over capacity or repeated."""
        it = [int(i) for i in items]
        if len(set(it)) != len(it) or any(i < 0 or i >= self.num_items for i in it):
            raise ValueError(f"KPInstance: invalid item list {it}")
        if int(self.weights[it].sum()) > self.capacity:
            raise ValueError(f"KPInstance: weight {int(self.weights[it].sum())} exceeds capacity {self.capacity}")
        return float(self.values[it].sum()) / self.scale


Instance = TSPInstance | ATSPInstance | CVRPInstance | OPInstance | KPInstance


def closed_tour_length(distances: np.ndarray, tour, n: int) -> float:
    """Length of the closed tour ``tour`` under ``distances``; checks it is a permutation of 0..n-1.

    Summed edge by edge in visiting order, starting from node 0's position, which is also the
    order in which the environments add their rewards, so replaying a tour reproduces the value
    bit for bit.
    """
    t = [int(v) for v in tour]
    if sorted(t) != list(range(n)):
        raise ValueError(f"tour must visit each of the {n} nodes exactly once, got {t}")
    k = t.index(0)
    t = t[k:] + t[:k] + [0]
    total = 0.0
    for a, b in zip(t[:-1], t[1:]):
        total += distances[a, b]
    return float(total)


# ----------------------------------------------------------------------------- generators


def _check_size(n: int, minimum: int, what: str) -> int:
    if positive_int(n, "size", what) < minimum:
        raise ValueError(f"{what}: size must be an integer >= {minimum}, got {n!r}")
    return int(n)


def generate_tsp(n: int, rng: np.random.Generator) -> TSPInstance:
    """``n`` cities uniform in the unit square (Kool et al. 2019; BQ-NCO)."""
    n = _check_size(n, 3, "TSP")
    return TSPInstance(coords=rng.uniform(size=(n, 2)))


def generate_atsp(n: int, rng: np.random.Generator) -> ATSPInstance:
    """MatNet's "tmat" distribution: integer costs in [1, 1e6], shortest-path closure, / 1e6."""
    n = _check_size(n, 3, "ATSP")
    d = rng.integers(1, 10**6, size=(n, n), endpoint=True).astype(np.float64)
    np.fill_diagonal(d, 0.0)
    for k in range(n):  # Floyd-Warshall: make every entry a shortest path (triangle inequality)
        np.minimum(d, d[:, k : k + 1] + d[k : k + 1, :], out=d)
    return ATSPInstance(distances=d / 10**6)


def cvrp_capacity(n: int) -> int:
    """Kool et al.'s capacity for ``n`` customers; a clear error for sizes outside the table."""
    if n not in CVRP_CAPACITY:
        raise ValueError(
            f"CVRP: no standard capacity for {n} customers (known sizes: {sorted(CVRP_CAPACITY)}); pass capacity="
        )
    return CVRP_CAPACITY[n]


def generate_cvrp(n: int, rng: np.random.Generator, capacity: int | None = None) -> CVRPInstance:
    """Depot and ``n`` customers uniform in the unit square, demands uniform in {1..9}."""
    n = _check_size(n, 1, "CVRP")
    cap = cvrp_capacity(n) if capacity is None else positive_int(capacity, "capacity", "CVRP")
    coords = rng.uniform(size=(n + 1, 2))
    demands = np.concatenate([[0], rng.integers(1, 9, size=n, endpoint=True)])
    return CVRPInstance(coords=coords, demands=demands, capacity=cap)


def op_max_length(n: int) -> float:
    if n not in OP_MAX_LENGTH:
        raise ValueError(f"OP: no standard max_length for {n} nodes (known sizes: {sorted(OP_MAX_LENGTH)}); pass max_length=")
    return OP_MAX_LENGTH[n]


def generate_op(n: int, rng: np.random.Generator, max_length: float | None = None) -> OPInstance:
    """Kool et al.'s OP with "distance" prizes: farther nodes are worth more (1..100, / 100)."""
    n = _check_size(n, 1, "OP")
    budget = op_max_length(n) if max_length is None else positive_number(max_length, "max_length", "OP")
    coords = rng.uniform(size=(n + 1, 2))
    d0 = np.sqrt(((coords[1:] - coords[0]) ** 2).sum(-1))
    prizes = (1 + np.floor(99 * d0 / d0.max())) / 100.0
    return OPInstance(coords=coords, prizes=np.concatenate([[0.0], prizes]), max_length=budget)


def generate_kp(n: int, rng: np.random.Generator, capacity: int = KP_CAPACITY) -> KPInstance:
    """Weights and values uniform in {1..997} (scale 1000), capacity 25 000 (BQ-NCO's script)."""
    n = _check_size(n, 1, "KP")
    w = rng.integers(1, 997, size=n, endpoint=True)
    v = rng.integers(1, 997, size=n, endpoint=True)
    return KPInstance(weights=w, values=v, capacity=capacity)


@dataclass(frozen=True)
class ProblemSpec:
    """What differs between the five problems, for code that loops over them."""

    name: str
    generate: object = field(repr=False)
    maximise: bool = False


PROBLEMS: dict[str, ProblemSpec] = {
    "tsp": ProblemSpec("tsp", generate_tsp),
    "atsp": ProblemSpec("atsp", generate_atsp),
    "cvrp": ProblemSpec("cvrp", generate_cvrp),
    "op": ProblemSpec("op", generate_op, maximise=True),
    "kp": ProblemSpec("kp", generate_kp, maximise=True),
}
