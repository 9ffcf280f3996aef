"""Behaviour cloning: a deterministic tanh policy regressed onto the dataset's actions (MSE).

Settings as CORL's ``any_percent_bc.py`` (which also serves TD3+BC-style baselines): a
256-256 ReLU MLP, Adam 3e-4, states normalised with the dataset's mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from orl.algos.base import OfflineAlgorithm, adam, register_algorithm
from orl.data.buffer import Batch
from orl.nets.population import member_mean, member_mlp


@dataclass
class BCConfig:
    lr: float = 3e-4
    hidden: tuple[int, ...] = (256, 256)
    normalize_states: bool = True
    normalize_eps: float = 1e-3


@register_algorithm
class BC(OfflineAlgorithm):
    """Behaviour cloning (MSE regression of a tanh policy onto the dataset actions).

    The maths, the official code it follows and every deviation are in this module's docstring;
    hyperparameters in :class:`BCConfig`. Train it with ``orl.fit("bc", "<dataset>", ...)``; the
    constructor below is the engine's (one member per seed; see :class:`~orl.algos.base.OfflineAlgorithm`).
    """

    name = "bc"
    Config = BCConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.actor = member_mlp(self.obs_dim, self.config.hidden, self.action_dim, self.gens, output_activation=nn.Tanh)
        self.opt = adam(self.actor.parameters(), self.config.lr)

    def components(self) -> dict:
        return {"actor": self.actor, "opt": self.opt}

    def policy(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self.actor(obs)

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.total_it += 1
        s, a, *_ = self.prepare(batch)
        loss = member_mean((self.actor(s) - a) ** 2)
        self.opt.zero_grad()
        loss.sum().backward()
        self.opt.step()
        return {"actor_loss": loss.detach()}
