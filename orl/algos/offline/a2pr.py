"""A2PR: Tenglong Liu, Yang Li, Yixing Lan, Hao Gao, Wei Pan, Xin Xu, "Adaptive Advantage-guided Policy
Regularization for Offline Reinforcement Learning", ICML 2024 (arXiv 2405.19909); official code
``ltlhuuu/A2PR`` (``A2PR.py``, class ``A2PR``, method ``train``; defaults in ``utils/config.py``;
per-dataset run lines in ``README.md``).

TD3+BC plus three parts, implemented as the official code's ``A2PR.train`` does; where the
paper's prose differs, the code is followed. One update on a batch ``(s, a, r, s', d)``:

1. **Critic**: TD3's clipped double-Q target ``y`` (target-policy smoothing).
2. **Value** ``V(s)``: regressed by MSE onto ``min(y, y2)`` with ``y2 = r + gamma (1 - d)
   min_i Q_i(s', a')`` from the *online* critic just updated (same ``a'`` as ``y``). So V tracks
   the dataset action's one-step value; the paper's expectile loss is not used by the code.
   The ``V(s)`` used in steps 3 and 4 is the one computed for this loss, i.e. from **before** the
   value step (the code's ``value = self.value(state)`` precedes ``value_optimizer.step()`` and is
   reused by the VAE gate and the actor's advantages).
3. **Advantage-gated VAE** (BCQ-style, 750-750, latent ``2 |A|``, lr 1e-3): reconstructs only
   dataset actions with positive advantage, ``A(s, a) = Q_1(s, a) - V(s) > 0`` (the paper's
   threshold epsilon_A is 0 in the code); loss = ``vae_weight * 1[A > 0] * (a_hat - a)^2`` +
   0.5 KL. ``Q_1`` is the critic after this update's critic step.
4. **Actor** (every ``policy_freq`` steps): TD3+BC's ``-lambda Q_1(s, pi(s))`` plus a weighted
   BC term towards an adaptive target: ``a_tilde = VAE(s, pi(s))`` (a full encode-sample-decode
   pass with the VAE just stepped, differentiable into pi); the target is ``a_tilde`` where
   ``A(s, a_tilde) >= A(s, a)`` and the dataset action ``a`` otherwise; the weight is ``mask *
   1[Q_1(s, a_tilde) >= V(s) or Q_1(s, a) > V(s)]``, in {0, mask}: the code writes it as
   ``mask * (adv_pi + adv_action)`` on two bool tensors, which torch adds as a logical or (so not
   {0, mask, 2 mask}); samples where neither action has a non-negative advantage get no BC
   constraint. Then both targets are Polyak-averaged.

Networks follow the code: actor 256x3 hidden, each Q and V 256x4 hidden, ReLU.
Per-dataset settings (``conf/tuned/a2pr/``) come from the official README.
``tests/test_faithfulness.py`` checks one update against a line-by-line transcription of
``A2PR.train``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from orl.algos.base import adam, frozen, register_algorithm
from orl.algos.offline.td3bc import TD3BC
from orl.data.buffer import Batch
from orl.nets.population import MemberLinear, MemberRandom, member_mean, member_mlp, member_view


class VAE(nn.Module):
    """BCQ-style conditional VAE over actions; decoder output ``tanh`` in [-1, 1]."""

    def __init__(self, obs_dim: int, action_dim: int, latent_dim: int, hidden: tuple[int, ...], gens) -> None:
        super().__init__()
        self.encoder = member_mlp(obs_dim + action_dim, hidden[:-1], hidden[-1], gens)
        self.mean = MemberLinear(hidden[-1], latent_dim, gens)
        self.log_std = MemberLinear(hidden[-1], latent_dim, gens)
        self.decoder = member_mlp(obs_dim + latent_dim, hidden, action_dim, gens, output_activation=nn.Tanh)

    def forward(self, s: torch.Tensor, a: torch.Tensor,
                random: MemberRandom) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample ``z`` with each member's own noise (``random``), decode."""
        h = F.relu(self.encoder(torch.cat([s, a], -1)))
        mean = self.mean(h)
        log_std = self.log_std(h).clamp(-4, 15)  # the code's clamp
        std = log_std.exp()
        z = mean + std * random.randn(*std.shape[1:])
        return self.decoder(torch.cat([s, z], -1)), mean, std


