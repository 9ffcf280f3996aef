"""Parameters of the inventory settings of Alvo, Russo & Kanoria (arXiv 2306.11246).

A setting fixes everything that does not change between episodes: network shape, costs, lead times and
the demand *distribution*. What is random per episode (demand traces, initial inventories) is drawn in
:mod:`orl_envs.inventory.scenario`.

Values follow the paper's benchmark configurations (official code ``MatiasAlvo/Neural_inventory_control``,
``config_files/settings/*.yml``). For the multi-store settings the paper draws one instance (per-store
demand means, coefficients of variation, costs, lead times) with fixed seeds and shares it across all
samples; ``instance_seed=None`` reproduces those draws exactly (NumPy's legacy ``RandomState`` with the
paper's seeds), an integer draws a fresh instance from a seeded ``torch.Generator``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._torch import torch  # torch is the [inventory] extra: a clear ImportError without it

#: The paper's seeds for the instance parameters of the multi-store settings (``seeds`` in its configs).
_PAPER_SEEDS = {"mean": 33, "coef_of_var": 92, "underage_cost": 28, "holding_cost": 73, "lead_time": 41}


@dataclass(frozen=True)
class DemandModel:
    """Per-store demand distribution, i.i.d. over periods.

    ``poisson`` uses ``mean`` as the rate (``std`` is then ``sqrt(mean)``, informational only);
    ``normal`` is a (multivariate, equicorrelated with ``correlation``) normal, clipped at 0 when ``clip``.
    """

    distribution: Literal["poisson", "normal"]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    correlation: float = 0.0
    clip: bool = True

    def __post_init__(self) -> None:
        if self.distribution not in ("poisson", "normal"):
            raise ValueError(f"demand distribution must be 'poisson' or 'normal', got {self.distribution!r}")
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"demand mean and std need one entry per store, got {self.mean} and {self.std}")
        if any(m < 0 for m in self.mean) or any(s < 0 for s in self.std):
            raise ValueError(f"demand means and stds must be >= 0, got {self.mean} and {self.std}")
        if not -1.0 / max(len(self.mean) - 1, 1) <= self.correlation <= 1.0:
            raise ValueError(f"correlation {self.correlation} does not give a valid covariance matrix")


@dataclass(frozen=True)
class Upstream:
    """A location that only ships downstream (warehouse, transshipment centre or extra echelon)."""

    holding_cost: float
    lead_time: int


@dataclass(frozen=True)
class InventorySetting:
    """One inventory network: stores (which face demand) fed by an optional chain of upstream locations.

    Attributes:
        name: the paper's setting name.
        holding_costs, underage_costs, lead_times: one entry per store (lead times are integers >= 1).
        demand: the demand distribution (ignored when an episode's demand comes from a CSV file).
        lost_demand: unmet demand is lost (True) or backlogged (False).
        warehouse: the location that supplies all stores, or None (stores order from an unlimited source).
        echelons: extra locations above the warehouse, most upstream first; echelon 0 orders from an
            unlimited source and each following one from its predecessor, the last one supplies the warehouse.
        transshipment: the warehouse is a transshipment centre that holds no stock (ships all it has).
        initial_inventory_range: store pipeline slots start at ``U[lo, hi] * mean demand``.
    """

    name: str
    holding_costs: tuple[float, ...]
    underage_costs: tuple[float, ...]
    lead_times: tuple[int, ...]
    demand: DemandModel
    lost_demand: bool
    warehouse: Upstream | None = None
    echelons: tuple[Upstream, ...] = ()
    transshipment: bool = False
    initial_inventory_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        n = len(self.lead_times)
        if n < 1 or len(self.holding_costs) != n or len(self.underage_costs) != n or len(self.demand.mean) != n:
            raise ValueError(
                f"{self.name}: holding_costs, underage_costs, lead_times and demand need one entry per store, "
                f"got lengths {len(self.holding_costs)}, {len(self.underage_costs)}, {n}, {len(self.demand.mean)}"
            )
        locations = [*self.lead_times, *(u.lead_time for u in self.upstream)]
        if any(int(lt) != lt or lt < 1 for lt in locations):
            raise ValueError(f"{self.name}: lead times must be integers >= 1, got {locations}")
        costs = [*self.holding_costs, *self.underage_costs, *(u.holding_cost for u in self.upstream)]
        if any(not math.isfinite(c) or c < 0 for c in costs):
            raise ValueError(f"{self.name}: costs must be finite and >= 0, got {costs}")
        if self.echelons and self.warehouse is None:
            raise ValueError(f"{self.name}: extra echelons need a warehouse below them")
        if self.transshipment and self.warehouse is None:
            raise ValueError(f"{self.name}: a transshipment setting needs a warehouse (the centre)")

    @property
    def n_stores(self) -> int:
        return len(self.lead_times)

    @property
    def upstream(self) -> tuple[Upstream, ...]:
        """Warehouse then echelons (empty for store-only settings)."""
        return ((self.warehouse,) if self.warehouse is not None else ()) + self.echelons

    @property
    def action_dim(self) -> int:
        """Order quantities per period: stores, then the warehouse, then echelons (most upstream first)."""
        return self.n_stores + len(self.upstream)


# --------------------------------------------------------------------------------------------------
# The paper's settings. Defaults are the configurations' defaults; the "tested" values are in comments.


def one_store_lost(lead_time: int = 4, underage_cost: float = 9.0, holding_cost: float = 1.0) -> InventorySetting:
    """One store, lost sales, Poisson(5) demand (Zipkin 2008 grid: p in {4,9,19,39}, L in {1,2,3,4})."""
    return InventorySetting(
        name="one_store_lost",
        holding_costs=(float(holding_cost),),
        underage_costs=(float(underage_cost),),
        lead_times=(int(lead_time),),
        demand=DemandModel("poisson", mean=(5.0,), std=(math.sqrt(5.0),)),
        lost_demand=True,
    )


def one_store_backlogged(
    lead_time: int = 4, underage_cost: float = 9.0, holding_cost: float = 1.0
) -> InventorySetting:
    """One store, backlogged demand, Normal(5, 1.6) clipped at 0 (p in {4,9,19,39}, L in {1,4,7,10,15,20})."""
    return InventorySetting(
        name="one_store_backlogged",
        holding_costs=(float(holding_cost),),
        underage_costs=(float(underage_cost),),
        lead_times=(int(lead_time),),
        demand=DemandModel("normal", mean=(5.0,), std=(1.6,), clip=True),
        lost_demand=False,
    )


def serial(
    lead_time: int = 4,
    underage_cost: float = 9.0,
    holding_cost: float = 1.0,
    warehouse_holding_cost: float = 0.5,
    warehouse_lead_time: int = 3,
    echelon_holding_costs: tuple[float, ...] = (0.1, 0.2),
    echelon_lead_times: tuple[int, ...] = (2, 4),
) -> InventorySetting:
    """Four-echelon serial system (store <- warehouse <- 2 extra echelons), backlogged, Normal(5, 2) clipped.

    Echelon parameters are listed most upstream first, as in the paper's ``echelon_params``.
    """
    if len(echelon_holding_costs) != len(echelon_lead_times):
        raise ValueError(
            f"echelon_holding_costs {echelon_holding_costs} and echelon_lead_times {echelon_lead_times} "
            "differ in length"
        )
    return InventorySetting(
        name="serial",
        holding_costs=(float(holding_cost),),
        underage_costs=(float(underage_cost),),
        lead_times=(int(lead_time),),
        demand=DemandModel("normal", mean=(5.0,), std=(2.0,), clip=True),
        lost_demand=False,
        warehouse=Upstream(float(warehouse_holding_cost), int(warehouse_lead_time)),
        echelons=tuple(Upstream(float(h), int(lt)) for h, lt in zip(echelon_holding_costs, echelon_lead_times)),
    )


def _uniform(n: int, lo: float, hi: float, paper_seed: int, gen: torch.Generator | None) -> np.ndarray:
    """``n`` draws from U[lo, hi): the paper's exact draw when ``gen`` is None, else from ``gen``."""
    if gen is None:
        return np.random.RandomState(paper_seed).uniform(lo, hi, n)
    return (lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)).numpy()


