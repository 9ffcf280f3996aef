"""Dynamic attack schedules: which rounds (episodes) are attacked, as in PROTECTED's ``dynamic_attack.py``.

Liu et al. (ICLR 2024) test the EXP3 defence while the attacker switches between no attack and an attack:

- ``"period"``: attacked for ``interval`` rounds, then clean for ``interval`` rounds, repeated. (The released
  ``get_attack_seeds`` refers to an undefined ``switch_times`` in this branch and skips the last block; orl
  implements the evident intent: every block of ``2 * interval`` rounds starts with ``interval`` attacked ones.)
- ``"prob"``: blocks of 100 rounds (the code's fixed ``intv = 100``, whatever ``interval`` says); the first block
  is attacked and each later block flips the state of the one before with probability ``prob``.

Then, as the code does, rounds in the first and third quarter are forced to be attacked
(``force_quarters=True``). :class:`ScheduledAttack` applies a schedule to an
:class:`~orl.robust.attacks.ObservationAttack`, one round per episode.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from orl.robust.attacks import ObservationAttack

KINDS = ("none", "always", "period", "prob")


def attack_schedule(rounds: int, kind: str, interval: int = 100, prob: float = 0.1,
                    rng: np.random.Generator | None = None, force_quarters: bool = True) -> np.ndarray:
    """A boolean array over ``rounds``: True where the round is attacked."""
    if kind not in KINDS:
        raise ValueError(f"unknown schedule {kind!r}; choose one of {', '.join(KINDS)}")
    if rounds < 1:
        raise ValueError(f"rounds must be positive, got {rounds}")
    attacked = np.zeros(rounds, bool)
    if kind == "always":
        attacked[:] = True
    elif kind == "period":
        if not 0 < interval <= rounds:
            raise ValueError(f"interval must lie in 1..rounds={rounds}, got {interval}")
        for start in range(0, rounds, 2 * interval):
            attacked[start:start + interval] = True
    elif kind == "prob":
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"prob must lie in [0, 1], got {prob}")
        rng = rng if rng is not None else np.random.default_rng()
        state = True
        for start in range(0, rounds, 100):
            if start > 0 and rng.uniform() <= prob:
                state = not state
            attacked[start:start + 100] = state
    if force_quarters and kind != "none":
        attacked[: rounds // 4] = True
        attacked[rounds // 2: 3 * rounds // 4] = True
    return attacked


class ScheduledAttack(gym.Wrapper):
    """Turn an :class:`ObservationAttack` (anywhere below this wrapper) on or off per episode: episode ``k``
    (counted by ``reset``) is attacked iff ``schedule[k]``; past the schedule's end its last value holds."""

    def __init__(self, env: gym.Env, schedule: np.ndarray) -> None:
        super().__init__(env)
        self.schedule = np.asarray(schedule, bool)
        if self.schedule.ndim != 1 or self.schedule.size == 0:
            raise ValueError("schedule must be a non-empty 1-D boolean array")
        attack = env
        while not isinstance(attack, ObservationAttack):
            if not isinstance(attack, gym.Wrapper):
                raise ValueError("ScheduledAttack needs an ObservationAttack inside the env it wraps")
            attack = attack.env
        self.attack = attack
        self.round = -1

    def reset(self, **kwargs):
        self.round += 1
        self.attack.enabled = bool(self.schedule[min(self.round, self.schedule.size - 1)])
        return self.env.reset(**kwargs)
