"""Algorithms that learn through a structured or differentiable model of the problem (HDPO)."""
