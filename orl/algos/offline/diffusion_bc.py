"""Diffusion behaviour cloning: a DDPM policy trained by imitation on any orl dataset (``algo=diffusion_bc``).

The base policy of EXPO (Dong, Li, Sadigh & Finn, "Expressive Policy Optimization", arXiv 2507.07986; the
settings of its code's ``EXPOLearner``) and the kind of policy DSRL steers (Wagenmaker et al., "Steering Your
Diffusion Policy with Latent Space Reinforcement Learning", arXiv 2506.15799): epsilon prediction with
T = 10 steps of the VP schedule, the MLP-ResNet noise network of :mod:`orl.nets.diffusion` (3 blocks of 256,
LayerNorm, swish, Fourier time features of 128), AdamW lr 3e-4 with cosine decay over the run, and an EMA copy
(tau 0.001) that acts. Acting samples by DDPM with the action clipped to [-1, 1] at every step (EXPO's
sampler). ``act(deterministic=False)`` draws the sampler's noise from the members' training streams;
``act(deterministic=True)`` (evaluation) uses a *fixed* noise per member and batch position (seeded from the
member's seed), so evaluating is a deterministic map from states to actions and never changes what training
draws; ``eval_sampler="ddim"`` makes it the DDIM map from zero noise instead.

Action chunks (DSRL's DPPO bases predict 4 actions at once on Gym MuJoCo) are data here: train on
:func:`orl.data.chunks.chunk_dataset` (actions of size ``h * d``, its ``env_id`` the chunk environment's), and the
policy acts in :class:`orl.data.chunks.ActionChunkEnv`, executing each chunk open-loop. The weight decay is 1e-4: the code builds
its optimiser as ``optax.adamw(learning_rate=...)``, whose default decay is 1e-4 (before 2026-11-29 orl used
PyTorch's default, 0.01; ``experiments/o2o_results.py`` keeps 0.01 for the bases of its committed tables).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from orl.algos.base import OfflineAlgorithm, register_algorithm
from orl.data.buffer import Batch
from orl.nets.diffusion import SCHEDULES, DiffusionPolicy
from orl.nets.population import _derived_seed, member_mean


@dataclass
class DiffusionBCConfig:
    """EXPO's base-policy settings (see the module docstring)."""

    lr: float = 3e-4
    weight_decay: float = 1e-4  # optax.adamw's default, which EXPO's code keeps
    T: int = 10
    schedule: str = "vp"
    hidden: int = 256
    blocks: int = 3
    time_dim: int = 128
    ema: float = 0.001
    lr_cosine: bool = True
    eval_sampler: str = "ddpm"  # how act(deterministic=True) samples: "ddpm" (EXPO) or "ddim" from zero noise
    normalize_states: bool = True
    normalize_eps: float = 1e-3

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"algo.schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.eval_sampler not in ("ddpm", "ddim"):
            raise ValueError(f"algo.eval_sampler must be ddpm or ddim, got {self.eval_sampler!r}")
        if self.T < 1 or self.hidden < 1 or self.blocks < 0 or self.time_dim < 2:
            raise ValueError("algo.T, algo.hidden and algo.time_dim must be positive and algo.blocks >= 0")


@register_algorithm
class DiffusionBC(OfflineAlgorithm):
    """Diffusion behaviour cloning (DDPM epsilon prediction), EXPO's base policy; see the module docstring."""

    name = "diffusion_bc"
    Config = DiffusionBCConfig
    member_fields = ("ema",)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        c = self.config
        self.diffusion = DiffusionPolicy(self.obs_dim, self.action_dim, self.gens, c.T, c.schedule, c.hidden, c.blocks,
                                         c.time_dim)
        self.ema = copy.deepcopy(self.diffusion).requires_grad_(False)
        self.opt = torch.optim.AdamW(self.diffusion.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, T_max=1_000_000)

    def setup(self, buffers, total_steps: int) -> None:
        self.sched.T_max = int(total_steps) if self.config.lr_cosine else 10**12

    def components(self) -> dict:
        return {"diffusion": self.diffusion, "ema": self.ema, "opt": self.opt, "sched": self.sched}

    def sample(self, obs: torch.Tensor, sampler: str = "ddpm", ema: bool = True, fixed_noise: bool = False) -> torch.Tensor:
        """Actions in [-1, 1] for normalised states ``(P, N, obs_dim)``: the noise from the members' streams,
        or (``fixed_noise``) the same noise at every call (a deterministic policy; see the module docstring)."""
        model = self.ema if ema else self.diffusion
        P, N = obs.shape[0], obs.shape[1]
        if sampler == "ddim":
            return model.ddim(obs, torch.zeros(P, N, self.action_dim, device=obs.device))
        if fixed_noise:
            gens = [torch.Generator(obs.device).manual_seed(_derived_seed(s, 2)) for s in self.seeds]
            draw = lambda: torch.stack([torch.randn(N, self.action_dim, generator=g, device=obs.device)  # noqa: E731
                                        for g in gens])
        else:
            draw = lambda: self.random.randn(N, self.action_dim)  # noqa: E731
        x_T = draw()
        noises = [draw() if t > 0 else None for t in range(model.T)]
        return model.ddpm(obs, x_T, noises)

    @torch.no_grad()
    def policy(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        if deterministic:
            return self.sample(obs, self.config.eval_sampler, fixed_noise=True)
        return self.sample(obs, "ddpm")

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.total_it += 1
        s, a, *_ = self.prepare(batch)
        N = a.shape[1]
        t = (self.random.rand(N, 1) * self.config.T).long().clamp_max(self.config.T - 1)
        noise = self.random.randn(N, self.action_dim)
        loss = member_mean(self.diffusion.loss(s, a, t, noise))
        self.opt.zero_grad()
        loss.sum().backward()
        self.opt.step()
        self.sched.step()
        tau = self.hp("ema")  # a number, or (P, 1, 1) when members differ (every parameter is (P, ...))
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.diffusion.parameters()):
                e.lerp_(p, tau)
        return {"diffusion_loss": loss.detach()}
