"""IQL: Kostrikov, Nair & Levine, "Offline Reinforcement Learning with Implicit Q-Learning",
ICLR 2022 (official JAX code ``ikostrikov/implicit_q_learning``; orl follows CORL's PyTorch port
``algorithms/offline/iql.py``, which reproduces it).

Per update, on a batch ``(s, a, r, s', d)``:

1. **Value** by expectile regression onto the target critic (no maximisation over actions)::

       L_V = E[ |tau - 1(u < 0)| u^2 ],   u = min_i Q'_i(s, a) - V(s),   tau = expectile (0.7)

2. **Critic** (both heads, averaged) onto ``y = r + gamma (1 - d) V(s')``, with ``V(s')`` taken
   *before* this step's value update; then ``Q' <- Polyak(Q, tau_target)``.
3. **Actor** by advantage-weighted regression with the advantage ``u`` of step 1::

       L_pi = E[ min(exp(beta u), 100) * (-log pi(a | s)) ]

   with a Gaussian policy (``tanh`` mean, state-independent log-std clamped to [-20, 2]), or,
   ``deterministic_actor=True``, a deterministic one with the squared error in place of
   ``-log pi``. The actor's learning rate follows a cosine decay to 0 over the run.

Rewards are scaled by ``horizon / (max return - min return)`` over the dataset's episodes when
``normalize_reward`` (the IQL code's treatment of the MuJoCo datasets, ``horizon`` 1000 there; see
``orl.algos.base.return_range_scale``). It is on by default, as in the IQL code; CORL's per-dataset
YAMLs (``configs/offline/iql/<env>/<dataset>_v2.yaml``) turn it off on all medium, medium-replay and
medium-expert datasets but hopper-medium and hopper-medium-replay, and ``orl/conf/tuned/iql/`` does the
same. States are normalised as in TD3+BC. Evaluation acts with the mean action.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from orl.algos.base import OfflineAlgorithm, adam, register_algorithm, return_range_scale, soft_update
from orl.algos.offline.td3bc import TwinQ
from orl.data.buffer import Batch, ReplayBuffer
from orl.nets.population import member_mean, member_mlp, member_scalar

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


@dataclass
class IQLConfig:
    """Defaults: the IQL paper's MuJoCo settings as in CORL (per-dataset values: conf/tuned/iql/)."""

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    hidden: tuple[int, ...] = (256, 256)
    discount: float = 0.99
    tau: float = 0.005
    expectile: float = 0.7
    beta: float = 3.0
    exp_adv_max: float = 100.0
    deterministic_actor: bool = False
    actor_lr_cosine: bool = True
    normalize_reward: bool = True
    normalize_states: bool = True
    normalize_eps: float = 1e-3


