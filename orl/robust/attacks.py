"""Observation attacks with an l-infinity budget, as Gymnasium wrappers that work with any env and any policy.

The threat model of the state-adversarial MDP (Zhang et al., "Robust Deep Reinforcement Learning against
Adversarial Perturbations on State Observations", NeurIPS 2020) as used by Liu et al., "Beyond Worst-case
Attacks: Robust RL with Adaptive Defense via Non-dominated Policies" (ICLR 2024, official code
``umd-huang-lab/PROTECTED``, built on the SA-PPO / PA-AD code): at every step the adversary replaces the
observation ``s`` the agent sees by ``s + delta`` with ``||delta||_inf <= eps`` **in the victim's normalised
observation space** (the PPO observation filter ``(s - mean) / std``); the environment itself is unchanged.
The papers' budgets: Hopper 0.075, Walker2d 0.05, HalfCheetah 0.15 (:data:`EPS`).

Attacks are functions of a batch of normalised observations ``s`` (a torch tensor ``(N, d)``) returning the
perturbed ones, each inside the ball (they clamp, whatever their search does):

- :func:`random_attack`: uniform noise in the ball (the code's ``random``);
- :func:`mad_attack`: maximal action difference (the code's ``action``): 10 SGLD sign steps of size
  ``eps / 10`` maximising ``||(mu(s') - mu(s)) / sigma||^2`` (sigma normalised to mean 1), a noisy random
  start, noise ``sqrt(2 step) / (i + 2)`` shrinking each step;
- :func:`critic_attack`: 10 PGD sign steps minimising a critic from a random start: the victim's value
  ``V(s')`` (the code's ``critic``) or a robust-SARSA Q, ``Q(s, mu(s'))`` (the code's ``sarsa``; see
  :mod:`orl.robust.sarsa`);
- :func:`learned_state_attack`: a learned adversary policy ``nu(s)`` (SA-RL, Zhang et al. 2021): ``s +
  eps * hardtanh(nu(s))``;
- :func:`pa_ad_perturbation`: PA-AD's realisation of a "director" direction ``d`` in action space (Sun et al.,
  "Who Is the Strongest Enemy?", ICLR 2022, as coded in PROTECTED's ``perturb_obs_fgsm``): one FGSM step of
  size ``eps`` from a random start in ``[-eps / steps, eps / steps]``, ascending ``cos(mu(s') - mu(s), d) +
  ||mu(s') - mu(s)||``.

:class:`ObservationAttack` applies any of them to an environment's observations, converting the
normalised-space perturbation into raw coordinates with the victim's normaliser (``delta_raw = delta *
std``), so a wrapped env can be handed to any policy that normalises the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

#: The papers' l-infinity budgets on normalised observations (PROTECTED's configs, ``robust_ppo_eps``).
EPS = {"Hopper": 0.075, "Walker2d": 0.05, "HalfCheetah": 0.15, "Ant": 0.15}

#: An attack: normalised observations (N, d) -> perturbed normalised observations (N, d).
Attack = Callable[[torch.Tensor], torch.Tensor]


def budget(env_id: str) -> float:
    """The papers' eps for a MuJoCo id such as ``Hopper-v5``; a clear error for other envs."""
    name = env_id.split("/")[-1].split("-")[0]
    if name not in EPS:
        raise ValueError(f"no published attack budget for {env_id!r}; known: {', '.join(EPS)} (pass eps= yourself)")
    return EPS[name]


