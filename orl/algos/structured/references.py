"""Reference policies for the inventory settings, computed by orl itself (Alvo, Russo & Kanoria,
arXiv 2306.11246, section on settings with known optima).

- One store, backlogged demand: a base-stock policy (order up to ``S`` on the inventory position) is
  optimal, with ``S* = F^-1_{D_{L+1}}(p / (p + h))`` for the demand over ``L + 1`` periods (an order
  placed now arrives after ``L`` periods and must also cover that period's demand), and its long-run cost
  is the newsvendor cost of ``D_{L+1}``. The simulator draws normal demand *clipped at 0*, so ``D_{L+1}`` is
  a sum of clipped normals, not a normal: its distribution is computed numerically (:func:`lead_time_demand`).
- One store, lost sales, Poisson demand: the optimal policy by dynamic programming
  (:mod:`orl.algos.structured.lost_sales_dp`, Zipkin 2008).
"""

from __future__ import annotations

import functools
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


#: Grid step of :func:`lead_time_demand`, in demand units: the discretisation moves the optimal level by at
#: most one step and the optimal cost by far less than 1e-6 (relative) in the paper's settings (tested).
GRID_STEP = 1e-3


def lead_time_demand(mu: float, sigma: float, periods: int, clip: bool = True,
                     step: float = GRID_STEP) -> tuple[np.ndarray, np.ndarray]:
    """The distribution of the demand over ``periods`` i.i.d. periods, each ``Normal(mu, sigma^2)`` clipped at 0
    (``clip``, as the simulator draws it) or not: ``(grid, probabilities)`` on ``grid = start + step * k``.

    One period's demand is discretised on the grid by cell masses (cell ``k`` holds the probability of
    ``(x_k - step/2, x_k + step/2]``, the first cell everything below, the clipped atom at 0 included, the last
    everything above), then convolved ``periods`` times with itself by FFT. The grid spans 12 standard
    deviations on each side, so the mass left out is below 1e-30.
    """
    if not (sigma > 0 and periods >= 1 and step > 0):
        raise ValueError(f"lead_time_demand needs sigma > 0, periods >= 1 and step > 0, got {sigma}, {periods}, {step}")
    lo = max(mu - 12 * sigma, 0.0) if clip else mu - 12 * sigma
    hi = mu + 12 * sigma
    x = lo + step * np.arange(int(math.ceil((hi - lo) / step)) + 1)
    edges = torch.tensor(np.concatenate([[-np.inf], x[:-1] + step / 2, [np.inf]]), dtype=torch.float64)
    one = np.diff(torch.special.ndtr((edges - mu) / sigma).numpy())
    n = periods * (len(x) - 1) + 1
    size = 1 << (n - 1).bit_length()
    pmf = np.fft.irfft(np.fft.rfft(one, size) ** periods, size)[:n]
    pmf = np.clip(pmf, 0.0, None)  # FFT round-off leaves ~1e-17 negatives in the far tails
    return periods * lo + step * np.arange(n), pmf / pmf.sum()


@functools.lru_cache(maxsize=256)
def _base_stock(mu: float, sigma: float, lead: int, h: float, p: float, clip: bool) -> tuple[float, float]:
    """(optimal level, long-run cost per period) of one store: the newsvendor of the ``L + 1``-period demand."""
    if not clip:  # the sum of normals is normal: closed form
        z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p / (p + h), dtype=torch.float64)))
        s_l = math.sqrt(lead + 1) * sigma
        return (lead + 1) * mu + s_l * z, (h + p) * s_l * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    step = GRID_STEP
    grid, pmf = lead_time_demand(mu, sigma, lead + 1, clip=True, step=step)
    # For a discrete distribution the newsvendor cost is piecewise linear and convex in S with kinks on the grid;
    # it is smallest at the first grid point where the CDF reaches the critical ratio.
    cdf, ratio = np.cumsum(pmf), p / (p + h)
    k = min(int(np.searchsorted(cdf, ratio)), len(grid) - 1)
    at = float(grid[k])
    short = float((np.clip(grid - at, 0.0, None) * pmf).sum())  # E (D - S)^+
    over = at - float((grid * pmf).sum()) + short  # E (S - D)^+
    # The level itself, to O(step^2): cell k's mass spread evenly over (x_k - step/2, x_k + step/2].
    below = float(cdf[k - 1]) if k > 0 else 0.0
    level = at - step / 2 + step * (ratio - below) / max(float(pmf[k]), 1e-300)
    return level, h * over + p * short


def _per_store(setting: InventorySetting) -> list[tuple[float, float]]:
    if not base_stock_applies(setting):
        raise ValueError(f"base-stock optimality needs a store-only backlogged setting with normal demand, "
                         f"not {setting.name!r}")
    d = setting.demand
    return [_base_stock(float(mu), float(sigma), int(lead), float(h), float(p), bool(d.clip))
            for mu, sigma, lead, h, p in zip(d.mean, d.std, setting.lead_times, setting.holding_costs,
                                             setting.underage_costs)]


def base_stock_level(setting: InventorySetting) -> torch.Tensor:
    """Optimal base-stock levels of a store-only backlogged setting with normal demand, one per store.

    ``S* = F^-1_{D_{L+1}}(p / (p + h))`` for the demand the simulator draws: with clipped demand (every normal
    setting of the paper) the distribution of :func:`lead_time_demand`, else the normal quantile
    ``(L+1) mu + sqrt(L+1) sigma z*``. (Ignoring the clipping, as orl did before, overstates the optimal cost
    by 0.02-0.05% for Normal(5, 1.6).)
    """
    return torch.tensor([level for level, _ in _per_store(setting)], dtype=torch.float64)


def base_stock_cost(setting: InventorySetting) -> float:
    """Exact long-run average cost per store and period of the optimal base-stock policy: the newsvendor cost
    ``h E(S* - D_{L+1})^+ + p E(D_{L+1} - S*)^+`` of the demand the simulator draws (clipped or not; for
    unclipped normal demand ``(h + p) sigma_{L+1} phi(z*)``)."""
    costs = [cost for _, cost in _per_store(setting)]
    return sum(costs) / setting.n_stores


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