class GaussianActor(nn.Module):
    """``N(tanh(f(s)), diag(exp(log_std)))`` with a learned, state-independent ``log_std`` (per member)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...], gens) -> None:
        super().__init__()
        self.mean = member_mlp(obs_dim, hidden, action_dim, gens, output_activation=nn.Tanh)
        self.log_std = nn.Parameter(torch.zeros(len(gens), 1, action_dim))

    def log_prob(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``log pi(a | s)`` summed over action dimensions, shape (P, B)."""
        mean = self.mean(s)
        log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        z = (a - mean) * torch.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def forward(self, s: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        mean = self.mean(s)
        if deterministic:
            return mean
        std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        return (mean + std * torch.randn_like(mean)).clamp(-1.0, 1.0)


def expectile_loss(u: torch.Tensor, expectile: float | torch.Tensor) -> torch.Tensor:
    """``E[|tau - 1(u < 0)| u^2]`` per member, shape (P,): asymmetric squared loss whose minimiser is
    the tau-expectile (``expectile`` a number or per-member ``(P, 1, 1)``)."""
    weight = torch.where(u < 0, 1.0 - expectile, expectile)
    return member_mean(weight * u.pow(2))


@register_algorithm
class IQL(OfflineAlgorithm):
    """Implicit Q-Learning (Kostrikov, Nair & Levine, ICLR 2022): expectile value, AWR actor.

    The maths, the official code it follows and every deviation are in this module's docstring;
    hyperparameters in :class:`IQLConfig`. Train it with ``orl.fit("iql", "<dataset>", ...)``; the
    constructor below is the engine's (one member per seed; see :class:`~orl.algos.base.OfflineAlgorithm`).
    """

    name = "iql"
    Config = IQLConfig
    member_fields = ("discount", "tau", "expectile", "beta", "exp_adv_max", "normalize_reward")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        c = self.config
        for m in self.configs:
            if not 0.0 < m.expectile < 1.0:
                raise ValueError(f"iql: expectile must lie in (0, 1), got {m.expectile!r}")
        self.critic = TwinQ(self.obs_dim, self.action_dim, c.hidden, self.gens)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.value = member_mlp(self.obs_dim, c.hidden, 1, self.gens)
        if c.deterministic_actor:
            self.actor: nn.Module = member_mlp(self.obs_dim, c.hidden, self.action_dim, self.gens,
                                               output_activation=nn.Tanh)
        else:
            self.actor = GaussianActor(self.obs_dim, self.action_dim, c.hidden, self.gens)
        self.actor_opt = adam(self.actor.parameters(), c.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), c.critic_lr)
        self.value_opt = adam(self.value.parameters(), c.value_lr)
        # T_max is the run's length (setup); 1M updates, the papers' budget, until then
        self.actor_sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.actor_opt, T_max=1_000_000)

    def setup(self, buffers: list[ReplayBuffer], total_steps: int) -> None:
        self.reward_scale = member_scalar([return_range_scale(b) if m.normalize_reward else 1.0
                                           for b, m in zip(buffers, self.configs)], self.device)
        self.actor_sched.T_max = int(total_steps)

    def components(self) -> dict:
        comps = {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target, "value": self.value,
                 "actor_opt": self.actor_opt, "critic_opt": self.critic_opt, "value_opt": self.value_opt}
        if self.config.actor_lr_cosine:
            comps["actor_sched"] = self.actor_sched
        return comps

    def policy(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        if self.config.deterministic_actor:
            return self.actor(obs)
        return self.actor(obs, deterministic)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        c = self.config
        self.total_it += 1
        s, a, r, s2, not_done = self.prepare(batch)
        with torch.no_grad():
            target_q = torch.min(*self.critic_target(s, a))
            next_v = self.value(s2)

        # 1. value: expectile regression onto the target critic
        u = target_q - self.value(s)
        value_loss = expectile_loss(u, self.hp("expectile"))
        self.value_opt.zero_grad()
        value_loss.sum().backward()
        self.value_opt.step()

        # 2. critic onto r + gamma (1 - d) V(s')
        y = r + not_done * self.hp("discount") * next_v
        q1, q2 = self.critic(s, a)
        critic_loss = (member_mean((q1 - y) ** 2) + member_mean((q2 - y) ** 2)) / 2
        self.critic_opt.zero_grad()
        critic_loss.sum().backward()
        self.critic_opt.step()
        soft_update(self.critic_target, self.critic, self.hp("tau"))

        # 3. actor: advantage-weighted regression
        weight = torch.exp(self.hp("beta") * u.detach()).clamp(max=self.hp("exp_adv_max")).squeeze(-1)
        if c.deterministic_actor:
            bc = (self.actor(s) - a).pow(2).sum(-1)
        else:
            bc = -self.actor.log_prob(s, a)
        actor_loss = member_mean(weight * bc)
        self.actor_opt.zero_grad()
        actor_loss.sum().backward()
        self.actor_opt.step()
        if c.actor_lr_cosine:
            self.actor_sched.step()
        return {"value_loss": value_loss.detach(), "critic_loss": critic_loss.detach(),
                "actor_loss": actor_loss.detach(), "q1": member_mean(q1.detach()), "adv_weight": member_mean(weight)}
