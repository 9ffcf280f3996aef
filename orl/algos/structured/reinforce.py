"""REINFORCE with a baseline on the batched inventory simulator: the score-function baseline of HDPO.

Alvo, Russo & Kanoria (arXiv 2306.11246, v3) report that HDPO "is more robust than variants of the
REINFORCE algorithm"; their REINFORCE code is not public (``MatiasAlvo/Neural_inventory_control`` has
none), so this is orl's own definition (the usual variants: no baseline, a batch-mean baseline, a
learned value baseline), kept as close to HDPO as possible so that
the two differ only in how the gradient is estimated:

* **same data**: the fixed train/dev/test scenario sets of :class:`orl.train.hdpo.Scenarios` (same seeds,
  sizes, horizons), the same simulator; but **no gradient through the dynamics**: the rollout runs under
  ``torch.no_grad`` and only the policy's log-likelihood is differentiated.
* **policy** (:class:`GaussianPolicy`): HDPO's MLP trunk (ELU, inputs divided by the mean demand) whose
  ``softplus(x + 1) * scale`` output is the *mean* order ``mu(s)``; a Gaussian ``N(mu(s), sigma^2)`` per
  order component with a **state-independent** learned log-std (the usual choice for Gaussian policy
  gradients, also SB3's), ``sigma = exp(log_std) * scale`` (``init_std`` periods of mean demand at the
  start). The order placed is the **clipped sample** ``max(0, a)``; the log-likelihood is that of the
  unclipped sample ``a`` (clipping is part of the environment, as SB3 clips to the action box), so the
  estimator stays unbiased for the clipped policy. Evaluation is deterministic: the mean ``mu(s) >= 0``.
* **objective**: the per-period cost is the negative reward; the return-to-go is **undiscounted** by
  default (``discount = 1``): HDPO minimises the undiscounted total cost over the training horizon, so
  REINFORCE estimates the gradient of the very same quantity. Loss (to minimise)
  ``sum_t log pi(a_t | s_t) * (C_t - b_t) / (batch * periods * n_stores)`` with the cost-to-go
  ``C_t = sum_{t' >= t} discount^(t'-t) c_t'``.
* **baseline**: ``batch_mean`` (default): ``b_t`` is the mean of ``C_t`` over the batch, per period (all
  scenarios share the clock, so this is a per-time-step baseline); ``none``: ``b_t = 0`` (plain
  REINFORCE, for the ablation). A learned value baseline (the references' third variant) is not
  implemented.

The loop (scenarios, dev model selection, checkpoints, logs) is :func:`orl.train.inventory_baselines.train_reinforce`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from orl_envs.inventory.settings import InventorySetting
from orl_envs.inventory.simulator import InventoryState, flat_width
from torch import nn

from orl.algos.structured.hdpo import ScenarioConfig, check_scenario_fields
from orl.nets.mlp import mlp

BASELINES = ("batch_mean", "none")


@dataclass
class ReinforceConfig(ScenarioConfig):
    """Scenario sets and horizons: HDPO's (:class:`orl.algos.structured.hdpo.ScenarioConfig`)."""

    hidden: tuple[int, ...] = (32, 32, 32)
    lr: float = 1e-3
    init_std: float = 0.5  # initial sigma, in units of the mean demand
    baseline: str = "batch_mean"
    discount: float = 1.0
    grad_clip: float = 0.0
    patience: int = 50

    def __post_init__(self) -> None:
        check_scenario_fields(self, "reinforce")
        if self.baseline not in BASELINES:
            raise ValueError(f"reinforce: baseline must be one of {', '.join(BASELINES)}, got {self.baseline!r}")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"reinforce: discount must lie in (0, 1], got {self.discount!r}")
        if not self.lr > 0 or not self.init_std > 0:
            raise ValueError(f"reinforce: lr and init_std must be positive, got {self.lr!r}, {self.init_std!r}")


class GaussianPolicy(nn.Module):
    """HDPO's MLP policy as the mean of a Gaussian with a state-independent learned log-std.

    ``forward`` (an :class:`InventoryState` or its flattened ``[B, obs_dim]`` pipelines) is the
    deterministic (mean) order, so the module plugs into HDPO's evaluation code as ``act``. Inputs and
    orders are in units of the stores' average mean demand, as HDPO's MLP.
    """

    def __init__(self, setting: InventorySetting, hidden: tuple[int, ...] = (32, 32, 32),
                 init_std: float = 0.5) -> None:
        super().__init__()
        self.net = mlp(flat_width(setting), tuple(hidden), setting.action_dim, activation=nn.ELU)
        self.log_std = nn.Parameter(torch.full((setting.action_dim,), math.log(init_std)))
        mean = sum(setting.demand.mean) / setting.n_stores
        self.scale = float(mean) if mean > 0 else 1.0

    def forward(self, state: InventoryState | torch.Tensor) -> torch.Tensor:
        x = state.flat() if isinstance(state, InventoryState) else state
        return F.softplus(self.net(x / self.scale) + 1.0) * self.scale

    def std(self) -> torch.Tensor:
        return self.log_std.exp() * self.scale

    def sample(self, x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, orders)`` for flattened inputs ``x``: the Gaussian sample and the order placed, ``max(0, a)``."""
        mean = self(x)
        a = mean + self.std() * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
        return a, torch.clamp(a, min=0.0)

    def log_prob(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Log-density of the (unclipped) samples ``a`` at flattened inputs ``x``, summed over order components."""
        return torch.distributions.Normal(self(x), self.std()).log_prob(a).sum(-1)


def costs_to_go(costs: torch.Tensor, discount: float) -> torch.Tensor:
    """``[T, B]`` per-period costs -> ``C_t = sum_{t' >= t} discount^(t'-t) c_t'``."""
    out = torch.empty_like(costs)
    running = torch.zeros_like(costs[0])
    for t in range(costs.shape[0] - 1, -1, -1):
        running = costs[t] + discount * running
        out[t] = running
    return out


def reinforce_loss(policy: GaussianPolicy, inputs: torch.Tensor, samples: torch.Tensor, costs: torch.Tensor,
                   discount: float, baseline: str, n_stores: int) -> torch.Tensor:
    """Score-function surrogate whose gradient estimates that of the expected total cost.

    ``inputs`` ``[T, B, obs]`` (the policy's inputs along the rollout), ``samples`` ``[T, B, action_dim]``
    (unclipped Gaussian samples), ``costs`` ``[T, B]``.
    """
    t, b = costs.shape
    advantage = costs_to_go(costs, discount)
    if baseline == "batch_mean":
        advantage = advantage - advantage.mean(dim=1, keepdim=True)
    logp = policy.log_prob(inputs.reshape(t * b, -1), samples.reshape(t * b, -1)).reshape(t, b)
    return (logp * advantage.detach()).sum() / (b * t * n_stores)
