"""Gymnasium ids for environments that orl derives from another one and a file (DSRL-SAC's noise-action env around
a diffusion policy, the robustness attacker's MDP around a saved victim).

Such an environment is built from arguments that a name must capture, and a run directory stores only its id: the
id is therefore a hash of the arguments, the same in every process, so a resumed or reloaded run registers the same
id again and finds its environment.
"""

from __future__ import annotations

import hashlib
from typing import Any

import gymnasium as gym


def register_derived_env(prefix: str, entry_point: Any, env_id: str, kwargs: dict[str, Any], key: str) -> str:
    """Register ``f"{prefix}-{hash(key)}-v0"`` (once) with ``entry_point(**kwargs)`` and ``env_id``'s episode limit;
    return the id. ``key`` must name every argument that changes the environment."""
    from orl.data.chunks import ensure_registered

    derived = f"{prefix}-{hashlib.sha1(key.encode()).hexdigest()[:12]}-v0"
    # ``env_id`` may itself be derived at run time (an action-chunk id, DSRL's): in a fresh process -- a resumed
    # run -- nothing has registered it yet
    ensure_registered(env_id)
    if derived not in gym.envs.registry:
        gym.register(derived, entry_point=entry_point, max_episode_steps=gym.spec(env_id).max_episode_steps,
                     kwargs=kwargs)
    return derived
