"""Batched dynamics of the routing problems as BQ-MDPs — the single source of their rules.

Drakulic et al. (BQ-NCO, NeurIPS 2023) observe that after a partial solution only the
*remaining sub-problem* matters: for the TSP a path-TSP from the current node (origin) back to
the first node (destination) through the unvisited nodes; for the CVRP the same plus the
remaining vehicle capacity; for the OP the remaining length budget; for the KP the remaining
items and capacity. Partial solutions that leave the same sub-problem are bisimilar and merged.
The state kept here is exactly that reduced state — remaining nodes, origin, destination and the
remaining capacity or budget — for a batch of ``B`` instances of equal size, in numpy.

Each class has the same small interface:

* ``action_mask() -> bool (B, A)``: the legal actions (all False for finished instances);
* ``step(actions) -> rewards (B,)``: applies one action per unfinished instance (actions of
  finished instances are ignored and earn 0) and raises ``ValueError`` naming the instance and
  the action if an action is illegal;
* ``done (B,)``, ``objective (B,)`` (tour length so far, or prize / value collected) and
  ``observation() -> dict`` (arrays with a leading batch axis).

Action conventions (shared with :mod:`orl_envs.routing.solvers` and the environments):

* TSP / ATSP, ``n`` nodes: the tour starts at node 0; action ``a`` = go to node ``a``. The last
  action also pays the closing edge back to node 0. Reward = minus the distance travelled.
* CVRP, ``n`` customers (node 0 the depot): action ``a < n`` = go directly to customer ``a + 1``;
  ``a >= n`` = return to the depot, refill, then go to customer ``a - n + 1`` — BQ-NCO's two
  scores per node. The return to the depot after the last customer is paid on that step.
* OP, ``n`` nodes (node 0 the depot): action ``a < n`` = visit node ``a + 1`` (reward its
  prize), action ``n`` = return to the depot and end. A node is legal only if the tour can still
  reach it and get back within ``max_length``. The return is legal only once no node is
  (BQ-NCO's official code masks the destination until every remaining node is infeasible, and
  with positive prizes an optimal tour never ends earlier: by the triangle inequality a feasible
  node can always be inserted before the return); ``early_end=True`` allows it at every step
  (orl's rule before ``orl/OP-v1``).
* KP, ``n`` items: action ``a`` = take item ``a`` (reward value / scale); the episode ends when
  no remaining item fits.
"""

from __future__ import annotations

import numpy as np

from .instances import ATSPInstance, CVRPInstance, KPInstance, OPInstance, TSPInstance, unit_square

def _as_actions(actions, batch_size: int) -> np.ndarray:
    a = np.asarray(actions)
    if a.shape == () and batch_size == 1:
        a = a.reshape(1)
    if a.shape != (batch_size,) or not np.issubdtype(a.dtype, np.integer):
        if a.shape == (batch_size,) and np.all(a == np.round(a)):
            return a.astype(np.int64)
        raise ValueError(f"actions must be {batch_size} integers, got {np.asarray(actions)!r}")
    return a.astype(np.int64)


