"""HDPO: Hindsight Differentiable Policy Optimization — Alvo, Russo & Kanoria, "Deep Reinforcement
Learning for Inventory Networks: Toward Reliable Policy Optimization" (arXiv 2306.11246; official code
``MatiasAlvo/Neural_inventory_control``, ``trainer.py``, ``loss_functions.py``, ``neural_networks.py``).

The simulator of ``orl_envs.inventory`` is differentiable in the order quantities, so a deterministic
policy is trained by plain gradient descent on the simulated cost: roll a minibatch of pre-sampled
scenarios (demand traces and initial inventories) through ``periods`` periods, take

    L(theta) = sum of all costs / (batch * periods * n_stores)

and back-propagate through the whole rollout (the first ``ignore_periods`` are excluded only from the
*reported* cost, as in the code). Model selection: the policy with the lowest cost on a dev set.

This module holds the config and the policies (:data:`POLICIES`): the networks ``mlp``,
``symmetry_aware``, ``gnn`` and the paper's parametric reference policies ``base_stock``,
``capped_base_stock``, ``echelon_stock``, whose few levels are learned by the same loop. Each is built as
``Policy(setting, hidden)`` and maps an ``InventoryState`` to orders; the loop is :mod:`orl.train.hdpo`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from orl_envs.inventory.settings import InventorySetting
from orl_envs.inventory.simulator import InventoryState, flat_width
from torch import nn

from orl.nets.mlp import mlp


_POSITIVE = ("n_train", "batch_size", "train_periods", "n_dev", "dev_periods", "n_test", "test_periods", "patience")
_WINDOWS = (("train_periods", "train_ignore"), ("dev_periods", "dev_ignore"), ("test_periods", "test_ignore"))


def check_scenario_fields(config: object, algo: str) -> None:
    """Validate the scenario-set fields a config has (sizes, horizons, ignored warm-up periods), naming the
    bad field: shared by HDPO and the baselines trained on the same scenario sets (REINFORCE, PPO)."""
    for name in _POSITIVE:
        value = getattr(config, name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{algo}: {name} must be a positive integer, got {value!r}")
    for periods, ignore in _WINDOWS:
        if hasattr(config, ignore) and not 0 <= getattr(config, ignore) < getattr(config, periods):
            raise ValueError(f"{algo}: {ignore} must lie in [0, {periods}), got {getattr(config, ignore)!r}")


@dataclass
class EvaluationSets:
    """The dev (model selection) and test scenario sets every inventory learner is scored on, HDPO and
    both baselines (REINFORCE, PPO), so their costs are comparable: sizes, horizons and ignored warm-up
    periods (the paper's one-store settings, ``config_files/settings/one_store_*.yml``: dev 32768 x 100
    periods, test 32768 x 5000; its one-warehouse setting tests on 8192).

    The paper's test set is costly on a CPU: one evaluation of 32768 scenarios x 5000 periods took ~100 s
    and ~4 GB of memory here (one thread, one-store MLP; 4096 scenarios: ~7 s, 0.7 GB), and a run evaluates
    it twice (the policy and the reference). Pass ``n_test=4096`` for quick runs, as orl's own result tables
    did (``docs/inventory.md`` states the test set of every table)."""

    n_dev: int = 32768
    dev_periods: int = 100
    dev_ignore: int = 60
    n_test: int = 32768
    test_periods: int = 5000
    test_ignore: int = 3000


@dataclass
class ScenarioConfig(EvaluationSets):
    """Plus the fixed training scenario set and its minibatches, for the learners that train on it (HDPO
    and REINFORCE; PPO trains on the Gymnasium env instead)."""

    n_train: int = 32768
    batch_size: int = 8192
    train_periods: int = 50
    train_ignore: int = 30


@dataclass
class HDPOConfig(ScenarioConfig):
    """Defaults: the paper's one-store settings (``vanilla_one_store.yml`` and the setting files).

    ``policy``: a name in :data:`POLICIES` (``mlp``, ``symmetry_aware``, ``gnn``, ``base_stock``,
    ``capped_base_stock``, ``echelon_stock``). ``hidden``: the policy's hidden layers, ``None`` for its
    paper default (``mlp`` 32-32-32, the shared per-store network of ``symmetry_aware`` 32-32, every block
    of ``gnn`` 32-32; see each class; the parametric policies have none and refuse one). ``lr``: Adam's
    learning rate, ``None`` for the policy's default (its class attribute ``default_lr``, see
    :meth:`learning_rate`): 3e-3 for the networks (the paper's one-store MLP; the paper trains the
    structured networks with ``lr=1e-3`` and clips the GNN's gradient norm at ``grad_clip=1.0``, pass
    those explicitly), and the paper's 0.5 / 1.0 / 0.5 for base-stock / capped base-stock / echelon-stock.
    """

    policy: str = "mlp"
    hidden: tuple[int, ...] | None = None
    lr: float | None = None  # None: the policy's default_lr
    grad_clip: float = 0.0  # 0: off (the paper clips at 1.0 for GNN policies only)
    patience: int = 50  # dev evaluations without improvement before stopping

    def __post_init__(self) -> None:
        check_scenario_fields(self, "hdpo")
        if self.policy not in POLICIES:
            raise ValueError(f"hdpo: policy must be one of {', '.join(sorted(POLICIES))}, got {self.policy!r}")
        if self.hidden is not None:
            if isinstance(self.hidden, list):
                self.hidden = tuple(self.hidden)
            if (not isinstance(self.hidden, tuple) or not self.hidden
                    or any(not isinstance(h, int) or isinstance(h, bool) or h <= 0 for h in self.hidden)):
                raise ValueError(f"hdpo: hidden must be None or a non-empty list of positive integers, "
                                 f"got {self.hidden!r}")
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(self.lr, (int, float))
                                    or not self.lr > 0 or not math.isfinite(self.lr)):
            raise ValueError(f"hdpo: lr must be None (the policy's default) or a positive number, got {self.lr!r}")

    @property
    def learning_rate(self) -> float:
        """The learning rate in use: ``lr``, or the policy's ``default_lr`` when ``lr`` is None."""
        return float(self.lr) if self.lr is not None else POLICIES[self.policy].default_lr


