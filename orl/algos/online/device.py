"""Placing an off-policy algorithm on a device (``device=cuda`` of :mod:`orl.train.offpolicy`).

An off-policy algorithm is built on the CPU (its initialisation draws from CPU generators, so a seed gives the same
initial weights on every machine) and then moved whole by :meth:`OnDevice.to`: its networks, its free parameters
(the temperature), its tensors (statistics), its optimisers' states and its training stream ``gen``, a
``torch.Generator`` on the device from which every update and every sampled action draws. The stream of a device
type is its own: CUDA's Philox draws differ from the CPU's Mersenne Twister, so a run on a GPU is not the same run
as on a CPU with the same seed (its initial weights are). A checkpoint records its stream's device type; loaded on
another type (a GPU run resumed or evaluated on a CPU), the stream starts again from the seed, with a warning.
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import torch
from torch import nn

from orl.algos.base import move_optimizer_state


class OnDevice:
    """Mixin of the off-policy algorithms: ``_MODULES``, ``_PARAMS`` (``nn.Parameter`` s outside the modules,
    moved in place so their optimisers keep them), ``_TENSORS`` and ``_OPTIMIZERS`` name the attributes to move;
    the class sets ``self.seed`` and ``self.gen`` (seeded with it) in its constructor."""

    _MODULES: ClassVar[tuple[str, ...]] = ()
    _PARAMS: ClassVar[tuple[str, ...]] = ()
    _TENSORS: ClassVar[tuple[str, ...]] = ()
    _OPTIMIZERS: ClassVar[tuple[str, ...]] = ()
    device: torch.device = torch.device("cpu")
    seed: int
    gen: torch.Generator

    def to(self, device: str | torch.device) -> "OnDevice":
        """Move everything the algorithm trains and acts with to ``device`` (in place); returns ``self``."""
        device = torch.device(device)
        for name in self._MODULES:
            getattr(self, name).to(device)
        for name in self._PARAMS:  # the same Parameter object keeps its place in its optimiser
            p: nn.Parameter = getattr(self, name)
            p.data = p.data.to(device)
        for name in self._TENSORS:
            setattr(self, name, getattr(self, name).to(device))
        for name in self._OPTIMIZERS:
            move_optimizer_state(getattr(self, name))
        if device.type != self.device.type:  # a generator lives on one device type: a fresh stream from the seed
            self.gen = torch.Generator(device).manual_seed(self.seed)
        self.device = device
        return self

    def gen_state(self) -> dict[str, Any]:
        """The training stream for a state dict: its state and its device type."""
        return {"gen": self.gen.get_state(), "gen_device": self.device.type}

    def load_gen_state(self, state: dict[str, Any]) -> None:
        """Continue the stream of ``state`` (:meth:`gen_state`); one saved on another device type cannot continue
        here: the stream starts again from the seed, with a warning."""
        saved = state.get("gen_device", "cpu")  # states written before devices were recorded are the CPU's
        if saved == self.device.type:
            self.gen.set_state(state["gen"].cpu())
            return
        warnings.warn(f"{type(self).__name__}: the random stream was saved on {saved} and continues on "
                      f"{self.device.type} from the seed: sampled actions and updates differ from an uninterrupted run",
                      RuntimeWarning, stacklevel=2)
        self.gen = torch.Generator(self.device).manual_seed(self.seed)
