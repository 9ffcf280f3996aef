"""Batched, differentiable inventory-network dynamics: the single source of truth for every inventory env.

Follows the simulator of Alvo, Russo & Kanoria, "Deep Reinforcement Learning for Inventory Networks:
Toward Reliable Policy Optimization" (arXiv 2306.11246; official code ``MatiasAlvo/Neural_inventory_control``,
``environment.py``). Everything is plain torch on continuous quantities, so the per-period cost is
differentiable in the order quantities (the paper's "hindsight differentiable policy optimization" backpropagates
through whole rollouts); nothing is rounded.

State. Every location keeps a pipeline tensor ``[batch, locations, width]``: column 0 is the on-hand
inventory at the start of the period, column ``k`` what arrives in ``k`` periods. ``width`` is the largest lead
time of that tier.

One period, in the paper's order:

1. observe the state, choose orders (one per store, then the warehouse, then extra echelons, most upstream
   first);
2. feasibility: a location cannot ship more than its on-hand stock. Requests are scaled by the proportional
   rule ``a * min(1, available / sum(a))`` (:func:`proportional_allocation`). A transshipment centre holds no
   stock, so it ships *all* it has, split in proportion to the requests (:func:`full_allocation`). Upstream
   of the warehouse a location has one customer, where the rule reduces to ``min(a, available)``.
   **Deliberate difference from the paper's code**, where policies enforce feasibility: here the simulator
   applies the rule, so every policy (and an RL agent's raw actions) goes through the same one;
3. demand ``d`` hits the stores' on-hand ``x``; store cost ``h (x-d)^+ + p (d-x)^+`` on the post-demand stock;
   with lost demand the post-demand stock is clipped at 0, with backlog it may go negative;
4. upstream locations subtract what they shipped from their on-hand and pay ``h_u * (post)^+``;
5. pipelines shift one column (column 0 <- post-period stock + column 1) and each location's order is added at
   column ``L - 1``: an order placed in period ``t`` is usable against demand in period ``t + L`` (``L >= 1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ._torch import torch  # torch is the [inventory] extra: a clear ImportError without it
from .settings import InventorySetting

Tensor = torch.Tensor


@dataclass
class InventoryState:
    """Pipelines of a batch of networks (see the module docstring for the layout).

    ``stores`` is ``[B, n_stores, max store lead time]``; ``warehouse`` ``[B, 1, L_w]`` or None; ``echelons``
    ``[B, n_echelons, max echelon lead time]`` (most upstream first) or None.
    """

    stores: Tensor
    warehouse: Tensor | None = None
    echelons: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.stores.shape[0]

    def flat(self) -> Tensor:
        """Every location's pipeline flattened, ``[B, flat_width(setting)]``: stores (store-major), then the
        warehouse, then echelons — the dynamic part of the environments' observation and the MLP policies' input."""
        parts = [t.flatten(1) for t in (self.stores, self.warehouse, self.echelons) if t is not None]
        return torch.cat(parts, 1)


def flat_width(setting: InventorySetting) -> int:
    """Length of :meth:`InventoryState.flat` (each tier's pipelines as wide as its longest lead time)."""
    width = setting.n_stores * max(setting.lead_times)
    if setting.warehouse is not None:
        width += setting.warehouse.lead_time
    if setting.echelons:
        width += len(setting.echelons) * max(e.lead_time for e in setting.echelons)
    return width


class StepResult(NamedTuple):
    """Outcome of one period for a batch."""

    state: InventoryState  # next period's pipelines
    cost: Tensor  # [B]: the period's total cost over all locations
    store_costs: Tensor  # [B, n_stores]: holding + underage cost per store
    orders: Tensor  # [B, action_dim]: the orders actually placed, after the feasibility rule


def proportional_allocation(requests: Tensor, available: Tensor) -> Tensor:
    """Scale ``requests`` ``[B, n]`` by ``min(1, available / sum(requests))`` so shipments fit ``available`` ``[B]``.

    Differentiable in ``requests`` (almost everywhere); all-zero requests stay zero.
    """
    total = requests.sum(dim=1)
    # With nothing requested the value is 0 whatever the ratio, but its gradient is the ratio: make it 1 when
    # stock is available (small requests would be shipped in full) and 0 when not, avoiding 0/0.
    tiny = torch.finfo(requests.dtype).tiny
    ratio = available / torch.where(total > 0, total, torch.clamp(available, min=tiny))
    return requests * torch.clamp(ratio, max=1.0).unsqueeze(1)


def full_allocation(requests: Tensor, available: Tensor) -> Tensor:
    """Ship all of ``available`` ``[B]``, split in proportion to ``requests`` ``[B, n]`` (equally if all are 0).

    The paper's transshipment centre holds no stock (its policies split the centre's on-hand with a softmax
    without a "keep" option); requests therefore act as allocation weights.
    """
    total = requests.sum(dim=1, keepdim=True)
    weights = torch.where(total > 0, requests, torch.ones_like(requests))
    return weights / weights.sum(dim=1, keepdim=True) * available.unsqueeze(1)


def _arrival_slots(lead_times: list[int], width: int, like: Tensor) -> Tensor:
    """One-hot ``[n, width]`` marking column ``L - 1`` per location: where a new order enters the pipeline."""
    slots = torch.zeros(len(lead_times), width, dtype=like.dtype, device=like.device)
    slots[torch.arange(len(lead_times)), torch.tensor(lead_times) - 1] = 1.0
    return slots


def _advance(pipeline: Tensor, post: Tensor, orders: Tensor, slots: Tensor) -> Tensor:
    """Next period's pipeline: shift left, add the post-period stock to on-hand, insert ``orders`` at ``L - 1``.

    Built out of place (no in-place writes) so autograd can differentiate through long rollouts.
    """
    shifted = torch.cat([pipeline[:, :, 1:], torch.zeros_like(pipeline[:, :, :1])], dim=2)
    on_hand = torch.nn.functional.pad(post.unsqueeze(2), (0, pipeline.shape[2] - 1))
    return shifted + on_hand + orders.unsqueeze(2) * slots


class InventorySimulator:
    """Batched dynamics of one :class:`~orl_envs.inventory.settings.InventorySetting`.

    Stateless: :meth:`step` maps ``(state, orders, demand)`` to a :class:`StepResult`, so a caller can keep
    any number of states (and the autograd graph through them). Works for any batch size, dtype and device.

    Args:
        setting: the network and its costs.
        validate: check shapes and that orders are finite and >= 0 on every step (one device sync per step;
            switch off in tight GPU training loops once the policy is known to be valid).
    """

    def __init__(self, setting: InventorySetting, validate: bool = True) -> None:
        self.setting = setting
        self.validate = validate
        self.n_stores = setting.n_stores
        self.action_dim = setting.action_dim
        self.store_width = max(setting.lead_times)
        self.echelon_width = max((e.lead_time for e in setting.echelons), default=0)
        self._costs: dict[tuple[torch.dtype, torch.device], tuple[Tensor, ...]] = {}

    # ----------------------------------------------------------------------------------------------
    def action_names(self) -> list[str]:
        """Names of the order components, in action order."""
        s = self.setting
        names = [f"store_{i}" for i in range(s.n_stores)]
        if s.warehouse is not None:
            names.append("centre" if s.transshipment else "warehouse")
        names += [f"echelon_{i}" for i in range(len(s.echelons))]
        return names

    def _constants(self, like: Tensor) -> tuple[Tensor, ...]:
        """Cost vectors and arrival one-hots in ``like``'s dtype/device (cached: a rollout reuses them)."""
        key = (like.dtype, like.device)
        if key not in self._costs:
            s = self.setting
            as_t = lambda v: torch.tensor(v, dtype=like.dtype, device=like.device)  # noqa: E731
            self._costs[key] = (
                as_t(s.holding_costs),
                as_t(s.underage_costs),
                _arrival_slots(list(s.lead_times), self.store_width, like),
                as_t([u.holding_cost for u in s.echelons]) if s.echelons else as_t([]),
                _arrival_slots([e.lead_time for e in s.echelons], self.echelon_width, like) if s.echelons else None,
                _arrival_slots([s.warehouse.lead_time], s.warehouse.lead_time, like) if s.warehouse else None,
            )
        return self._costs[key]

    def empty_state(
        self, batch_size: int, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> InventoryState:
        """All pipelines at zero (useful for hand-computed tests; episodes start from ``scenario.initial_state``)."""
        s = self.setting
        z = lambda n, w: torch.zeros(batch_size, n, w, dtype=dtype, device=device)  # noqa: E731
        return InventoryState(
            stores=z(s.n_stores, self.store_width),
            warehouse=z(1, s.warehouse.lead_time) if s.warehouse else None,
            echelons=z(len(s.echelons), self.echelon_width) if s.echelons else None,
        )

    # ----------------------------------------------------------------------------------------------
    def check_orders(self, orders: Tensor, batch_size: int) -> None:
        """Raise ``ValueError`` naming the offending entry for a wrong shape, a NaN, an infinite or a negative order."""
        if not isinstance(orders, Tensor):
            raise TypeError(f"orders must be a torch.Tensor, got {type(orders).__name__}")
        if orders.shape != (batch_size, self.action_dim):
            raise ValueError(
                f"orders must have shape (batch={batch_size}, {self.action_dim}) ordered as {self.action_names()}, "
                f"got {tuple(orders.shape)}"
            )
        bad = ~torch.isfinite(orders) | (orders < 0)
        if bool(bad.any()):
            b, j = (int(i) for i in bad.nonzero()[0])
            raise ValueError(
                f"orders must be finite and >= 0; got {float(orders[b, j])} for {self.action_names()[j]} "
                f"(batch row {b})"
            )

    def step(self, state: InventoryState, orders: Tensor, demand: Tensor) -> StepResult:
        """Simulate one period for the whole batch.

        Args:
            state: the pipelines at the start of the period.
            orders: ``[B, action_dim]`` requested order quantities >= 0 (stores, warehouse, echelons
                most upstream first). Gradients flow to them.
            demand: ``[B, n_stores]`` this period's demand.
        """
        s, batch = self.setting, state.batch_size
        if self.validate:
            self.check_orders(orders, batch)
            if demand.shape != (batch, s.n_stores):
                raise ValueError(f"demand must have shape ({batch}, {s.n_stores}), got {tuple(demand.shape)}")
        h, p, store_slots, echelon_h, echelon_slots, warehouse_slots = self._constants(state.stores)
        n = s.n_stores
        requests = orders[:, :n]
        cost = torch.zeros(batch, dtype=state.stores.dtype, device=state.stores.device)

        # Upstream first: what a location ships is decided by its on-hand at the start of the period.
        warehouse_next = echelons_next = None
        if s.warehouse is not None:
            w_on_hand = state.warehouse[:, 0, 0]
            allocate = full_allocation if s.transshipment else proportional_allocation
            shipped = allocate(requests, w_on_hand)
            # Proportional allocation never over-ships; the clamp only removes float round-off below 0.
            w_post = torch.clamp(w_on_hand - shipped.sum(dim=1), min=0.0)
            cost = cost + s.warehouse.holding_cost * w_post
            w_order = orders[:, n : n + 1]
            if s.echelons:
                # The last echelon supplies the warehouse: the warehouse's order is capped by its stock.
                w_order = proportional_allocation(w_order, state.echelons[:, -1, 0])
            warehouse_next = _advance(state.warehouse, w_post.unsqueeze(1), w_order, warehouse_slots)
        else:
            shipped = requests
        placed = [shipped] + ([w_order] if s.warehouse is not None else [])  # orders actually placed

        if s.echelons:
            e_requests = orders[:, n + 1 :]  # most upstream first; echelon 0 buys from an unlimited source
            e_on_hand = state.echelons[:, :, 0]
            e_placed = [e_requests[:, :1]] + [
                proportional_allocation(e_requests[:, k : k + 1], e_on_hand[:, k - 1])
                for k in range(1, len(s.echelons))
            ]
            e_placed_t = torch.cat(e_placed, dim=1)
            # Each echelon ships what its downstream neighbour was granted (the last one: the warehouse's order).
            e_shipped = torch.cat([e_placed_t[:, 1:], w_order], dim=1)
            e_post = torch.clamp(e_on_hand - e_shipped, min=0.0)
            cost = cost + (echelon_h * e_post).sum(dim=1)
            echelons_next = _advance(state.echelons, e_post, e_placed_t, echelon_slots)
            placed.append(e_placed_t)

        # Stores: demand hits on-hand, cost on the post-demand stock.
        post = state.stores[:, :, 0] - demand
        store_costs = h * torch.clamp(post, min=0.0) + p * torch.clamp(-post, min=0.0)
        if s.lost_demand:
            post = torch.clamp(post, min=0.0)
        stores_next = _advance(state.stores, post, shipped, store_slots)
        cost = cost + store_costs.sum(dim=1)

        next_state = InventoryState(stores_next, warehouse_next, echelons_next)
        return StepResult(next_state, cost, store_costs, torch.cat(placed, dim=1))
