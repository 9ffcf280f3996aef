"""Populations: P networks of one shape as one module with a leading member dimension.

Every tensor an offline algorithm handles is ``(P, N, ...)``: member ``p``'s batch is row ``p``.
A :class:`MemberLinear` holds ``(P, out, in)`` weights and applies all members in one batched
matmul, so 27 seeds (or 27 datasets of one shape, or a 27-point sweep of a scalar
hyperparameter) cost one forward pass instead of 27 processes (``DESIGN.md``: "Ensembles and
populations are one mechanism"). A single run is the population ``P = 1``; there is no
second implementation.

What keeps a member exactly what it would be alone:

- **Initialisation** draws member ``p``'s weights from its own generator (:class:`MemberRandom`),
  seeded by its seed only, in the same order whatever ``P`` is.
- **Losses** are reduced per member (:func:`member_mean`) and the population's loss is their
  *sum*: the gradient of member ``p``'s parameters is then exactly its own loss's gradient (the
  sum's other terms do not depend on them). A mean over members would scale every gradient by
  ``1/P``.
- **Adam** is element-wise, so one optimiser over the stacked parameters steps every member as
  its own optimiser would (same learning rate for all members).
- **Noise** inside an update (target-policy smoothing, VAE samples, policy samples) comes from
  each member's own generator (:meth:`MemberRandom.randn`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def _derived_seed(seed: int, stream: int) -> int:
    """A 63-bit seed for random stream ``stream`` of a member seeded ``seed`` (independent streams
    for initialisation and for update noise, not one sequence used twice)."""
    return int(np.random.SeedSequence([int(seed), stream]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class MemberRandom:
    """One torch generator per member: ``init`` (CPU) for the initial weights, ``noise`` (on the
    algorithm's device) for the randomness of updates. Member ``p``'s draws depend on its seed only."""

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.seeds = [int(s) for s in seeds]
        self.init = [torch.Generator().manual_seed(_derived_seed(s, 0)) for s in self.seeds]
        self.device = torch.device(device)
        self.noise = [torch.Generator(self.device).manual_seed(_derived_seed(s, 1)) for s in self.seeds]

    def to(self, device: torch.device | str) -> None:
        """Move the noise generators to ``device``; a new device starts the streams again from
        the seeds unless a state is loaded afterwards (CPU and CUDA generators differ in kind)."""
        device = torch.device(device)
        if device.type != self.device.type:
            self.noise = [torch.Generator(device).manual_seed(_derived_seed(s, 1)) for s in self.seeds]
        self.device = device

    def randn(self, *shape: int) -> torch.Tensor:
        """Standard normal noise of shape ``(P, *shape)``; row ``p`` from member ``p``'s generator."""
        return torch.stack([torch.randn(shape, generator=g, device=self.device) for g in self.noise])

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform [0, 1) noise of shape ``(P, *shape)``, row ``p`` from member ``p``'s generator."""
        return torch.stack([torch.rand(shape, generator=g, device=self.device) for g in self.noise])

    def state_dict(self) -> dict:
        return {"seeds": list(self.seeds), "device_type": self.device.type,
                "noise": [g.get_state() for g in self.noise]}

    def load_state_dict(self, state: dict) -> None:
        if list(state["seeds"]) != self.seeds:
            raise ValueError(f"random state is for member seeds {list(state['seeds'])}, not {self.seeds}")
        saved = state.get("device_type", "cpu")
        if saved != self.device.type:
            # A CPU generator's state cannot seed a CUDA one (or back): the run continues on new
            # streams from the seeds, so it is no longer the uninterrupted run's continuation.
            warnings.warn(f"the members' noise streams were saved on {saved} and continue on {self.device.type} "
                          "from their seeds: the resumed run will not equal an uninterrupted one", stacklevel=2)
            return
        for g, s in zip(self.noise, state["noise"]):
            g.set_state(s.cpu())


def for_members(fn, tensor: torch.Tensor, gens: Sequence[torch.Generator], **kwargs) -> torch.Tensor:
    """Apply the in-place initialiser ``fn`` (``nn.init.*_``) to each member's slice ``tensor[p]``
    with member ``p``'s generator."""
    with torch.no_grad():
        for p, g in enumerate(gens):
            fn(tensor[p], generator=g, **kwargs)
    return tensor


class MemberLinear(nn.Module):
    """``y[p] = x[p] W[p]^T + b[p]`` for inputs ``(P, N, in)``: P independent ``nn.Linear`` layers.

    ``weight[p]`` has ``nn.Linear``'s ``(out, in)`` layout and PyTorch's default initialisation
    (Kaiming-uniform with ``a = sqrt(5)``, bias uniform in ``+-1/sqrt(in)``), drawn per member.
    ``bias`` is ``(P, 1, out)`` so that it broadcasts over the batch.
    """

    def __init__(self, in_features: int, out_features: int, gens: Sequence[torch.Generator]) -> None:
        super().__init__()
        P = len(gens)
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(P, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(P, 1, out_features))
        for_members(nn.init.kaiming_uniform_, self.weight, gens, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        for_members(nn.init.uniform_, self.bias, gens, a=-bound, b=bound)

    @property
    def members(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[0] != self.weight.shape[0]:
            raise ValueError(f"MemberLinear expects inputs (P={self.weight.shape[0]}, N, {self.in_features}), "
                             f"got shape {tuple(x.shape)}")
        return torch.baddbmm(self.bias, x, self.weight.transpose(1, 2))

    def extra_repr(self) -> str:
        return f"members={self.members}, in_features={self.in_features}, out_features={self.out_features}"


class MemberLayerNorm(nn.Module):
    """LayerNorm over the last dimension with a per-member scale and shift, ``(P, 1, d)``."""

    def __init__(self, dim: int, members: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(members, 1, dim))
        self.bias = nn.Parameter(torch.zeros(members, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight + self.bias


def member_mlp(in_dim: int, hidden: Sequence[int], out_dim: int, gens: Sequence[torch.Generator],
               activation: type[nn.Module] = nn.ReLU, output_activation: type[nn.Module] | None = None,
               layer_norm: bool = False) -> nn.Sequential:
    """:func:`orl.nets.mlp.mlp` for a population: ``in -> hidden... -> out`` of :class:`MemberLinear`
    layers (PyTorch's default initialisation per member, as the TD3+BC and A2PR codes use); ``layer_norm``
    puts a per-member LayerNorm after every hidden layer, before its activation (RLPD's and EXPO's critics)."""
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for a, b in zip(dims[:-1], dims[1:]):
        layers.append(MemberLinear(a, b, gens))
        if layer_norm:
            layers.append(MemberLayerNorm(b, len(gens)))
        layers.append(activation())
    layers.append(MemberLinear(dims[-1], out_dim, gens))
    if output_activation is not None:
        layers.append(output_activation())
    return nn.Sequential(*layers)


def member_mean(x: torch.Tensor) -> torch.Tensor:
    """Each member's mean over everything but the leading member dimension: shape ``(P,)``."""
    return x.reshape(x.shape[0], -1).mean(1)


def member_scalar(values: Sequence[float], device: torch.device | str = "cpu") -> torch.Tensor:
    """Per-member scalars as a ``(P, 1, 1)`` tensor that broadcasts against ``(P, N, d)``."""
    return torch.as_tensor([float(v) for v in values], dtype=torch.float32, device=device).view(-1, 1, 1)


def member_parameter(values: Sequence[float]) -> nn.Parameter:
    """A trainable per-member scalar, ``(P, 1, 1)`` (CQL's temperatures, the log-std scalars)."""
    return nn.Parameter(member_scalar(values))


def member_view(x: float | torch.Tensor, ndim: int) -> float | torch.Tensor:
    """A per-member ``(P, 1, 1)`` value reshaped to broadcast against ``ndim``-dimensional per-member
    tensors (``(P,)`` losses: ``ndim=1``; ``(P, B)``: ``ndim=2``); plain numbers pass unchanged."""
    return x.reshape(-1, *([1] * (ndim - 1))) if isinstance(x, torch.Tensor) else x
