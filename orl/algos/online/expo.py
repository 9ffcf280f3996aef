"""EXPO: a diffusion base policy, a small Gaussian edit policy, and on-the-fly argmax-Q action selection (Dong, Li,
Sadigh & Finn, "Expressive Policy Optimization", arXiv 2507.07986), as the code's ``EXPOLearner`` does it. The
repository named in the paper (``pd-perry/EXPO``) was unavailable; read instead: ``Servo97/EXPO`` (jaxrl/RLPD-based,
with the paper's README commands and citation: ``expo_learner.py``, ``networks/diffusion.py``, ``configs/``,
``train_finetuning.py``) and the public fork ``andamanopal/EXPO``, without the latter's "adaptive beta", which the
paper does not have).

- **Base policy** ``pi_b``: a DDPM diffusion policy (:mod:`orl.nets.diffusion`, T = 10, VP schedule), trained by
  the epsilon loss on the same batches the critic sees (so it keeps imitating the replay buffer), AdamW (weight
  decay 1e-4, optax's default); an EMA copy (tau 0.001) acts. ``base`` may name a pretrained ``diffusion_bc`` agent
  (offline-to-online) to start from: its weights start the base and its EMA starts the acting copy, as the code's
  pretraining leaves its "target actor".
- **Edit policy** ``pi_e(eps | s, a)``: a tanh-Gaussian on ``[s, a]`` with the critic's hidden layers (the
  code's ``hidden_dims``, 3 x 256 in its README runs); the edited action is ``a + beta eps``.
  Loss ``E[alpha (log pi_e(eps|s,a) - d log beta) - mean_i Q_i(s, a + beta eps)]`` with ``a`` the batch action;
  alpha auto-tuned towards the entropy target ``-d/2``.
- **Critic**: an ensemble of ``n_critics`` (10) LayerNorm MLPs, batched (one forward for all); the TD target
  ``y = r + gamma (1 - d) min_{i in M} Q'_i(s', a*)`` over a random subset ``M`` of ``num_min_qs`` (2) target
  critics, no entropy term; ``a* = OTF(s')`` with the online base.
- **On-the-fly policy** ``OTF(s)``: ``n_samples`` base actions, the first ``n_edit`` of them also edited, the
  candidate with the highest Q (min over the subsampled target critics) wins. It acts (with the EMA base) and
  forms the TD target. Evaluation acts the same way and draws from the agent's one random stream, so it advances
  the stream training continues with, as the code does (``train_finetuning.py`` keeps the agent that
  ``evaluate_diffusion`` returns, its key split by every ``eval_actions``): unlike SAC/DSRL here, EXPO's
  trajectory depends on when and how long it is evaluated.

Per environment step the loop (:mod:`orl.train.offpolicy`) makes ``utd`` (20) critic updates; with the last of
them, one base step, one edit step and one temperature step (the code's order). Deviations, named: edited
actions are clipped to [-1, 1] when acting (the code leaves the clip to the environment); the learning rates are
constant (the code's cosine decay over 3M steps is nearly flat at the budgets here); the edit policy's log-std is
squashed into [-5, 2] by tanh (orl's SAC actor; the code clips it to [-20, 2]); PyTorch's default initialisation
(the code: Xavier-uniform and LeCun-normal); each transition is stored when it happens (RLPD's loop; the code's
``train_finetuning.py`` holds an episode's transitions back and stores them when the episode ends); the diffusion
network's deviations are in :mod:`orl.nets.diffusion`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from orl.algos.base import frozen, load_base
from orl.algos.online.device import OnDevice
from orl.algos.online.sac import TanhGaussianActor
from orl.nets.diffusion import DiffusionPolicy
from orl.nets.population import member_mlp


@dataclass
class EXPOConfig:
    """The code's README settings for its runs (N = 8, n_edit = 8, UTD 20, 10 critics, min over 2)."""

    base: str | None = None  # a pretrained diffusion_bc agent (file or run dir); None: a fresh base policy
    beta: float = 0.05  # edit scale (antmaze/robomimic 0.05; pen-binary 0.7)
    n_samples: int = 8
    n_edit: int = 8
    n_critics: int = 10
    num_min_qs: int = 2
    hidden: tuple[int, ...] = (256, 256, 256)
    diffusion_hidden: int = 256
    diffusion_blocks: int = 3
    diffusion_time_dim: int = 128
    T: int = 10
    lr: float = 3e-4
    weight_decay: float = 1e-4  # the base's AdamW: optax.adamw's default, which the code does not change
    gamma: float = 0.99
    tau: float = 0.005
    actor_ema: float = 0.001
    batch_size: int = 256
    utd: int = 20
    # uniform actions first: the README commands' --start_training (its default 10,000), which follow 20,000 offline
    # base steps (train_finetuning.py's default pretrain_steps); its scripts that start from a longer-pretrained base
    # (scripts/*/*_pretrain.sh: 200k-500k offline steps) set --start_training 0 and act with the OTF policy at once
    start_steps: int = 5000
    buffer_size: int = 1_000_000
    offline_ratio: float = 0.0  # 0.5 with offline data (the code's symmetric sampling)
    offline_dataset: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.num_min_qs <= self.n_critics:
            raise ValueError(f"algo.num_min_qs must lie in 1..n_critics={self.n_critics}, got {self.num_min_qs}")
        if self.n_samples < 1 or not 0 <= self.n_edit <= self.n_samples or self.beta <= 0:
            raise ValueError("algo.n_samples must be >= 1, algo.n_edit in 0..n_samples and algo.beta > 0")


