"""Gymnasium environments of the routing problems as BQ-MDPs (Drakulic et al., NeurIPS 2023).

Each environment is a batch-of-one view of the matching class in :mod:`.core`, which holds the
rules; the observation is the reduced state of the BQ-MDP (what remains of the problem), the
action is the next node (or item) under an action mask, and the reward is minus the distance
travelled (TSP, ATSP, CVRP) or the prize / value collected (OP, KP), so the episode return is
minus the tour length, or the objective.

Instances are drawn by the paper's generators (:mod:`.instances`) from the environment's RNG —
``reset(seed=s)`` fixes the instance — or given explicitly with
``reset(options={"instance": inst})`` (e.g. one loaded from a TSPLIB/CVRPLIB file); its size
must match the environment's ``size``. An illegal action raises ``ValueError`` naming it.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from .. import _raster as R

from .core import CVRPBatch, KPBatch, OPBatch, TSPBatch, _size
from .instances import (
    KP_CAPACITY,
    ATSPInstance,
    CVRPInstance,
    KPInstance,
    OPInstance,
    TSPInstance,
    cvrp_capacity,
    generate_atsp,
    generate_cvrp,
    generate_kp,
    generate_op,
    generate_tsp,
    op_max_length,
    positive_int,
    positive_number,
    unit_square,
)


def _coords_box(m: int) -> spaces.Box:
    # Observed coordinates lie in the unit square: loaded instances are rescaled (see unit_square).
    return spaces.Box(0.0, 1.0, shape=(m, 2), dtype=np.float32)


def _unit(shape: tuple[int, ...], high: float = np.inf) -> spaces.Box:
    return spaces.Box(0.0, high, shape=shape, dtype=np.float32)


class MaskedDiscrete(spaces.Discrete):
    """``Discrete`` whose ``sample()`` (without a mask) draws among the environment's legal actions.

    Every state of these problems forbids some actions, so a uniform sample over all of them
    would be illegal most of the time; with this space ``env.action_space.sample()`` stays a
    valid random policy (and Gymnasium's ``check_env`` can step the environment). The
    environment stores its current legal actions in :attr:`legal` after every ``reset`` and
    ``step`` (a plain array, so the space and the environment pickle — async vector envs and
    SB3's ``SubprocVecEnv`` need that); a copy of the space keeps the mask of when it was
    copied. An explicit ``mask`` or ``probability`` argument is used as given, and ``mask`` may
    also be a bool array such as ``obs["action_mask"]``.

    A vector environment's batched space (``batch_space`` of this one) is a
    :class:`MaskedMultiDiscrete`: pass it the batched ``obs["action_mask"]``.
    """

    def __init__(self, n: int, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(n, seed=seed)
        #: The legal actions of the environment's current state (bool, ``(n,)``), or None.
        self.legal: np.ndarray | None = None

    def sample(self, mask: np.ndarray | None = None, probability: np.ndarray | None = None) -> np.int64:
        if mask is None and probability is None and self.legal is not None and self.legal.any():
            mask = self.legal
        if mask is not None:
            mask = _as_int8_mask(mask, (int(self.n),))
        return super().sample(mask=mask, probability=probability)


class MaskedMultiDiscrete(spaces.MultiDiscrete):
    """The batched action space of ``num_envs`` routing environments (``batch_space`` of :class:`MaskedDiscrete`).

    ``sample(mask=...)`` follows Gymnasium's ``MultiDiscrete`` convention (a tuple of int8 masks,
    one per sub-environment) and also takes the vector environment's batched
    ``obs["action_mask"]`` (``(num_envs, n)``, bool or int) as it comes, so
    ``envs.action_space.sample(mask=obs["action_mask"])`` draws one legal action per
    sub-environment. Without a mask it samples uniformly, as ``MultiDiscrete`` does: the batched
    space cannot see the sub-environments' states (they may live in other processes).
    """

    def sample(self, mask=None, probability=None) -> np.ndarray:
        if mask is not None and not isinstance(mask, tuple):
            rows = _as_int8_mask(mask, self.nvec.shape + (int(self.nvec.max()),))
            mask = tuple(rows[i, : int(k)] for i, k in enumerate(self.nvec))
        elif mask is not None:
            mask = tuple(_as_int8_mask(m, (int(k),)) for m, k in zip(mask, self.nvec))
        return super().sample(mask=mask, probability=probability)


def _as_int8_mask(mask, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != shape or not (m.dtype == bool or np.issubdtype(m.dtype, np.integer)) or np.any((m != 0) & (m != 1)):
        raise ValueError(f"an action mask must be a 0/1 (or bool) array of shape {shape}, got {m.dtype} {m.shape}")
    return m.astype(np.int8)


@batch_space.register(MaskedDiscrete)
def _batch_masked_discrete(space: MaskedDiscrete, n: int = 1) -> MaskedMultiDiscrete:
    # As Gymnasium batches a Discrete, with the mask-aware class.
    return MaskedMultiDiscrete(
        np.full((n,), space.n, dtype=space.dtype),
        dtype=space.dtype,
        seed=deepcopy(space.np_random),
        start=np.full((n,), space.start, dtype=space.dtype),
    )


class _RoutingEnv(gym.Env):
    """Reset / step / render shared by the five problems; subclasses say how to build a batch."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}
    instance_type: type = object

    def __init__(self, size: int, render_mode: str | None = None) -> None:
        size = positive_int(size, "size", type(self).__name__)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.size = int(size)
        self.render_mode = render_mode
        self.instance = None
        self._batch = None
        self._path: list[int] = []

    # -- what subclasses provide
    def _generate(self, rng: np.random.Generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def _make_batch(self, instance):  # pragma: no cover - abstract
        raise NotImplementedError

    # -- Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        instance = (options or {}).get("instance")
        if instance is None:
            instance = self._generate(self.np_random)
        elif not isinstance(instance, self.instance_type):
            raise ValueError(
                f"{type(self).__name__}: options['instance'] must be a {self.instance_type.__name__}, "
                f"got {type(instance).__name__}"
            )
        elif _size(instance) != self.size:
            raise ValueError(
                f"{type(self).__name__}: the instance has size {_size(instance)} but the environment was made with "
                f"size={self.size}; make it with gymnasium.make(..., size={_size(instance)})"
            )
        self.instance = instance
        self._batch = self._make_batch(instance)
        if self._batch.done[0]:
            raise ValueError(f"{type(self).__name__}: the instance admits no action at all (nothing fits)")
        self._path = [0]
        self.action_space.legal = self._batch.action_mask()[0]
        return self._obs(), self._info()

    def step(self, action):
        if self._batch is None:
            raise RuntimeError("call reset() before step()")
        if self._batch.done[0]:
            raise RuntimeError("the episode has ended; call reset()")
        if np.ndim(action) != 0 or not float(action).is_integer():
            raise ValueError(f"{type(self).__name__}: action must be one integer in {self.action_space}, got {action!r}")
        # The batch checks the range and the mask and names the action if it is illegal.
        reward = float(self._batch.step(np.array([int(action)]))[0])
        self._record(int(action))
        self.action_space.legal = self._batch.action_mask()[0]
        terminated = bool(self._batch.done[0])
        return self._obs(), reward, terminated, False, self._info()

    def action_masks(self) -> np.ndarray:
        """The legal actions as a bool vector (sb3-contrib's MaskablePPO reads this method)."""
        return self._batch.action_mask()[0].copy()

    def _obs(self) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self._batch.observation().items()}

    def _info(self) -> dict[str, Any]:
        return {"objective": float(self._batch.objective[0]), "num_steps": self._batch.num_steps}

    def _record(self, action: int) -> None:  # the visited path, for rendering
        self._path.append(action)

    # -- rendering
    def render(self) -> np.ndarray | None:
        """``render_mode="rgb_array"``: a 256 x 256 RGB picture of the state (numpy only, no matplotlib).

        TSP, CVRP, OP: the nodes (depot a red square, the current node green, visited nodes grey),
        the path so far in black (closed when the episode is over); CVRP adds a gauge of the
        remaining capacity, OP of the remaining budget. ATSP: the cost matrix as a heatmap with the
        edges taken marked red. KP: items by weight (x) and value (y), taken ones red, and a gauge
        of the capacity used. Returns None before the first ``reset`` or without a render mode.
        """
        if self.render_mode != "rgb_array" or self._batch is None:
            return None
        canvas = R.Canvas()
        self._draw(canvas)
        return canvas.image

    def _render_points(self) -> tuple[np.ndarray, list[int]] | None:
        return None

    def _gauge(self) -> float | None:  # a fraction drawn as a bar at the top (capacity, budget)
        return None

    def _draw(self, canvas: R.Canvas) -> None:
        pts = self._render_points()
        if pts is None:
            return
        coords, path = pts
        px = canvas.unit_to_px(unit_square(coords))
        canvas.polyline(px[path], R.BLACK)
        visited = np.zeros(len(px), dtype=bool)
        visited[path] = True
        for i, p in enumerate(px):
            canvas.disc(p, 2.5, R.GREY if visited[i] else R.BLUE)
        canvas.square(px[0], 4, R.RED)
        if not self._batch.done[0]:
            canvas.disc(px[path[-1]], 3.5, R.GREEN)
        gauge = self._gauge()
        if gauge is not None:
            canvas.bar(gauge, 2)


class TSPEnv(_RoutingEnv):
    """Travelling salesman as a BQ-MDP (path-TSP from the current node back to node 0).

    ## Description
    ``size`` cities uniform in the unit square (Kool et al. 2019). The tour starts at node 0;
    each step picks the next city. BQ-NCO's reduced state: the unvisited cities, the origin (the
    current city) and the destination (node 0, where the tour closes).

    ## Action space
    ``Discrete(size)``: the next city. Visited cities (node 0 included) are masked
    (``obs["action_mask"]``, or :meth:`action_masks`); an illegal action raises ``ValueError``.

    ## Observation space
    ``Dict``: ``coords`` (size, 2) float32; ``unvisited`` MultiBinary(size); ``origin`` and
    ``destination`` Discrete(size); ``action_mask`` MultiBinary(size).

    ## Rewards
    Minus the distance travelled; the last step also pays the edge back to node 0, so the
    episode return is minus the tour length. ``info["objective"]`` is the length so far.

    ## Episode end
    Terminates after ``size - 1`` steps (every city visited). No truncation.

    ## Arguments
    ``gymnasium.make("orl/TSP-v0", size=100, render_mode=None)``. ``reset(options={"instance":
    TSPInstance})`` plays a given instance (e.g. from :func:`orl_envs.routing.load_tsplib`).

    ## Version history
    * v0: initial version; later, without a version bump (dynamics and spaces unchanged): renders with
      numpy (no matplotlib), pickles (async vector envs), and rejects NaN/inf or out-of-range instances.
    """

    instance_type = TSPInstance

    def __init__(self, size: int = 100, render_mode: str | None = None) -> None:
        super().__init__(size, render_mode)
        if self.size < 3:
            raise ValueError(f"TSPEnv: size must be >= 3, got {size}")
        n = self.size
        self.action_space = MaskedDiscrete(n)
        self.observation_space = spaces.Dict(
            {
                "coords": _coords_box(n),
                "unvisited": spaces.MultiBinary(n),
                "origin": spaces.Discrete(n),
                "destination": spaces.Discrete(n),
                "action_mask": spaces.MultiBinary(n),
            }
        )

    def _generate(self, rng):
        return generate_tsp(self.size, rng)

    def _make_batch(self, instance):
        return TSPBatch.from_instances([instance])

    def _render_points(self):
        path = self._path + ([0] if self._batch.done[0] else [])
        return self.instance.coords, path


class ATSPEnv(_RoutingEnv):
    """Asymmetric TSP as a BQ-MDP; costs from MatNet's "tmat" distribution.

    ## Description
    ``size`` nodes with an asymmetric cost matrix obeying the triangle inequality (integer costs
    in [1, 1e6] closed under shortest paths, divided by 1e6; Kwon et al. 2021). As in
    :class:`TSPEnv` the tour starts at node 0 and each step picks the next node.

    ## Action space
    ``Discrete(size)``, visited nodes masked; illegal actions raise ``ValueError``.

    ## Observation space
    ``Dict``: ``distances`` (size, size) float32 (row = from, column = to); ``unvisited``,
    ``origin``, ``destination``, ``action_mask`` as in :class:`TSPEnv`.

    ## Rewards
    Minus the cost of the edge taken (the last step adds the edge back to node 0).

    ## Episode end
    Terminates after ``size - 1`` steps.

    ## Arguments
    ``gymnasium.make("orl/ATSP-v0", size=100)``; ``reset(options={"instance": ATSPInstance})``.

    ## Version history
    * v0: initial version; later, without a version bump (dynamics and spaces unchanged): renders with
      numpy (no matplotlib), pickles (async vector envs), and rejects NaN/inf or out-of-range instances.
    """

    instance_type = ATSPInstance

    def __init__(self, size: int = 100, render_mode: str | None = None) -> None:
        super().__init__(size, render_mode)
        if self.size < 3:
            raise ValueError(f"ATSPEnv: size must be >= 3, got {size}")
        n = self.size
        self.action_space = MaskedDiscrete(n)
        self.observation_space = spaces.Dict(
            {
                "distances": _unit((n, n), 1.0),
                "unvisited": spaces.MultiBinary(n),
                "origin": spaces.Discrete(n),
                "destination": spaces.Discrete(n),
                "action_mask": spaces.MultiBinary(n),
            }
        )

    def _generate(self, rng):
        return generate_atsp(self.size, rng)

    def _make_batch(self, instance):
        return TSPBatch.from_instances([instance])

    def _draw(self, canvas: R.Canvas) -> None:
        d = self.instance.distances
        x0, y0, cell = canvas.heatmap(d / max(float(d.max()), 1e-12))
        path = self._path + ([0] if self._batch.done[0] else [])
        for i, j in zip(path[:-1], path[1:]):  # edge i -> j: row i, column j
            canvas.rect(x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell - 1, y0 + (i + 1) * cell - 1, R.RED)


class CVRPEnv(_RoutingEnv):
    """Capacitated vehicle routing as a BQ-MDP (path-CVRP to the depot, remaining capacity).

    ## Description
    A depot (node 0) and ``size`` customers uniform in the unit square, integer demands uniform
    in {1..9}, vehicle capacity from Kool et al.'s table (:data:`~orl_envs.routing.CVRP_CAPACITY`;
    pass ``capacity`` for other sizes). Vehicles are unlimited; every route starts and ends at
    the depot. The reduced state: unserved customers, the origin (current node), the depot as
    destination and the remaining capacity.

    ## Action space
    ``Discrete(2 * size)``, BQ-NCO's two scores per customer: ``a < size`` goes directly to
    customer ``a + 1`` (masked if its demand exceeds the remaining capacity); ``a >= size``
    returns to the depot, refills and goes to customer ``a - size + 1`` (masked at the depot,
    where it would equal the direct move). Served customers are masked.

    ## Observation space
    ``Dict``: ``coords`` (size + 1, 2), depot first; ``demands`` (size + 1,) as fractions of the
    capacity; ``unvisited`` MultiBinary(size + 1) (the depot is never "unvisited"); ``origin``,
    ``destination`` Discrete(size + 1); ``remaining_capacity`` (1,) as a fraction of the
    capacity; ``action_mask`` MultiBinary(2 * size).

    ## Rewards
    Minus the distance travelled (via the depot when asked); the last step also pays the return
    to the depot. The episode return is minus the total length.

    ## Episode end
    Terminates when every customer is served.

    ## Arguments
    ``gymnasium.make("orl/CVRP-v0", size=100, capacity=None)``;
    ``reset(options={"instance": CVRPInstance})`` (e.g. from :func:`orl_envs.routing.load_cvrplib`).

    ## Version history
    * v0: initial version; later, without a version bump (dynamics and spaces unchanged): renders with
      numpy (no matplotlib), pickles (async vector envs), and rejects NaN/inf or out-of-range instances.
    """

    instance_type = CVRPInstance

    def __init__(self, size: int = 100, capacity: int | None = None, render_mode: str | None = None) -> None:
        super().__init__(size, render_mode)
        self.capacity = cvrp_capacity(self.size) if capacity is None else positive_int(capacity, "capacity", "CVRPEnv")
        n = self.size
        self.action_space = MaskedDiscrete(2 * n)
        self.observation_space = spaces.Dict(
            {
                "coords": _coords_box(n + 1),
                "demands": _unit((n + 1,), 1.0),
                "unvisited": spaces.MultiBinary(n + 1),
                "origin": spaces.Discrete(n + 1),
                "destination": spaces.Discrete(n + 1),
                "remaining_capacity": _unit((1,), 1.0),
                "action_mask": spaces.MultiBinary(2 * n),
            }
        )

    def _generate(self, rng):
        return generate_cvrp(self.size, rng, capacity=self.capacity)

    def _make_batch(self, instance):
        return CVRPBatch.from_instances([instance])

    def _record(self, action: int) -> None:
        n = self.size
        if action >= n:
            self._path += [0, action - n + 1]
        else:
            self._path.append(action + 1)

    def _render_points(self):
        return self.instance.coords, self._path + ([0] if self._batch.done[0] else [])

    def _gauge(self) -> float:
        return float(self._batch.remaining[0] / self._batch.capacity[0])


class OPEnv(_RoutingEnv):
    """Orienteering as a BQ-MDP (path-OP back to the depot within the remaining budget).

    ## Description
    A depot (node 0) and ``size`` nodes uniform in the unit square with Kool et al.'s
    "distance" prizes (farther from the depot = larger, in 0.01..1.00) and tour-length budget
    ``max_length`` (Kool et al.: 2, 3, 4 for 20, 50, 100 nodes). The tour starts at the depot,
    collects prizes and must be able to return within the budget. The reduced state: unvisited
    nodes, the origin, the depot as destination and the remaining budget.

    ## Action space
    ``Discrete(size + 1)``: ``a < size`` visits node ``a + 1`` (masked if visited or if going
    there and back to the depot would exceed the budget); ``a == size`` returns to the depot and
    ends the episode, legal only once no node is feasible (BQ-NCO's official code masks the
    destination until then; with positive prizes an optimal tour never returns earlier). With
    ``early_end=True`` (the ``orl/OP-v0`` registration) the return is allowed at every step.

    ## Observation space
    ``Dict``: ``coords`` (size + 1, 2), depot first; ``prizes`` (size + 1,); ``unvisited``
    MultiBinary(size + 1); ``origin``, ``destination`` Discrete(size + 1); ``remaining_length``
    (1,); ``action_mask`` MultiBinary(size + 1).

    ## Rewards
    The prize of each node visited; 0 for the return. The return is the collected prize.

    ## Episode end
    Terminates when the agent returns to the depot (with ``early_end=False``, only possible
    once no remaining node can be reached and left within the budget).

    ## Arguments
    ``gymnasium.make("orl/OP-v1", size=100, max_length=None, early_end=False)``;
    ``reset(options={"instance": OPInstance})``.

    ## Version history
    * v1: the return to the depot is masked while a node is still feasible, as in BQ-NCO's
      official code (``early_end=False``); instances, rewards and spaces are unchanged.
      ``orl/OP-v0`` is kept and is this class with ``early_end=True``.
    * v0: initial version; later, without a version bump (dynamics and spaces unchanged): renders with
      numpy (no matplotlib), pickles (async vector envs), and rejects NaN/inf or out-of-range instances.
    """

    instance_type = OPInstance

    def __init__(self, size: int = 100, max_length: float | None = None, render_mode: str | None = None,
                 early_end: bool = False) -> None:
        super().__init__(size, render_mode)
        if not isinstance(early_end, (bool, np.bool_)):
            raise ValueError(f"OPEnv: early_end must be True or False, got {early_end!r}")
        self.early_end = bool(early_end)
        self.max_length = (
            op_max_length(self.size) if max_length is None else positive_number(max_length, "max_length", "OPEnv")
        )
        n = self.size
        self.action_space = MaskedDiscrete(n + 1)
        self.observation_space = spaces.Dict(
            {
                "coords": _coords_box(n + 1),
                "prizes": _unit((n + 1,)),
                "unvisited": spaces.MultiBinary(n + 1),
                "origin": spaces.Discrete(n + 1),
                "destination": spaces.Discrete(n + 1),
                "remaining_length": _unit((1,)),
                "action_mask": spaces.MultiBinary(n + 1),
            }
        )

    def _generate(self, rng):
        return generate_op(self.size, rng, max_length=self.max_length)

    def _make_batch(self, instance):
        return OPBatch.from_instances([instance], early_end=self.early_end)

    def _record(self, action: int) -> None:
        self._path.append(0 if action == self.size else action + 1)

    def _render_points(self):
        return self.instance.coords, self._path

    def _gauge(self) -> float:
        return float(1.0 - self._batch.length[0] / self._batch.max_length[0])


class KPEnv(_RoutingEnv):
    """0-1 knapsack as a BQ-MDP (remaining items, remaining capacity).

    ## Description
    ``size`` items with integer weights and values uniform in {1..997} and capacity 25 000, all
    observed on the scale 1/1000 (BQ-NCO's KP: weights and values in (0, 1), capacity 25). Each
    step puts one remaining item that still fits into the knapsack.

    ## Action space
    ``Discrete(size)``: an item; taken items and items heavier than the remaining capacity are
    masked.

    ## Observation space
    ``Dict``: ``weights``, ``item_values`` (size,) float32 (normalised); ``remaining``
    MultiBinary(size) (items not yet taken); ``remaining_capacity`` (1,); ``action_mask``
    MultiBinary(size). (Not ``values``: a Dict key named ``values`` clashes with
    ``nn.ModuleDict.values`` in Stable-Baselines3's ``MultiInputPolicy``.)

    ## Rewards
    The normalised value of the item taken; the return is the knapsack's value.

    ## Episode end
    Terminates when no remaining item fits.

    ## Arguments
    ``gymnasium.make("orl/KP-v1", size=100, capacity=25000)`` (capacity in integer units);
    ``reset(options={"instance": KPInstance})``.

    ## Version history
    * v1: the observation key ``values`` is renamed ``item_values`` (``values`` broke every
      Stable-Baselines3 ``MultiInputPolicy``); dynamics, rewards and instances are unchanged.
    * v0: initial version.
    """

    instance_type = KPInstance

    def __init__(self, size: int = 100, capacity: int = KP_CAPACITY, render_mode: str | None = None) -> None:
        super().__init__(size, render_mode)
        self.capacity = positive_int(capacity, "capacity", "KPEnv")
        n = self.size
        self.action_space = MaskedDiscrete(n)
        self.observation_space = spaces.Dict(
            {
                "weights": _unit((n,)),
                "item_values": _unit((n,)),
                "remaining": spaces.MultiBinary(n),
                "remaining_capacity": _unit((1,)),
                "action_mask": spaces.MultiBinary(n),
            }
        )

    def _generate(self, rng):
        return generate_kp(self.size, rng, capacity=self.capacity)

    def _make_batch(self, instance):
        return KPBatch.from_instances([instance])

    def _draw(self, canvas: R.Canvas) -> None:
        inst = self.instance
        taken = self._batch.taken[0]
        top = float(max(inst.weights.max(), inst.values.max()))
        px = canvas.unit_to_px(np.stack([inst.weights, inst.values], axis=1) / top)
        for p in px[~taken]:
            canvas.disc(p, 2.5, R.BLUE)
        for p in px[taken]:
            canvas.disc(p, 3.5, R.RED)
        canvas.bar(1.0 - self._batch.remaining[0] / inst.capacity, 2, R.RED)
