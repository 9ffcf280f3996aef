"""PROPS: Proximal Robust On-Policy Sampling (Corrado & Hanna, "On-Policy Policy Gradient Reinforcement
Learning Without On-Policy Sampling", arXiv 2311.08290), as its code (``NicholasCorrado/PPOROS``,
``PROPS/ppo_props_continuous.py``: ``update_props`` and ``main``) does it.

PPO-Buffer's target pi_theta trains on the last ``b`` batches of ``n`` steps, but the data are collected by a
*behaviour* policy pi_phi that under-samples what the buffer already over-represents, so that the buffer
as a whole looks as if pi_theta had collected it. Every ``m`` (``props_num_steps``) steps, after the PPO
update if one was due, phi is reset to theta and takes minibatch Adam steps on

    L(phi) = E_D[ max(r, clip(r, 1 - eps_P, 1 + eps_P)) ] + lambda KL(pi_phi || pi_theta),  r = pi_phi(a|s) / pi_theta(a|s)

(PPO's clipped surrogate with the advantage fixed at -1: push down the probability of the actions already
sampled), stopping at the first minibatch whose approx-KL exceeds ``props_target_kl``. D is the buffer
without its oldest ``m`` transitions (they leave it before the next update) once it is full.

Faithful to the code, where the paper is silent or differs:

- The denominators pi_theta(a|s) and the KL's target parameters are those computed for the buffer
  *before* the PPO update of the same round, although phi is reset to the updated theta (the code
  computes ``logprobs``, ``means``, ``stds`` once per round and hands them to both updates).
- The Gaussian KL is the closed form per action dimension, averaged over the batch *and* the dimensions
  (``.mean()``, not a sum over dimensions); for discrete actions it is
  pi_theta(a|s) (log pi_theta(a|s) - log pi_phi(a|s)) at the buffered action.
- ``ros=True`` is the ROS baseline (Zhong et al. 2022) for the sampling-error study: from phi = theta one
  full-batch, unclipped, unregularised gradient step that *lowers* pi_phi of the buffered actions
  (minimising the mean ratio). PPOROS's continuous ``ros`` branch minimises -mean(log ratio), which raises
  them: orl treats that sign as a bug and follows the method's description.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from orl.algos.online.ppo import PPO, ActorCritic, PPOConfig, _compiled


@dataclass
class PROPSConfig(PPOConfig):
    """PPOROS's defaults (``ppo_props_continuous.py``): b = 2, n = 2048, PPO lr 1e-4 with target-KL 0.03,
    m = 1024, PROPS lr 1e-4, 16 epochs x 16 minibatches, eps_P 0.3, lambda 0.3, PROPS target-KL 0.05."""

    lr: float = 1e-4
    buffer_batches: int = 2
    target_kl: float | None = 0.03
    props_num_steps: int = 1024  # m: behaviour steps per sub-environment between PROPS updates (n % m == 0)
    props_lr: float = 1e-4
    props_clip_coef: float = 0.3
    props_lambda: float = 0.3
    props_target_kl: float | None = 0.05
    props_num_minibatches: int = 16
    props_update_epochs: int = 16
    props_max_grad_norm: float = 0.5
    ros: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.props_num_steps < 1 or self.num_steps % self.props_num_steps:
            raise ValueError(f"algo.props_num_steps must divide algo.num_steps={self.num_steps}, "
                             f"got {self.props_num_steps}")
        if self.props_num_minibatches < 1 or self.props_update_epochs < 1:
            raise ValueError("algo.props_num_minibatches and algo.props_update_epochs must be positive integers")


def kl_behaviour_target(phi_dist: torch.distributions.Distribution, theta_params: torch.Tensor | tuple,
                        actions: torch.Tensor, discrete: bool) -> torch.Tensor:
    """PROPS's regulariser KL(pi_phi || pi_theta) as the code computes it (see the module docstring)."""
    if discrete:
        theta = torch.distributions.Categorical(logits=theta_params)
        a = actions.reshape(-1).long()
        logp_theta = theta.log_prob(a)
        return (logp_theta.exp() * (logp_theta - phi_dist.log_prob(a))).mean()
    mu2, sigma2 = theta_params
    mu1, sigma1 = phi_dist.mean, phi_dist.stddev
    return (torch.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5).mean()


