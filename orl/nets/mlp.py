"""Multi-layer perceptrons, the building block of every continuous-control network in orl."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, activation: type[nn.Module] = nn.ReLU,
        output_activation: type[nn.Module] | None = None) -> nn.Sequential:
    """``in -> hidden[0] -> ... -> hidden[-1] -> out`` with ``activation`` between layers
    (PyTorch's default Linear initialisation, as in the TD3+BC and A2PR reference code)."""
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(dims[-1], out_dim))
    if output_activation is not None:
        layers.append(output_activation())
    return nn.Sequential(*layers)
