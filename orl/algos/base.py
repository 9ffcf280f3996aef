"""What every orl algorithm looks like, and the registry the CLI finds them in.

An algorithm knows nothing about files, Hydra or logging. It is built from the observation
size, the action bounds, a config dataclass (or one per member) and (optionally) the datasets'
observation statistics, for a population of members given by their seeds (one seed: a single
run; see ``orl.nets.population``), and exposes ``update(batch) -> dict[str, Tensor]`` (each
metric ``(P,)``), ``act(obs, deterministic=True)``, ``member(p)``, ``state_dict()`` and
``load_state_dict()``. ``state_dict`` holds everything needed to continue bit for bit: networks,
target networks, optimisers, counters, the members' noise generators and normalisation statistics.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from orl.data.buffer import Batch, ReplayBuffer
from orl.nets.population import MemberRandom, member_scalar

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


def soft_update(target: nn.Module, source: nn.Module, tau: float | torch.Tensor) -> None:
    """Polyak averaging ``target <- (1 - tau) target + tau source`` (``tau`` a number or per-member ``(P, 1, 1)``)."""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.lerp_(s, tau)


def adam(params: Iterable[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam with PyTorch's fused kernel: the same update as the for-loop implementation, in one
    operation per step instead of about ten per parameter tensor (15% of a TD3+BC update here)."""
    return torch.optim.Adam(params, lr=lr, fused=True)


def move_optimizer_state(opt: torch.optim.Optimizer) -> None:
    """Cast ``opt``'s state (Adam's moments) to the device its parameters are on now: ``nn.Module.to`` moves the
    parameters in place, the optimiser's state stays where it was (``Optimizer.load_state_dict`` does the cast)."""
    opt.load_state_dict(opt.state_dict())


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


#: Base agents carried inside an agent file, by the ``algo.base`` reference they stand for (see :func:`embedded_base`).
_EMBEDDED_BASES: dict[str, Any] = {}


def load_base(ref: str, algo_name: str) -> Any:
    """The pretrained agent that ``algo.base`` names (a saved agent file or a run directory) for the algorithms
    that start from one (DSRL steers a frozen ``diffusion_bc`` agent, EXPO trains on from one, IQL fine-tuning
    from an ``iql`` agent); it must be an ``algo_name`` agent. While an agent file is being loaded
    (:func:`embedded_base`), the base it carries stands in for the file, so a saved agent loads and acts on a
    machine where ``ref`` does not exist."""
    agent = _EMBEDDED_BASES.get(str(ref))
    if agent is None:
        import orl

        try:
            agent = orl.load(ref)
        except FileNotFoundError:
            raise FileNotFoundError(f"algo.base={ref!r} does not exist: it must name a saved {algo_name} agent or its "
                                    "run directory (agents written by Agent.save carry their base; a run directory "
                                    "refers to it by this path)") from None
    if agent.algo_name != algo_name:
        raise ValueError(f"algo.base must be a {algo_name} agent, got {agent.algo_name!r} ({ref})")
    return agent


@contextmanager
def embedded_base(ref: str, agent: Any) -> Iterator[None]:
    """Inside the block, :func:`load_base` of ``ref`` returns ``agent`` (the base an agent file carries)."""
    _EMBEDDED_BASES[str(ref)] = agent
    try:
        yield
    finally:
        _EMBEDDED_BASES.pop(str(ref), None)


