"""Reference policies for the inventory settings, computed by orl itself (Alvo, Russo & Kanoria,
arXiv 2306.11246, section on settings with known optima).

- One store, backlogged demand: a base-stock policy (order up to ``S`` on the inventory position) is
  optimal, with ``S* = F^-1_{D_{L+1}}(p / (p + h))`` for the demand over ``L + 1`` periods (an order
  placed now arrives after ``L`` periods and must also cover that period's demand).
- One store, lost sales, Poisson demand: the optimal policy by dynamic programming
  (:mod:`orl.algos.structured.lost_sales_dp`, Zipkin 2008).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from orl_envs.inventory.settings import InventorySetting

from orl.algos.structured.lost_sales_dp import LostSalesSolution, solve


class BaseStockPolicy:
    """Order ``max(0, S - position)``, position = on-hand + everything in transit, per store."""

    def __init__(self, levels: torch.Tensor) -> None:
        self.levels = levels

    def __call__(self, stores: torch.Tensor) -> torch.Tensor:
        """``stores``: pipelines ``[B, n_stores, width]`` -> orders ``[B, n_stores]``."""
        return torch.clamp(self.levels.to(stores.dtype) - stores.sum(dim=2), min=0.0)


def base_stock_applies(setting: InventorySetting) -> bool:
    """Base-stock is optimal: store-only, backlogged, normal demand (the analytic quantile)."""
    return not setting.lost_demand and not setting.upstream and setting.demand.distribution == "normal"


def lost_sales_dp_applies(setting: InventorySetting) -> bool:
    """The lost-sales dynamic programme solves it: one store, lost sales, Poisson demand."""
    return (setting.lost_demand and not setting.upstream and setting.n_stores == 1
            and setting.demand.distribution == "poisson")


def base_stock_level(setting: InventorySetting) -> torch.Tensor:
    """Optimal base-stock levels of a store-only backlogged setting with normal demand.

    The demand over ``L + 1`` periods is taken as normal with mean ``(L+1) mu`` and std ``sqrt(L+1) sigma``;
    clipping single-period demand at 0 is ignored (Normal(5, 1.6) is negative with probability 0.1%).
    """
    if not base_stock_applies(setting):
        raise ValueError(f"base-stock optimality needs a store-only backlogged setting with normal demand, "
                         f"not {setting.name!r}")
    levels = []
    for mu, sigma, lead, h, p in zip(setting.demand.mean, setting.demand.std, setting.lead_times,
                                     setting.holding_costs, setting.underage_costs):
        z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p / (p + h), dtype=torch.float64))
        levels.append((lead + 1) * mu + math.sqrt(lead + 1) * sigma * float(z))
    return torch.tensor(levels, dtype=torch.float64)


def base_stock_cost(setting: InventorySetting) -> float:
    """Long-run average cost per store and period of the optimal base-stock policy (same approximation):
    ``(h + p) sigma_{L+1} phi(z*)``, the newsvendor cost of the ``L + 1``-period demand."""
    base_stock_level(setting)  # validates the setting
    total = 0.0
    for sigma, lead, h, p in zip(setting.demand.std, setting.lead_times, setting.holding_costs, setting.underage_costs):
        z = torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p / (p + h), dtype=torch.float64))
        total += (h + p) * math.sqrt(lead + 1) * sigma * math.exp(-0.5 * float(z) ** 2) / math.sqrt(2 * math.pi)
    return total / setting.n_stores


class LostSalesDPPolicy:
    """The dynamic program's optimal order for the (rounded) state of a one-store pipeline."""

    def __init__(self, solution: LostSalesSolution) -> None:
        self.solution = solution

    def __call__(self, stores: torch.Tensor) -> torch.Tensor:
        on_hand = stores[:, 0, 0].detach().numpy()
        pipeline = stores[:, 0, 1:].detach().numpy()
        return torch.as_tensor(self.solution.order(on_hand, pipeline).astype(np.float64), dtype=stores.dtype)[:, None]


def lost_sales_optimum(setting: InventorySetting) -> LostSalesSolution:
    """Optimal average cost and policy of a one-store lost-sales setting with Poisson demand."""
    if not lost_sales_dp_applies(setting):
        raise ValueError(f"the lost-sales DP needs a one-store lost-sales setting with Poisson demand, not {setting.name!r}")
    return solve(setting.lead_times[0], setting.underage_costs[0], setting.holding_costs[0], setting.demand.mean[0])
