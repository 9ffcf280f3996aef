"""PPO (Schulman et al. 2017, arXiv 1707.06347) and PPO-Buffer, with CleanRL's semantics.

Follows CleanRL's ``ppo_continuous_action.py`` / ``ppo.py`` (Huang et al. 2022, "The 37 implementation
details of PPO"): a 64-64 tanh actor and critic with orthogonal initialisation (gain sqrt(2), actor head
0.01, critic head 1), a state-independent log-std for Gaussian actions (categorical logits for discrete
ones), GAE(gamma, lambda), per-minibatch advantage normalisation, the clipped surrogate
``max(-A r, -A clip(r, 1-eps, 1+eps))``, a clipped value loss, an entropy bonus, a gradient-norm clip
and a linear learning-rate anneal over the run.

Where orl differs from CleanRL, on purpose:

- **The buffer and the "old" policy.** PPO-Buffer (Corrado & Hanna, arXiv 2311.08290) trains on the
  last ``b`` rollouts; following their code (``PPOROS``), log pi_old(a|s) and V(s) are recomputed for
  the whole buffer under the current policy before each update, so the ratio starts at 1 for old and
  new data alike. With ``b = 1`` this equals CleanRL's stored values (the policy has not changed since
  the rollout was collected).
- **Truncation.** A time-limit end bootstraps with V(s') of the true last observation (CleanRL treats it
  as a terminal); a terminal does not.
- **Early stop.** With ``target_kl`` set, the update stops at the first minibatch whose approx-KL (the
  k3 estimator) exceeds it, before that minibatch's step (PPOROS's per-minibatch rule; CleanRL checks
  once per epoch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass
class PPOConfig:
    """PPO's hyperparameters (CleanRL's continuous-control defaults); ``buffer_batches`` > 1 is PPO-Buffer."""

    lr: float = 3e-4
    num_envs: int = 1
    num_steps: int = 2048  # env steps per sub-environment between updates (n)
    buffer_batches: int = 1  # b: rollouts trained on (1: PPO, 2: PPO-Buffer as in Corrado & Hanna)
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 32
    update_epochs: int = 10
    clip_coef: float = 0.2
    clip_vloss: bool = True
    norm_adv: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    target_kl: float | None = None
    anneal_lr: bool = True
    hidden: tuple[int, ...] = (64, 64)
    normalize_obs: bool = True
    normalize_reward: bool = True
    clip_obs: float = 10.0
    clip_reward: float = 10.0
    se_every: int = 10  # sampling error (orl.algos.online.sampling_error) every se_every target updates; 0: never
    se_epochs: int = 250  # epochs of the empirical policy's maximum-likelihood fit (PPOROS's default)
    # torch.compile the minibatch loss (forward and backward): the same maths, rounded differently; on a CPU
    # about 1.6x faster per minibatch step of the 64-64 networks (whose steps are overhead-bound), after a
    # few seconds of compiling; off by default (CI-size runs do not repay the compile time)
    compile: bool = False

    def __post_init__(self) -> None:
        for name in ("num_envs", "num_steps", "buffer_batches", "num_minibatches", "update_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"algo.{name} must be a positive integer, got {getattr(self, name)!r}")
        if not 0 < self.gamma <= 1 or not 0 <= self.gae_lambda <= 1:
            raise ValueError(f"algo.gamma must be in (0, 1] and algo.gae_lambda in [0, 1], got {self.gamma}, "
                             f"{self.gae_lambda}")
        if self.se_every < 0 or self.se_epochs < 1:
            raise ValueError(f"algo.se_every must be >= 0 and algo.se_epochs >= 1, got {self.se_every}, {self.se_epochs}")
        batch = self.num_envs * self.num_steps * self.buffer_batches
        if batch < self.num_minibatches:
            raise ValueError(f"algo.num_minibatches={self.num_minibatches} exceeds the buffer's {batch} transitions")


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std``, constant bias (CleanRL's ``layer_init``)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


def _tanh_mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, out_std: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip((in_dim, *hidden[:-1]), hidden):
        layers += [layer_init(nn.Linear(a, b)), nn.Tanh()]
    layers.append(layer_init(nn.Linear(hidden[-1], out_dim), std=out_std))
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """pi(a|s) (Gaussian with a state-independent log-std, or categorical) and V(s), separate networks."""

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.discrete = discrete
        self.critic = _tanh_mlp(obs_dim, hidden, 1, 1.0)
        self.actor = _tanh_mlp(obs_dim, hidden, action_dim, 0.01)
        if not discrete:
            self.log_std = nn.Parameter(torch.zeros(1, action_dim))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        out = self.actor(obs)
        # validate_args=False: the parameters come from the network, and checking them costs more than
        # the network's forward pass on a single observation
        if self.discrete:
            return torch.distributions.Categorical(logits=out, validate_args=False)
        return torch.distributions.Normal(out, self.log_std.expand_as(out).exp(), validate_args=False)

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a|s) and the entropy per state (summed over action dimensions)."""
        dist = self.distribution(obs)
        if self.discrete:
            return dist.log_prob(actions.reshape(-1).long()), dist.entropy()
        return dist.log_prob(actions).sum(-1), dist.entropy().sum(-1)


