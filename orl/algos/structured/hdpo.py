"""HDPO: Hindsight Differentiable Policy Optimization — Alvo, Russo & Kanoria, "Deep Reinforcement
Learning for Inventory Networks: Toward Reliable Policy Optimization" (arXiv 2306.11246; official code
``MatiasAlvo/Neural_inventory_control``, ``trainer.py``, ``loss_functions.py``, ``neural_networks.py``).

The simulator of ``orl_envs.inventory`` is differentiable in the order quantities, so a deterministic
policy is trained by plain gradient descent on the simulated cost: roll a minibatch of pre-sampled
scenarios (demand traces and initial inventories) through ``periods`` periods, take

    L(theta) = sum of all costs / (batch * periods * n_stores)

and back-propagate through the whole rollout (the first ``ignore_periods`` are excluded only from the
*reported* cost, as in the code). Model selection: the policy with the lowest cost on a dev set.

This module holds the config and the policies; the loop is :mod:`orl.train.hdpo`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from orl.nets.mlp import mlp


@dataclass
class HDPOConfig:
    """Defaults: the paper's one-store settings (``vanilla_one_store.yml`` and the setting files)."""

    policy: str = "mlp"
    hidden: tuple[int, ...] = (32, 32, 32)
    lr: float = 3e-3
    n_train: int = 32768
    batch_size: int = 8192
    train_periods: int = 50
    train_ignore: int = 30
    n_dev: int = 32768
    dev_periods: int = 100
    dev_ignore: int = 60
    n_test: int = 4096
    test_periods: int = 5000
    test_ignore: int = 3000
    grad_clip: float = 0.0  # 0: off (the paper clips at 1.0 for GNN policies only)
    patience: int = 50  # dev evaluations without improvement before stopping

    def __post_init__(self) -> None:
        for name in ("n_train", "batch_size", "train_periods", "n_dev", "dev_periods", "n_test", "test_periods",
                     "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"hdpo: {name} must be a positive integer, got {value!r}")
        for periods, ignore in (("train_periods", "train_ignore"), ("dev_periods", "dev_ignore"),
                                ("test_periods", "test_ignore")):
            if not 0 <= getattr(self, ignore) < getattr(self, periods):
                raise ValueError(f"hdpo: {ignore} must lie in [0, {periods}), got {getattr(self, ignore)!r}")
        if self.policy not in POLICIES:
            raise ValueError(f"hdpo: policy must be one of {', '.join(sorted(POLICIES))}, got {self.policy!r}")
        if not self.lr > 0:
            raise ValueError(f"hdpo: lr must be positive, got {self.lr!r}")


class MLPPolicy(nn.Module):
    """The paper's vanilla policy: an ELU MLP on the flattened pipelines, ``softplus`` order quantities.

    Input: every location's pipeline (on-hand and in transit) as the simulator keeps it, divided by the
    stores' mean demand (a fixed input scaling; the paper's code feeds raw quantities), so one learning
    rate suits every demand level. Output: ``softplus(x + 1)`` per order component, as the code's
    one-store network (the ``+1`` keeps early orders away from zero, where softplus is flat).
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...], scale: float) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, action_dim, activation=nn.ELU)
        self.scale = scale

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.net(state / self.scale) + 1.0) * self.scale


POLICIES = {"mlp": MLPPolicy}