# --------------------------------------------------------------------------------------------------
# Policies. Every policy is an ``nn.Module`` built from the setting, ``Policy(setting, hidden)``, that maps
# an :class:`InventoryState` (the simulator's pipelines, batch first) to requested orders ``[B, action_dim]``
# >= 0 in the simulator's action order (stores, then the warehouse, then echelons). What a setting fixes
# (costs, lead times, demand means and stds) is read from the setting once, at construction.


def _demand_scale(setting: InventorySetting) -> float:
    """The stores' average mean demand: the unit of every policy's inputs and store orders."""
    scale = float(np.mean(setting.demand.mean))
    return scale if scale > 0 else 1.0


def _store_static(setting: InventorySetting, scale: float) -> torch.Tensor:
    """Per-store constants ``[n_stores, 5]``: holding cost, underage cost, lead time, demand mean and std
    (the last two in units of ``scale``)."""
    d = setting.demand
    cols = [setting.holding_costs, setting.underage_costs, setting.lead_times,
            [m / scale for m in d.mean], [s / scale for s in d.std]]
    return torch.tensor(list(zip(*cols)), dtype=torch.float32)


N_STORE_STATIC = 5


def _check_structured(name: str, setting: InventorySetting) -> None:
    """The store-structured policies cover store-only and one-warehouse (or transshipment) networks."""
    if setting.echelons:
        raise ValueError(
            f"hdpo: the {name} policy supports store-only and one-warehouse settings, but {setting.name!r} has "
            f"{len(setting.echelons)} extra echelon(s) above its warehouse; use policy=mlp"
        )


def _softplus_inverse(y: float) -> float:
    return math.log(math.expm1(y))


class MLPPolicy(nn.Module):
    """The paper's vanilla policy: an ELU MLP on the flattened pipelines, ``softplus`` order quantities.

    Input: every location's pipeline (on-hand and in transit) as the simulator keeps it, divided by the
    stores' mean demand (a fixed input scaling; the paper's code feeds raw quantities), so one learning
    rate suits every demand level. Output: ``softplus(x + 1)`` per order component, as the code's
    one-store network (the ``+1`` keeps early orders away from zero, where softplus is flat).
    Default ``hidden``: 32-32-32 (``vanilla_one_store``; the paper's one-warehouse MLP is 512-512-512).

    Not the paper's one-warehouse MLP (``VanillaOneWarehouse``: softmax allocation of the warehouse's
    stock, warehouse order ``sigmoid x 4 x`` total mean demand): here every order, the warehouse's too,
    is ``softplus(x + 1) x`` the stores' average mean demand, and the simulator allocates scarce stock.
    ``forward`` also takes an already flattened ``[B, obs_dim]`` tensor (the interface before the
    structured policies).
    """

    default_lr = 3e-3  # vanilla_one_store.yml

    def __init__(self, setting: InventorySetting, hidden: Sequence[int] | None = None) -> None:
        super().__init__()
        hidden = tuple(hidden) if hidden else (32, 32, 32)
        self.net = mlp(flat_width(setting), hidden, setting.action_dim, activation=nn.ELU)
        self.scale = _demand_scale(setting)

    def forward(self, state: InventoryState | torch.Tensor) -> torch.Tensor:
        x = state.flat() if isinstance(state, InventoryState) else state
        return F.softplus(self.net(x / self.scale) + 1.0) * self.scale


