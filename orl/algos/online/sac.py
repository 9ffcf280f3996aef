"""SAC (Haarnoja et al., "Soft Actor-Critic Algorithms and Applications", arXiv 1812.05905) with the options of
RLPD (Ball, Smith, Kostrikov & Levine, "Efficient Online Reinforcement Learning with Offline Data", ICML 2023):
a critic ensemble with a min over a random subset (REDQ), LayerNorm in the critics, an update-to-data ratio,
and symmetric sampling of offline and online data (the loop's ``offline_ratio``, :mod:`orl.train.offpolicy`).

Per update on a batch ``(s, a, r, s', d)``:

    critic:  y = r + gamma (1 - d) [ min_{i in M} Q'_i(s', a') - alpha log pi(a'|s') ],  a' ~ pi(s'),  M a random
             subset of ``num_min_qs`` of the ``n_critics`` target critics (all of them when equal);
             every critic regressed to y (the entropy term only with ``backup_entropy``, RLPD/EXPO turn it off)
    actor:   E[ alpha log pi(a~|s) - mean_i Q_i(s, a~) ]  (REDQ/RLPD: mean over the ensemble; min for 2 critics,
             as CleanRL's SAC, when ``n_critics == 2``)
    alpha:   E[ -alpha (log pi(a~|s) + target_entropy) ],  target ``-target_entropy_scale |A|`` unless set
             (SAC: scale 1; RLPD: 1/2)

Every update steps the critics; the actor and the temperature step with every update (SAC, CleanRL) or, with
``actor_each_update=False``, once per environment step with the last of its ``utd`` critic updates (RLPD's
``SACLearner.update``, REDQ). :data:`RLPD` holds the settings of RLPD's locomotion runs (its README command with
``configs/rlpd_config.py``) where they differ from this class's defaults.

The critics are one batched network (``orl.nets.population.member_mlp`` with the ensemble as its member
dimension: one forward for all of them), the actor a tanh-Gaussian MLP. Targets are Polyak-averaged (tau).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from orl.algos.base import frozen
from orl.algos.online.device import OnDevice
from orl.nets.population import member_mlp


@dataclass
class SACConfig:
    """CleanRL's SAC settings (continuous control), RLPD's options off by default."""

    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    alpha_lr: float = 1e-3
    hidden: tuple[int, ...] = (256, 256)
    gamma: float = 0.99
    tau: float = 0.005
    batch_size: int = 256
    n_critics: int = 2
    num_min_qs: int = 2
    critic_layer_norm: bool = False
    backup_entropy: bool = True
    init_alpha: float = 1.0
    target_entropy: float | None = None  # None: -target_entropy_scale * |A|
    target_entropy_scale: float = 1.0  # RLPD: 0.5
    utd: int = 1  # gradient updates per round of updates
    train_every: int = 1  # environment steps per round of ``utd`` updates (SB3's train_freq)
    actor_each_update: bool = True  # False: one actor and temperature step per round, with its last critic update
    activation: str = "relu"  # of the actor and the critics: relu or tanh
    actor_layer_norm: bool = False
    deterministic_eval: bool = True  # evaluate the actor's mean (False: sample, e.g. the DSRL code's Gym runs)
    start_steps: int = 5000  # uniform-random actions before learning starts
    buffer_size: int = 1_000_000
    offline_ratio: float = 0.0  # share of each batch from the offline dataset (RLPD: 0.5)
    offline_dataset: str | None = None  # a dataset name or path mixed in (RLPD-style); None: pure online

    def __post_init__(self) -> None:
        if self.n_critics < 1 or not 1 <= self.num_min_qs <= self.n_critics:
            raise ValueError(f"algo.num_min_qs must lie in 1..n_critics={self.n_critics}, got {self.num_min_qs}")
        if (self.utd < 1 or self.train_every < 1 or self.batch_size < 1 or self.start_steps < 0
                or self.buffer_size < 1):
            raise ValueError("algo.utd, algo.train_every, algo.batch_size and algo.buffer_size must be positive, "
                             "algo.start_steps >= 0")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"algo.activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if not 0.0 <= self.offline_ratio < 1.0:
            raise ValueError(f"algo.offline_ratio must lie in [0, 1), got {self.offline_ratio}")
        if self.offline_ratio > 0 and not self.offline_dataset:
            raise ValueError("algo.offline_ratio > 0 needs algo.offline_dataset (a dataset name or path)")


#: RLPD's locomotion settings (``ikostrikov/rlpd``: README command, ``configs/rlpd_config.py`` over ``sac_config``
#: and ``td_config``; ``SACLearner``): 10 LayerNorm critics with a min over 2, learning rates 3e-4, target entropy
#: -|A|/2, the entropy term kept in the backup (its AntMaze and Adroit commands turn it off), one actor and
#: temperature step per environment step, UTD 20, 5,000 random steps, half of every batch from the dataset.
RLPD: dict[str, Any] = {"n_critics": 10, "num_min_qs": 2, "critic_layer_norm": True, "critic_lr": 3e-4,
                        "alpha_lr": 3e-4, "target_entropy_scale": 0.5, "backup_entropy": True,
                        "actor_each_update": False, "utd": 20, "start_steps": 5000, "offline_ratio": 0.5}


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


class TanhGaussianActor(nn.Module):
    """``a = tanh(u)``, ``u ~ N(mu(s), sigma(s))``, log-std clamped to [-5, 2] (CleanRL's squashing). The body is
    ``Linear -> [LayerNorm] -> activation`` per hidden layer (LayerNorm: the DSRL code's SB3 actor)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...], activation: str = "relu",
                 layer_norm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip((obs_dim, *hidden[:-1]), hidden):
            layers += [nn.Linear(a, b), *([nn.LayerNorm(b)] if layer_norm else []), ACTIVATIONS[activation]()]
        self.body = nn.Sequential(*layers)
        self.mu = nn.Linear(hidden[-1], action_dim)
        self.log_std = nn.Linear(hidden[-1], action_dim)

    def forward(self, s: torch.Tensor, generator: torch.Generator | None = None,
                deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(s)
        mu = self.mu(h)
        if deterministic:
            return torch.tanh(mu), torch.zeros(mu.shape[:-1], device=mu.device)
        log_std = torch.tanh(self.log_std(h))
        log_std = -5 + 0.5 * (2 - (-5)) * (log_std + 1)
        std = log_std.exp()
        u = mu + std * torch.randn(mu.shape, generator=generator, device=mu.device)
        a = torch.tanh(u)
        logp = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - torch.log(1 - a.pow(2) + 1e-6).sum(-1)
        return a, logp


class SAC(OnDevice):
    """SAC in [-1, 1]-scaled actions (the loop maps them to the environment's bounds); built on the CPU,
    :meth:`~orl.algos.online.device.OnDevice.to` moves it to a GPU."""

    name = "sac"
    Config = SACConfig
    _MODULES = ("actor", "critic", "critic_target")
    _PARAMS = ("log_alpha",)
    _OPTIMIZERS = ("actor_opt", "critic_opt", "alpha_opt")

    def __init__(self, obs_dim: int, action_dim: int, config: SACConfig | None = None, seed: int = 0) -> None:
        c = self.config = config or SACConfig()
        self.obs_dim, self.action_dim = obs_dim, action_dim
        torch.manual_seed(seed)
        self.seed, self.gen = seed, torch.Generator().manual_seed(seed)
        gens = [torch.Generator().manual_seed(seed * 1000 + i) for i in range(c.n_critics)]
        self.actor = TanhGaussianActor(obs_dim, action_dim, tuple(c.hidden), c.activation, c.actor_layer_norm)
        self.critic = member_mlp(obs_dim + action_dim, c.hidden, 1, gens, activation=ACTIVATIONS[c.activation],
                                 layer_norm=c.critic_layer_norm)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(c.init_alpha)))
        self.target_entropy = (-c.target_entropy_scale * action_dim if c.target_entropy is None
                               else float(c.target_entropy))
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=c.critic_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=c.alpha_lr)
        self.updates = 0

    def q(self, net: nn.Module, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """All critics at once: ``(n_critics, N)``."""
        x = torch.cat([s, a], -1).unsqueeze(0).expand(self.config.n_critics, -1, -1)
        return net(x).squeeze(-1)

    def features(self, s: torch.Tensor) -> torch.Tensor:
        """What the actor and the critics see of raw observations (SAC: themselves)."""
        return s

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
        """Actions in [-1, 1] for raw observations; sampled from ``generator`` (default: the training stream)."""
        s = self.features(torch.as_tensor(np.asarray(obs, np.float32), device=self.device).reshape(-1, self.obs_dim))
        a, _ = self.actor(s, self.gen if generator is None else generator, deterministic)
        return a.cpu().numpy().reshape(*np.shape(obs)[:-1], self.action_dim)

    def update(self, s: torch.Tensor, a: torch.Tensor, r: torch.Tensor, s2: torch.Tensor, d: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        s, s2 = self.features(s), self.features(s2)
        alpha = self.log_alpha.exp().detach()
        with torch.no_grad():
            a2, logp2 = self.actor(s2, self.gen)
            q2 = self.q(self.critic_target, s2, a2)
            if c.num_min_qs < c.n_critics:
                idx = torch.randperm(c.n_critics, generator=self.gen, device=self.device)[: c.num_min_qs]
                q2 = q2[idx]
            target = q2.min(0).values
            if c.backup_entropy:
                target = target - alpha * logp2
            y = r + c.gamma * (1 - d) * target
        q = self.q(self.critic, s, a)
        critic_loss = ((q - y) ** 2).mean(1).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        with torch.no_grad():
            for t, p in zip(self.critic_target.parameters(), self.critic.parameters()):
                t.lerp_(p, c.tau)
        self.updates += 1
        out = {"critic_loss": critic_loss.detach() / c.n_critics, "q_mean": q.detach().mean()}
        if c.actor_each_update or self.updates % c.utd == 0:
            out.update(self._actor_step(s, alpha))
        return out

    def _actor_step(self, s: torch.Tensor, alpha: torch.Tensor) -> dict[str, torch.Tensor]:
        """One actor and one temperature step on the batch's states."""
        c = self.config
        a_pi, logp = self.actor(s, self.gen)
        with frozen(self.critic):  # differentiate through the critics, not into their weights
            q_pi = self.q(self.critic, s, a_pi)
        q_pi = q_pi.min(0).values if c.n_critics == 2 else q_pi.mean(0)
        actor_loss = (alpha * logp - q_pi).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        alpha_loss = -(self.log_alpha.exp() * (logp.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()
        return {"actor_loss": actor_loss.detach(), "alpha": alpha}

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "critic_target": self.critic_target.state_dict(), "log_alpha": self.log_alpha.detach().clone(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "alpha_opt": self.alpha_opt.state_dict(), **self.gen_state(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for algorithm {state.get('name')!r}, not {self.name!r}")
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.load_gen_state(state)
        self.updates = int(state["updates"])
