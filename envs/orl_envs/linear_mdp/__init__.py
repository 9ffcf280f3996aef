"""d-rectangular linear MDPs for distributionally robust RL with linear function approximation (issue 20).

* :mod:`.model`: :class:`DRectangularLinearMDP` (features, factor distributions, rewards, the test-time shift
  toward the worst state), the 5-state instance :func:`five_state_model` and random members
  (:func:`random_model`);
* :mod:`.env`: the Gymnasium environment.
"""

from __future__ import annotations

import gymnasium as gym

from .env import DRLinearMDPEnv
from .model import FIVE_STATE_NAMES, DRectangularLinearMDP, action_bits, five_state_model, random_model

#: Gymnasium id -> entry point.
LINEAR_MDP_IDS: dict[str, str] = {
    "orl/DRLinearMDP5-v0": "orl_envs.linear_mdp.env:DRLinearMDPEnv",
}


def register() -> None:
    """Register the linear-MDP ids (idempotent)."""
    for env_id, entry_point in LINEAR_MDP_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)


__all__ = [
    "FIVE_STATE_NAMES",
    "LINEAR_MDP_IDS",
    "DRLinearMDPEnv",
    "DRectangularLinearMDP",
    "action_bits",
    "five_state_model",
    "random_model",
    "register",
]
