"""orl-envs: Gymnasium environments of the orl project, usable without orl.

Importing the package registers its environment ids under the ``orl/`` namespace; with
Gymnasium 1.x write ``gymnasium.register_envs(orl_envs)`` so linters keep the import.
:data:`ENV_IDS` lists what is registered: so far the inventory networks of Alvo, Russo & Kanoria
(arXiv 2306.11246), see :mod:`orl_envs.inventory`, and the routing problems of BQ-NCO (TSP, ATSP,
CVRP, OP, KP; Drakulic et al. 2023), see :mod:`orl_envs.routing`, and multi-view active fine-grained
recognition (AFGR / MAFR, Du et al. 2022, 2023), see :mod:`orl_envs.multiview`;
d-rectangular linear MDPs for distributionally robust RL (Liu & Xu 2024; DR-RPO), see
:mod:`orl_envs.linear_mdp`; large-action tabular MDPs with an action-grouping ground truth (Li, Ju & Shroff,
ICLR 2024), see :mod:`orl_envs.grouped_actions`; and multi-round conversational recommendation (UNICORN, Deng
et al. 2021), see :mod:`orl_envs.crs`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .crs import CRS_IDS as _CRS_IDS
from .crs import register as _register_crs
from .grouped_actions import GROUPED_ACTIONS_IDS as _GROUPED_ACTIONS_IDS
from .grouped_actions import register as _register_grouped_actions
from .inventory import INVENTORY_IDS as _INVENTORY_IDS
from .inventory import register as _register_inventory
from .linear_mdp import LINEAR_MDP_IDS as _LINEAR_MDP_IDS
from .linear_mdp import register as _register_linear_mdp
from .multiview import MULTIVIEW_IDS as _MULTIVIEW_IDS
from .multiview import register as _register_multiview
from .routing import ROUTING_IDS as _ROUTING_IDS
from .routing import register as _register_routing

_register_inventory()
_register_routing()
_register_multiview()
_register_linear_mdp()
_register_grouped_actions()
_register_crs()

#: Gymnasium ids registered by this package (filled as environment families land).
ENV_IDS: tuple[str, ...] = (*_INVENTORY_IDS, *_ROUTING_IDS, *_MULTIVIEW_IDS, *_LINEAR_MDP_IDS, *_GROUPED_ACTIONS_IDS,
                            *_CRS_IDS)
