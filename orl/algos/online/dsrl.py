"""DSRL-NA: steering a frozen diffusion policy by RL in its noise space (Wagenmaker, Nakamoto, Zhang, Park, Yagoub,
Nagabandi, Gupta & Levine, "Steering Your Diffusion Policy with Latent Space Reinforcement Learning",
arXiv 2506.15799), the noise-aliased variant as its code (``ajwagen/dsrl`` with the SB3 fork's ``DSRL``) runs it.

The base policy ``pi_dp`` (an orl ``diffusion_bc`` agent, frozen) maps a noise ``w`` to an action by DDIM
(eta = 0, deterministic; :meth:`orl.nets.diffusion.DiffusionPolicy.ddim`). Three networks learn:

- ``Q^A(s, a)`` on real actions (2 critics), by SAC's backup with the next action through the base:
  ``y = r + gamma (1 - d) [min_i Q^A'_i(s', pi_dp(s', w')) - alpha log pi^W(w'|s')]``, ``w' ~ pi^W(s')``;
- the actor ``pi^W(s)``: a tanh-Gaussian over ``w`` in ``[-b, b]^d`` minimising
  ``E[alpha log pi^W(w|s) - min_i Q^W_i(s, w)]``, alpha auto-tuned to target entropy 0;
- the noise critic ``Q^W(s, w)``, distilled from ``Q^A`` (``distill_steps`` steps after every ``utd`` updates):
  ``w ~ N(0, I)`` (unbounded), ``a = pi_dp(s, w)``, each head regressed to its ``Q^A`` head.

Acting: ``w ~ pi^W(s)``, ``a = pi_dp(s, w)`` (deterministic: the actor's mean). The replay buffer stores real
actions, so ``Q^A`` can also learn from offline data. The noise bound ``b`` (``noise_bound``): the public code's
DSRL-NA actor lives on the action box, ``[-1, 1]``; the paper calls the bound a key knob (its DSRL-SAC
variant uses 1.5, walker 2.5): orl's default is the code's 1.0 and the knob is exposed. Action chunks (the code's
Gym setting: 4) by data: a base trained on :func:`orl.data.chunks.chunk_dataset` and the chunk environment's id
(:func:`orl.data.chunks.chunk_env_id`) as ``env``; the noise then has the chunk's size, one latent per chunk, and
the discount applies per chunk, as the code's ``ActionChunkWrapper``.

As the code (``ajwagen/dsrl`` with the SB3 fork read at ``vyseian/stable-baselines3-dsrl_dp`` @10e5d31, its
author's last commit): per transition the code's rates with one environment (it runs 4 and trains every 2 vector
steps: ``utd`` 20 updates and ``distill_steps`` 10 distillation steps every ``train_every`` 8 transitions, after
8,004 base-policy transitions), each distillation step on a fresh batch, tanh activations with LayerNorm after every
hidden layer of the actor and both critics, and evaluation of the sampled policy (``deterministic_eval=False``, its
Gym configs). DSRL-SAC (:class:`DSRLSAC`) likewise takes the code's SB3 SAC settings.

Deviations, named: one hidden width (256) for every task (the code: 128 hopper, 1,024 halfcheetah, 2,048 walker2d);
the actor and critics see states standardised by the base's statistics (the code rescales them to [-1, 1] by its
dataset's bounds); a time limit bootstraps (the code's chunk wrapper reports it as a termination); a chunk stops
at the environment's termination (the code executes its remaining actions and sums their rewards); the log-std is
squashed into [-5, 2] (SB3 clamps to [-20, 2]); the temperature loss is ``-alpha (log pi + H)`` (SB3: ``-log alpha
(...)``); with ``noise_bound != 1`` the entropy is that of ``w`` itself (SB3 measures it in the [-1, 1]-scaled
space; the code only uses 1 for DSRL-NA); and the base is orl's ``diffusion_bc`` (EXPO's network, VP schedule,
T = 10), where the paper's Gym runs steer DPPO's MLP (cosine schedule, T = 20): the same DDIM sampler, a different
noise-to-action map.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from orl.algos.base import frozen, load_base
from orl.algos.online.device import OnDevice
from orl.algos.online.sac import ACTIVATIONS, SAC, SACConfig, TanhGaussianActor
from orl.nets.population import member_mlp


#: The DSRL code's rates per transition with one environment: it runs 4 and trains every 2 vector steps, 20 gradient
#: steps and 10 distillation steps (``train_freq`` 2, ``utd`` 20, ``n_envs`` 4), after 2,001 vector steps of the
#: base policy: 20 updates every 8 chunk transitions, 8,004 transitions first.
CODE_TRAIN_EVERY, CODE_START_STEPS = 8, 8004


@dataclass
class DSRLConfig:
    """DSRL-NA's settings: the code's Gym MuJoCo config (``cfg/gym/*.yaml``), its rates per transition
    (:data:`CODE_TRAIN_EVERY`), and one hidden width for every task (the code's: 128 hopper, 1,024 halfcheetah,
    2,048 walker2d)."""

    base: str = ""  # the frozen diffusion policy: a saved diffusion_bc agent or its run directory
    ddim_steps: int = 5
    noise_bound: float = 1.0
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "tanh"  # the code's activation_fn; LayerNorm after every hidden layer of all three nets
    gamma: float = 0.99
    tau: float = 0.005
    batch_size: int = 256
    target_entropy: float = 0.0
    utd: int = 20
    train_every: int = CODE_TRAIN_EVERY
    distill_steps: int = 10
    start_steps: int = CODE_START_STEPS  # base-policy rollouts (w ~ N(0, I)) before learning
    deterministic_eval: bool = False  # the code's Gym configs evaluate the sampled policy
    buffer_size: int = 1_000_000
    offline_ratio: float = 0.0
    offline_dataset: str | None = None

    def __post_init__(self) -> None:
        if not self.base:
            raise ValueError("algo.base must name the frozen diffusion policy (a saved diffusion_bc agent or run dir)")
        if (self.noise_bound <= 0 or self.ddim_steps < 1 or self.utd < 1 or self.train_every < 1
                or self.distill_steps < 0):
            raise ValueError("algo.noise_bound and algo.ddim_steps must be positive, algo.utd and algo.train_every "
                             ">= 1, algo.distill_steps >= 0")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"algo.activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")


@torch.no_grad()
def decode_noise_with(base, s: torch.Tensor, w: torch.Tensor, ddim_steps: int) -> torch.Tensor:
    """The frozen diffusion policy ``base`` (a ``diffusion_bc`` algorithm) as a noise-to-action map: its EMA
    network's deterministic DDIM from noises ``w`` ``(N, d)`` at raw states ``s`` ``(N, obs_dim)``; actions in
    [-1, 1], ``(N, d)``. DSRL-NA, the noise-action env and DSRL-SAC's ``predict`` all decode through it."""
    return base.ema.ddim(base_features(base, s)[None], w.reshape(1, -1, base.action_dim), ddim_steps)[0]


def base_features(base, s: torch.Tensor) -> torch.Tensor:
    """Raw states ``(N, obs_dim)`` standardised by the ``diffusion_bc`` base's statistics, ``(N, obs_dim)``."""
    return base.normalize(s.reshape(1, -1, base.obs_dim))[0]


class DSRLNA(OnDevice):
    """DSRL-NA (see the module docstring); acts and learns in the environment's actions scaled to [-1, 1]."""

    name = "dsrl_na"
    Config = DSRLConfig
    _MODULES = ("actor", "q_a", "q_a_target", "q_w")
    _PARAMS = ("log_alpha",)
    _OPTIMIZERS = ("actor_opt", "q_a_opt", "q_w_opt", "alpha_opt")

    def __init__(self, obs_dim: int, action_dim: int, config: DSRLConfig | None = None, seed: int = 0) -> None:
        c = self.config = config or DSRLConfig()
        self.base_agent = load_base(c.base, "diffusion_bc")  # an agent file carries it (Agent.save)
        self.base = self.base_agent.algorithm  # frozen: never updated here
        if self.base.obs_dim != obs_dim or self.base.action_dim != action_dim:
            raise ValueError(f"the base policy acts on ({self.base.obs_dim},) -> {self.base.action_dim}; this env on "
                             f"({obs_dim},) -> {action_dim}")
        self.obs_dim, self.action_dim = obs_dim, action_dim
        torch.manual_seed(seed)
        self.seed, self.gen = seed, torch.Generator().manual_seed(seed)
        gens = [torch.Generator().manual_seed(seed * 1000 + i) for i in range(4)]
        act = ACTIVATIONS[c.activation]
        self.actor = TanhGaussianActor(obs_dim, action_dim, tuple(c.hidden), c.activation, layer_norm=True)
        self.q_a = member_mlp(obs_dim + action_dim, c.hidden, 1, gens[:2], activation=act, layer_norm=True)
        self.q_a_target = copy.deepcopy(self.q_a).requires_grad_(False)
        self.q_w = member_mlp(obs_dim + action_dim, c.hidden, 1, gens[2:], activation=act, layer_norm=True)
        self.log_alpha = nn.Parameter(torch.tensor(0.0))
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=c.actor_lr)
        self.q_a_opt = torch.optim.Adam(self.q_a.parameters(), lr=c.critic_lr)
        self.q_w_opt = torch.optim.Adam(self.q_w.parameters(), lr=c.critic_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=c.alpha_lr)
        self.updates = 0

    # -- the frozen noise-to-action map
    def decode(self, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``pi_dp(s, w)`` in [-1, 1] for raw states ``(N, obs_dim)`` and noises ``(N, action_dim)``."""
        return decode_noise_with(self.base, s, w, self.config.ddim_steps)

    def features(self, s: torch.Tensor) -> torch.Tensor:
        """Raw states as the actor and the critics see them: standardised by the base's statistics (the code
        rescales observations to [-1, 1] with its dataset's bounds for every network)."""
        return base_features(self.base, s)

    def noise(self, f: torch.Tensor, deterministic: bool = False,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``w ~ pi^W(s)`` in ``[-b, b]^d`` with its log-density, for states' :meth:`features` ``f``."""
        w, logp = self.actor(f, self.gen if generator is None else generator, deterministic)
        return w * self.config.noise_bound, logp - self.action_dim * math.log(self.config.noise_bound)

    def _q(self, net: nn.Module, f: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return net(torch.cat([f, x], -1).unsqueeze(0).expand(2, -1, -1)).squeeze(-1)

    def to(self, device: str | torch.device) -> "DSRLNA":
        """Move the networks, the stream and the frozen base (:class:`~orl.algos.online.device.OnDevice`)."""
        self.base.to(device)
        return super().to(device)

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False, generator: torch.Generator | None = None) -> np.ndarray:
        s = torch.as_tensor(np.asarray(obs, np.float32), device=self.device).reshape(-1, self.obs_dim)
        w, _ = self.noise(self.features(s), deterministic, generator)
        return self.decode(s, w).cpu().numpy().reshape(*np.shape(obs)[:-1], self.action_dim)

    def random_action(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The un-steered base policy (w ~ N(0, I)): the code's initial rollouts."""
        s = torch.as_tensor(np.asarray(obs, np.float32), device=self.device).reshape(-1, self.obs_dim)
        w = torch.as_tensor(rng.standard_normal((s.shape[0], self.action_dim)), dtype=torch.float32, device=self.device)
        return self.decode(s, w).cpu().numpy().reshape(*np.shape(obs)[:-1], self.action_dim)

    def update(self, s: torch.Tensor, a: torch.Tensor, r: torch.Tensor, s2: torch.Tensor, d: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        alpha = self.log_alpha.exp().detach()
        f, f2 = self.features(s), self.features(s2)  # once per update: every network sees them
        with torch.no_grad():
            w2, logp2 = self.noise(f2)
            a2 = self.decode(s2, w2)
            y = r + c.gamma * (1 - d) * (self._q(self.q_a_target, f2, a2).min(0).values - alpha * logp2)
        q = self._q(self.q_a, f, a)
        q_loss = ((q - y) ** 2).mean(1).sum()
        self.q_a_opt.zero_grad()
        q_loss.backward()
        self.q_a_opt.step()
        w, logp = self.noise(f)
        with frozen(self.q_w):
            q_w = self._q(self.q_w, f, w).min(0).values
        actor_loss = (alpha * logp - q_w).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        alpha_loss = -(self.log_alpha.exp() * (logp.detach() + c.target_entropy)).mean()
        self.alpha_opt.zero_grad()
        alpha_loss.backward()
        self.alpha_opt.step()
        with torch.no_grad():
            for t, p in zip(self.q_a_target.parameters(), self.q_a.parameters()):
                t.lerp_(p, c.tau)
        self.updates += 1
        return {"q_a_loss": q_loss.detach() / 2, "actor_loss": actor_loss.detach(), "alpha": alpha}

    def after_updates(self, sample) -> dict[str, torch.Tensor]:
        """After each round of ``utd`` updates (the loop calls it): distil ``Q^W`` from ``Q^A``, ``distill_steps``
        steps, each on the states of a fresh batch from ``sample()`` (the code draws one per step)."""
        if not self.config.distill_steps:
            return {}
        return {"q_w_loss": self.distill([sample().observations for _ in range(self.config.distill_steps)])}

    def distill(self, states: list[torch.Tensor]) -> torch.Tensor:
        """One distillation step per batch of raw states: ``w ~ N(0, I)``, each ``Q^W`` head to its ``Q^A`` head;
        returns the last step's loss (a detached tensor on the algorithm's device: the loop reads it at log time)."""
        loss = torch.zeros(())
        for s in states:
            w, f = torch.randn(s.shape[0], self.action_dim, generator=self.gen, device=self.device), self.features(s)
            with torch.no_grad():
                target = self._q(self.q_a, f, self.decode(s, w))
            loss = 0.5 * ((self._q(self.q_w, f, w) - target) ** 2).mean(1).sum()
            self.q_w_opt.zero_grad()
            loss.backward()
            self.q_w_opt.step()
        return loss.detach()

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{k: getattr(self, k).state_dict() for k in
                ("actor", "q_a", "q_a_target", "q_w", "actor_opt", "q_a_opt", "q_w_opt", "alpha_opt")},
                "log_alpha": self.log_alpha.detach().clone(), **self.gen_state(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state is for algorithm {state.get('name')!r}, not {self.name!r}")
        for k in ("actor", "q_a", "q_a_target", "q_w", "actor_opt", "q_a_opt", "q_w_opt", "alpha_opt"):
            getattr(self, k).load_state_dict(state[k])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.load_gen_state(state)
        self.updates = int(state["updates"])


class NoiseActionEnv(gym.Env):
    """DSRL-SAC's environment: ``env_id`` with the diffusion policy's *noise* as the action. The action ``w`` in
    ``[-b, b]^d`` (``b`` = ``noise_bound``, the code's ``action_magnitude``: 1.5 for Hopper, 2.5 for Walker2d) is
    decoded by the frozen base (DDIM, eta 0) and executed; plain SAC on it is DSRL-SAC
    (:func:`register_noise_env` makes it a Gymnasium id)."""

    metadata = {"render_modes": []}

    def __init__(self, env_id: str, base: str, noise_bound: float = 1.5, ddim_steps: int = 5) -> None:
        from orl.train.online import make_env

        self.env = make_env(env_id)
        self.agent = load_base(base, "diffusion_bc")
        self.ddim_steps = int(ddim_steps)
        d = int(np.prod(self.env.action_space.shape))
        self.observation_space = self.env.observation_space
        self.action_space = gym.spaces.Box(-noise_bound, noise_bound, (d,), np.float32)
        low, high = self.env.action_space.low, self.env.action_space.high
        self._scale, self._bias = (high - low) / 2, (high + low) / 2
        self._obs = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._obs, info = self.env.reset(seed=seed, options=options)
        return self._obs, info

    @torch.no_grad()
    def step(self, w: np.ndarray):
        a = decode_noise_with(self.agent.algorithm, torch.as_tensor(np.asarray(self._obs, np.float32)),
                              torch.as_tensor(np.asarray(w, np.float32)), self.ddim_steps)
        action = self._bias + self._scale * a.reshape(-1).numpy()
        self._obs, r, term, trunc, info = self.env.step(action)
        return self._obs, r, term, trunc, {**info, "action": action}

    def close(self) -> None:
        self.env.close()

    def __getstate__(self) -> dict[str, Any]:
        from orl.train.online import _env_state  # MuJoCo physics survive the checkpoint

        return {**self.__dict__, "env": _env_state(self.env)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from orl.train.online import _restore_env

        self.__dict__.update({**state, "env": _restore_env(state["env"])})


def register_noise_env(env_id: str, base: str, noise_bound: float = 1.5, ddim_steps: int = 5) -> str:
    """Register DSRL-SAC's noise-action env for ``env_id`` and the diffusion policy ``base``; returns its id."""
    from pathlib import Path

    from orl.utils.envs import register_derived_env

    base = str(Path(base).resolve())
    return register_derived_env("orl-dsrl/NoiseAction", NoiseActionEnv, env_id,
                                {"env_id": env_id, "base": base, "noise_bound": float(noise_bound),
                                 "ddim_steps": int(ddim_steps)},
                                key=f"{env_id}|{base}|{noise_bound!r}|{ddim_steps}")


@dataclass
class DSRLSACConfig(SACConfig):
    """DSRL-SAC: the DSRL code's SB3 SAC settings for Gym MuJoCo (``cfg/gym/*.yaml``: learning rates 3e-4, target
    entropy 0, 3 hidden layers with LayerNorm and tanh in the actor and both critics, its rates per transition,
    evaluation of the sampled policy), the base policy, the noise bound (``action_magnitude``: 1.5 for Hopper and
    HalfCheetah, 2.5 for Walker2d) and the DDIM steps."""

    base: str = ""
    noise_bound: float = 1.5
    ddim_steps: int = 5
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    hidden: tuple[int, ...] = (256, 256, 256)
    activation: str = "tanh"
    critic_layer_norm: bool = True
    actor_layer_norm: bool = True
    target_entropy: float | None = 0.0
    utd: int = 20
    train_every: int = CODE_TRAIN_EVERY
    start_steps: int = CODE_START_STEPS  # the base policy's own noise, N(0, I) clipped to the bound
    deterministic_eval: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.base:
            raise ValueError("algo.base must name the frozen diffusion policy (a saved diffusion_bc agent or run dir)")
        if self.offline_ratio > 0:
            raise ValueError("dsrl_sac learns in the noise space, where offline data has no actions; use dsrl_na "
                             "(its Q learns on real actions) to mix offline data")


class DSRLSAC(SAC):
    """DSRL-SAC: SAC on :class:`NoiseActionEnv` (the loop makes the env from ``config.base``).

    Its own ``act`` chooses noises (the actions of the noise env it trains in); :meth:`decode_noise` turns
    them into environment actions through the frozen base, which is what ``orl.load(...).predict`` returns.
    A saved agent file carries its base (``Agent.save``); a run directory refers to it by ``config.base``."""

    name = "dsrl_sac"
    Config = DSRLSACConfig

    def __init__(self, obs_dim: int, action_dim: int, config: DSRLSACConfig | None = None, seed: int = 0) -> None:
        super().__init__(obs_dim, action_dim, config or DSRLSACConfig(), seed)
        self.base_agent = load_base(self.config.base, "diffusion_bc")  # for predict; an agent file carries it

    def to(self, device: str | torch.device) -> "DSRLSAC":
        """Move SAC's networks and stream and the base that :meth:`features` and :meth:`decode_noise` use (the
        noise env decodes with its own copy of the base, on the CPU)."""
        self.base_agent.algorithm.to(device)
        return super().to(device)

    def features(self, s: torch.Tensor) -> torch.Tensor:
        """Raw states standardised by the base's statistics (the code rescales them to [-1, 1] by its dataset's
        bounds for every network)."""
        return base_features(self.base_agent.algorithm, s)

    def random_action(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The code's initial rollouts: noise ``N(0, I)`` clipped to ``[-b, b]``, as the loop's [-1, 1] action."""
        b = self.config.noise_bound
        w = np.clip(rng.standard_normal((*np.shape(obs)[:-1], self.action_dim)), -b, b) / b
        return w.astype(np.float32)

    def decode_noise(self, obs: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Environment actions for raw observations ``(N, obs_dim)`` and the noises ``(N, d)`` chosen at them:
        the base's DDIM decoding, exactly as :class:`NoiseActionEnv` executes them."""
        base = self.base_agent.algorithm
        a = decode_noise_with(base, torch.as_tensor(np.asarray(obs, np.float32), device=base.device),
                              torch.as_tensor(np.asarray(w, np.float32), device=base.device), self.config.ddim_steps)
        return base.to_env_action(a).cpu().numpy()