@dataclass
class A2PRConfig:
    """Defaults: the official ``utils/config.py``; per-dataset values live in conf/tuned/a2pr/."""

    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    value_lr: float = 3e-4
    vae_lr: float = 1e-3
    actor_hidden: tuple[int, ...] = (256, 256, 256)
    critic_hidden: tuple[int, ...] = (256, 256, 256, 256)
    vae_hidden: tuple[int, ...] = (750, 750)
    discount: float = 0.99
    tau: float = 0.005
    policy_noise: float = 0.2
    noise_clip: float = 0.5
    policy_freq: int = 2
    alpha: float = 2.5
    mask: float = 0.5
    vae_weight: float = 1.0
    kl_weight: float = 0.5
    normalize_states: bool = True
    normalize_eps: float = 1e-3


@register_algorithm
class A2PR(TD3BC):
    """TD3+BC's actor, twin critic and targets (built and stepped by :class:`TD3BC`) plus V and the VAE."""

    name = "a2pr"
    Config = A2PRConfig
    member_fields = TD3BC.member_fields + ("mask", "vae_weight", "kl_weight")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        c = self.config
        self.value = member_mlp(self.obs_dim, c.critic_hidden, 1, self.gens)
        self.vae = VAE(self.obs_dim, self.action_dim, 2 * self.action_dim, c.vae_hidden, self.gens)
        self.value_opt = adam(self.value.parameters(), c.value_lr)
        self.vae_opt = adam(self.vae.parameters(), c.vae_lr)

    def _td3_sizes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return self.config.actor_hidden, self.config.critic_hidden

    def components(self) -> dict:
        return {**super().components(), "value": self.value, "vae": self.vae, "value_opt": self.value_opt,
                "vae_opt": self.vae_opt}

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        c = self.config
        self.total_it += 1
        s, a, r, s2, not_done = self.prepare(batch)

        # 1. critic: TD3 target
        y, a2, critic_metrics = self._critic_step(s, a, r, s2, not_done)

        # 2. value: MSE onto min(y, y2), y2 from the just-updated online critic
        with torch.no_grad():
            y2 = r + not_done * self.hp("discount") * torch.min(*self.critic(s2, a2))
            v_target = torch.min(y, y2)
        v_pred = self.value(s)
        value_loss = member_mean((v_pred - v_target) ** 2)
        self.value_opt.zero_grad()
        value_loss.sum().backward()
        self.value_opt.step()
        # V(s) from *before* this value step gates the VAE and the actor below, as in the code
        # (A2PR.py computes ``value = self.value(state)`` before ``value_optimizer.step()`` and reuses it)
        v = v_pred.detach()

        # 3. advantage-gated VAE on dataset actions
        with torch.no_grad():
            q_data = self.critic.Q1(s, a)
            positive = (q_data > v).float()
        recon, mean, std = self.vae(s, a, self.random)
        recon_loss = member_mean(self.hp("vae_weight") * positive * (recon - a) ** 2)
        kl = -0.5 * member_mean(1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2))
        vae_loss = recon_loss + member_view(self.hp("kl_weight"), 1) * kl
        self.vae_opt.zero_grad()
        vae_loss.sum().backward()
        self.vae_opt.step()
        metrics = {**critic_metrics, "value_loss": value_loss.detach(), "vae_loss": vae_loss.detach(),
                   "positive_adv_frac": member_mean(positive)}

        # 4. actor: TD3+BC term + adaptive advantage-guided BC
        if self.total_it % c.policy_freq == 0:
            pi = self.actor(s)
            with frozen(self.critic), frozen(self.vae):  # gradients flow through them into pi only
                q_pi = self.critic.Q1(s, pi)
                a_gen, _, _ = self.vae(s, pi, self.random)  # differentiable into pi, as in the code
            with torch.no_grad():
                q_gen = self.critic.Q1(s, a_gen)
                use_gen = (q_gen - v >= q_data - v).float()
                # the code adds two bool tensors, which torch evaluates as a logical or: weight in {0, mask}
                weight = self.hp("mask") * ((q_gen >= v) | (q_data > v)).float()
            target = use_gen * a_gen + (1.0 - use_gen) * a
            bc_loss = member_mean(weight * (pi - target) ** 2)
            actor_loss = -self._lambda(q_pi).view(-1) * member_mean(q_pi) + bc_loss
            self._actor_step(actor_loss)
            metrics.update(actor_loss=actor_loss.detach(), bc_loss=bc_loss.detach(), bc_weight=member_mean(weight))
        return metrics

