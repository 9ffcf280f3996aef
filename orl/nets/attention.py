"""Transformer encoder without positional encodings, for sets of tokens (nodes, items).

BQ-NCO (Drakulic et al., NeurIPS 2023) re-encodes the whole remaining sub-problem at every
step with a plain encoder: multi-head self-attention and a ReLU feed-forward block per layer,
with **ReZero** residuals (Bachlechner et al., 2021: ``x + alpha * f(x)`` with a learned scalar
``alpha`` initialised at 0, no layer norm) — the official code's default (batch norm is its
option). The official code's attention (``model/attention.py``) leaves the query-key dot products
unscaled by default (its ``scale_dot_att=False``); ``scale_attention=True`` divides them by
sqrt(d_head) as in Vaswani et al. (2017). Without positional encodings the encoder is permutation-equivariant, so a padded token
set with a key-padding mask computes exactly what the encoder computes on the unpadded set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReZeroLayer(nn.Module):
    """One encoder layer: ``x + a1 * MHA(x)``, then ``x + a2 * FF(x)`` (ReZero residuals)."""

    def __init__(self, dim: int, heads: int, ff_dim: int, scale_attention: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"model dim {dim} must be divisible by the number of heads {heads}")
        self.heads = heads
        # None: PyTorch's default 1/sqrt(d_head); 1.0: the raw dot products (BQ-NCO's code).
        self.scale = None if scale_attention else 1.0
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, dim))
        self.alpha_attn = nn.Parameter(torch.zeros(()))
        self.alpha_ff = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        b, m, d = x.shape
        q, k, v = self.qkv(x).view(b, m, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, scale=self.scale)
        x = x + self.alpha_attn * self.out(h.transpose(1, 2).reshape(b, m, d))
        return x + self.alpha_ff * self.ff(x)


class SetEncoder(nn.Module):
    """A stack of :class:`ReZeroLayer` over a padded token set.

    ``forward(x, present)``: ``x`` (B, m, dim), ``present`` (B, m) bool or None (all present) —
    absent tokens are not attended to (their outputs are meaningless; the caller masks them).
    """

    def __init__(self, dim: int, layers: int, heads: int, ff_dim: int, scale_attention: bool = True) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ReZeroLayer(dim, heads, ff_dim, scale_attention) for _ in range(layers))

    def forward(self, x: torch.Tensor, present: torch.Tensor | None = None) -> torch.Tensor:
        # (B, 1, 1, m): every query attends to the present keys only. Absent query rows still see
        # the present keys, so no row is all-masked (which would give NaNs).
        attn_mask = None if present is None else present[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attn_mask)
        return x
