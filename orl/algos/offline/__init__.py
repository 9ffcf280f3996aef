"""Offline RL algorithms: BC, TD3+BC, A2PR."""

from orl.algos.offline.a2pr import A2PR, A2PRConfig
from orl.algos.offline.bc import BC, BCConfig
from orl.algos.offline.td3bc import TD3BC, TD3BCConfig

__all__ = ["A2PR", "A2PRConfig", "BC", "BCConfig", "TD3BC", "TD3BCConfig"]