def ppo_minibatch_loss(net: ActorCritic, obs: torch.Tensor, actions: torch.Tensor, adv: torch.Tensor,
                       returns: torch.Tensor, old_values: torch.Tensor, old_log_probs: torch.Tensor, clip_coef: float,
                       ent_coef: float, vf_coef: float, norm_adv: bool, clip_vloss: bool) -> tuple[torch.Tensor, ...]:
    """PPO's loss on one minibatch (CleanRL's): clipped surrogate, (clipped) value loss, entropy bonus; returns
    ``(loss, policy loss, value loss, entropy, approx-KL (k3), clip fraction)``, the last two without gradients."""
    logp, entropy = net.log_prob_entropy(obs, actions)
    logratio = logp - old_log_probs
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()  # k3 estimator
        clipfrac = ((ratio - 1.0).abs() > clip_coef).float().mean()
    if norm_adv:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    v = net.value(obs)
    if clip_vloss:
        v_clipped = old_values + (v - old_values).clamp(-clip_coef, clip_coef)
        v_loss = 0.5 * torch.max((v - returns) ** 2, (v_clipped - returns) ** 2).mean()
    else:
        v_loss = 0.5 * ((v - returns) ** 2).mean()
    ent = entropy.mean()
    return pg_loss - ent_coef * ent + vf_coef * v_loss, pg_loss, v_loss, ent, approx_kl, clipfrac


_COMPILED: dict[Any, Any] = {}


def _compiled(fn):
    """``torch.compile(fn)``, made once per function (module-level functions taking the network as an argument,
    so that a copied agent never runs a graph bound to another's network)."""
    if fn not in _COMPILED:
        _COMPILED[fn] = torch.compile(fn)
    return _COMPILED[fn]


