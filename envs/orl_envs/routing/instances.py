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


def _check_matrix(d: np.ndarray, m: int, what: str) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64)
    if d.shape != (m, m):
        raise ValueError(f"{what}: distance matrix has shape {d.shape}, expected ({m}, {m})")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError(f"{what}: distances must be finite and non-negative")
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
        c = np.asarray(self.coords, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != 2 or c.shape[0] < 3:
            raise ValueError(f"TSPInstance: coords must have shape (n >= 3, 2), got {c.shape}")
        object.__setattr__(self, "coords", c)
        d = euclidean(c) if self.distances is None else _check_matrix(self.distances, len(c), "TSPInstance")
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
        d = np.asarray(self.distances, dtype=np.float64)
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
        c = np.asarray(self.coords, dtype=np.float64)
        q = np.asarray(self.demands)
        if c.ndim != 2 or c.shape[1] != 2 or c.shape[0] < 2:
            raise ValueError(f"CVRPInstance: coords must have shape (n + 1 >= 2, 2) with the depot first, got {c.shape}")
        if q.shape != (len(c),):
            raise ValueError(f"CVRPInstance: demands must have shape ({len(c)},) (depot first), got {q.shape}")
        if not np.issubdtype(q.dtype, np.integer):
            if not np.all(q == np.round(q)):
                raise ValueError("CVRPInstance: demands must be integers")
        q = q.astype(np.int64)
        if q[0] != 0:
            raise ValueError(f"CVRPInstance: the depot's demand (demands[0]) must be 0, got {q[0]}")
        if int(self.capacity) <= 0 or np.any(q[1:] <= 0) or np.any(q > int(self.capacity)):
            raise ValueError(
                f"CVRPInstance: need 0 < demand <= capacity for every customer (capacity {self.capacity}, "
                f"demands in [{q[1:].min()}, {q[1:].max()}])"
            )
        object.__setattr__(self, "coords", c)
        object.__setattr__(self, "demands", q)
        object.__setattr__(self, "capacity", int(self.capacity))
        d = euclidean(c) if self.distances is None else _check_matrix(self.distances, len(c), "CVRPInstance")
        object.__setattr__(self, "distances", d)

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
        c = np.asarray(self.coords, dtype=np.float64)
        p = np.asarray(self.prizes, dtype=np.float64)
        if c.ndim != 2 or c.shape[1] != 2 or c.shape[0] < 2:
            raise ValueError(f"OPInstance: coords must have shape (n + 1 >= 2, 2) with the depot first, got {c.shape}")
        if p.shape != (len(c),) or p[0] != 0 or np.any(p < 0):
            raise ValueError(f"OPInstance: prizes must have shape ({len(c)},), be >= 0 and 0 at the depot (index 0)")
        if not float(self.max_length) > 0:
            raise ValueError(f"OPInstance: max_length must be > 0, got {self.max_length}")
        object.__setattr__(self, "coords", c)
        object.__setattr__(self, "prizes", p)
        object.__setattr__(self, "max_length", float(self.max_length))
        d = euclidean(c) if self.distances is None else _check_matrix(self.distances, len(c), "OPInstance")
        object.__setattr__(self, "distances", d)

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
        w, v = np.asarray(self.weights), np.asarray(self.values)
        if w.ndim != 1 or w.shape != v.shape or len(w) < 1:
            raise ValueError(f"KPInstance: weights and values must be 1-d of equal length, got {w.shape} and {v.shape}")
        for name, a in (("weights", w), ("values", v)):
            if not np.all(a == np.round(a)) or np.any(a <= 0):
                raise ValueError(f"KPInstance: {name} must be positive integers")
        if int(self.capacity) <= 0 or int(self.scale) <= 0:
            raise ValueError(f"KPInstance: capacity and scale must be positive, got {self.capacity}, {self.scale}")
        object.__setattr__(self, "weights", w.astype(np.int64))
        object.__setattr__(self, "values", v.astype(np.int64))
        object.__setattr__(self, "capacity", int(self.capacity))
        object.__setattr__(self, "scale", int(self.scale))

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
    if int(n) != n or n < minimum:
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
    cap = cvrp_capacity(n) if capacity is None else int(capacity)
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
    budget = op_max_length(n) if max_length is None else float(max_length)
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
