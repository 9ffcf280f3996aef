"""Large-action tabular MDPs with an action-grouping ground truth (Li, Ju & Shroff, ICLR 2024, arXiv 2306.12981)."""

from __future__ import annotations

import gymnasium as gym

from .env import GroupedActionsEnv, GroupedMDP, generate_grouped_mdp

#: Gymnasium id -> entry point.
GROUPED_ACTIONS_IDS: dict[str, str] = {
    "orl/GroupedActions-v0": "orl_envs.grouped_actions.env:GroupedActionsEnv",
}


def register() -> None:
    """Register :data:`GROUPED_ACTIONS_IDS` (idempotent)."""
    for env_id, entry in GROUPED_ACTIONS_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry, max_episode_steps=100)


__all__ = ["GROUPED_ACTIONS_IDS", "GroupedActionsEnv", "GroupedMDP", "generate_grouped_mdp", "register"]