class _Batch:
    """Shared bookkeeping: legality check, finished instances, objective so far."""

    problem: str = ""
    num_actions: int = 0

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.done = np.zeros(batch_size, dtype=bool)
        self.objective = np.zeros(batch_size, dtype=np.float64)
        self.num_steps = 0

    def action_mask(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _checked(self, actions) -> tuple[np.ndarray, np.ndarray]:
        """Return (actions, indices of unfinished instances) after checking legality."""
        a = _as_actions(actions, self.batch_size)
        live = np.flatnonzero(~self.done)
        if live.size == 0:
            raise ValueError(f"{self.problem}: every instance is finished; reset before stepping")
        bad_range = live[(a[live] < 0) | (a[live] >= self.num_actions)]
        if bad_range.size:
            b = int(bad_range[0])
            raise ValueError(f"{self.problem}: action {int(a[b])} of instance {b} is outside [0, {self.num_actions})")
        mask = self.action_mask()
        illegal = live[~mask[live, a[live]]]
        if illegal.size:
            b = int(illegal[0])
            allowed = np.flatnonzero(mask[b]).tolist()
            shown = allowed if len(allowed) <= 20 else allowed[:20] + ["..."]
            raise ValueError(
                f"{self.problem}: action {int(a[b])} of instance {b} is not allowed by the action mask; allowed: {shown}"
            )
        self.num_steps += 1
        return a, live


class TSPBatch(_Batch):
    """Path-TSP states of ``B`` instances with ``n`` nodes (symmetric or asymmetric costs).

    ``coords`` is kept for observations (None for ATSP, whose observation is the cost matrix).
    """

    def __init__(self, distances: np.ndarray, coords: np.ndarray | None = None, problem: str = "TSP") -> None:
        d = np.asarray(distances, dtype=np.float64)
        if d.ndim != 3 or d.shape[1] != d.shape[2] or d.shape[1] < 3:
            raise ValueError(f"{problem}: distances must have shape (B, n, n) with n >= 3, got {d.shape}")
        super().__init__(d.shape[0])
        self.problem = problem
        self.distances, self.coords = d, None if coords is None else np.asarray(coords, dtype=np.float64)
        self.n = self.num_actions = d.shape[1]
        self.visited = np.zeros((self.batch_size, self.n), dtype=bool)
        self.visited[:, 0] = True
        self.current = np.zeros(self.batch_size, dtype=np.int64)
        self.destination = np.zeros(self.batch_size, dtype=np.int64)

    @classmethod
    def from_instances(cls, instances: list[TSPInstance] | list[ATSPInstance]) -> TSPBatch:
        if not instances:
            raise ValueError("from_instances needs at least one instance")
        kinds = {type(i) for i in instances}
        if kinds == {TSPInstance}:
            return cls(np.stack([i.distances for i in instances]), np.stack([unit_square(i.coords) for i in instances]), "TSP")
        if kinds == {ATSPInstance}:
            return cls(np.stack([i.distances for i in instances]), None, "ATSP")
        raise ValueError(f"TSPBatch takes TSPInstance or ATSPInstance lists of one kind, got {sorted(k.__name__ for k in kinds)}")

    def action_mask(self) -> np.ndarray:
        return ~self.visited & ~self.done[:, None]

    def step(self, actions) -> np.ndarray:
        a, live = self._checked(actions)
        rewards = np.zeros(self.batch_size)
        j = a[live]
        rewards[live] = -self.distances[live, self.current[live], j]
        self.visited[live, j] = True
        self.current[live] = j
        finished = live[self.visited[live].all(axis=1)]
        rewards[finished] -= self.distances[finished, self.current[finished], 0]
        self.done[finished] = True
        self.objective -= rewards
        return rewards

    def observation(self) -> dict[str, np.ndarray]:
        obs = {
            "unvisited": (~self.visited).astype(np.int8),
            "origin": self.current.copy(),
            "destination": self.destination.copy(),
            "action_mask": self.action_mask().astype(np.int8),
        }
        if self.coords is not None:
            obs["coords"] = self.coords.astype(np.float32)
        else:  # ATSP: the cost matrix, scaled into [0, 1] if it is not already
            top = self.distances.max(axis=(1, 2), keepdims=True)
            obs["distances"] = (self.distances / np.maximum(top, 1.0)).astype(np.float32)
        return obs


class _DepotPathBatch(_Batch):
    """Paths that start at the depot (node 0) and must end there: nodes 1..n, origin, visited."""

    def __init__(self, distances: np.ndarray, coords: np.ndarray) -> None:
        d = np.asarray(distances, dtype=np.float64)
        super().__init__(d.shape[0])
        self.distances, self.coords = d, np.asarray(coords, dtype=np.float64)
        self.n = d.shape[1] - 1
        self.visited = np.zeros((self.batch_size, self.n + 1), dtype=bool)
        self.visited[:, 0] = True  # the depot is never a node to visit
        self.current = np.zeros(self.batch_size, dtype=np.int64)


class CVRPBatch(_DepotPathBatch):
    """Path-CVRP states: origin, depot as destination, unserved customers, remaining capacity."""

    problem = "CVRP"

    def __init__(self, distances: np.ndarray, demands: np.ndarray, capacity: np.ndarray, coords: np.ndarray) -> None:
        super().__init__(distances, coords)
        self.demands = np.asarray(demands, dtype=np.int64)
        self.capacity = np.asarray(capacity, dtype=np.int64).reshape(self.batch_size)
        self.num_actions = 2 * self.n
        self.remaining = self.capacity.copy()

    @classmethod
    def from_instances(cls, instances: list[CVRPInstance]) -> CVRPBatch:
        if not instances or any(not isinstance(i, CVRPInstance) for i in instances):
            raise ValueError("CVRPBatch.from_instances takes a non-empty list of CVRPInstance")
        return cls(
            np.stack([i.distances for i in instances]),
            np.stack([i.demands for i in instances]),
            np.array([i.capacity for i in instances]),
            np.stack([unit_square(i.coords) for i in instances]),
        )

    def action_mask(self) -> np.ndarray:
        open_ = ~self.visited[:, 1:] & ~self.done[:, None]
        direct = open_ & (self.demands[:, 1:] <= self.remaining[:, None])
        # From the depot, "via the depot" is the same move as "direct": keep one of the two.
        via = open_ & (self.current != 0)[:, None]
        return np.concatenate([direct, via], axis=1)

    def step(self, actions) -> np.ndarray:
        a, live = self._checked(actions)
        rewards = np.zeros(self.batch_size)
        via = a[live] >= self.n
        j = np.where(via, a[live] - self.n, a[live]) + 1
        cur = self.current[live]
        dist = self.distances[live]
        k = np.arange(live.size)
        travelled = np.where(via, dist[k, cur, 0] + dist[k, 0, j], dist[k, cur, j])
        left = np.where(via, self.capacity[live], self.remaining[live]) - self.demands[live, j]
        self.remaining[live] = left
        self.visited[live, j] = True
        self.current[live] = j
        rewards[live] = -travelled
        finished = live[self.visited[live].all(axis=1)]
        rewards[finished] -= self.distances[finished, self.current[finished], 0]
        self.done[finished] = True
        self.objective -= rewards
        return rewards

    def observation(self) -> dict[str, np.ndarray]:
        cap = self.capacity[:, None].astype(np.float32)
        return {
            "coords": self.coords.astype(np.float32),
            "demands": self.demands.astype(np.float32) / cap,
            "unvisited": (~self.visited).astype(np.int8),
            "origin": self.current.copy(),
            "destination": np.zeros(self.batch_size, dtype=np.int64),
            "remaining_capacity": (self.remaining[:, None] / cap).astype(np.float32),
            "action_mask": self.action_mask().astype(np.int8),
        }


class OPBatch(_DepotPathBatch):
    """Path-OP states: origin, depot as destination, unvisited nodes, remaining length budget."""

    problem = "OP"

    def __init__(self, distances: np.ndarray, prizes: np.ndarray, max_length: np.ndarray, coords: np.ndarray,
                 early_end: bool = False) -> None:
        super().__init__(distances, coords)
        self.early_end = bool(early_end)
        self.prizes = np.asarray(prizes, dtype=np.float64)
        self.max_length = np.asarray(max_length, dtype=np.float64).reshape(self.batch_size)
        self.num_actions = self.n + 1
        # Length travelled so far (kept as a sum, not a decremented budget, so feasibility is
        # decided by the same float sum an instance's tour_length computes).
        self.length = np.zeros(self.batch_size)

    @classmethod
    def from_instances(cls, instances: list[OPInstance], early_end: bool = False) -> OPBatch:
        if not instances or any(not isinstance(i, OPInstance) for i in instances):
            raise ValueError("OPBatch.from_instances takes a non-empty list of OPInstance")
        return cls(
            np.stack([i.distances for i in instances]),
            np.stack([i.prizes for i in instances]),
            np.array([i.max_length for i in instances]),
            np.stack([unit_square(i.coords) for i in instances]),
            early_end=early_end,
        )

    def action_mask(self) -> np.ndarray:
        rows = np.arange(self.batch_size)
        to_node = self.distances[rows, self.current, :]  # (B, n+1)
        back = self.distances[:, :, 0]
        reachable = self.length[:, None] + to_node + back <= self.max_length[:, None]
        nodes = ~self.visited & reachable & ~self.done[:, None]
        end = ~self.done if self.early_end else ~self.done & ~nodes.any(axis=1)
        return np.concatenate([nodes[:, 1:], end[:, None]], axis=1)

    def step(self, actions) -> np.ndarray:
        a, live = self._checked(actions)
        rewards = np.zeros(self.batch_size)
        end = a[live] == self.n
        j = np.where(end, 0, a[live] + 1)
        cur = self.current[live]
        self.length[live] += self.distances[live, cur, j]
        rewards[live] = np.where(end, 0.0, self.prizes[live, j])
        self.visited[live[~end], j[~end]] = True
        self.current[live] = j
        self.done[live[end]] = True
        self.objective += rewards
        return rewards

    def observation(self) -> dict[str, np.ndarray]:
        return {
            "coords": self.coords.astype(np.float32),
            "prizes": self.prizes.astype(np.float32),
            "unvisited": (~self.visited).astype(np.int8),
            "origin": self.current.copy(),
            "destination": np.zeros(self.batch_size, dtype=np.int64),
            "remaining_length": (self.max_length - self.length)[:, None].astype(np.float32),
            "action_mask": self.action_mask().astype(np.int8),
        }


class KPBatch(_Batch):
    """Knapsack states: remaining items and remaining capacity (integers; observed / scale)."""

    problem = "KP"

    def __init__(self, weights: np.ndarray, values: np.ndarray, capacity: np.ndarray, scale: np.ndarray) -> None:
        w = np.asarray(weights, dtype=np.int64)
        super().__init__(w.shape[0])
        self.weights, self.values = w, np.asarray(values, dtype=np.int64)
        self.scale = np.asarray(scale, dtype=np.int64).reshape(self.batch_size)
        self.capacity = np.asarray(capacity, dtype=np.int64).reshape(self.batch_size)
        self.n = self.num_actions = w.shape[1]
        self.taken = np.zeros((self.batch_size, self.n), dtype=bool)
        self.remaining = self.capacity.copy()
        self.done = ~self.action_mask().any(axis=1)

    @classmethod
    def from_instances(cls, instances: list[KPInstance]) -> KPBatch:
        if not instances or any(not isinstance(i, KPInstance) for i in instances):
            raise ValueError("KPBatch.from_instances takes a non-empty list of KPInstance")
        return cls(
            np.stack([i.weights for i in instances]),
            np.stack([i.values for i in instances]),
            np.array([i.capacity for i in instances]),
            np.array([i.scale for i in instances]),
        )

    def action_mask(self) -> np.ndarray:
        return ~self.taken & (self.weights <= self.remaining[:, None]) & ~self.done[:, None]

    def step(self, actions) -> np.ndarray:
        a, live = self._checked(actions)
        rewards = np.zeros(self.batch_size)
        rewards[live] = self.values[live, a[live]] / self.scale[live]
        self.taken[live, a[live]] = True
        self.remaining[live] -= self.weights[live, a[live]]
        self.done = self.done | ~self.action_mask().any(axis=1)
        self.objective += rewards
        return rewards

    def observation(self) -> dict[str, np.ndarray]:
        s = self.scale[:, None].astype(np.float32)
        return {
            "weights": self.weights.astype(np.float32) / s,
            "item_values": self.values.astype(np.float32) / s,
            "remaining": (~self.taken).astype(np.int8),
            "remaining_capacity": (self.remaining[:, None] / s).astype(np.float32),
            "action_mask": self.action_mask().astype(np.int8),
        }


_BATCH_FOR = {
    TSPInstance: TSPBatch,
    ATSPInstance: TSPBatch,
    CVRPInstance: CVRPBatch,
    OPInstance: OPBatch,
    KPInstance: KPBatch,
}


def make_batch(instances: list, op_early_end: bool = False) -> TSPBatch | CVRPBatch | OPBatch | KPBatch:
    """The batched state for a list of instances of one problem and one size.

    ``op_early_end`` (OP only): allow the return to the depot while a node is still feasible
    (see :class:`OPBatch`); ignored by the other problems."""
    if not instances:
        raise ValueError("make_batch needs at least one instance")
    kind = type(instances[0])
    if kind not in _BATCH_FOR:
        raise ValueError(f"make_batch: unknown instance type {kind.__name__}; expected one of {[k.__name__ for k in _BATCH_FOR]}")
    if any(type(i) is not kind for i in instances):
        raise ValueError("make_batch: all instances must be of one problem")
    sizes = {_size(i) for i in instances}
    if len(sizes) != 1:
        raise ValueError(f"make_batch: all instances must have the same size, got sizes {sorted(sizes)}")
    if kind is OPInstance:
        return OPBatch.from_instances(instances, early_end=op_early_end)
    return _BATCH_FOR[kind].from_instances(instances)


def _size(inst) -> int:
    if isinstance(inst, (TSPInstance, ATSPInstance)):
        return inst.num_nodes
    if isinstance(inst, CVRPInstance):
        return inst.num_customers
    if isinstance(inst, OPInstance):
        return inst.num_nodes
    return inst.num_items
