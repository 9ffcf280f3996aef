"""Gymnasium views of the inventory simulator: a single :class:`InventoryEnv` and a native :class:`InventoryVectorEnv`.

Both are thin wrappers around :class:`~orl_envs.inventory.simulator.InventorySimulator` (which holds the
dynamics) and :mod:`~orl_envs.inventory.scenario` (which draws episodes), so they cannot disagree with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from ._torch import torch  # torch is the [inventory] extra: a clear ImportError without it
from .. import _raster as R
from .scenario import demand_means, initial_state, load_demand_csv, sample_demands
from .settings import InventorySetting, make_setting
from .simulator import InventorySimulator, InventoryState

#: Upper bound of each order component, in periods of mean demand served by that location (its own for a store,
#: the stores' total for the warehouse and echelons). Far above any sensible order (the serial system's most
#: upstream echelon covers ~13 periods of lead time from empty) yet finite, as RL algorithms need.
ACTION_BOUND_PERIODS = 20.0

#: Default episode length: the paper's training horizon (it reports costs on longer horizons after a warm-up).
DEFAULT_PERIODS = 50

_DTYPE = torch.float64  # the envs simulate in float64 (exact cost accounting); observations are cast to float32


def static_features(setting: InventorySetting, demand_history: torch.Tensor | None = None) -> np.ndarray:
    """Per store: holding cost, underage cost, lead time, demand mean and std (the paper's
    ``include_static_features``), from the demand history when one replaces the synthetic demand."""
    s = setting
    means = demand_means(s, demand_history)
    stds = torch.tensor(s.demand.std) if demand_history is None else demand_history.std(dim=0, correction=0)
    return np.concatenate([s.holding_costs, s.underage_costs, s.lead_times, means.numpy(), stds.numpy()]).astype(
        np.float32)


def observe(state: InventoryState, static: np.ndarray) -> np.ndarray:
    """The environments' observation of ``state``: ``[B, obs_dim]`` float32, the pipelines (stores, warehouse,
    echelons) flattened store-major, then ``static`` (:func:`static_features`) repeated per row."""
    dynamic = state.flat().to(torch.float32).numpy()
    return np.concatenate([dynamic, np.broadcast_to(static, (dynamic.shape[0], static.size))], axis=1)


def _locations(state: InventoryState, row: int, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """(name, pipeline) of every location of batch row ``row``, in action order (stores, warehouse, echelons)."""
    pipes = [p for t in (state.stores, state.warehouse, state.echelons) if t is not None for p in t[row]]
    return [(n, p.detach().to(torch.float64).numpy()) for n, p in zip(names, pipes)]


def render_ansi(
    state: InventoryState, row: int, names: list[str], period: int, periods: int, cost: float | None
) -> str:
    """Text picture of one network: per location its on-hand stock and what arrives in 1, 2, ... periods."""
    lines = [f"period {period}/{periods}" + ("" if cost is None else f"  last period's cost {cost:.3f}")]
    width = max(len(n) for n in names)
    for name, pipe in _locations(state, row, names):
        arriving = " ".join(f"{x:7.2f}" for x in pipe[1:])
        lines.append(f"{name:>{width}}  on-hand {pipe[0]:8.2f}" + (f"  arriving {arriving}" if arriving else ""))
    return "\n".join(lines) + "\n"


def render_rgb(state: InventoryState, row: int, names: list[str], period: int, periods: int) -> np.ndarray:
    """RGB picture (numpy only): one band per location, a bar per pipeline slot — on-hand first (blue, red
    below the band's baseline when backlogged), then what arrives in 1, 2, ... periods (orange); a grey gauge
    at the top shows the episode's progress. Bars share one scale, the largest quantity shown."""
    locs = _locations(state, row, names)
    band = 40
    canvas = R.Canvas(height=16 + band * len(locs), width=256, margin=8)
    canvas.bar(period / periods, 2, R.GREY, height=5)
    top = max(max(float(np.abs(p).max()) for _, p in locs), 1e-9)
    slots = max(len(p) for _, p in locs)
    step = (canvas.width - 2 * canvas.margin) / slots
    for i, (_, pipe) in enumerate(locs):
        base = 12 + band * i + band * 3 // 4  # the baseline: 3/4 of the band above it, 1/4 below for backlog
        canvas.line((canvas.margin, base), (canvas.width - canvas.margin, base), R.LIGHT)
        for k, q in enumerate(pipe):
            x0 = canvas.margin + k * step + 1
            h = q / top * (band * 3 // 4 - 4) if q >= 0 else q / top * (band // 4 - 2)
            color = R.ORANGE if k else (R.BLUE if q >= 0 else R.RED)
            if abs(h) >= 0.5:
                canvas.rect(x0, base - h, x0 + step - 3, base, color)
    return canvas.image


class _InventoryCore:
    """What the single and the vector env share: the setting, spaces and observation layout."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def _check_render_mode(self, render_mode: str | None) -> None:
        modes = self.metadata["render_modes"]
        if render_mode is not None and render_mode not in modes:
            raise ValueError(f"render_mode must be one of {modes} or None, got {render_mode!r}")
        self.render_mode = render_mode

    def _setup(self, setting: str, periods: int, demand_csv: str | Path | None, params: dict[str, Any]) -> None:
        self.setting: InventorySetting = make_setting(setting, **params)
        self.simulator = InventorySimulator(self.setting)
        if int(periods) != periods or periods < 1:
            raise ValueError(f"periods must be an integer >= 1, got {periods}")
        self.periods = int(periods)
        self.demand_history = None if demand_csv is None else load_demand_csv(demand_csv, self.setting.n_stores)
        if self.demand_history is not None and self.demand_history.shape[0] < self.periods:
            raise ValueError(
                f"demand_csv has {self.demand_history.shape[0]} periods, fewer than periods={self.periods}"
            )
        s = self.setting
        means = demand_means(s, self.demand_history)
        self._static = static_features(s, self.demand_history)

        widths = self._pipeline_shapes()
        n_dynamic = sum(a * b for a, b in widths)
        low = np.zeros(n_dynamic + self._static.size, np.float32)
        if not s.lost_demand:  # backlog: store on-hand (column 0 of each store) can go below 0
            low[: s.n_stores * widths[0][1] : widths[0][1]] = -np.inf
        self.observation_space = spaces.Box(low, np.full_like(low, np.inf), dtype=np.float32)

        served = means.numpy()
        high = np.concatenate([served, np.full(len(s.upstream), served.sum())]) * ACTION_BOUND_PERIODS
        self.action_space = spaces.Box(np.zeros(s.action_dim, np.float32), high.astype(np.float32), dtype=np.float32)
        self._action_high = self.action_space.high.astype(np.float64)

    def _pipeline_shapes(self) -> list[tuple[int, int]]:
        s = self.setting
        shapes = [(s.n_stores, max(s.lead_times))]
        if s.warehouse is not None:
            shapes.append((1, s.warehouse.lead_time))
        if s.echelons:
            shapes.append((len(s.echelons), max(e.lead_time for e in s.echelons)))
        return shapes

    def _observe(self, state: InventoryState) -> np.ndarray:
        """``[B, obs_dim]`` float32: flattened pipelines (stores, warehouse, echelons) then static features."""
        return observe(state, self._static)

    def _to_orders(self, action: Any, shape: tuple[int, ...]) -> torch.Tensor:
        """``[B, action_dim]`` float64 orders: check the shape, clip above the action bound, reject < 0 / NaN."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != shape:
            raise ValueError(f"action must have shape {shape} ({self.simulator.action_names()}), got {a.shape}")
        # Orders above the documented bound are clipped (Box semantics); np.minimum keeps NaN for the check.
        orders = torch.from_numpy(np.minimum(a, self._action_high)).reshape(-1, self.setting.action_dim)
        self.simulator.check_orders(orders, orders.shape[0])
        return orders

    def _new_episode(self, generators: list[torch.Generator]) -> tuple[InventoryState, torch.Tensor]:
        """Initial state and demand ``[B, n_stores, periods]``, each batch row from its own generator.

        One generator per row makes row ``i`` reproducible from its seed alone (and equal to a single env's
        episode); the draws are per row, the arithmetic on them batched.
        """
        b, history = len(generators), self.demand_history
        state = initial_state(self.setting, b, generators, history, dtype=_DTYPE)
        return state, sample_demands(self.setting, b, self.periods, generators, history).to(_DTYPE)


def _torch_generator(np_random: np.random.Generator) -> torch.Generator:
    """A torch generator derived from Gymnasium's ``np_random``: ``reset(seed=s)`` fixes both."""
    return torch.Generator().manual_seed(int(np_random.integers(0, 2**62)))


class InventoryEnv(_InventoryCore, gym.Env[np.ndarray, np.ndarray]):
    """Inventory networks of Alvo, Russo & Kanoria (2023-25), as one Gymnasium environment.

    ## Description

    The benchmark settings of "Deep Reinforcement Learning for Inventory Networks: Toward Reliable Policy
    Optimization" (Alvo, Russo, Kanoria; arXiv 2306.11246). Each period the agent places order quantities for
    every location; demand then hits the stores, costs are charged on post-demand stock and pipelines advance
    (an order placed in period ``t`` is usable against demand in period ``t + L``). The dynamics are those of
    :class:`~orl_envs.inventory.simulator.InventorySimulator` (see its module docstring for the exact period
    order); this env is a batch-of-one view of it.

    | id (``orl/Inventory...-v0``) | network | demand per store and period |
    |---|---|---|
    | ``OneStoreLost`` | 1 store, lost sales | Poisson(5) |
    | ``OneStoreBacklogged`` | 1 store, backlog | Normal(5, 1.6) clipped at 0 |
    | ``Serial`` | store <- warehouse <- 2 echelons, backlog | Normal(5, 2) clipped at 0 |
    | ``OneWarehouseLostDemand`` | warehouse + n stores, lost | correlated normal, clipped at 0 |
    | ``TransshipmentBacklogged`` | stockless centre + n stores, backlog | correlated normal, not clipped |

    Feasibility (a location cannot ship more than it holds) is enforced by the simulator with the proportional
    rule ``a * min(1, available / sum(a))``; a transshipment centre ships everything it holds, split in proportion
    to the store orders. (In the paper's code the policies enforce feasibility instead.)

    ## Action Space

    ``Box(0, high, (n_stores + n_upstream,), float32)``: order quantities for each store, then the warehouse
    (or centre), then the extra echelons, most upstream first. ``high`` is ``ACTION_BOUND_PERIODS = 20`` periods of
    the mean demand the location serves (a store's own mean, the stores' total for upstream locations); larger
    orders are clipped to it. Negative or NaN orders raise ``ValueError`` (they are not clipped: they signal a
    bug in the agent, e.g. a Gaussian policy without a squashing function). A store's order is a request to its
    warehouse and may be scaled down by the feasibility rule; ``info["orders"]`` holds what was actually placed.

    ## Observation Space

    ``Box(float32)``, flat: the store pipelines (``n_stores x max store L``, store-major; column 0 on-hand, column
    ``k`` arriving in ``k`` periods), the warehouse pipeline (``L_w``), the echelon pipelines (``n_echelons x
    max echelon L``, most upstream first), then static features per store: holding cost, underage cost, lead
    time, demand mean, demand std. Store on-hand is unbounded below in backlogged settings, all else >= 0.
    The period index is not observed (the horizon is a truncation, not part of the task).

    ## Rewards

    Minus the period's cost: store ``h (x-d)^+ + p (d-x)^+`` on post-demand stock, plus ``h_u * stock`` for
    every upstream location after shipping. ``info["cost"]`` is the (positive) cost.

    ## Starting State

    Store pipeline slots ``U[0, 1] * mean demand`` (only the slots a store's lead time can fill); warehouse and
    echelons empty. The whole demand trace of the episode is drawn at reset.

    ## Episode End

    Never terminated; truncated after ``periods`` periods (default 50, the paper's training horizon).

    ## Arguments

    ``gym.make(id, periods=50, demand_csv=None, **params)``. ``demand_csv``: path of a CSV demand history (one
    column per store, one row per period, optional header row), each episode uses a random window of it.
    ``params`` go to the setting's factory in :mod:`orl_envs.inventory.settings`, e.g. ``lead_time=4,
    underage_cost=9`` (one-store and serial), ``n_stores=10, instance_seed=None`` (warehouse and transshipment;
    ``None`` = the paper's instance). ``render_mode``: None (default), ``"ansi"`` (text: each location's
    on-hand stock and what arrives in 1, 2, ... periods) or ``"rgb_array"`` (the same as bars, numpy only).

    ## Version History

    * v0: initial version; later, without a version bump since dynamics and spaces are unchanged,
      ``render_mode`` is accepted (it was rejected, even ``None``) with ``"ansi"`` and ``"rgb_array"``.
    """

    def __init__(
        self,
        setting: str,
        periods: int = DEFAULT_PERIODS,
        demand_csv: str | Path | None = None,
        render_mode: str | None = None,
        **params: Any,
    ) -> None:
        self._check_render_mode(render_mode)
        self._setup(setting, periods, demand_csv, params)
        self._generator: torch.Generator | None = None
        self._state: InventoryState | None = None
        self._cost: float | None = None

    def render(self) -> str | np.ndarray | None:
        """``"ansi"``: the pipelines as text; ``"rgb_array"``: a bar picture of them (:func:`render_rgb`).
        None without a render mode or before the first ``reset``."""
        if self.render_mode is None or self._state is None:
            return None
        names = self.simulator.action_names()
        if self.render_mode == "ansi":
            return render_ansi(self._state, 0, names, self._t, self.periods, self._cost)
        return render_rgb(self._state, 0, names, self._t, self.periods)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None or self._generator is None:
            self._generator = _torch_generator(self.np_random)
        self._state, self._demand = self._new_episode([self._generator])
        self._t, self._cost = 0, None
        return self._observe(self._state)[0], {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        if self._t >= self.periods:
            raise RuntimeError(f"the episode ended after {self.periods} periods; call reset()")
        orders = self._to_orders(action, self.action_space.shape)
        out = self.simulator.step(self._state, orders, self._demand[:, :, self._t])
        self._state, self._t = out.state, self._t + 1
        cost = self._cost = float(out.cost[0])
        info = {"cost": cost, "orders": out.orders[0].numpy().astype(np.float32)}
        return self._observe(self._state)[0], -cost, False, self._t >= self.periods, info


class InventoryVectorEnv(_InventoryCore, VectorEnv):
    """``num_envs`` copies of :class:`InventoryEnv` simulated as one torch batch (``gym.make_vec``'s default).

    Sub-env ``i`` reset with seed ``s + i`` (``reset(seed=s)``) or ``seeds[i]`` (``reset(seed=[...])``) plays
    exactly the episode of a single ``InventoryEnv`` reset with that seed. All sub-envs share the clock (same
    ``periods``), so they all truncate together; autoreset follows Gymnasium's default ``NEXT_STEP`` mode (the
    step after truncation resets every sub-env and ignores the action). See :class:`InventoryEnv` for spaces,
    reward and arguments.
    """

    metadata = {**_InventoryCore.metadata, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int,
        setting: str,
        periods: int = DEFAULT_PERIODS,
        demand_csv: str | Path | None = None,
        render_mode: str | None = None,
        **params: Any,
    ) -> None:
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs}")
        self._check_render_mode(render_mode)
        self.num_envs = int(num_envs)
        self._setup(setting, periods, demand_csv, params)
        self.single_observation_space, self.single_action_space = self.observation_space, self.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._generators: list[torch.Generator] | None = None
        self._state: InventoryState | None = None
        self._autoreset = False

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        if options and "reset_mask" in options and not np.all(options["reset_mask"]):
            raise NotImplementedError("sub-envs share one clock: only full resets are supported")
        if seed is not None or self._generators is None:
            if seed is None:
                seeds: list[int | None] = [None] * self.num_envs
            elif isinstance(seed, (int, np.integer)):
                seeds = [int(seed) + i for i in range(self.num_envs)]
            else:
                if len(seed) != self.num_envs:
                    raise ValueError(f"got {len(seed)} seeds for {self.num_envs} sub-envs")
                seeds = list(seed)
            # Same derivation as InventoryEnv.reset, so sub-env i replays the single env with seed seeds[i].
            self._generators = [_torch_generator(seeding.np_random(s)[0]) for s in seeds]
            self._np_random, _ = seeding.np_random(seeds[0])
        self._state, self._demand = self._new_episode(self._generators)
        self._t, self._autoreset = 0, False
        return self._observe(self._state), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        n = self.num_envs
        if self._autoreset:  # NEXT_STEP autoreset: this step only starts new episodes
            obs, _ = self.reset()
            zeros = np.zeros(n, bool)
            return obs, np.zeros(n), zeros, zeros.copy(), {}
        orders = self._to_orders(actions, self.action_space.shape)
        out = self.simulator.step(self._state, orders, self._demand[:, :, self._t])
        self._state, self._t = out.state, self._t + 1
        cost = out.cost.numpy()
        truncated = np.full(n, self._t >= self.periods)
        self._autoreset = bool(truncated[0])
        all_set = np.ones(n, bool)
        info = {"cost": cost, "_cost": all_set, "orders": out.orders.numpy().astype(np.float32), "_orders": all_set}
        return self._observe(self._state), -cost, np.zeros(n, bool), truncated, info

    def render(self) -> tuple[str, ...] | tuple[np.ndarray, ...] | None:
        """One rendering per sub-env (see :meth:`InventoryEnv.render`), as Gymnasium's vector envs return them."""
        if self.render_mode is None or self._state is None:
            return None
        names = self.simulator.action_names()
        if self.render_mode == "ansi":
            return tuple(render_ansi(self._state, i, names, self._t, self.periods, None) for i in range(self.num_envs))
        return tuple(render_rgb(self._state, i, names, self._t, self.periods) for i in range(self.num_envs))