def props_minibatch_loss(behaviour: ActorCritic, obs: torch.Tensor, actions: torch.Tensor, theta_logp: torch.Tensor,
                         theta_params: Any, discrete: bool, clip_coef: float, lam: float) -> tuple[torch.Tensor, ...]:
    """PROPS's loss on one minibatch (module docstring): the clipped ratio of the sampled actions' probabilities
    under phi and theta, plus ``lam`` KL(pi_phi || pi_theta); returns ``(loss, surrogate, KL, approx-KL)``."""
    dist = behaviour.distribution(obs)
    logp = dist.log_prob(actions.reshape(-1).long()) if discrete else dist.log_prob(actions).sum(-1)
    logratio = logp - theta_logp
    ratio = logratio.exp()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - logratio).mean()
    kl = kl_behaviour_target(dist, theta_params, actions, discrete)
    surrogate = torch.max(ratio, ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    return surrogate + lam * kl, surrogate, kl, approx_kl


class PROPS(PPO):
    """PPO-Buffer's target plus the PROPS behaviour policy that collects its data."""

    name = "props"
    Config = PROPSConfig

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, config: PROPSConfig | None = None) -> None:
        super().__init__(obs_dim, action_dim, discrete, config or PROPSConfig())
        self.behaviour = copy.deepcopy(self.net)
        self.props_opt = torch.optim.Adam(self.behaviour.parameters(), lr=self.config.props_lr, eps=1e-5, fused=True)

    def collector(self) -> ActorCritic:
        return self.behaviour

    def props_update(self, obs: torch.Tensor, actions: torch.Tensor, theta_logp: torch.Tensor, theta_params: Any,
                     generator: torch.Generator) -> dict[str, float]:
        """Reset phi to the current theta, then minimise L(phi) on ``(obs, actions)`` (see the module docstring);
        ``theta_logp`` / ``theta_params`` are the target's log-probabilities and distribution parameters."""
        c = self.config
        self.behaviour.load_state_dict(self.net.state_dict())
        n = len(obs)
        if c.ros:  # one full-batch step lowering the buffered actions' probability
            logp, _ = self.behaviour.log_prob_entropy(obs, actions)
            loss = (logp - theta_logp).exp().mean()
            self.props_opt.zero_grad()
            loss.backward()
            self.props_opt.step()
            return {"props_loss": float(loss.detach())}
        # PPOROS: minibatches of (b n - m) / props_num_minibatches (the size of a full buffer's update set)
        total = c.num_envs * (c.buffer_batches * c.num_steps - c.props_num_steps)
        mb = max(1, total // c.props_num_minibatches)
        stats: dict[str, list[float]] = {"props_loss": [], "props_kl_regularizer": [], "props_approx_kl": []}
        stopped = False
        loss_fn = _compiled(props_minibatch_loss) if c.compile else props_minibatch_loss
        for _ in range(c.props_update_epochs):
            perm = torch.randperm(n, generator=generator)
            for start in range(0, n, mb):
                idx = perm[start:start + mb]
                params = theta_params[idx] if self.discrete else (theta_params[0][idx], theta_params[1][idx])
                loss, surrogate, kl, approx = loss_fn(self.behaviour, obs[idx], actions[idx], theta_logp[idx], params,
                                                      self.discrete, c.props_clip_coef, c.props_lambda)
                approx_kl = float(approx)
                if c.props_target_kl is not None and approx_kl > c.props_target_kl:
                    stopped = True
                    break
                self.props_opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.behaviour.parameters(), c.props_max_grad_norm, foreach=True)
                self.props_opt.step()
                stats["props_loss"].append(float(surrogate.detach()))
                stats["props_kl_regularizer"].append(float(kl.detach()))
                stats["props_approx_kl"].append(approx_kl)
            if stopped:
                break
        out = {k: float(np.mean(v)) for k, v in stats.items() if v}
        out["props_early_stop"] = float(stopped)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "behaviour": self.behaviour.state_dict(), "props_opt": self.props_opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.behaviour.load_state_dict(state["behaviour"])
        self.props_opt.load_state_dict(state["props_opt"])