class EXPO(OnDevice):
    """EXPO (see the module docstring); acts in the environment's actions scaled to [-1, 1]."""

    name = "expo"
    Config = EXPOConfig
    _MODULES = ("base", "base_ema", "edit", "critic", "critic_target")
    _PARAMS = ("log_alpha",)
    _TENSORS = ("obs_mean", "obs_std")
    _OPTIMIZERS = ("base_opt", "edit_opt", "critic_opt", "alpha_opt")

    def __init__(self, obs_dim: int, action_dim: int, config: EXPOConfig | None = None, seed: int = 0) -> None:
        c = self.config = config or EXPOConfig()
        self.obs_dim, self.action_dim = obs_dim, action_dim
        torch.manual_seed(seed)
        self.seed, self.gen = seed, torch.Generator().manual_seed(seed)
        self.obs_mean, self.obs_std = torch.zeros(obs_dim), torch.ones(obs_dim)
        self.base_agent = None
        if c.base:
            self.base_agent = load_base(c.base, "diffusion_bc")  # an agent file carries it (Agent.save)
            pre = self.base_agent.algorithm
            if pre.obs_dim != obs_dim or pre.action_dim != action_dim:
                raise ValueError(f"the base policy acts on ({pre.obs_dim},) -> {pre.action_dim}; this env on "
                                 f"({obs_dim},) -> {action_dim}")
            self.base = copy.deepcopy(pre.diffusion)
            # the code's pretraining leaves its EMA "target actor", which then acts: start from the base's EMA
            self.base_ema = copy.deepcopy(pre.ema).requires_grad_(False)
            self.obs_mean, self.obs_std = pre.obs_mean.reshape(-1).clone(), pre.obs_std.reshape(-1).clone()
        else:
            self.base = DiffusionPolicy(obs_dim, action_dim, [torch.Generator().manual_seed(seed)], c.T, "vp",
                                        c.diffusion_hidden, c.diffusion_blocks, c.diffusion_time_dim)
            self.base_ema = copy.deepcopy(self.base).requires_grad_(False)
        # the code builds the edit actor on the critic's hidden_dims ((256, 256, 256) in its README runs)
        self.edit = TanhGaussianActor(obs_dim + action_dim, action_dim, tuple(c.hidden))
        gens = [torch.Generator().manual_seed(seed * 1000 + i) for i in range(c.n_critics)]
        self.critic = member_mlp(obs_dim + action_dim, c.hidden, 1, gens, layer_norm=True)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(0.0))
        self.target_entropy = -action_dim / 2
        self.base_opt = torch.optim.AdamW(self.base.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.edit_opt = torch.optim.Adam(self.edit.parameters(), lr=c.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=c.lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=c.lr)
        self.updates = 0

    # -- pieces
    def _norm(self, s: torch.Tensor) -> torch.Tensor:
        return (s - self.obs_mean) / self.obs_std

    def _q(self, net: nn.Module, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """All critics: ``(n_critics, N)``."""
        return net(torch.cat([s, a], -1).unsqueeze(0).expand(self.config.n_critics, -1, -1)).squeeze(-1)

    def _base_samples(self, model: DiffusionPolicy, s: torch.Tensor, n: int) -> torch.Tensor:
        """``n`` DDPM samples per state: ``(N, n, d)``."""
        N = s.shape[0]
        x = self._norm(s).repeat_interleave(n, 0).unsqueeze(0)
        draw = lambda: torch.randn(1, N * n, self.action_dim, generator=self.gen, device=self.device)  # noqa: E731
        noises = [draw() if t > 0 else None for t in range(model.T)]
        return model.ddpm(x, draw(), noises)[0].reshape(N, n, self.action_dim)

    @torch.no_grad()
    def otf(self, s: torch.Tensor, ema: bool) -> torch.Tensor:
        """The on-the-fly action: the best of ``n_samples`` base and ``n_edit`` edited candidates under Q."""
        c = self.config
        N = s.shape[0]
        cand = self._base_samples(self.base_ema if ema else self.base, s, c.n_samples)
        if c.n_edit:
            first = cand[:, : c.n_edit]
            flat_s = s.repeat_interleave(c.n_edit, 0)
            eps, _ = self.edit(torch.cat([flat_s, first.reshape(-1, self.action_dim)], -1), self.gen)
            edited = (first.reshape(-1, self.action_dim) + c.beta * eps).reshape(N, c.n_edit, self.action_dim)
            cand = torch.cat([cand, edited], 1)
        k = cand.shape[1]
        q = self._q(self.critic_target, s.repeat_interleave(k, 0), cand.reshape(-1, self.action_dim))
        idx = torch.randperm(c.n_critics, generator=self.gen, device=self.device)[: c.num_min_qs]
        score = q[idx].min(0).values.reshape(N, k)
        return cand[torch.arange(N, device=cand.device), score.argmax(1)]

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        s = torch.as_tensor(np.asarray(obs, np.float32), device=self.device).reshape(-1, self.obs_dim)
        a = self.otf(s, ema=True).clamp(-1, 1)
        return a.cpu().numpy().reshape(*np.shape(obs)[:-1], self.action_dim)

    def update(self, s: torch.Tensor, a: torch.Tensor, r: torch.Tensor, s2: torch.Tensor, d: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        with torch.no_grad():
            a2 = self.otf(s2, ema=False)
            q2 = self._q(self.critic_target, s2, a2)
            idx = torch.randperm(c.n_critics, generator=self.gen, device=self.device)[: c.num_min_qs]
            y = r + c.gamma * (1 - d) * q2[idx].min(0).values
        q = self._q(self.critic, s, a)
        critic_loss = ((q - y) ** 2).mean(1).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        with torch.no_grad():
            for t, p in zip(self.critic_target.parameters(), self.critic.parameters()):
                t.lerp_(p, c.tau)
        self.updates += 1
        out = {"critic_loss": critic_loss.detach() / c.n_critics}
        if self.updates % c.utd == 0:  # with the last of the utd critic updates: base, edit, temperature
            out.update(self._actor_steps(s, a))
        return out

    def _actor_steps(self, s: torch.Tensor, a: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        x = self._norm(s).unsqueeze(0)
        t = torch.randint(0, c.T, (1, s.shape[0], 1), generator=self.gen, device=self.device)
        noise = torch.randn(1, s.shape[0], self.action_dim, generator=self.gen, device=self.device)
        base_loss = self.base.loss(x, a.unsqueeze(0), t, noise).mean()
        self.base_opt.zero_grad()
        base_loss.backward()
        self.base_opt.step()
        with torch.no_grad():
            for e, p in zip(self.base_ema.parameters(), self.base.parameters()):
                e.lerp_(p, c.actor_ema)
        alpha = self.log_alpha.exp().detach()
        eps, logp = self.edit(torch.cat([s, a], -1), self.gen)
        with frozen(self.critic):
            q = self._q(self.critic, s, a + c.beta * eps).mean(0)
        edit_loss = (alpha * (logp - self.action_dim * math.log(c.beta)) - q).mean()
        self.edit_opt.zero_grad()
        edit_loss.backward()
        self.edit_opt.step()
        alpha_loss = -(self.log_alpha.exp() * (logp.detach() - self.action_dim * math.log(c.beta)
                                               + self.target_entropy)).mean()
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()
        return {"base_loss": base_loss.detach(), "edit_loss": edit_loss.detach(), "alpha": alpha}

    _PARTS = ("base", "base_ema", "edit", "critic", "critic_target", "base_opt", "edit_opt", "critic_opt", "alpha_opt")

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{k: getattr(self, k).state_dict() for k in self._PARTS},
                "log_alpha": self.log_alpha.detach().clone(), **self.gen_state(), "updates": self.updates,
                "obs_mean": self.obs_mean, "obs_std": self.obs_std}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for algorithm {state.get('name')!r}, not {self.name!r}")
        for k in self._PARTS:
            getattr(self, k).load_state_dict(state[k])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.load_gen_state(state)
        self.updates = int(state["updates"])
        self.obs_mean, self.obs_std = state["obs_mean"].to(self.device), state["obs_std"].to(self.device)
