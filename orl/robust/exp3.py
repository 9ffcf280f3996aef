"""The test-time defence of PROTECTED: an adversarial bandit over a set of policies, one round per episode.

Liu et al., "Beyond Worst-case Attacks: Robust RL with Adaptive Defense via Non-dominated Policies", ICLR 2024;
the official code's ``policy_gradients/exp3.py`` (``Exp3Alg``) and ``dynamic_attack.py``. Implicit-exploration
EXP3 (EXP3-IX, Neu 2015) without uniform mixing:

    p_t = w_t / sum(w_t),     eta = c * sqrt(ln K / (K T)),     gamma = eta / 2,
    arm i_t ~ p_t,   r_t = return / normaliser,   w_{t+1, i_t} = w_{t, i_t} * exp(eta * r_t / (p_{t, i_t} + gamma)).

The code's settings: ``c = 5`` at test time (``--exp3-lr``; the class default is 2), normaliser 6000 (a MuJoCo
return scale), ``T = 2000`` rounds. The weights are kept in log space here (``log_w``) so that long runs
cannot overflow; probabilities and updates are the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class EXP3:
    """Implicit-exploration EXP3 over ``K`` arms for a horizon of ``T`` rounds (PROTECTED's ``Exp3Alg``)."""

    K: int
    T: int
    normalizer: float = 6000.0
    lr: float = 5.0
    log_w: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.K < 1 or self.T < 1:
            raise ValueError(f"EXP3 needs K >= 1 arms and T >= 1 rounds, got K={self.K}, T={self.T}")
        if not self.normalizer > 0 or not self.lr > 0:
            raise ValueError(f"normalizer and lr must be positive, got {self.normalizer}, {self.lr}")
        self.log_w = np.zeros(self.K)

    @property
    def eta(self) -> float:
        return self.lr * float(np.sqrt(np.log(self.K) / (self.K * self.T))) if self.K > 1 else 0.0

    @property
    def gamma(self) -> float:
        return self.eta / 2

    @property
    def weights(self) -> np.ndarray:
        return np.exp(self.log_w)

    def probabilities(self) -> np.ndarray:
        z = np.exp(self.log_w - self.log_w.max())
        return z / z.sum()

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.choice(self.K, p=self.probabilities()))

    def update(self, reward: float, arm: int) -> None:
        """Credit ``reward`` (an episode's return, divided by ``normalizer`` here) to the played ``arm``."""
        if not 0 <= arm < self.K:
            raise ValueError(f"arm {arm} out of range for {self.K} arms")
        p = self.probabilities()[arm]
        self.log_w[arm] += self.eta * (reward / self.normalizer) / (p + self.gamma)


@dataclass
class BanditRun:
    """The record of a bandit run: the arm and reward of every round, the probabilities before it, and the
    mean reward every arm would have earned in that round (when known: for regret)."""

    arms: np.ndarray
    rewards: np.ndarray
    probabilities: np.ndarray
    arm_means: np.ndarray | None = None

    def regret(self) -> np.ndarray:
        """Cumulative pseudo-regret against the best fixed arm in hindsight, per round:
        ``max_i sum_{s<=t} m_{s,i} - sum_{s<=t} sum_i p_{s,i} m_{s,i}`` (needs ``arm_means``)."""
        if self.arm_means is None:
            raise ValueError("regret needs the arms' mean rewards per round (arm_means)")
        best = np.cumsum(self.arm_means, axis=0).max(axis=1)
        expected = np.cumsum((self.probabilities * self.arm_means).sum(axis=1))
        return best - expected


def run_exp3(play: Callable[[int, int], float], K: int, T: int, rng: np.random.Generator, normalizer: float = 6000.0,
             lr: float = 5.0, arm_means: Callable[[int], np.ndarray] | None = None) -> BanditRun:
    """Play ``T`` rounds: each samples an arm, ``play(arm, t)`` returns its episode's return, EXP3 learns from it.
    ``arm_means(t)`` (optional) gives every arm's expected return in round ``t`` for the regret."""
    bandit = EXP3(K, T, normalizer, lr)
    arms, rewards, probs, means = np.zeros(T, int), np.zeros(T), np.zeros((T, K)), []
    for t in range(T):
        probs[t] = bandit.probabilities()
        arms[t] = bandit.sample(rng)
        rewards[t] = play(int(arms[t]), t)
        if arm_means is not None:
            means.append(np.asarray(arm_means(t), float))
        bandit.update(rewards[t], int(arms[t]))
    return BanditRun(arms, rewards, probs, np.array(means) if arm_means is not None else None)


def exp3_defence(agents: list, env_id: str, attacks: list, eps: float, schedule: np.ndarray, seed: int = 0,
                 lr: float = 5.0, normalizer: float = 6000.0, arm_means: tuple[np.ndarray, np.ndarray] | None = None,
                 rng: np.random.Generator | None = None) -> BanditRun:
    """PROTECTED's test-time defence: EXP3 over ``agents`` for ``len(schedule)`` rounds, one episode each.

    Round ``t`` plays the sampled agent in ``env_id`` (reset seeded ``seed + t``) under ``attacks[arm]`` when
    ``schedule[t]`` (None: no attack), else clean. ``arm_means = (clean, attacked)``, each ``(K,)``, are the arms'
    expected returns in the two states (estimated beforehand), for the regret against the best fixed arm.
    """
    from orl.robust.evaluate import attacked_returns

    schedule = np.asarray(schedule, bool)
    if len(attacks) != len(agents):
        raise ValueError(f"{len(agents)} agents need as many attacks (one per arm), got {len(attacks)}")

    def play(arm: int, t: int) -> float:
        attack = attacks[arm] if schedule[t] else None
        return float(attacked_returns(agents[arm], env_id, attack, eps, episodes=1, seed=seed + t)[0])

    means = None
    if arm_means is not None:
        clean, attacked = (np.asarray(m, float) for m in arm_means)
        means = lambda t: attacked if schedule[t] else clean  # noqa: E731
    return run_exp3(play, K=len(agents), T=len(schedule), rng=rng or np.random.default_rng(seed),
                     normalizer=normalizer, lr=lr, arm_means=means)