class SymmetryAwarePolicy(nn.Module):
    """The paper's symmetry-aware (weight-sharing) policy for one warehouse and many stores
    (``SymmetryAware`` in ``neural_networks.py``, config ``symmetry_aware.yml``).

    * A **context network** reads the whole state and outputs a context vector (256, sigmoid).
    * One **store network**, shared by all stores, reads a store's own pipeline, its constants and the
      context, and outputs that store's order (ELU hidden layers ``hidden``, default 32-32; softplus).
    * A **warehouse network** (ELU 16-16) reads the warehouse pipeline and the context and outputs the
      warehouse order as ``sigmoid x 4 x`` the stores' total mean demand (the code's
      ``warehouse_upper_bound_mult = 4``).
    * Scarce warehouse stock is split in proportion to the store orders, the code's proportional
      allocation, which the simulator applies (:func:`~orl_envs.inventory.simulator.proportional_allocation`).

    Deviations from the code, each on purpose:

    * **The context network is permutation-invariant** (the code's is an MLP on the flattened state, so
      it depends on the stores' order and on their number): it is the code's network (a 256 ELU layer,
      then 256 sigmoid outputs) with its first layer's weights tied across stores, i.e. that layer reads
      the stores' *average* features (pipeline and constants) and the warehouse pipeline. Hence the
      policy is equivariant to permuting the stores and works for any number of them. (A DeepSets-style
      encoder, a nonlinearity per store before averaging, was tried and dropped: 256 units per store made
      a training step 7-10x slower at 50 stores on CPU.)
    * Because of that tying the context also reads the stores' constants (the code's context sees the
      pipelines only, and tells stores apart by their position).
    * A store's constants include its holding cost (the code: mean, std, underage cost, lead time).
    * Inputs are scaled: store quantities (pipelines, demand mean and std) are divided by the stores'
      average mean demand, warehouse quantities by the stores' total mean demand; store orders are
      ``softplus x`` the average mean demand (the code feeds and outputs raw quantities); the store
      network's output bias starts at ``softplus^-1(1)``, so the first orders are about one mean demand
      (the code leaves the default initialisation).
    * Store-only settings (no warehouse, e.g. the one-store ones) work too: no warehouse network, the
      context comes from the stores alone. Settings with extra echelons (``serial``) raise ``ValueError``.
    * A transshipment centre is treated as a warehouse (the simulator ships all it holds).
    """

    default_lr = 3e-3  # kept from before per-policy defaults existed (the paper: 1e-3; pass lr=1e-3)

    def __init__(self, setting: InventorySetting, hidden: Sequence[int] | None = None, context: int = 256,
                 warehouse_hidden: Sequence[int] = (16, 16), warehouse_bound: float = 4.0) -> None:
        super().__init__()
        _check_structured("symmetry_aware", setting)
        hidden = tuple(hidden) if hidden else (32, 32)
        self.n_stores = setting.n_stores
        self.scale = _demand_scale(setting)
        self.total = self.scale * setting.n_stores
        self.register_buffer("static", _store_static(setting, self.scale), persistent=False)
        store_in = max(setting.lead_times) + N_STORE_STATIC
        w_in = setting.warehouse.lead_time if setting.warehouse is not None else 0
        # The context network's first layer, tied across stores: the stores' projections are averaged (the
        # code's layer on the flattened state, with one weight block shared by all stores), plus the warehouse's.
        self.context_store = nn.Linear(store_in, context)
        self.context_warehouse = nn.Linear(w_in, context, bias=False) if w_in else None
        self.context_out = nn.Linear(context, context)
        # The store network's first layer, split into the store's own part and the context's part: the same
        # linear map as on the concatenation, with the context's share computed once per network.
        self.store_own = nn.Linear(store_in, hidden[0])
        self.store_context = nn.Linear(context, hidden[0], bias=False)
        self.store_rest = nn.Sequential(nn.ELU(), mlp(hidden[0], hidden[1:], 1, activation=nn.ELU))
        self.warehouse_net = (mlp(w_in + context, tuple(warehouse_hidden), 1, activation=nn.ELU)
                              if setting.warehouse is not None else None)
        nn.init.constant_(self.store_rest[-1][-1].bias, _softplus_inverse(1.0))  # first orders ~ mean demand
        self.warehouse_bound = warehouse_bound * self.total

    def forward(self, state: InventoryState) -> torch.Tensor:
        b = state.batch_size
        stores = torch.cat([state.stores / self.scale, self.static.expand(b, -1, -1)], dim=2)  # [B, n, F]
        pre = self.context_store(stores.mean(dim=1))  # = the mean of the per-store projections (linear)
        if self.warehouse_net is not None:
            warehouse = state.warehouse.flatten(1) / self.total
            pre = pre + self.context_warehouse(warehouse)
        context = torch.sigmoid(self.context_out(F.elu(pre)))  # [B, context]
        hidden = self.store_own(stores) + self.store_context(context).unsqueeze(1)
        orders = F.softplus(self.store_rest(hidden)).squeeze(2) * self.scale  # [B, n]
        if self.warehouse_net is None:
            return orders
        w_order = torch.sigmoid(self.warehouse_net(torch.cat([warehouse, context], dim=1))) * self.warehouse_bound
        return torch.cat([orders, w_order], dim=1)


