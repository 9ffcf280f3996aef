"""TD3+BC: Fujimoto & Gu, "A Minimalist Approach to Offline Reinforcement Learning", NeurIPS 2021
(official code ``sfujim/TD3_BC``).

TD3 with a behaviour-cloning term in the actor loss and normalised states:

    critic:  y = r + gamma (1 - d) min_i Q'_i(s', clip(pi'(s') + clip(N(0, 0.2), -0.5, 0.5), -1, 1))
    actor:   L = -lambda * mean Q_1(s, pi(s)) + mean (pi(s) - a)^2,  lambda = alpha / mean |Q_1(s, pi(s))|

updated every ``policy_freq`` critic steps, targets Polyak-averaged (tau) on actor steps only.
States are normalised with the dataset's mean and std (+1e-3). Actions are handled in
``[-1, 1]`` (the official code's ``max_action`` = 1 for the MuJoCo tasks).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from orl.algos.base import (
    OfflineAlgorithm,
    adam,
    frozen,
    register_algorithm,
    soft_update,
)
from orl.data.buffer import Batch
from orl.nets.population import MemberRandom, member_mean, member_mlp


class TwinQ(nn.Module):
    """Two independent Q-networks ``Q_i(s, a)`` per member; ``q1`` alone drives the actor.
    Inputs ``(P, N, obs_dim)`` and ``(P, N, action_dim)``, outputs ``(P, N, 1)``."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...], gens) -> None:
        super().__init__()
        self.q1 = member_mlp(obs_dim + action_dim, hidden, 1, gens)
        self.q2 = member_mlp(obs_dim + action_dim, hidden, 1, gens)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        sa = torch.cat([s, a], -1)
        return self.q1(sa), self.q2(sa)

    def Q1(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.q1(torch.cat([s, a], -1))


def td3_target(actor_target: nn.Module, critic_target: TwinQ, r: torch.Tensor, s2: torch.Tensor,
               not_done: torch.Tensor, discount, policy_noise, noise_clip,
               random: MemberRandom) -> tuple[torch.Tensor, torch.Tensor]:
    """TD3's clipped double-Q target with target-policy smoothing (actions in [-1, 1]); returns (y, a').
    The smoothing noise is each member's own (``random``); a per-member ``noise_clip`` clamps by its bounds."""
    with torch.no_grad():
        a2 = actor_target(s2)
        noise = (random.randn(*a2.shape[1:]) * policy_noise).clamp(-noise_clip, noise_clip)
        a2 = (a2 + noise).clamp(-1.0, 1.0)
        return r + not_done * discount * torch.min(*critic_target(s2, a2)), a2


@dataclass
class TD3BCConfig:
    """Hyperparameters of TD3+BC (defaults: the paper and official code)."""

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    hidden: tuple[int, ...] = (256, 256)
    discount: float = 0.99
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_freq: int = 2
    alpha: float = 2.5
    normalize_states: bool = True
    normalize_eps: float = 1e-3


@register_algorithm
class TD3BC(OfflineAlgorithm):
    """TD3+BC (Fujimoto & Gu, NeurIPS 2021): TD3 with a behaviour-cloning term in the actor loss.

    The maths, the official code it follows and every deviation are in this module's docstring;
    hyperparameters in :class:`TD3BCConfig`. Train it with ``orl.fit("td3bc", "<dataset>", ...)``; the
    constructor below is the engine's (one member per seed; see :class:`~orl.algos.base.OfflineAlgorithm`).
    """

    name = "td3bc"
    Config = TD3BCConfig
    member_fields = ("alpha", "discount", "tau", "policy_noise", "noise_clip")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._build_td3(*self._td3_sizes())

    # -- the TD3 core, shared with the algorithms that extend TD3+BC (A2PR)
    def _td3_sizes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(actor hidden sizes, critic hidden sizes)."""
        return self.config.hidden, self.config.hidden

    def _build_td3(self, actor_hidden: tuple[int, ...], critic_hidden: tuple[int, ...]) -> None:
        c = self.config
        self.actor = member_mlp(self.obs_dim, actor_hidden, self.action_dim, self.gens, output_activation=nn.Tanh)
        self.actor_target = copy.deepcopy(self.actor)
        self.critic = TwinQ(self.obs_dim, self.action_dim, critic_hidden, self.gens)
        self.critic_target = copy.deepcopy(self.critic)
        self.actor_opt = adam(self.actor.parameters(), c.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), c.critic_lr)

    def _critic_step(self, s, a, r, s2, not_done) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One critic step on TD3's target; returns (y, a', metrics)."""
        y, a2 = td3_target(self.actor_target, self.critic_target, r, s2, not_done, self.hp("discount"),
                           self.hp("policy_noise"), self.hp("noise_clip"), self.random)
        q1, q2 = self.critic(s, a)
        critic_loss = member_mean((q1 - y) ** 2) + member_mean((q2 - y) ** 2)  # (P,): each member's MSE sum
        self.critic_opt.zero_grad()
        critic_loss.sum().backward()
        self.critic_opt.step()
        return y, a2, {"critic_loss": critic_loss.detach(), "q1": member_mean(q1.detach())}

    def _actor_step(self, actor_loss: torch.Tensor) -> None:
        """An actor step on the members' summed losses, then both targets Polyak-averaged (TD3 updates
        targets on actor steps only)."""
        self.actor_opt.zero_grad()
        actor_loss.sum().backward()
        self.actor_opt.step()
        soft_update(self.critic_target, self.critic, self.hp("tau"))
        soft_update(self.actor_target, self.actor, self.hp("tau"))

    def _lambda(self, q: torch.Tensor) -> torch.Tensor:
        """TD3+BC's ``lambda = alpha / mean |Q(s, pi(s))|``, the mean over each member's own batch."""
        return self.hp("alpha") / q.detach().abs().mean(dim=(1, 2), keepdim=True)

    def components(self) -> dict:
        return {"actor": self.actor, "actor_target": self.actor_target, "critic": self.critic,
                "critic_target": self.critic_target, "actor_opt": self.actor_opt, "critic_opt": self.critic_opt}

    def policy(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self.actor(obs)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        c = self.config
        self.total_it += 1
        s, a, r, s2, not_done = self.prepare(batch)
        _, _, metrics = self._critic_step(s, a, r, s2, not_done)
        if self.total_it % c.policy_freq == 0:
            pi = self.actor(s)
            with frozen(self.critic):  # differentiate through Q, not into it
                q = self.critic.Q1(s, pi)
            actor_loss = -self._lambda(q).view(-1) * member_mean(q) + member_mean((pi - a) ** 2)
            self._actor_step(actor_loss)
            metrics["actor_loss"] = actor_loss.detach()
        return metrics
