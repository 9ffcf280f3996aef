"""IQL fine-tuned online: an offline-pretrained IQL agent keeps training on its dataset plus its own experience
(Kostrikov, Nair & Levine, "Offline Reinforcement Learning with Implicit Q-Learning", ICLR 2022, section 5.3; the
official code's ``train_finetune.py`` in ``ikostrikov/implicit_q_learning``).

The offline stage is orl's ``algo=iql`` (:mod:`orl.algos.offline.iql`, run with ``orl.fit("iql", dataset)``);
this class continues *that* agent (``algo.base``: its agent file or run directory) in the off-policy loop
(:mod:`orl.train.offpolicy`) with the same three losses, unchanged hyperparameters and the same state and reward
normalisation. As the code does:

- **Acting** samples the Gaussian actor (stochastic, temperature 1) from the first online step; evaluation uses
  its mean.
- **Data**: the code inserts the whole dataset into the replay buffer and appends online transitions to it, then
  samples uniformly. orl keeps the dataset and the online buffer apart and gives each batch the dataset's share of
  the merged buffer of ``buffer_size`` rows (the code's ``replay_buffer_size``: 2,000,000, its flag's default and
  its README's value):
  ``kept / (kept + online)`` with ``kept = min(dataset, buffer_size - online)`` (``algo.offline_ratio: null``, the
  default); a number instead fixes the share (RLPD-style).
  Choices: the share is rounded per batch rather than drawn binomially, and once the merged buffer is full the
  code overwrites the *oldest* dataset rows while orl keeps sampling all of them at the shrinking share.
- **One update per environment step** (``utd = 1``), batch 256, the actor's learning rate constant at
  ``actor_lr`` (the fine-tuning config sets ``opt_decay_schedule = None``, and the script passes no ``max_steps``
  a cosine schedule would need; orl's offline stage decays it by a cosine by default, so it is reset here; a base
  trained with ``actor_lr_cosine=false``, as the code's pretraining inside the fine-tuning script, has none).

Deviation (named): the code normalises the *dataset's* MuJoCo rewards by ``1000 / (max return - min return)`` and
inserts online rewards raw; orl scales both by the base agent's factor, so one critic sees one reward scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from orl.algos.base import load_base
from orl.data.buffer import Batch


@dataclass
class IQLFinetuneConfig:
    """Settings of the online stage (the IQL hyperparameters are the base agent's own)."""

    base: str = ""  # the offline-pretrained IQL: a saved iql agent or its run directory
    member: int = 0  # which member of a population base to continue
    batch_size: int = 256
    utd: int = 1
    start_steps: int = 0  # the pretrained actor acts from the first step
    buffer_size: int = 2_000_000  # rows of the merged dataset + online buffer (the code's replay_buffer_size)
    offline_ratio: float | None = None  # None: the dataset's share of the merged buffer (the code)
    offline_dataset: str | None = None  # the dataset the base was trained on (required)

    def __post_init__(self) -> None:
        if not self.base:
            raise ValueError("algo.base must name the offline-pretrained IQL agent (an iql agent file or run dir)")
        if not self.offline_dataset:
            raise ValueError("algo.offline_dataset must name the dataset the base was trained on (fine-tuning keeps "
                             "training on it)")
        if self.offline_ratio is not None and not 0.0 <= self.offline_ratio < 1.0:
            raise ValueError(f"algo.offline_ratio must be null (merged buffer) or lie in [0, 1), got "
                             f"{self.offline_ratio}")
        if self.utd < 1 or self.batch_size < 1 or self.start_steps < 0 or self.buffer_size < 1 or self.member < 0:
            raise ValueError("algo.utd, algo.batch_size and algo.buffer_size must be positive, algo.start_steps and "
                             "algo.member >= 0")


def merged_share(n_offline: int, n_online: int, capacity: int) -> float:
    """The dataset's share of one FIFO buffer of ``capacity`` rows that received the dataset and then ``n_online``
    online rows (the IQL code's buffer: online rows overwrite the oldest dataset rows once it is full)."""
    kept = max(0, min(n_offline, capacity - n_online))
    return kept / max(kept + min(n_online, capacity), 1)


class IQLFinetune:
    """Online fine-tuning of an offline-trained IQL agent (see the module docstring); acts in [-1, 1]."""

    name = "iql_ft"
    Config = IQLFinetuneConfig

    def __init__(self, obs_dim: int, action_dim: int, config: IQLFinetuneConfig | None = None, seed: int = 0) -> None:
        c = self.config = config or IQLFinetuneConfig()
        base = self.base_agent = load_base(c.base, "iql")  # an agent file carries it (Agent.save)
        if not c.member < base.algorithm.members:
            raise ValueError(f"algo.member={c.member} but the base has {base.algorithm.members} member(s)")
        self.iql = base.algorithm.member(c.member) if base.algorithm.members > 1 else base.algorithm
        if self.iql.obs_dim != obs_dim or self.iql.action_dim != action_dim:
            raise ValueError(f"the base acts on ({self.iql.obs_dim},) -> {self.iql.action_dim}; this env on "
                             f"({obs_dim},) -> {action_dim}")
        if self.iql.config.deterministic_actor:
            raise ValueError("algo.base was trained with deterministic_actor=true; online fine-tuning explores by "
                             "sampling the Gaussian actor")
        self.obs_dim, self.action_dim = obs_dim, action_dim
        torch.manual_seed(seed)
        # a constant actor learning rate from here on (the fine-tuning script's learner has no decay schedule)
        for group in self.iql.actor_opt.param_groups:
            group["lr"] = group["initial_lr"] = self.iql.config.actor_lr
        self.iql.actor_sched = torch.optim.lr_scheduler.LambdaLR(self.iql.actor_opt, lambda _: 1.0)

    @property
    def device(self) -> torch.device:
        return self.iql.device

    def to(self, device: str | torch.device) -> "IQLFinetune":
        """Move the IQL agent (networks, optimiser states, statistics, its members' noise streams) to ``device``."""
        self.iql.to(device)
        return self

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions in [-1, 1]: a sample of the Gaussian actor (its mean when ``deterministic``)."""
        s = torch.as_tensor(np.asarray(obs, np.float32), device=self.device).reshape(1, -1, self.obs_dim)
        a = self.iql.policy(self.iql.normalize(s), deterministic)
        return a[0].cpu().numpy().reshape(*np.shape(obs)[:-1], self.action_dim)

    def offline_share(self, n_offline: int, n_online: int) -> float:
        """The share of each batch drawn from the dataset (module docstring)."""
        c = self.config
        return c.offline_ratio if c.offline_ratio is not None else merged_share(n_offline, n_online, c.buffer_size)

    def update(self, s: torch.Tensor, a: torch.Tensor, r: torch.Tensor, s2: torch.Tensor, d: torch.Tensor) -> dict[str, torch.Tensor]:
        """One IQL step (value, critic, actor) on a batch whose actions are in [-1, 1]."""
        batch = Batch(observations=s, actions=self.iql.to_env_action(a.unsqueeze(0))[0], rewards=r,
                      next_observations=s2, terminals=d, timeouts=torch.zeros_like(d), indices=np.zeros(0))
        return {k: v.detach().mean() for k, v in self.iql.update(batch).items()}

    def state_dict(self) -> dict[str, Any]:
        return {"iql": self.iql.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iql.load_state_dict(state["iql"])