def _store_demands(n_stores: int, correlation: float, clip: bool, gen: torch.Generator | None) -> DemandModel:
    """Per-store mean ~ U[2.5, 7.5], coefficient of variation ~ U[0.25, 0.5], rounded to 3 decimals as in the paper."""
    means = _uniform(n_stores, 2.5, 7.5, _PAPER_SEEDS["mean"], gen).round(3)
    cvs = _uniform(n_stores, 0.25, 0.5, _PAPER_SEEDS["coef_of_var"], gen)
    stds = (means * cvs).round(3)
    return DemandModel("normal", tuple(map(float, means)), tuple(map(float, stds)), correlation, clip)


def _generator(instance_seed: int | None) -> torch.Generator | None:
    return None if instance_seed is None else torch.Generator().manual_seed(int(instance_seed))


def one_warehouse_lost_demand(
    n_stores: int = 5,
    warehouse_holding_cost: float = 0.3,
    warehouse_lead_time: int = 3,
    correlation: float = 0.5,
    instance_seed: int | None = None,
) -> InventorySetting:
    """One warehouse and ``n_stores`` stores (paper: 3, 5, 10, 20, 30, 50), lost demand.

    Per store: demand mean ~ U[2.5, 7.5], cv ~ U[0.25, 0.5] (correlated normal, rho = 0.5, clipped),
    holding cost ~ U[0.7, 1.3], underage cost ~ U[6.3, 11.7], lead time uniform on {2, 3}.
    """
    if int(n_stores) < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")
    n, gen = int(n_stores), _generator(instance_seed)
    demand = _store_demands(n, correlation, clip=True, gen=gen)
    underage = _uniform(n, 6.3, 11.7, _PAPER_SEEDS["underage_cost"], gen)
    holding = _uniform(n, 0.7, 1.3, _PAPER_SEEDS["holding_cost"], gen)
    if gen is None:
        lead = np.random.RandomState(_PAPER_SEEDS["lead_time"]).randint(2, 4, n)
    else:
        lead = torch.randint(2, 4, (n,), generator=gen).numpy()
    return InventorySetting(
        name="one_warehouse_lost_demand",
        holding_costs=tuple(map(float, holding)),
        underage_costs=tuple(map(float, underage)),
        lead_times=tuple(map(int, lead)),
        demand=demand,
        lost_demand=True,
        warehouse=Upstream(float(warehouse_holding_cost), int(warehouse_lead_time)),
    )


