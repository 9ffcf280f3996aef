"""Inventory networks of Alvo, Russo & Kanoria (arXiv 2306.11246): simulator, settings and Gymnasium envs.

* :mod:`.simulator`: the batched, differentiable dynamics (single source of truth);
* :mod:`.settings`: the paper's parameters per setting;
* :mod:`.scenario`: per-episode randomness (demand traces, initial inventories, CSV demand histories);
* :mod:`.env`: :class:`InventoryEnv` (batch of one) and :class:`InventoryVectorEnv` (native batch).
"""

from __future__ import annotations

import gymnasium as gym

import importlib

# The simulator is torch code; it is imported on first use of a name below (``import orl_envs`` only
# registers the ids, so users of the other families do not pay torch's import time).
_LAZY = {
    "env": ("ACTION_BOUND_PERIODS", "DEFAULT_PERIODS", "InventoryEnv", "InventoryVectorEnv"),
    "scenario": ("initial_state", "load_demand_csv", "sample_demands"),
    "settings": ("SETTINGS", "DemandModel", "InventorySetting", "Upstream", "make_setting"),
    "simulator": ("InventorySimulator", "InventoryState", "StepResult", "full_allocation", "proportional_allocation"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: Gymnasium id -> setting name.
INVENTORY_IDS: dict[str, str] = {
    "orl/InventoryOneStoreLost-v0": "one_store_lost",
    "orl/InventoryOneStoreBacklogged-v0": "one_store_backlogged",
    "orl/InventorySerial-v0": "serial",
    "orl/InventoryOneWarehouseLostDemand-v0": "one_warehouse_lost_demand",
    "orl/InventoryTransshipmentBacklogged-v0": "transshipment_backlogged",
}


def register() -> None:
    """Register the inventory ids (idempotent: importing the package twice must not warn)."""
    for env_id, setting in INVENTORY_IDS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point="orl_envs.inventory.env:InventoryEnv",
            vector_entry_point="orl_envs.inventory.env:InventoryVectorEnv",
            kwargs={"setting": setting},
            # No max_episode_steps: the env truncates itself after `periods`, which is a make kwarg.
        )


__all__ = [
    "ACTION_BOUND_PERIODS",
    "DEFAULT_PERIODS",
    "INVENTORY_IDS",
    "SETTINGS",
    "DemandModel",
    "InventoryEnv",
    "InventorySetting",
    "InventorySimulator",
    "InventoryState",
    "InventoryVectorEnv",
    "StepResult",
    "Upstream",
    "full_allocation",
    "initial_state",
    "load_demand_csv",
    "make_setting",
    "proportional_allocation",
    "register",
    "sample_demands",
]