def gae(rewards: np.ndarray, values: np.ndarray, next_values: np.ndarray, terminals: np.ndarray,
        ends: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """Generalised advantage estimates (Schulman et al. 2016) of one sub-environment's transitions, oldest first.

    ``delta_t = r_t + gamma V(s'_t) (1 - terminal_t) - V(s_t)`` and
    ``A_t = delta_t + gamma lam (1 - end_t) A_{t+1}``, where ``end_t`` is any episode end (terminal or
    truncation) and the last transition's ``A_{t+1}`` is 0: its successor's value is already in delta.
    """
    deltas = rewards + gamma * next_values * (1.0 - terminals) - values
    adv = np.zeros_like(deltas)
    running = 0.0
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + gamma * lam * (1.0 - ends[t]) * running
        adv[t] = running
    return adv


class PPO:
    """PPO on a batch of on-policy transitions; the loop (``orl.train.online``) collects and normalises."""

    name = "ppo"
    Config = PPOConfig

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, config: PPOConfig | None = None) -> None:
        self.config = config or PPOConfig()
        self.obs_dim, self.action_dim, self.discrete = obs_dim, action_dim, discrete
        self.net = ActorCritic(obs_dim, action_dim, discrete, tuple(self.config.hidden))
        # fused: the same Adam step (CleanRL's eps 1e-5) in one kernel instead of several per parameter
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.config.lr, eps=1e-5, fused=True)
        self.updates = 0

    def collector(self) -> ActorCritic:
        """The policy that collects data: the target itself (PROPS overrides it with its behaviour policy)."""
        return self.net

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
        """Actions for normalised observations ``obs`` [N, obs_dim]: the target's mean / argmax
        (``deterministic``, evaluation), else sampled from the collecting policy."""
        net = self.net if deterministic else self.collector()
        dist = net.distribution(torch.as_tensor(obs, dtype=torch.float32))
        if self.discrete:
            if deterministic:
                a = dist.probs.argmax(-1)
            else:
                a = torch.multinomial(dist.probs, 1, generator=generator).squeeze(-1)
            return a.numpy()
        if deterministic:
            return dist.mean.numpy()
        noise = torch.randn(dist.mean.shape, generator=generator)
        return (dist.mean + dist.stddev * noise).numpy()

    def set_progress(self, fraction_done: float) -> None:
        """Linear learning-rate anneal: ``lr (1 - fraction_done)`` (CleanRL's ``frac``)."""
        if self.config.anneal_lr:
            for g in self.opt.param_groups:
                g["lr"] = (1.0 - fraction_done) * self.config.lr

    def update(self, obs: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor, returns: torch.Tensor,
               old_values: torch.Tensor, old_log_probs: torch.Tensor, generator: torch.Generator) -> dict[str, float]:
        """``update_epochs`` passes of minibatch PPO over the given transitions (tensors of equal length)."""
        c = self.config
        n = len(obs)
        # PPOROS: the minibatch size is fixed by the full buffer (b n / num_minibatches), the last one may be
        # partial, and a buffer not yet full gives fewer minibatches (for b = 1 this is CleanRL's split).
        mb = max(1, c.buffer_batches * c.num_steps * c.num_envs // c.num_minibatches)
        stats: dict[str, list[float]] = {k: [] for k in ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac")}
        stopped = False
        loss_fn = _compiled(ppo_minibatch_loss) if c.compile else ppo_minibatch_loss
        for _ in range(c.update_epochs):
            perm = torch.randperm(n, generator=generator)
            for start in range(0, n, mb):
                idx = perm[start:start + mb]
                loss, pg_loss, v_loss, ent, kl, clipped = loss_fn(
                    self.net, obs[idx], actions[idx], advantages[idx], returns[idx], old_values[idx],
                    old_log_probs[idx], c.clip_coef, c.ent_coef, c.vf_coef, c.norm_adv, c.clip_vloss)
                approx_kl, clipfrac = float(kl), float(clipped)
                if c.target_kl is not None and approx_kl > c.target_kl:
                    stopped = True
                    break
                reg = self.regularizer(obs[idx], generator)
                if reg is not None:  # SA-PPO's smoothness term (orl.algos.online.sa_ppo)
                    loss = loss + reg
                    stats.setdefault("regularizer", []).append(float(reg.detach()))
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.net.parameters(), c.max_grad_norm, foreach=True)
                self.opt.step()
                for k, val in (("policy_loss", pg_loss), ("value_loss", v_loss), ("entropy", ent)):
                    stats[k].append(float(val.detach()))
                stats["approx_kl"].append(approx_kl)
                stats["clipfrac"].append(clipfrac)
            if stopped:
                break
        self.updates += 1
        out = {k: float(np.mean(v)) for k, v in stats.items() if v}
        out["early_stop"] = float(stopped)
        return out

    def regularizer(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
        """An extra term of the minibatch loss; none for PPO (SA-PPO adds its state-smoothness term)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "net": self.net.state_dict(), "opt": self.opt.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for algorithm {state.get('name')!r}, not {self.name!r}")
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.updates = int(state["updates"])