def transshipment_backlogged(
    n_stores: int = 5,
    lead_time: int = 2,
    underage_cost: float = 4.0,
    holding_cost: float = 1.0,
    correlation: float = 0.5,
    centre_holding_cost: float = 0.5,
    centre_lead_time: int = 3,
    instance_seed: int | None = None,
) -> InventorySetting:
    """A transshipment centre (holds no stock) and ``n_stores`` stores (paper: 3, 5, 10), backlogged.

    Demand as in the warehouse setting but NOT clipped at 0 (the paper's config), so a period's demand
    can be negative; p in {4, 9}, L in {2, 6}, rho in {0, 0.5}.
    """
    if int(n_stores) < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")
    n = int(n_stores)
    return InventorySetting(
        name="transshipment_backlogged",
        holding_costs=(float(holding_cost),) * n,
        underage_costs=(float(underage_cost),) * n,
        lead_times=(int(lead_time),) * n,
        demand=_store_demands(n, correlation, clip=False, gen=_generator(instance_seed)),
        lost_demand=False,
        warehouse=Upstream(float(centre_holding_cost), int(centre_lead_time)),
        transshipment=True,
    )


#: Setting name -> factory; the factories' keyword arguments are the environments' ``gym.make`` kwargs.
SETTINGS: dict[str, Callable[..., InventorySetting]] = {
    "one_store_lost": one_store_lost,
    "one_store_backlogged": one_store_backlogged,
    "serial": serial,
    "one_warehouse_lost_demand": one_warehouse_lost_demand,
    "transshipment_backlogged": transshipment_backlogged,
}


def make_setting(name: str, **kwargs: Any) -> InventorySetting:
    """Build the setting ``name`` with its factory's keyword arguments (clear error on unknown ones)."""
    if name not in SETTINGS:
        raise ValueError(f"unknown inventory setting {name!r}; known: {sorted(SETTINGS)}")
    factory = SETTINGS[name]
    allowed = list(inspect.signature(factory).parameters)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise TypeError(f"{name}: unknown parameters {unknown}; allowed: {allowed}")
    return factory(**kwargs)
