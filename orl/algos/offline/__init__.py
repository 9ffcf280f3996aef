"""Offline RL algorithms: BC, TD3+BC, IQL, CQL, A2PR, and diffusion BC."""

from orl.algos.offline.a2pr import A2PR, A2PRConfig
from orl.algos.offline.bc import BC, BCConfig
from orl.algos.offline.cql import CQL, CQLConfig
from orl.algos.offline.diffusion_bc import DiffusionBC, DiffusionBCConfig
from orl.algos.offline.iql import IQL, IQLConfig
from orl.algos.offline.td3bc import TD3BC, TD3BCConfig

__all__ = ["A2PR", "A2PRConfig", "BC", "BCConfig", "CQL", "CQLConfig", "DiffusionBC", "DiffusionBCConfig", "IQL", "IQLConfig", "TD3BC", "TD3BCConfig"]
