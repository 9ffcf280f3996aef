"""torch, which only the inventory family needs: the ``orl-envs[inventory]`` extra.

Every inventory module imports torch from here, so a missing torch is reported once, clearly, whichever
module (or ``gymnasium.make("orl/Inventory...")``) asks first; the routing family never imports it.
"""

from __future__ import annotations

try:
    import torch
except ImportError as e:  # pragma: no cover - exercised in a subprocess by tests/test_packaging.py
    raise ImportError(
        "orl-envs' inventory environments (orl/Inventory*) run on a torch simulator, and torch is not installed: "
        "pip install 'orl-envs[inventory]' (for a CPU-only torch, install it first: "
        "pip install torch --index-url https://download.pytorch.org/whl/cpu). "
        "The routing environments do not need torch."
    ) from e

__all__ = ["torch"]