@dataclass
class Victim:
    """What the gradient attacks need of a policy: its action distribution on *normalised* observations,
    and the observation normaliser that maps raw observations there.

    ``dist(s)`` returns a ``torch.distributions`` object (Normal or Categorical) for a batch ``(N, d)``;
    ``value(s)`` (optional) the policy's critic. ``mean``/``std`` normalise raw observations
    (``(obs - mean) / std``); identity when the policy sees raw observations.
    """

    dist: Callable[[torch.Tensor], torch.distributions.Distribution]
    mean: np.ndarray
    std: np.ndarray
    value: Callable[[torch.Tensor], torch.Tensor] | None = None

    @classmethod
    def from_agent(cls, agent: Any) -> Victim:
        """The victim of an online orl agent (``orl.fit("ppo", ...)`` / ``orl.load``): its actor-critic and
        its running observation normaliser (PPO's ``normalize_obs``)."""
        net = agent.algorithm.net
        d = int(agent.spaces["obs_dim"])
        if agent.normalizer is not None:
            mean = np.asarray(agent.normalizer["mean"], np.float64)
            std = np.sqrt(np.asarray(agent.normalizer["var"], np.float64) + 1e-8)
        else:
            mean, std = np.zeros(d), np.ones(d)
        return cls(dist=net.distribution, mean=mean, std=std, value=net.value)

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        return (np.asarray(obs, np.float64) - self.mean) / self.std

    def action_mean(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean action and its per-dimension scale (Gaussian: mu, sigma; categorical: probs, 1)."""
        dist = self.dist(s)
        if isinstance(dist, torch.distributions.Categorical):
            return dist.probs, torch.ones_like(dist.probs)
        return dist.mean, dist.stddev


def _clamp(x: torch.Tensor, s: torch.Tensor, eps: float) -> torch.Tensor:
    return torch.max(torch.min(x, s + eps), s - eps)


def random_attack(s: torch.Tensor, eps: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform noise in the l-infinity ball of radius ``eps`` around ``s``."""
    noise = torch.rand(s.shape, generator=generator, dtype=s.dtype) * 2 - 1
    return s + eps * noise


def mad_attack(victim: Victim, s: torch.Tensor, eps: float, steps: int = 10,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Maximal action difference by SGLD sign steps (SA-PPO's ``action`` attack, PROTECTED's ``apply_attack``).

    Maximises ``sum_j ((mu_j(s') - mu_j(s)) / sigma_j)^2`` with ``sigma`` divided by its mean (the code's
    normalisation "to avoid numerical issues"), ``steps`` steps of size ``eps / steps``: a random sign start,
    then ``s' <- clamp(s' + step * sign(grad + noise_i))`` with noise std ``sqrt(2 step) / (i + 2)``.
    """
    if steps <= 0:
        return s.clone()
    step = eps / steps
    factor = np.sqrt(2 * step)
    with torch.no_grad():
        mu0, sigma0 = victim.action_mean(s)
        sigma0 = sigma0 / sigma0.mean()
        start = torch.randn(s.shape, generator=generator, dtype=s.dtype) * factor
        x = _clamp(s + start.sign() * step, s, eps)
    for i in range(steps):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            mu, _ = victim.action_mean(x)
            change = (((mu - mu0) / sigma0) ** 2).sum()
            (grad,) = torch.autograd.grad(change, x)
        noise = torch.randn(s.shape, generator=generator, dtype=s.dtype) * (factor / (i + 2))
        x = _clamp(x.detach() + (grad + noise).sign() * step, s, eps)
    return x.detach()


def critic_attack(critic: Callable[[torch.Tensor], torch.Tensor], s: torch.Tensor, eps: float, steps: int = 10,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """PGD sign steps that *minimise* ``critic(s')`` inside the ball, from a uniform start in
    ``[-eps / steps, eps / steps]`` (SA-PPO's ``critic`` and ``sarsa`` attacks). ``critic`` maps a batch of
    perturbed observations to one value each: the victim's ``V`` or ``lambda x: Q(s, mu(x))``."""
    if steps <= 0:
        return s.clone()
    step = eps / steps
    x = s + (torch.rand(s.shape, generator=generator, dtype=s.dtype) * 2 - 1) * step
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(critic(x).sum(), x)
        x = _clamp(x.detach() - grad.sign() * step, s, eps)
    return x.detach()


def learned_state_attack(adversary: Callable[[torch.Tensor], torch.Tensor], s: torch.Tensor, eps: float) -> torch.Tensor:
    """SA-RL's learned adversary: ``s + eps * hardtanh(nu(s))`` with the adversary's deterministic output
    (PROTECTED's ``advpolicy`` attack)."""
    with torch.no_grad():
        return s + eps * torch.nn.functional.hardtanh(adversary(s))


def pa_ad_perturbation(victim: Victim, s: torch.Tensor, direction: torch.Tensor, eps: float, steps: int = 10,
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """PA-AD: the observation that moves the victim's mean action towards ``direction`` (``(N, action_dim)``),
    one FGSM step of size ``eps`` from a random start in ``[-eps / steps, eps / steps]`` on the loss
    ``-(cos(mu(s + n) - mu(s), d) + ||mu(s + n) - mu(s)||)`` (PROTECTED's ``perturb_obs_fgsm``). The
    perturbation is ``eps * sign(...)``: a corner of the ball."""
    step = eps / steps
    with torch.no_grad():
        mu0, _ = victim.action_mean(s)
    noise = ((torch.rand(s.shape, generator=generator, dtype=s.dtype) * 2 - 1) * step).requires_grad_(True)
    with torch.enable_grad():
        mu, _ = victim.action_mean(s + noise)
        diff = mu - mu0
        loss = -(torch.nn.functional.cosine_similarity(diff, direction, dim=-1) + diff.norm(dim=-1)).mean()
        (grad,) = torch.autograd.grad(loss, noise)
    # As coded: the perturbation is +eps * sign(grad of that loss), which *raises* the loss, i.e. moves the
    # action away from ``direction``. A director trained through this realisation learns the opposite sign,
    # so the convention changes nothing learned; it is kept so that directors behave as in PROTECTED.
    return (s + grad.sign() * eps).detach()


class ObservationAttack(gym.ObservationWrapper):
    """Perturb every observation ``env`` returns with ``attack`` inside an l-infinity ball of radius ``eps``
    in the victim's normalised space (``victim.mean``/``victim.std``; raw space when none is given).

    ``attack(s)`` takes and returns normalised observations ``(1, d)``; the returned raw observation is
    ``obs + (s' - s) * std``, and ``|s' - s| <= eps`` is enforced here (a clamp), so no attack, learned or
    buggy, leaves the ball. ``enabled`` switches it off and on (dynamic schedules,
    :class:`~orl.robust.schedules.ScheduledAttack`).
    """

    def __init__(self, env: gym.Env, attack: Attack, eps: float, victim: Victim | None = None) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, gym.spaces.Box) or len(env.observation_space.shape) != 1:
            raise ValueError(f"observation attacks need a flat Box observation space, got {env.observation_space}")
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got {eps!r}")
        d = env.observation_space.shape[0]
        self.attack, self.eps, self.enabled = attack, float(eps), True
        # read at every step: a victim still learning (PROTECTED) changes its normaliser as it goes
        self.victim = victim
        mean, std = self._normaliser()
        if mean.shape != (d,) or std.shape != (d,):
            raise ValueError(f"the victim's normaliser has shape {mean.shape}, the observations ({d},)")

    def _normaliser(self) -> tuple[np.ndarray, np.ndarray]:
        d = self.observation_space.shape[0]
        if self.victim is None:
            return np.zeros(d), np.ones(d)
        return np.asarray(self.victim.mean, np.float64), np.asarray(self.victim.std, np.float64)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        if not self.enabled or self.eps == 0:
            return observation
        mean, std = self._normaliser()
        s = (np.asarray(observation, np.float64) - mean) / std
        x = torch.as_tensor(s, dtype=torch.float32).reshape(1, -1)
        delta = (self.attack(x).reshape(-1).detach().double().numpy() - x.reshape(-1).double().numpy())
        delta = np.clip(delta, -self.eps, self.eps)
        return (np.asarray(observation, np.float64) + delta * std).astype(observation.dtype)
