"""Returns of a policy under observation attacks: the evaluation of issue 19's tables.

:func:`attacked_returns` plays ``episodes`` episodes of an orl agent in ``env_id`` wrapped by
:class:`~orl.robust.attacks.ObservationAttack` (deterministic actions, resets seeded ``seed + k``);
:func:`attack_suite` builds the attacks of the papers' tables for one victim — none, random, MAD, critic (the
victim's own V), robust SARSA (when a trained ``QNet`` is given) and learned attackers (SA-RL, PA-AD run
directories trained against *this* victim) — and returns their mean and standard deviation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from orl.robust.attacks import Attack, ObservationAttack, Victim, critic_attack, mad_attack, random_attack


def attacked_returns(agent: Any, env_id: str, attack: Attack | None, eps: float, episodes: int = 10,
                     seed: int = 0, victim: Victim | None = None) -> np.ndarray:
    """Undiscounted returns of ``agent`` (deterministic) in ``env_id`` under ``attack`` (None: no attack)."""
    victim = victim or Victim.from_agent(agent)
    out = []
    for k in range(episodes):
        env = gym.make(env_id)
        if attack is not None:
            env = ObservationAttack(env, attack, eps, victim)
        obs, _ = env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(agent.predict(obs))
            total += float(r)
            done = term or trunc
        env.close()
        out.append(total)
    return np.asarray(out)


def attack_suite(agent: Any, env_id: str, eps: float, episodes: int = 10, seed: int = 0, sarsa: Any = None,
                 attackers: Mapping[str, str | Path] | None = None) -> dict[str, dict[str, float]]:
    """``{attack name: {"mean", "std"}}`` for none, random, MAD, critic, SARSA (if given) and learned attackers."""
    victim = Victim.from_agent(agent)
    gen = torch.Generator().manual_seed(seed)
    attacks: dict[str, Attack | None] = {
        "none": None,
        "random": lambda s: random_attack(s, eps, gen),
        "mad": lambda s: mad_attack(victim, s, eps, generator=gen),
    }
    if victim.value is not None:
        attacks["critic"] = lambda s: critic_attack(victim.value, s, eps, generator=gen)
    if sarsa is not None:
        from orl.robust.sarsa import sarsa_attack

        attacks["sarsa"] = sarsa_attack(sarsa, victim, eps, gen)
    for name, run in (attackers or {}).items():
        from orl.robust.adversary import learned_attack

        attacks[name] = learned_attack(run, victim, gen)
    results = {}
    for name, attack in attacks.items():
        r = attacked_returns(agent, env_id, attack, eps, episodes, seed, victim)
        results[name] = {"mean": float(r.mean()), "std": float(r.std())}
    return results
