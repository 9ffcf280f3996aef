"""A DDPM diffusion policy over actions (or action chunks), for a population of members.

One module for the two papers that steer or edit a pretrained diffusion policy (issue 18):

- the **noise-prediction network** ``eps_psi(s, a_t, t)`` of the jaxrl5/IDQL family that EXPO's code uses:
  learnable Fourier time features (Tancik et al. 2020) through a small swish MLP, concatenated with the state
  and the noisy action, then an MLP-ResNet (``blocks`` pre-LayerNorm residual blocks of width ``hidden``
  with a 4x expansion, swish) — every layer per member (:class:`~orl.nets.population.MemberLinear`);
- **schedules**: the variance-preserving schedule of EXPO's code (``vp``; beta_min 0.1, beta_max 10 in
  continuous time, discretised to T steps) and the cosine schedule of DPPO/DSRL (``cosine``, s = 0.008);
- **training** by epsilon prediction, ``E ||eps - eps_psi(sqrt(abar_t) a + sqrt(1 - abar_t) eps, s, t)||^2``;
- **sampling**: DDPM ancestral sampling with the action clipped to [-1, 1] at every step (EXPO's code), and
  DDIM with eta = 0 (deterministic given the initial noise ``w``), with ``x0`` clipped to ``[-c, c]`` and the
  noise re-derived from the clipped ``x0`` (DPPO's sampler that DSRL steers); both take the initial noise
  as an argument so that a policy over noise can steer them, and DDIM is differentiable in it.

Deviations from EXPO's code (``DDPM`` with ``DiffusionMLP`` and ``DiffusionMLPResNet``), named: the time MLP maps
the ``time_dim`` Fourier features through ``2 time_dim`` to ``time_dim`` features (the code's second layer also
has ``2 time_dim`` outputs: 256 rather than 128 features enter the ResNet); the ResNet's input is ``[s, a_t,
cond]`` (the code's ``[a_t, s, cond]``, a permutation of the first layer's columns); PyTorch's default
initialisation (the code: Xavier-uniform outside the residual blocks, LeCun-normal inside).

Shapes: states ``(P, N, obs_dim)``, actions ``(P, N, chunk * action_dim)`` in [-1, 1]; a chunk of ``chunk``
consecutive actions is one flat vector (DSRL's action chunks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from orl.nets.population import MemberLayerNorm, MemberLinear, for_members

SCHEDULES = ("vp", "cosine")


def vp_beta_schedule(T: int) -> torch.Tensor:
    """EXPO's (jaxrl5's) discretised variance-preserving schedule: ``alpha_t = exp(-b_min / T - (b_max - b_min)
    (2t - 1) / (2 T^2))``, ``beta_t = 1 - alpha_t``, t = 1..T, b_min 0.1, b_max 10."""
    t = torch.arange(1, T + 1, dtype=torch.float64)
    b_min, b_max = 0.1, 10.0
    alpha = torch.exp(-b_min / T - 0.5 * (b_max - b_min) * (2 * t - 1) / T**2)
    return (1 - alpha).float()


def cosine_beta_schedule(T: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule (DPPO's ``cosine_beta_schedule``), betas clipped at 0.999."""
    x = torch.linspace(0, T, T + 1, dtype=torch.float64)
    abar = torch.cos(((x / T) + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = abar / abar[0]
    return torch.clip(1 - abar[1:] / abar[:-1], 0, 0.999).float()


class MemberFourierFeatures(nn.Module):
    """Learnable Fourier features of a scalar: ``[cos(2 pi t W), sin(2 pi t W)]``, W ~ N(0, 0.2^2) per member."""

    def __init__(self, out_dim: int, gens: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(len(gens), 1, out_dim // 2))
        for_members(nn.init.normal_, self.weight, gens, std=0.2)

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # t: (P, N, 1)
        f = 2 * math.pi * t * self.weight
        return torch.cat([torch.cos(f), torch.sin(f)], -1)


class MemberResBlock(nn.Module):
    """``x + Dense(swish(Dense_4d(LayerNorm(x))))`` per member (jaxrl5's ``MLPResNetBlock``)."""

    def __init__(self, dim: int, gens: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.norm = MemberLayerNorm(dim, len(gens))
        self.up = MemberLinear(dim, 4 * dim, gens)
        self.down = MemberLinear(4 * dim, dim, gens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(F.silu(self.up(self.norm(x))))


class NoiseNet(nn.Module):
    """``eps_psi(s, a_t, t)``: Fourier time features -> swish MLP, then an MLP-ResNet on ``[s, a_t, cond]``."""

    def __init__(self, obs_dim: int, act_dim: int, gens: Sequence[torch.Generator], hidden: int = 256,
                 blocks: int = 3, time_dim: int = 128) -> None:
        super().__init__()
        self.time = MemberFourierFeatures(time_dim, gens)
        self.cond1, self.cond2 = MemberLinear(time_dim, 2 * time_dim, gens), MemberLinear(2 * time_dim, time_dim, gens)
        self.inp = MemberLinear(obs_dim + act_dim + time_dim, hidden, gens)
        self.blocks = nn.ModuleList(MemberResBlock(hidden, gens) for _ in range(blocks))
        self.out = MemberLinear(hidden, act_dim, gens)

    def forward(self, s: torch.Tensor, a: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        cond = self.cond2(F.silu(self.cond1(self.time(t))))
        x = self.inp(torch.cat([s, a, cond], -1))
        for block in self.blocks:
            x = block(x)
        return self.out(F.silu(x))


class DiffusionPolicy(nn.Module):
    """The noise network and its schedule; :meth:`loss`, :meth:`ddpm` and :meth:`ddim` (module docstring)."""

    def __init__(self, obs_dim: int, act_dim: int, gens: Sequence[torch.Generator], T: int = 10,
                 schedule: str = "vp", hidden: int = 256, blocks: int = 3, time_dim: int = 128) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown diffusion schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if T < 1:
            raise ValueError(f"the number of diffusion steps T must be positive, got {T}")
        self.T, self.act_dim = int(T), int(act_dim)
        self.net = NoiseNet(obs_dim, act_dim, gens, hidden, blocks, time_dim)
        betas = vp_beta_schedule(T) if schedule == "vp" else cosine_beta_schedule(T)
        alphas = 1 - betas
        # functions of (T, schedule): rebuilt, not stored (and they have no member dimension)
        self.register_buffer("betas", betas, persistent=False)
        self.register_buffer("alphas", alphas, persistent=False)
        self.register_buffer("abar", torch.cumprod(alphas, 0), persistent=False)

    def _t(self, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=like.device)
        return t.to(like.dtype).expand(*like.shape[:-1], 1) if t.ndim == 0 else t.to(like.dtype)

    def eps(self, s: torch.Tensor, a_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        return self.net(s, a_t, self._t(t, a_t))

    def loss(self, s: torch.Tensor, a: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Per-element squared error of the noise prediction; ``t`` integer steps ``(P, N, 1)`` in [0, T)."""
        abar = self.abar[t]
        a_t = abar.sqrt() * a + (1 - abar).sqrt() * noise
        return (self.net(s, a_t, t.to(a.dtype)) - noise) ** 2

    def ddpm(self, s: torch.Tensor, x_T: torch.Tensor, noises: Sequence[torch.Tensor], clip: float = 1.0,
             temperature: float = 1.0) -> torch.Tensor:
        """Ancestral DDPM sampling from ``x_T`` with the per-step noises ``noises[t]`` (``t = T-1..1``; index by
        t), clipping the action to ``[-clip, clip]`` after every step (EXPO's code)."""
        x = x_T
        for t in range(self.T - 1, -1, -1):
            eps = self.eps(s, x, t)
            x = (x - (1 - self.alphas[t]) / (1 - self.abar[t]).sqrt() * eps) / self.alphas[t].sqrt()
            if t > 0:
                x = x + self.betas[t].sqrt() * temperature * noises[t]
            x = x.clamp(-clip, clip)
        return x

    def ddim(self, s: torch.Tensor, w: torch.Tensor, steps: int | None = None, clip: float = 1.0) -> torch.Tensor:
        """DDIM with eta = 0 from the initial noise ``w`` over ``steps`` of the T timesteps (``t_k = k T / steps``,
        high to low): ``x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)`` clipped to ``[-clip, clip]``, ``eps``
        re-derived from the clipped ``x0``, ``x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps``.
        Deterministic in ``w`` and differentiable in it (DSRL's noise-to-action map)."""
        steps = self.T if steps is None else int(steps)
        if not 1 <= steps <= self.T or self.T % steps:
            raise ValueError(f"DDIM steps must divide T={self.T} (1..T), got {steps}")
        ts = list(range(0, self.T, self.T // steps))[::-1]
        x = w
        for i, t in enumerate(ts):
            abar = self.abar[t]
            eps = self.eps(s, x, t)
            x0 = ((x - (1 - abar).sqrt() * eps) / abar.sqrt()).clamp(-clip, clip)
            eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
            abar_prev = self.abar[ts[i + 1]] if i + 1 < len(ts) else torch.ones_like(abar)
            x = abar_prev.sqrt() * x0 + (1 - abar_prev).sqrt() * eps
        return x
