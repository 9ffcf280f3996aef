"""CQL: Kumar, Zhou, Tucker & Levine, "Conservative Q-Learning for Offline Reinforcement
Learning", NeurIPS 2020, in the form of CORL's ``algorithms/offline/cql.py`` (a port of
``young-geng/CQL``, the reference PyTorch re-implementation), with CORL's D4RL settings.

SAC with automatic entropy tuning plus the CQL(H) regulariser on each critic::

    L_Q_i = (Q_i(s, a) - y)^2 + cql_alpha * ( T log sum_j exp(Q_i(s, a_j) / T - log q(a_j)) - Q_i(s, a) )

where ``y = r + gamma (1 - d) min_i Q'_i(s', a'), a' ~ pi(s')`` (no entropy term in the backup
unless ``backup_entropy``) and the ``a_j`` are ``n_actions`` uniform actions (``log q`` =
``log 0.5^|A|``), ``n_actions`` policy actions at ``s`` and ``n_actions`` policy actions at ``s'``
(importance-sampled with their log-probabilities; all evaluated at ``s``, as the code does).
The actor minimises ``E[alpha log pi(a~|s) - min_i Q_i(s, a~)]``; ``alpha`` is tuned towards the
entropy target ``-|A|`` with the policy's learning rate. All losses are computed from the
parameters at the start of the step, then alpha, the actor and the critics are stepped in that
order (as the code does); the targets are Polyak-averaged every ``target_update_period`` steps.

Networks as the code: a tanh-Gaussian actor with three 256 hidden layers whose log-std is
``multiplier * f(s) + offset`` with trainable scalars (init 1 and -1); two Q-networks of three
256 hidden layers with orthogonal initialisation (gain sqrt 2, last layer 0.01); the actor's last
layer Xavier-initialised with gain 0.01.

Rewards: ``normalize_reward`` (off by default, as CORL's ``TrainConfig``) multiplies them by
``horizon / (max return - min return)`` over the dataset's episodes, then ``reward_scale`` and
``reward_bias`` apply (CORL's ``modify_reward``); CORL's locomotion YAMLs turn it on for
hopper-medium only (``orl/conf/tuned/cql/hopper-medium.yaml``). With a reweighted sampler (rw/aw)
the softmax temperature defaults to 0.2, Hong et al.'s value for CQL (``sampler_alpha``).

Differences from the code, none changing the maths: one Adam over both critics instead of one per
critic (Adam is per-parameter, so the steps are identical); the data action and the 3 x
``n_actions`` sampled actions are evaluated in one batched forward per critic; the policy network
runs once per state for its ``n_actions`` samples (the code runs it on repeated copies of each
state); the Lagrange variant's ``alpha'`` is stepped with the other optimisers, not mid-loss.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from orl.algos.base import OfflineAlgorithm, adam, frozen, register_algorithm, return_range_scale, soft_update
from orl.algos.offline.td3bc import TwinQ
from orl.data.buffer import Batch, ReplayBuffer
from orl.nets.population import (
    MemberLinear,
    MemberRandom,
    for_members,
    member_mean,
    member_mlp,
    member_parameter,
    member_scalar,
    member_view,
)


@dataclass
class CQLConfig:
    """Defaults: CORL's ``TrainConfig`` and its D4RL locomotion YAMLs."""

    actor_lr: float = 3e-5
    critic_lr: float = 3e-4
    actor_hidden: tuple[int, ...] = (256, 256, 256)
    critic_hidden: tuple[int, ...] = (256, 256, 256)
    discount: float = 0.99
    tau: float = 5e-3
    target_update_period: int = 1
    n_actions: int = 10
    cql_alpha: float = 10.0
    temperature: float = 1.0
    importance_sample: bool = True
    lagrange: bool = False
    target_action_gap: float = -1.0
    max_target_backup: bool = False
    backup_entropy: bool = False
    clip_diff_min: float = -math.inf
    clip_diff_max: float = math.inf
    autotune_alpha: bool = True
    alpha_multiplier: float = 1.0
    orthogonal_init: bool = True
    log_std_multiplier: float = 1.0
    log_std_offset: float = -1.0
    bc_steps: int = 0
    normalize_reward: bool = False
    reward_scale: float = 1.0
    reward_bias: float = 0.0
    normalize_states: bool = True
    normalize_eps: float = 1e-3


