"""Reusable networks."""

from orl.nets.mlp import mlp

__all__ = ["mlp"]
