"""Training loops, one per algorithm family, and the table ``orl.run`` dispatches on.

Each family's module exposes ``run_config(cfg, out_dir, resume, tuned) -> str``: train the Hydra
configuration ``cfg`` into ``out_dir`` (continuing a killed run when ``resume``) and return the
run's final line. An algorithm's family is the ``family`` key of its ``conf/algo/*.yaml``
(default ``offline``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

#: family -> module holding its ``run_config`` (imported on use).
FAMILIES: dict[str, str] = {
    "offline": "orl.train.offline",  # BC, TD3+BC, IQL, CQL, A2PR on a dataset
    "hdpo": "orl.train.hdpo",  # differentiable simulators (inventory networks)
    "bq": "orl.train.bq",  # imitation of solved routing instances (BQ-NCO)
    "online": "orl.train.online",  # on-policy RL in a Gymnasium environment (PPO, PPO-Buffer, PROPS, SA-PPO)
    "offpolicy": "orl.train.offpolicy",  # off-policy RL in a Gymnasium environment, optionally with offline data (SAC)
    "protected": "orl.robust.protected",  # PROTECTED's discovery of non-dominated policies (issue 19)
    "crs": "orl.train.crs",  # conversational recommendation policies (UNICORN, flat DQN) on orl/CRS-* (issue 21)
}

#: The families whose trainer puts its networks on ``device=`` (``cuda[:N]``); every other family trains on the CPU
#: and refuses another device by name (``orl.run.check_config``) rather than ignoring it.
DEVICE_FAMILIES: tuple[str, ...] = ("offline", "offpolicy", "hdpo", "bq")


#: The top-level loop settings that only some trainers read (every one reads ``steps``, ``seed``, ``threads``).
LOOP_SETTINGS: tuple[str, ...] = ("batch_size", "eval_every", "eval_episodes", "log_every", "sampler", "sampler_alpha",
                                  "sampler_k")

#: Those each family's trainer reads: ``orl.run.check_config`` refuses the others by name when they are set away from
#: their defaults, rather than let the run ignore them (the off-policy, HDPO, BQ and CRS algorithms take their batch
#: size from ``algo.batch_size``; the CRS ones evaluate ``algo.eval_dialogues``).
FAMILY_SETTINGS: dict[str, tuple[str, ...]] = {
    "offline": LOOP_SETTINGS,
    "hdpo": ("eval_every", "log_every"),
    "bq": ("eval_every", "log_every"),
    "online": ("eval_every", "eval_episodes"),
    "offpolicy": ("eval_every", "eval_episodes", "log_every"),
    "protected": ("eval_every", "eval_episodes"),
    "crs": ("eval_every",),
}


def trainer_for(family: str) -> Callable[..., str]:
    if family not in FAMILIES:
        raise ValueError(f"unknown algorithm family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    return importlib.import_module(FAMILIES[family]).run_config