class GNNPolicy(nn.Module):
    """The GNN policy of the paper's latest version (``GNN`` in the official ``neural_networks.py``, config
    ``config_files/policies_and_hyperparams/gnn.yml``), for one warehouse (or transshipment centre) and
    ``n`` stores, following the code's architecture step by step:

    * **Graph** (the code's ``prepare_graph_and_features`` / ``create_edge_features``): nodes = the
      warehouse and the stores; edges, each with an embedding, in the code's order: warehouse -> store
      (one per store, lead-time feature ``L_i``), a virtual supplier -> warehouse (``L_w``), store ->
      a virtual customer (lead time 0), and a warehouse self-loop (the stock it keeps; none for a
      transshipment centre, which holds nothing). Virtual nodes carry zero embeddings.
    * **Node features**: the location's pipeline (zero-padded to a common width) and its constants padded
      to a common width: a store's holding and underage cost and its demand mean and std; the warehouse's
      holding cost. ``initial_node`` MLP -> node embeddings; ``initial_edge`` MLP on ``[source, target,
      lead time]`` -> edge embeddings.
    * **Message passing**, ``rounds`` times (the code: 1 for warehouse-store graphs, ``n_extra_echelons + 1``
      for serial ones): each node sums its incoming and, separately, its outgoing edge embeddings (the
      self-loop counts in both), each sum divided by ``sqrt`` of that degree (the code's
      ``aggregate_messages``); ``nodes += node_update([nodes, incoming, outgoing])``; then ``edges +=
      edge_update([edges, source node, target node])`` with the updated nodes.
    * **Orders** (``_generate_outputs_from_edges``): one ``output`` MLP on every edge embedding, softplus;
      the store orders are the warehouse -> store edges' outputs, the warehouse order the supplier edge's.
      The warehouse's outgoing outputs (store edges and the self-loop, the stock it keeps) are scaled by
      ``min(1, on-hand / their sum)`` (the code's proportional allocation; for a transshipment centre
      ``on-hand / sum``, no clip, so it ships everything). So the policy, not the simulator, decides the
      split; the simulator's own proportional rule then has nothing left to cut.
    * Every MLP: ELU hidden layers ``hidden`` (default 32-32, the code's), output width ``hidden[-1]`` with
      an ELU (the code's ``output_layer_activation: elu``); the output MLP ends in a 1-unit softplus.
      The paper trains it with ``lr = 1e-3`` and gradient norms clipped at 1.0 (``HDPOConfig.grad_clip``).

    Deviations from the code, each on purpose:

    * Quantities are scaled: store pipelines and demand mean and std are divided by the stores' average
      mean demand, the warehouse pipeline by their total mean demand, and every edge output is multiplied
      by the average mean demand (the code feeds and outputs raw quantities); the output bias starts at
      ``softplus^-1(1)``, i.e. orders of about one mean demand (the code's bias 5.0 on raw quantities does
      the same at its mean demand of 5). So one learning rate suits every demand level.
    * Store-only settings (no warehouse; the code's GNN needs one) work: each store gets a supplier edge
      (its lead time) and a customer edge, its order is its supplier edge's output, no allocation.
      Settings with extra echelons (``serial``, which the code's GNN covers) raise ``ValueError`` for now;
      settings with several warehouses do not exist in orl.
    * Dense tensors on the star graph instead of the code's per-edge Python loops (same sums), and no
      update of the customer edges in the last round, which the code computes but never reads.

    Weights shared by all stores and sums over them make the orders equivariant to permuting the stores
    and defined for any number of them.
    """

    default_lr = 3e-3  # kept from before per-policy defaults existed (the paper: 1e-3; pass lr=1e-3)

    def __init__(self, setting: InventorySetting, hidden: Sequence[int] | None = None, rounds: int = 1) -> None:
        super().__init__()
        _check_structured("gnn", setting)
        hidden = tuple(hidden) if hidden else (32, 32)
        dim = hidden[-1]
        self.n_stores, self.rounds = setting.n_stores, rounds
        self.has_warehouse = setting.warehouse is not None
        self.keeps_stock = self.has_warehouse and not setting.transshipment  # the code's self-loop
        self.scale = _demand_scale(setting)
        self.total = self.scale * setting.n_stores
        self.width = max(max(setting.lead_times), setting.warehouse.lead_time if self.has_warehouse else 0)
        d = setting.demand
        store_states = [[h, p, m / self.scale, sd / self.scale]
                        for h, p, m, sd in zip(setting.holding_costs, setting.underage_costs, d.mean, d.std)]
        self.register_buffer("store_states", torch.tensor(store_states, dtype=torch.float32), persistent=False)
        self.register_buffer("store_lead_times", torch.tensor(setting.lead_times, dtype=torch.float32)[:, None],
                             persistent=False)
        if self.has_warehouse:
            w = setting.warehouse
            self.register_buffer("warehouse_states", torch.tensor([[w.holding_cost, 0.0, 0.0, 0.0]]), persistent=False)
            self.warehouse_lead_time = float(w.lead_time)

        def block(n_in: int) -> nn.Module:  # the code's create_sequential_net with ELU inside and at the output
            return mlp(n_in, hidden, dim, activation=nn.ELU, output_activation=nn.ELU)

        n_node_in = self.width + 4
        self.initial_node = block(n_node_in)
        self.initial_edge = block(2 * dim + 1)
        self.node_update = block(3 * dim)
        self.edge_update = block(3 * dim)
        self.output = mlp(dim, hidden, 1, activation=nn.ELU)  # softplus applied in forward
        nn.init.constant_(self.output[-1].bias, _softplus_inverse(1.0))

    def _lead(self, value: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
        """A lead-time feature column shaped like ``like[..., :1]``."""
        return torch.as_tensor(value, dtype=like.dtype, device=like.device).expand(*like.shape[:-1], 1)

    def forward(self, state: InventoryState) -> torch.Tensor:
        b, n = state.batch_size, self.n_stores
        pad = lambda x: F.pad(x, (0, self.width - x.shape[-1]))  # noqa: E731
        stores = self.initial_node(torch.cat([pad(state.stores / self.scale),
                                              self.store_states.expand(b, -1, -1)], dim=2))  # [B, n, d]
        zeros = torch.zeros_like(stores)
        lead_s = self.store_lead_times.expand(b, -1, -1)
        if self.has_warehouse:
            wh = self.initial_node(torch.cat([pad(state.warehouse[:, 0] / self.total),
                                              self.warehouse_states.expand(b, -1)], dim=1))  # [B, d]
            wh_n = wh.unsqueeze(1).expand(-1, n, -1)
            edges = {"supply": self.initial_edge(torch.cat([wh_n, stores, lead_s], dim=2)),  # warehouse -> store i
                     "warehouse": self.initial_edge(torch.cat([torch.zeros_like(wh), wh,
                                                               self._lead(self.warehouse_lead_time, wh)], dim=1)),
                     "demand": self.initial_edge(torch.cat([stores, zeros, torch.zeros_like(lead_s)], dim=2))}
            if self.keeps_stock:
                edges["keep"] = self.initial_edge(torch.cat([wh, wh, self._lead(0.0, wh)], dim=1))
        else:  # store-only: a virtual supplier -> store i edge carries the order
            wh = None
            edges = {"supply": self.initial_edge(torch.cat([zeros, stores, lead_s], dim=2)),
                     "demand": self.initial_edge(torch.cat([stores, zeros, torch.zeros_like(lead_s)], dim=2))}
        for r in range(self.rounds):
            stores, wh, edges = self._message_passing_step(stores, wh, edges, last=r == self.rounds - 1)
        return self._orders(state, edges)

    def _message_passing_step(self, stores: torch.Tensor, wh: torch.Tensor | None,
                              edges: dict[str, torch.Tensor], last: bool = False) -> tuple:
        """One round of the code's ``message_passing_step``: degree-normalised sums of incoming and outgoing
        edge embeddings per node, residual node update, then residual edge update from the new nodes. On the
        ``last`` round the customer edges are not updated: no order is read off them (the code updates them
        and discards the result; skipping it saves memory and time, the orders are identical)."""
        # stores: in = their supply edge, out = their customer edge (degrees 1 and 1)
        new_stores = stores + self.node_update(torch.cat([stores, edges["supply"], edges["demand"]], dim=2))
        zeros = torch.zeros_like(stores)
        demand = edges["demand"] if last else (
            edges["demand"] + self.edge_update(torch.cat([edges["demand"], new_stores, zeros], dim=2)))
        if wh is None:
            return new_stores, None, {
                "supply": edges["supply"] + self.edge_update(torch.cat([edges["supply"], zeros, new_stores], 2)),
                "demand": demand}
        # warehouse: in = supplier edge (+ self-loop), out = the n store edges (+ self-loop)
        keep = edges.get("keep")
        incoming = edges["warehouse"] + (keep if keep is not None else 0.0)
        outgoing = edges["supply"].sum(dim=1) + (keep if keep is not None else 0.0)
        extra = int(keep is not None)
        incoming = incoming / math.sqrt(1 + extra)
        outgoing = outgoing / math.sqrt(self.n_stores + extra)
        new_wh = wh + self.node_update(torch.cat([wh, incoming, outgoing], dim=1))
        wh_n = new_wh.unsqueeze(1).expand_as(new_stores)
        new_edges = {
            "supply": edges["supply"] + self.edge_update(torch.cat([edges["supply"], wh_n, new_stores], dim=2)),
            "warehouse": edges["warehouse"] + self.edge_update(
                torch.cat([edges["warehouse"], torch.zeros_like(new_wh), new_wh], dim=1)),
            "demand": demand,
        }
        if keep is not None:
            new_edges["keep"] = keep + self.edge_update(torch.cat([keep, new_wh, new_wh], dim=1))
        return new_stores, new_wh, new_edges

    def _orders(self, state: InventoryState, edges: dict[str, torch.Tensor]) -> torch.Tensor:
        """The output MLP on the order edges, then the warehouse's proportional allocation of its on-hand
        stock over its outgoing edges (stores and the self-loop), as the code's
        ``_apply_proportional_allocation_to_graph``."""
        out = lambda e: F.softplus(self.output(e)).squeeze(-1) * self.scale  # noqa: E731
        orders = out(edges["supply"])  # [B, n]
        if not self.has_warehouse:
            return orders
        on_hand = state.warehouse[:, 0, 0]
        wanted = orders.sum(dim=1) + (out(edges["keep"]) if self.keeps_stock else 0.0)
        factor = on_hand / (wanted + 1e-10)
        if self.keeps_stock:
            factor = factor.clamp(max=1.0)
        return torch.cat([orders * factor.unsqueeze(1), out(edges["warehouse"]).unsqueeze(1)], dim=1)


# --------------------------------------------------------------------------------------------------
# Parametric reference policies, learned by the same HDPO loop (the paper trains its ``BaseStock``,
# ``CappedBaseStock`` and ``EchelonStock`` "networks" this way: configs ``base_stock.yml``,
# ``capped_base_stock.yml``, ``echelon_stock.yml``, Adam with lr 0.5 / 1.0 / 0.5).
#
# Parametrisation, as the paper's code: every level is ``softplus`` of a free parameter, in raw units of
# stock (not in units of mean demand), so that Adam's step of about ``lr`` per update moves a level by
# about ``lr`` units whatever the demand scale (the paper's lrs are tuned for these raw units and demand
# means around 5). What differs, on purpose: the levels start from the setting (the code starts every
# output at ``softplus(10)``, i.e. twice its settings' mean demand of 5), store levels are per store (the
# code shares one level by all stores and scenarios), and the setting's feasibility rule (an upstream
# stage ships at most its on-hand stock) is the simulator's, not the policy's.


def _check_no_hidden(name: str, hidden: Sequence[int] | None) -> None:
    if hidden:
        raise ValueError(f"hdpo: the {name} policy has no hidden layers (its parameters are its levels), "
                         f"got hidden={tuple(hidden)!r}; leave hidden unset")


def _check_store_only(name: str, setting: InventorySetting) -> None:
    if setting.upstream:
        raise ValueError(
            f"hdpo: the {name} policy covers store-only settings (stores ordering from an unlimited source), "
            f"but {setting.name!r} has upstream locations; use echelon_stock for the serial system or a network policy"
        )


def _levels_parameter(values: Sequence[float]) -> nn.Parameter:
    """A parameter whose ``softplus`` is ``values`` (each at least 1e-3, so the inverse is defined)."""
    return nn.Parameter(torch.tensor([_softplus_inverse(max(float(v), 1e-3)) for v in values], dtype=torch.float32))


class BaseStockLevelPolicy(nn.Module):
    """Base-stock (order-up-to) policy with learned levels, one per store: order ``max(S - IP, 0)``.

    ``IP`` (inventory position) = on-hand + everything in transit, i.e. the sum of the store's pipeline;
    with backlog the on-hand, hence ``IP``, may be negative. ``S = softplus(theta)`` (raw units); the order
    ``relu(S - IP)`` has gradient 1 in ``S`` wherever it orders. Optimal for one store with backlogged
    demand (:func:`~orl.algos.structured.references.base_stock_level` is the analytic level).

    Initial level: ``(L + 1) x`` the store's mean demand (the demand an order must cover; the paper's
    code starts at 10, which is that for L = 1 and mean 5). Store-only settings; default lr 0.5 (the paper's).
    """

    default_lr = 0.5  # base_stock.yml

    def __init__(self, setting: InventorySetting, hidden: Sequence[int] | None = None) -> None:
        super().__init__()
        _check_no_hidden("base_stock", hidden)
        _check_store_only("base_stock", setting)
        self.raw_level = _levels_parameter([(lt + 1) * m for lt, m in zip(setting.lead_times, setting.demand.mean)])

    @property
    def levels(self) -> torch.Tensor:
        """The base-stock levels ``S`` per store, ``[n_stores]``."""
        return F.softplus(self.raw_level)

    def forward(self, state: InventoryState) -> torch.Tensor:
        return F.relu(self.levels - state.stores.sum(dim=2))


class CappedBaseStockPolicy(nn.Module):
    """Capped base-stock (Xin 2021; near-optimal for lost sales): ``min(max(S - IP, 0), r)`` per store.

    Learned ``S = softplus(theta_S)`` and cap ``r = softplus(theta_r)`` per store (raw units). Written as
    ``torch.minimum(relu(S - IP), r)``, which equals ``clamp(S - IP, 0, r)`` and is differentiable almost
    everywhere: the gradient reaches ``S`` where ``0 < S - IP < r`` and ``r`` where the cap binds.
    Large ``r`` gives base-stock, large ``S`` a constant order ``r``.

    Initial values: ``S = (L + 1) x`` mean demand, ``r = 2 x`` mean demand (the paper's code starts both
    at 10, mean demand 5). Store-only settings; default lr 1.0 (the paper's).
    """

    default_lr = 1.0  # capped_base_stock.yml

    def __init__(self, setting: InventorySetting, hidden: Sequence[int] | None = None) -> None:
        super().__init__()
        _check_no_hidden("capped_base_stock", hidden)
        _check_store_only("capped_base_stock", setting)
        means = setting.demand.mean
        self.raw_level = _levels_parameter([(lt + 1) * m for lt, m in zip(setting.lead_times, means)])
        self.raw_cap = _levels_parameter([2.0 * m for m in means])

    @property
    def levels(self) -> torch.Tensor:
        return F.softplus(self.raw_level)

    @property
    def caps(self) -> torch.Tensor:
        return F.softplus(self.raw_cap)

    def forward(self, state: InventoryState) -> torch.Tensor:
        return torch.minimum(F.relu(self.levels - state.stores.sum(dim=2)), self.caps)


class EchelonStockPolicy(nn.Module):
    """Echelon-stock policy for the serial system (Clark & Scarf 1960: optimal with backlogged demand).

    Stages, downstream first: the store, the warehouse, then the extra echelons from the one supplying the
    warehouse up to the most upstream. Stage ``k``'s *echelon* inventory position is everything at or below
    it: the sum of the pipelines (on-hand + in transit) of stage ``k`` and of every stage downstream of it,
    the store's possibly negative (backlogged) on-hand included. Stage ``k`` orders
    ``max(S_k - echelon IP_k, 0)``. An upstream stage ships at most its on-hand stock; the simulator
    applies that rule (with a single customer it is ``min(order, on-hand)``, the code's truncation).

    Levels are partial sums of positive increments, ``S_k = sum_{j <= k} softplus(theta_j)`` (the paper's
    code does the same: it "allowed us to avoid getting stuck in bad local minima"), so levels never
    decrease going upstream. Initial increments: ``(L_store + 1) x`` mean demand for the store, ``L_k x``
    mean demand for each upstream stage (the code: about 10 each). Default lr 0.5 (the paper's).

    Only for settings with extra echelons above the warehouse and one store (``serial``); others raise
    ``ValueError``. Orders are returned in the simulator's order: store, warehouse, echelons most upstream first.
    """

    default_lr = 0.5  # echelon_stock.yml

    def __init__(self, setting: InventorySetting, hidden: Sequence[int] | None = None) -> None:
        super().__init__()
        _check_no_hidden("echelon_stock", hidden)
        if not setting.echelons or setting.n_stores != 1 or setting.transshipment:
            raise ValueError(
                f"hdpo: the echelon_stock policy needs a serial system (one store, a warehouse and extra echelons "
                f"above it, e.g. 'serial'), but {setting.name!r} has {setting.n_stores} store(s) and "
                f"{len(setting.echelons)} extra echelon(s); use base_stock or capped_base_stock for store-only settings"
            )
        self.n_echelons = len(setting.echelons)
        mean = setting.demand.mean[0]
        upstream = [setting.warehouse.lead_time, *(e.lead_time for e in reversed(setting.echelons))]
        self.raw_increments = _levels_parameter([(setting.lead_times[0] + 1) * mean, *(lt * mean for lt in upstream)])

    @property
    def levels(self) -> torch.Tensor:
        """Echelon base-stock levels, downstream first (store, warehouse, echelons from the lowest up)."""
        return torch.cumsum(F.softplus(self.raw_increments), dim=0)

    def echelon_positions(self, state: InventoryState) -> torch.Tensor:
        """Echelon inventory positions ``[B, stages]``, downstream first."""
        installation = [state.stores.sum(dim=(1, 2)), state.warehouse.sum(dim=(1, 2))]
        installation += [state.echelons[:, k].sum(dim=1) for k in reversed(range(self.n_echelons))]
        return torch.cumsum(torch.stack(installation, dim=1), dim=1)

    def forward(self, state: InventoryState) -> torch.Tensor:
        orders = F.relu(self.levels - self.echelon_positions(state))  # downstream first
        return torch.cat([orders[:, :2], orders[:, 2:].flip(1)], dim=1)  # store, warehouse, echelons upstream first


#: The parametric policies (their parameters are levels, no hidden layers).
PARAMETRIC = ("base_stock", "capped_base_stock", "echelon_stock")


POLICIES: dict[str, type[nn.Module]] = {
    "mlp": MLPPolicy, "symmetry_aware": SymmetryAwarePolicy, "gnn": GNNPolicy,
    "base_stock": BaseStockLevelPolicy, "capped_base_stock": CappedBaseStockPolicy, "echelon_stock": EchelonStockPolicy,
}


def make_policy(name: str, setting: InventorySetting, hidden: Sequence[int] | None = None) -> nn.Module:
    """The policy ``name`` of :data:`POLICIES` for ``setting`` (``hidden=None``: the policy's default)."""
    if name not in POLICIES:
        raise ValueError(f"hdpo: unknown policy {name!r}; known: {', '.join(sorted(POLICIES))}")
    return POLICIES[name](setting, hidden)