class OfflineAlgorithm:
    """Base class of a population of ``P`` members (``P = len(seeds)``; a single run is ``P = 1``):
    action scaling, per-member state normalisation and hyperparameters, (de)serialisation.

    Every tensor has a leading member dimension (``orl.nets.population``): batches are ``(P, B, ...)``,
    networks are :func:`~orl.nets.population.member_mlp` s, losses are reduced per member and summed,
    and ``update`` returns each metric as a ``(P,)`` tensor left on the device (reading it is the
    caller's choice, so a GPU loop need not wait for the device every update).

    Members may differ in seed, in dataset (statistics, reward scaling) and in the config fields
    listed in ``member_fields`` (scalars the maths uses as ``(P, 1, 1)`` tensors through :meth:`hp`);
    every other field shapes the networks, optimisers or control flow and must be equal.
    """

    name: ClassVar[str] = "base"
    Config: ClassVar[type]
    #: config fields whose values may differ between members (read them with ``self.hp(field)``)
    member_fields: ClassVar[tuple[str, ...]] = ()
    # softmax temperature of the rw/aw samplers when a run does not set one (``sampler_alpha``):
    # Hong et al.'s 0.1 for IQL and TD3+BC (``experiments/d4rl/run_{iql,td3bc}.py``); CQL sets 0.2
    sampler_alpha: ClassVar[float] = 0.1

    def __init__(self, obs_dim: int, action_low: np.ndarray, action_high: np.ndarray,
                 config: Any | Sequence[Any] = None, obs_mean: np.ndarray | Sequence[np.ndarray] | None = None,
                 obs_std: np.ndarray | Sequence[np.ndarray] | None = None, seeds: Sequence[int] = (0,)) -> None:
        """The engine-level constructor (``orl.fit`` builds it for you from a dataset).

        Args:
            obs_dim: size of a (flattened) observation.
            action_low, action_high: the environment's action bounds (networks act in [-1, 1]).
            config: the algorithm's config dataclass (``Config``, e.g. ``IQLConfig(expectile=0.8)``), or
                one per member; ``None``: the defaults.
            obs_mean, obs_std: the dataset's observation statistics (per member or shared), used when the
                config's ``normalize_states`` is on.
            seeds: one seed per member; a single run is one seed.

        Call :meth:`setup` with the datasets and the run's length before training (reward scaling and
        learning-rate schedules depend on them); ``orl.fit`` does.
        """
        seeds = [int(s) for s in seeds]
        if not seeds:
            raise ValueError(f"{self.name}: a population needs at least one member seed")
        P = self.members = len(seeds)
        configs = list(config) if isinstance(config, (list, tuple)) else [config] * P
        if len(configs) != P:
            raise ValueError(f"{self.name}: {len(configs)} configs for {P} members (seeds {seeds})")
        configs = [c if c is not None else self.Config() for c in configs]
        for c in configs:
            if not isinstance(c, self.Config):
                raise TypeError(f"{self.name}: config must be a {self.Config.__name__}, got {type(c).__name__}")
        self.configs = configs
        differing = self.check_members(configs)
        # The shared settings; a field that differs between members is None here, so that reading it
        # instead of ``hp(field)`` fails loudly rather than using member 0's value.
        self.config = dataclasses.replace(configs[0], **{f: None for f in differing})
        self.obs_dim = int(obs_dim)
        low, high = np.asarray(action_low, np.float32), np.asarray(action_high, np.float32)
        self.action_dim = int(low.size)
        # Networks act in [-1, 1] (tanh); these map to the environment's bounds.
        self.action_scale = torch.as_tensor((high - low) / 2.0)
        self.action_bias = torch.as_tensor((high + low) / 2.0)
        normalize = getattr(self.config, "normalize_states", False) and obs_mean is not None
        eps = getattr(self.config, "normalize_eps", 1e-3)
        if normalize:
            mean = np.broadcast_to(np.asarray(obs_mean, np.float32), (P, self.obs_dim))
            std = np.broadcast_to(np.asarray(obs_std, np.float32), (P, self.obs_dim)) + eps
        else:
            mean, std = np.zeros((P, self.obs_dim), np.float32), np.ones((P, self.obs_dim), np.float32)
        self.obs_mean = torch.as_tensor(np.array(mean, np.float32)).unsqueeze(1)  # (P, 1, obs_dim)
        self.obs_std = torch.as_tensor(np.array(std, np.float32)).unsqueeze(1)
        self.total_it = 0
        self.device = torch.device("cpu")
        self.random = MemberRandom(seeds)
        self.gens = self.random.init  # member generators for the initial weights
        # r <- reward_scale * r + reward_bias, per member; set by setup() where a config asks for it
        self.reward_scale, self.reward_bias = member_scalar([1.0] * P), member_scalar([0.0] * P)
        self._hp_cache: dict[str, Any] = {}

    @classmethod
    def check_members(cls, configs: Sequence[Any]) -> list[str]:
        """The config fields in which ``configs`` (one per member) differ; a ``ValueError`` naming the
        first that is not in ``member_fields`` (it shapes the networks, optimisers or control flow)."""
        differing = [f.name for f in dataclasses.fields(cls.Config)
                     if any(getattr(c, f.name) != getattr(configs[0], f.name) for c in configs)]
        fixed = [f for f in differing if f not in cls.member_fields]
        if fixed:
            f = fixed[0]
            allowed = ", ".join(cls.member_fields) or "none"
            raise ValueError(f"{cls.name}: members of one population must share {f} (got "
                             f"{[getattr(c, f) for c in configs]}); they may differ only in: {allowed}")
        return differing

    # -- to implement
    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One update of every member on its rows of ``batch``; metrics as ``(P,)`` tensors."""
        raise NotImplementedError

    def policy(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Actions in [-1, 1] for normalised observations ``(P, N, obs_dim)``."""
        raise NotImplementedError

    def components(self) -> dict[str, Any]:
        """Named networks and optimisers that make up the state."""
        raise NotImplementedError

    def setup(self, buffers: "Sequence[ReplayBuffer]", total_steps: int) -> None:
        """Dataset- and run-dependent preparation, called once before training (and before a
        checkpoint is loaded) with member ``p``'s dataset at ``buffers[p]``: reward normalisation,
        learning-rate schedules over ``total_steps``. The default does nothing."""

    # -- shared
    @property
    def seeds(self) -> list[int]:
        return list(self.random.seeds)

    def hp(self, field: str) -> float | torch.Tensor:
        """Config ``field`` for the maths: a number when all members share it, else a ``(P, 1, 1)``
        tensor of the members' values (which broadcasts against ``(P, N, d)``)."""
        if field not in self._hp_cache:  # read on every update: resolved once per field (and device)
            values = [getattr(c, field) for c in self.configs]
            shared = all(v == values[0] for v in values)
            self._hp_cache[field] = values[0] if shared else member_scalar(values, self.device)
        return self._hp_cache[field]

    def to(self, device: str | torch.device) -> "OfflineAlgorithm":
        """Move the networks, the optimisers' states, statistics and noise generators to ``device``
        (in place; the optimisers keep their parameters, which ``nn.Module.to`` moves without replacing them)."""
        self.device = torch.device(device)
        comps = self.components().values()
        for comp in comps:
            if isinstance(comp, nn.Module):
                comp.to(self.device)
        for comp in comps:  # after the modules: a trained agent's Adam moments follow its parameters
            if isinstance(comp, torch.optim.Optimizer):
                move_optimizer_state(comp)
        for name in ("action_scale", "action_bias", "obs_mean", "obs_std", "reward_scale", "reward_bias"):
            setattr(self, name, getattr(self, name).to(self.device))
        self.random.to(self.device)
        self._hp_cache = {}
        return self

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def to_env_action(self, a: torch.Tensor) -> torch.Tensor:
        return a * self.action_scale + self.action_bias

    def to_unit_action(self, a: torch.Tensor) -> torch.Tensor:
        return (a - self.action_bias) / self.action_scale

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for raw observations: ``(P, N, obs_dim)`` for the population (member ``p`` acts on
        ``obs[p]``); a single run (``P = 1``) also takes a batch ``(N, obs_dim)`` or one observation."""
        x = torch.as_tensor(np.asarray(obs, np.float32), device=self.device)
        flat = self.members == 1 and x.ndim in (1, 2) and x.shape[-1] == self.obs_dim
        if flat:
            x = x.reshape(1, -1, self.obs_dim)
        if x.ndim != 3 or x.shape[0] != self.members or x.shape[-1] != self.obs_dim:
            want = f"(P={self.members}, N, {self.obs_dim})" + (f" or (N, {self.obs_dim})" if self.members == 1 else "")
            raise ValueError(f"{self.name}.act: expected observations {want}, got shape {tuple(np.shape(obs))}")
        a = self.to_env_action(self.policy(self.normalize(x), deterministic)).cpu().numpy()
        if flat:
            return a[0, 0] if np.ndim(obs) == 1 else a[0]
        return a

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Subclasses take the base constructor's arguments through ``*args, **kwargs``; give them its
        # signature (with their own config type), so that ``help(IQL)`` and IDEs show the real one.
        super().__init_subclass__(**kwargs)
        config_type = cls.__dict__.get("Config")
        if "__init__" in cls.__dict__ and config_type is not None:
            sig = inspect.signature(OfflineAlgorithm.__init__)
            params = [p.replace(annotation=f"{config_type.__name__} | Sequence[{config_type.__name__}] | None")
                      if p.name == "config" else p for p in sig.parameters.values()]
            cls.__init__.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
            if not cls.__init__.__doc__:
                cls.__init__.__doc__ = OfflineAlgorithm.__init__.__doc__

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "OfflineAlgorithm":
        """Rebuild a trained algorithm from its :meth:`state_dict` alone (no dataset needed): the
        constructor's arguments are stored in it. To act, save, or continue training."""
        missing = [k for k in ("obs_dim", "action_low", "action_high", "configs", "random") if k not in state]
        if missing:
            raise ValueError(f"{cls.name}: this state was written by an older orl and lacks {missing}; "
                             "resume its run once with the current orl to rewrite its checkpoint")
        configs = [cls.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()})
                   for c in state["configs"]]
        algo = cls(int(state["obs_dim"]), np.asarray(state["action_low"]), np.asarray(state["action_high"]),
                   configs, seeds=list(state["random"]["seeds"]))
        algo.load_state_dict(state)
        return algo

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "members": self.members, "configs": [dataclasses.asdict(c) for c in self.configs],
                "obs_dim": self.obs_dim, "action_low": (self.action_bias - self.action_scale).cpu().numpy(),
                "action_high": (self.action_bias + self.action_scale).cpu().numpy(),
                "total_it": self.total_it, "random": self.random.state_dict(),
                "reward_scale": self.reward_scale.cpu().clone(), "reward_bias": self.reward_bias.cpu().clone(),
                "obs_mean": self.obs_mean.cpu().clone(), "obs_std": self.obs_std.cpu().clone(),
                "components": {k: copy.deepcopy(v.state_dict()) for k, v in self.components().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for algorithm {state.get('name')!r}, not {self.name!r}")
        if state.get("members") != self.members:
            raise ValueError(f"{self.name}: state is for a population of {state.get('members')} member(s), "
                             f"this one has {self.members}")
        comps = self.components()
        missing = set(comps) ^ set(state["components"])
        if missing:
            raise ValueError(f"{self.name}: state components differ from the algorithm's: {sorted(missing)}")
        for k, v in comps.items():
            v.load_state_dict(state["components"][k])
        self.total_it = int(state["total_it"])
        self.random.load_state_dict(state["random"])
        for name in ("reward_scale", "reward_bias", "obs_mean", "obs_std"):
            setattr(self, name, state[name].to(self.device))

    def member(self, p: int) -> "OfflineAlgorithm":
        """Member ``p`` as a single run (``P = 1``) with its networks, optimiser states and
        statistics: to act, save or train on alone."""
        if not 0 <= p < self.members:
            raise IndexError(f"member {p} out of range for a population of {self.members}")
        one = type(self)(self.obs_dim, (self.action_bias - self.action_scale).cpu().numpy(),
                         (self.action_bias + self.action_scale).cpu().numpy(), self.configs[p], seeds=[self.seeds[p]])
        state = self.state_dict()
        take = _member_slicer(self.members, p)
        state = {**state, "members": 1, "configs": [state["configs"][p]],
                 "random": {"seeds": [self.seeds[p]], "noise": [state["random"]["noise"][p]]},
                 **{k: take(state[k]) for k in ("reward_scale", "reward_bias", "obs_mean", "obs_std")},
                 "components": take(state["components"])}
        one.load_state_dict(state)
        return one.to(self.device)

    def prepare(self, batch: Batch) -> tuple[torch.Tensor, ...]:
        """Normalised (s, a in [-1, 1], r, s', not_done), each ``(P, B, d)``, from a batch of
        ``(P, B, ...)`` tensors (a single run may pass a flat ``(B, ...)`` batch)."""
        fields = (batch.observations, batch.actions, batch.rewards, batch.next_observations, batch.terminals)
        if batch.rewards.ndim == 1:  # a flat batch
            if self.members != 1:
                raise ValueError(f"{self.name}: a population of {self.members} needs batches (P, B, ...), "
                                 f"got rewards of shape {tuple(batch.rewards.shape)}")
            fields = tuple(t.unsqueeze(0) for t in fields)
        s, a, r, s2, d = fields
        r = r.unsqueeze(-1) * self.reward_scale + self.reward_bias
        return self.normalize(s), self.to_unit_action(a), r, self.normalize(s2), 1.0 - d.unsqueeze(-1)


def _member_slicer(P: int, p: int):
    """Recursively slice member ``p`` (kept as a member dimension of 1) out of every tensor whose
    leading dimension is the population's; other values (optimiser step counts, settings) pass."""

    def take(x):
        if isinstance(x, torch.Tensor):
            return x[p : p + 1].clone() if x.ndim >= 1 and x.shape[0] == P else x
        if isinstance(x, dict):
            return {k: take(v) for k, v in x.items()}
        if isinstance(x, list):
            return [take(v) for v in x]
        return x

    return take


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
