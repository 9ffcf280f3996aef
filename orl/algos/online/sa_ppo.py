"""SA-PPO: PPO with the state-adversarial smoothness regulariser (Zhang et al., "Robust Deep Reinforcement
Learning against Adversarial Perturbations on State Observations", NeurIPS 2020), as the code of PROTECTED
(``umd-huang-lab/PROTECTED``, ``policy_gradients/steps.py``: ``robust_ppo_step`` with
``get_state_kl_bound_sgld``) computes it — the baseline of Liu et al. (ICLR 2024) and the regulariser of
their ``adv_pa_ppo`` victims.

Each PPO minibatch adds ``kappa * mean_s max_{||s' - s||_inf <= eps_t} ||(mu(s') - mu(s)) / sigma||^2`` to the
loss (for a Gaussian policy with a state-independent sigma this is twice the KL between pi(.|s) and
pi(.|s')), the inner max approximated by ``robust_steps`` SGLD sign steps of size ``eps_t / robust_steps``
from a noisy sign start (inverse temperature 1e-5, noise shrinking as 1 / (i + 2)); gradients flow through
``mu(s')`` and ``sigma`` (the code's ``robust_ppo_detach_stdev = false``), not through the search. ``eps_t``
grows linearly from 0 to ``robust_eps`` over the first ``robust_eps_ramp`` fraction of training (the code's
``LinearScheduler`` "start=1, length=1831" of 2441 iterations, i.e. 0.75). ``kappa`` (``robust_reg``) is 0.3
in the released Hopper config ({0.03, 0.1, 0.3} in the papers' sweeps).

As coded, the SGLD noise (std ``sqrt(2 * step * 1e-5)``) is added to the gradient of a *batch mean*, so when
the per-coordinate gradients are below about 1e-3 (a wide policy, sigma near 1, early in training) the
signs are the noise's and the search is a random walk in the ball; orl keeps this.

Differences from the code: orl's PPO is CleanRL's (one optimiser for actor and critic, grad-norm clip 0.5)
where the SA-PPO code has separate Adam optimisers and no clipping; the eps schedule is read per update
(not per minibatch). Continuous (Gaussian) actions only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from orl.algos.online.ppo import PPO, PPOConfig


@dataclass
class SAPPOConfig(PPOConfig):
    """PPO's settings plus the regulariser's: PROTECTED's Hopper config (``robust_ppo_eps`` 0.075,
    ``robust_ppo_reg`` 0.3, ``robust_ppo_pgd_steps`` 2) and its entropy coefficient 0.01."""

    ent_coef: float = 0.01
    robust_eps: float = 0.075
    robust_reg: float = 0.3
    robust_steps: int = 2
    robust_eps_ramp: float = 0.75

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.robust_eps < 0 or self.robust_reg < 0 or self.robust_steps < 1 or not 0 < self.robust_eps_ramp <= 1:
            raise ValueError("algo.robust_eps and algo.robust_reg must be >= 0, algo.robust_steps >= 1 and "
                             f"algo.robust_eps_ramp in (0, 1]; got {self.robust_eps}, {self.robust_reg}, "
                             f"{self.robust_steps}, {self.robust_eps_ramp}")


def smoothness_search(mean_fn, obs: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor, eps: float, steps: int,
                      generator: torch.Generator) -> torch.Tensor:
    """SGLD sign ascent on ``||(mean_fn(s') - mu) / sigma||^2`` within the eps-ball around ``obs`` (no gradient
    to the network's weights); returns the perturbed observations."""
    step = eps / steps
    factor = np.sqrt(2 * step * 1e-5)
    lo, hi = obs - eps, obs + eps
    x = obs + torch.randn(obs.shape, generator=generator).mul(factor).sign() * step
    for i in range(steps):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            diff = (mean_fn(x) - mu) / sigma
            (grad,) = torch.autograd.grad((diff * diff).sum(-1).mean(), x)
        noise = torch.randn(obs.shape, generator=generator) * (factor / (i + 2))
        x = torch.min(torch.max(x.detach() + (grad + noise).sign() * step, lo), hi)
    return x.detach()


class SAPPO(PPO):
    """PPO plus the SA-PPO regulariser (see the module docstring)."""

    name = "sa_ppo"
    Config = SAPPOConfig

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, config: SAPPOConfig | None = None) -> None:
        if discrete:
            raise ValueError("sa_ppo regularises a Gaussian policy's mean; this env has discrete actions")
        super().__init__(obs_dim, action_dim, discrete, config or SAPPOConfig())
        self.progress = 0.0

    def set_progress(self, fraction_done: float) -> None:
        super().set_progress(fraction_done)
        self.progress = float(fraction_done)

    def current_eps(self) -> float:
        c = self.config
        return c.robust_eps * min(1.0, self.progress / c.robust_eps_ramp)

    def regularizer(self, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor | None:
        c, eps = self.config, self.current_eps()
        if c.robust_reg == 0 or eps == 0:
            return None
        actor = self.net.actor
        with torch.no_grad():
            mu = actor(obs)
        sigma = self.net.log_std.exp()
        x = smoothness_search(actor, obs, mu, sigma.detach(), eps, c.robust_steps, generator)
        diff = (actor(x) - mu) / sigma
        return c.robust_reg * (diff * diff).sum(-1).mean()
