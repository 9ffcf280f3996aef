"""What every orl algorithm looks like, and the registry the CLI finds them in.

An algorithm knows nothing about files, Hydra or logging. It is built from the observation
size, the action bounds, a config dataclass and (optionally) the dataset's observation
statistics, and exposes ``update(batch) -> dict[str, float]``, ``act(obs, deterministic=True)``,
``state_dict()`` and ``load_state_dict()``. ``state_dict`` holds everything needed to continue
bit for bit: networks, target networks, optimisers, counters and normalisation statistics.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from orl.data.buffer import Batch, ReplayBuffer

ALGORITHMS: dict[str, type["OfflineAlgorithm"]] = {}


def register_algorithm(cls: type["OfflineAlgorithm"]) -> type["OfflineAlgorithm"]:
    """Class decorator: make ``cls`` available under ``cls.name`` (``orl.run algo=<name>``)."""
    if cls.name in ALGORITHMS:
        raise ValueError(f"algorithm {cls.name!r} is already registered")
    ALGORITHMS[cls.name] = cls
    return cls


def algorithm_class(name: str) -> type["OfflineAlgorithm"]:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {name!r}; choose one of {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[name]


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging ``target <- (1 - tau) target + tau source``."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.lerp_(s, tau)


def adam(params: Iterable[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam with PyTorch's fused kernel: the same update as the for-loop implementation, in one
    operation per step instead of about ten per parameter tensor (15% of a TD3+BC update here)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


@contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Treat ``module``'s parameters as constants inside the block, so that a loss that only
    differentiates *through* it (an actor's ``-Q(s, pi(s))``) computes no weight gradients for it."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)


class OfflineAlgorithm:
    """Base class: action scaling, state normalisation, (de)serialisation."""

    name: ClassVar[str] = "base"
    Config: ClassVar[type]
    # softmax temperature of the rw/aw samplers when a run does not set one (``sampler_alpha``):
    # Hong et al.'s 0.1 for IQL and TD3+BC (``experiments/d4rl/run_{iql,td3bc}.py``); CQL sets 0.2
    sampler_alpha: ClassVar[float] = 0.1

    def __init__(self, obs_dim: int, action_low: np.ndarray, action_high: np.ndarray, config: Any = None,
                 obs_mean: np.ndarray | None = None, obs_std: np.ndarray | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{self.name}: config must be a {self.Config.__name__}, got {type(self.config).__name__}")
        self.obs_dim = int(obs_dim)
        low, high = np.asarray(action_low, np.float32), np.asarray(action_high, np.float32)
        self.action_dim = int(low.size)
        # Networks act in [-1, 1] (tanh); these map to the environment's bounds.
        self.action_scale = torch.as_tensor((high - low) / 2.0)
        self.action_bias = torch.as_tensor((high + low) / 2.0)
        normalize = getattr(self.config, "normalize_states", False) and obs_mean is not None
        eps = getattr(self.config, "normalize_eps", 1e-3)
        self.obs_mean = torch.as_tensor(obs_mean if normalize else np.zeros(obs_dim), dtype=torch.float32)
        self.obs_std = torch.as_tensor(np.asarray(obs_std) + eps if normalize else np.ones(obs_dim), dtype=torch.float32)
        self.total_it = 0
        self.device = torch.device("cpu")
        # r <- reward_scale * r + reward_bias in every batch; set by setup() where a config asks for it
        self.reward_scale, self.reward_bias = 1.0, 0.0

    # -- to implement
    def update(self, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def policy(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Actions in [-1, 1] for normalised observations."""
        raise NotImplementedError

    def components(self) -> dict[str, Any]:
        """Named networks and optimisers that make up the state."""
        raise NotImplementedError

    def setup(self, buffer: "ReplayBuffer", total_steps: int) -> None:
        """Dataset- and run-dependent preparation, called once before training (and before a
        checkpoint is loaded): reward normalisation, learning-rate schedules over ``total_steps``.
        The default does nothing."""

    # -- shared
    def to(self, device: str | torch.device) -> "OfflineAlgorithm":
        """Move the networks, optimiser-held scalars and statistics to ``device`` (in place; the
        optimisers keep their parameters, which ``nn.Module.to`` moves without replacing them)."""
        self.device = torch.device(device)
        for comp in self.components().values():
            if isinstance(comp, nn.Module):
                comp.to(self.device)
        for name in ("action_scale", "action_bias", "obs_mean", "obs_std"):
            setattr(self, name, getattr(self, name).to(self.device))
        return self

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def to_env_action(self, a: torch.Tensor) -> torch.Tensor:
        return a * self.action_scale + self.action_bias

    def to_unit_action(self, a: torch.Tensor) -> torch.Tensor:
        return (a - self.action_bias) / self.action_scale

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for raw observations: a batch ``(B, obs_dim)`` or a single observation."""
        x = torch.as_tensor(np.asarray(obs, np.float32), device=self.device)
        single = x.ndim == 1
        x = x[None] if single else x
        if x.shape[-1] != self.obs_dim:
            raise ValueError(f"{self.name}.act: expected observations with {self.obs_dim} features, got shape {tuple(x.shape)}")
        a = self.to_env_action(self.policy(self.normalize(x), deterministic)).cpu().numpy()
        return a[0] if single else a

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": dataclasses.asdict(self.config), "total_it": self.total_it,
                "reward_scale": self.reward_scale, "reward_bias": self.reward_bias,
                "obs_mean": self.obs_mean.cpu().clone(), "obs_std": self.obs_std.cpu().clone(),
                "components": {k: copy.deepcopy(v.state_dict()) for k, v in self.components().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for algorithm {state.get('name')!r}, not {self.name!r}")
        comps = self.components()
        missing = set(comps) ^ set(state["components"])
        if missing:
            raise ValueError(f"{self.name}: state components differ from the algorithm's: {sorted(missing)}")
        for k, v in comps.items():
            v.load_state_dict(state["components"][k])
        self.total_it = int(state["total_it"])
        self.reward_scale, self.reward_bias = float(state["reward_scale"]), float(state["reward_bias"])
        self.obs_mean, self.obs_std = state["obs_mean"].to(self.device), state["obs_std"].to(self.device)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        """Normalised (s, a in [-1, 1], r, s', not_done) from a batch."""
        r = batch.rewards[:, None]
        if self.reward_scale != 1.0 or self.reward_bias != 0.0:
            r = r * self.reward_scale + self.reward_bias
        return (self.normalize(batch.observations), self.to_unit_action(batch.actions), r,
                self.normalize(batch.next_observations), 1.0 - batch.terminals[:, None])


def return_range_scale(buffer: ReplayBuffer, horizon: int | None = None) -> float:
    """``horizon / (max_return - min_return)`` over the dataset's episodes: the reward scaling of
    the IQL paper's code and CORL (``modify_reward`` for the MuJoCo locomotion datasets), so that
    the return range spans ``horizon`` reward units.

    CORL hard-codes ``horizon`` = 1000, the MuJoCo tasks' episode length; orl defaults to the
    dataset's longest episode, which is 1000 on those datasets and keeps the scaling the same
    per step on tasks with shorter episodes (Pendulum: 200). CORL cuts episodes at terminals and
    every 1000 rows of a flat D4RL array; orl uses the buffer's own episodes (the same thing for
    D4RL-protocol data).
    """
    returns = buffer.episode_returns()
    if returns.size < 2 or not np.ptp(returns) > 0:
        raise ValueError("normalize_reward needs at least two episodes with different returns; "
                         f"this dataset has {returns.size} episode(s) with return range {np.ptp(returns) if returns.size else 0:g}")
    if horizon is None:
        horizon = int(buffer.episode_lengths().max())
    return float(horizon / np.ptp(returns))