class TanhGaussianActor(nn.Module):
    """``a = tanh(u), u ~ N(mu(s), exp(m * ls(s) + o))`` with trainable scalars ``m``, ``o`` (per member)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...], log_std_multiplier: float,
                 log_std_offset: float, gens) -> None:
        super().__init__()
        self.action_dim = action_dim
        self.net = member_mlp(obs_dim, hidden, 2 * action_dim, gens)
        for_members(nn.init.xavier_uniform_, self.net[-1].weight, gens, gain=1e-2)
        nn.init.zeros_(self.net[-1].bias)
        self.log_std_multiplier = member_parameter([log_std_multiplier] * len(gens))
        self.log_std_offset = member_parameter([log_std_offset] * len(gens))

    def _dist(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(s).split(self.action_dim, dim=-1)
        log_std = (self.log_std_multiplier * log_std + self.log_std_offset).clamp(-20.0, 2.0)
        return mean, log_std

    def forward(self, s: torch.Tensor, random: MemberRandom | None = None, deterministic: bool = False,
                repeat: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample (noise from each member's ``random``) or ``tanh(mean)``, and its
        log-probability summed over dims: shapes (P, B, A) and (P, B); with ``repeat=n``, ``n`` samples
        per state, (P, B, n, A) and (P, B, n). The network runs once per state (the code runs it on n
        copies of each state: the same outputs)."""
        mean, log_std = self._dist(s)
        if repeat is not None:
            shape = (*mean.shape[:2], repeat, mean.shape[-1])
            mean, log_std = mean.unsqueeze(2).expand(shape), log_std.unsqueeze(2).expand(shape)
        if deterministic:
            u = mean
        else:
            if random is None:
                raise ValueError("TanhGaussianActor: sampling needs the members' random streams")
            u = mean + log_std.exp() * random.randn(*mean.shape[1:])
        return torch.tanh(u), _tanh_gaussian_log_prob(u, mean, log_std)

    def log_prob(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        mean, log_std = self._dist(s)
        u = torch.atanh(a.clamp(-1 + 1e-6, 1 - 1e-6))
        return _tanh_gaussian_log_prob(u, mean, log_std)


def _tanh_gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """``log N(u; mean, std) - log(1 - tanh(u)^2)``, the latter in the stable form
    ``2 (log 2 - u - softplus(-2u))`` (as ``torch.distributions.TanhTransform``)."""
    normal = -0.5 * ((u - mean) * torch.exp(-log_std)).pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return (normal - log_det).sum(-1)


def _orthogonal_init(net: nn.Sequential, gens) -> None:
    linears = [m for m in net if isinstance(m, MemberLinear)]
    with torch.no_grad():
        for layer in linears[:-1]:
            for_members(nn.init.orthogonal_, layer.weight, gens, gain=math.sqrt(2))
            layer.bias.zero_()
        for_members(nn.init.orthogonal_, linears[-1].weight, gens, gain=1e-2)
        linears[-1].bias.zero_()


@register_algorithm
class CQL(OfflineAlgorithm):
    """Conservative Q-Learning (Kumar et al., NeurIPS 2020), CQL(H) on SAC as CORL implements it.

    The maths, the official code it follows and every deviation are in this module's docstring;
    hyperparameters in :class:`CQLConfig`. Train it with ``orl.fit("cql", "<dataset>", ...)``; the
    constructor below is the engine's (one member per seed; see :class:`~orl.algos.base.OfflineAlgorithm`).
    """

    name = "cql"
    Config = CQLConfig
    # Hong et al.'s rw/aw temperature for CQL (harness-offline-rl ``experiments/d4rl/run_cql.py``: RW-0.2, AW-0.2)
    sampler_alpha = 0.2
    member_fields = ("discount", "tau", "cql_alpha", "temperature", "target_action_gap", "clip_diff_min",
                     "clip_diff_max", "alpha_multiplier", "normalize_reward", "reward_scale", "reward_bias")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        c = self.config
        if c.n_actions < 1:
            raise ValueError(f"cql: n_actions must be at least 1, got {c.n_actions!r}")
        P = self.members
        self.actor = TanhGaussianActor(self.obs_dim, self.action_dim, c.actor_hidden, c.log_std_multiplier,
                                       c.log_std_offset, self.gens)
        self.critic = TwinQ(self.obs_dim, self.action_dim, c.critic_hidden, self.gens)
        for q in (self.critic.q1, self.critic.q2):
            if c.orthogonal_init:
                _orthogonal_init(q, self.gens)
            else:  # the code: default init, last layer Xavier with gain 0.01
                for_members(nn.init.xavier_uniform_, q[-1].weight, self.gens, gain=1e-2)
                nn.init.zeros_(q[-1].bias)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = member_parameter([0.0] * P)
        self.log_alpha_prime = member_parameter([1.0] * P)
        self.actor_opt = adam(self.actor.parameters(), c.actor_lr)
        self.critic_opt = adam(self.critic.parameters(), c.critic_lr)
        self.alpha_opt = adam([self.log_alpha], c.actor_lr)
        self.alpha_prime_opt = adam([self.log_alpha_prime], c.critic_lr)
        self.target_entropy = -float(self.action_dim)
        self.reward_scale = member_scalar([m.reward_scale for m in self.configs])
        self.reward_bias = member_scalar([m.reward_bias for m in self.configs])

    def setup(self, buffers: list[ReplayBuffer], total_steps: int) -> None:
        self.reward_scale = member_scalar([(return_range_scale(b) if m.normalize_reward else 1.0) * m.reward_scale
                                           for b, m in zip(buffers, self.configs)], self.device)
        self.reward_bias = member_scalar([m.reward_bias for m in self.configs], self.device)

    def components(self) -> dict:
        # the scalars ride in a ParameterDict so that they load in place (the optimisers keep them)
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target,
                "scalars": _Scalars(self), "actor_opt": self.actor_opt, "critic_opt": self.critic_opt,
                "alpha_opt": self.alpha_opt, "alpha_prime_opt": self.alpha_prime_opt}

    def policy(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self.actor(obs, self.random, deterministic)[0]

    def _q_many(self, critic: TwinQ, s: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Both heads on ``actions`` of shape (P, B, N, A) at states (P, B, S): two (P, B, N) tensors."""
        P, b, n, _ = actions.shape
        s_rep = s.unsqueeze(2).expand(P, b, n, s.shape[-1]).reshape(P, b * n, -1)
        q1, q2 = critic(s_rep, actions.reshape(P, b * n, -1))
        return q1.view(P, b, n), q2.view(P, b, n)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        c = self.config
        self.total_it += 1
        s, a, r, s2, not_done = self.prepare(batch)
        P, b, n = s.shape[0], s.shape[1], c.n_actions
        rng = self.random  # every sample below comes from the members' own streams
        v1, v2 = (lambda f: member_view(self.hp(f), 1)), (lambda f: member_view(self.hp(f), 2))

        # --- actor and temperature losses; per-member scalars broadcast against (P, B) as (P, 1)
        new_a, log_pi = self.actor(s, rng)
        log_alpha = self.log_alpha.view(P, 1)
        if c.autotune_alpha:
            alpha_loss = -member_mean(log_alpha * (log_pi.detach() + self.target_entropy))
            alpha = log_alpha.exp().detach() * v2("alpha_multiplier")
        else:
            alpha_loss = torch.zeros(P, device=s.device)
            alpha = torch.ones(P, 1, device=s.device) * v2("alpha_multiplier")
        if self.total_it <= c.bc_steps:
            actor_loss = member_mean(alpha * log_pi - self.actor.log_prob(s, a))
        else:
            with frozen(self.critic):
                actor_loss = member_mean(alpha * log_pi - torch.min(*self.critic(s, new_a)).squeeze(-1))

        # --- critic target
        with torch.no_grad():
            if c.max_target_backup:
                a2, logp2 = self.actor(s2, rng, repeat=n)
                q_next, idx = torch.min(*self._q_many(self.critic_target, s2, a2)).max(dim=2)
                logp2 = logp2.gather(2, idx[..., None]).squeeze(2)
            else:
                a2, logp2 = self.actor(s2, rng)
                q_next = torch.min(*self.critic_target(s2, a2)).squeeze(-1)
            if c.backup_entropy:
                q_next = q_next - alpha * logp2
            y = r.squeeze(-1) + not_done.squeeze(-1) * v2("discount") * q_next

            # actions for the conservative term: uniform, pi(.|s) and pi(.|s'), n of each
            rand = rng.rand(b, n, self.action_dim) * 2.0 - 1.0
            a_pi, logp_pi = self.actor(torch.cat([s, s2], 1), rng, repeat=n)
            a_cur, a_nxt = a_pi[:, :b], a_pi[:, b:]
            logp_cur, logp_nxt = logp_pi[:, :b], logp_pi[:, b:]

        # --- critic loss: one forward per head over [data action | rand | pi(s) | pi(s')]
        q1_all, q2_all = self._q_many(self.critic, s, torch.cat([a.unsqueeze(2), rand, a_cur, a_nxt], 2))
        q1, q2 = q1_all[:, :, 0], q2_all[:, :, 0]
        td_loss = member_mean((q1 - y) ** 2) + member_mean((q2 - y) ** 2)
        if c.importance_sample:
            # subtract log q(a_j): log 0.5^|A| for the uniform actions, log pi for the policy's
            offset = torch.cat([torch.full((P, b, n), self.action_dim * math.log(0.5), device=s.device), logp_cur,
                                logp_nxt], 2)
            q1_ood, q2_ood = q1_all[:, :, 1:] - offset, q2_all[:, :, 1:] - offset
        else:  # the code also puts the data action in the set here
            q1_ood, q2_ood = q1_all, q2_all
        temp, lo, hi = v2("temperature"), v2("clip_diff_min"), v2("clip_diff_max")
        diff1 = member_mean((torch.logsumexp(q1_ood / temp, 2) * temp - q1).clamp(lo, hi))
        diff2 = member_mean((torch.logsumexp(q2_ood / temp, 2) * temp - q2).clamp(lo, hi))
        cql_alpha, gap = v1("cql_alpha"), v1("target_action_gap")
        if c.lagrange:
            alpha_prime = self.log_alpha_prime.exp().clamp(0.0, 1e6).view(P)
            cql1 = alpha_prime.detach() * cql_alpha * (diff1 - gap)
            cql2 = alpha_prime.detach() * cql_alpha * (diff2 - gap)
            alpha_prime_loss = -0.5 * alpha_prime * cql_alpha * ((diff1 - gap).detach() + (diff2 - gap).detach())
        else:
            cql1, cql2 = cql_alpha * diff1, cql_alpha * diff2
        critic_loss = td_loss + cql1 + cql2

        # --- steps, in the code's order; every loss above used the step's starting parameters
        if c.autotune_alpha:
            self.alpha_opt.zero_grad()
            alpha_loss.sum().backward()
            self.alpha_opt.step()
        self.actor_opt.zero_grad()
        actor_loss.sum().backward()
        self.actor_opt.step()
        self.critic_opt.zero_grad()
        critic_loss.sum().backward()
        self.critic_opt.step()
        if c.lagrange:
            self.alpha_prime_opt.zero_grad()
            alpha_prime_loss.sum().backward()
            self.alpha_prime_opt.step()
        if self.total_it % c.target_update_period == 0:
            soft_update(self.critic_target, self.critic, self.hp("tau"))
        return {"critic_loss": critic_loss.detach(), "td_loss": td_loss.detach(), "cql_diff": (diff1 + diff2).detach() / 2,
                "actor_loss": actor_loss.detach(), "alpha": alpha.view(P), "log_pi": member_mean(log_pi.detach()),
                "q1": member_mean(q1.detach())}


class _Scalars(nn.Module):
    """A view of the algorithm's temperature parameters for (de)serialisation."""

    def __init__(self, algo: CQL) -> None:
        super().__init__()
        self.log_alpha = algo.log_alpha
        self.log_alpha_prime = algo.log_alpha_prime
