"""Learned observation attackers: the adversary's MDP against a fixed victim, trained with orl's PPO.

- **SA-RL** (Zhang, Chen, Boning & Hsieh, "Robust Reinforcement Learning on State Observations with Learned
  Optimal Adversary", ICLR 2021): the adversary's action is a perturbation of the (normalised) observation,
  ``s' = s + eps * hardtanh(a)`` (PROTECTED's ``advpolicy`` attack, deterministic at test time).
- **PA-AD** (Sun, Zhang, Liang, Huang & Huang, "Who Is the Strongest Enemy? Towards Optimal and Efficient
  Evasion Attacks in Deep RL", ICLR 2022): the adversary ("director") outputs a direction in the victim's
  *action* space, realised as an observation perturbation by :func:`~orl.robust.attacks.pa_ad_perturbation`
  (an FGSM step against the victim's policy; PROTECTED's ``paadvpolicy``).

Both adversaries observe the environment's true observation, receive ``-r`` (the victim's reward, negated)
and end when the victim's episode ends; the victim acts with its deterministic action (its evaluation mode).
:class:`AdversaryEnv` is that MDP as a Gymnasium env; :func:`train_attacker` trains an adversary with orl's
on-policy loop (PPO with the attacker settings of PROTECTED's configs: lr 1e-2 for Hopper/HalfCheetah, 1e-3
for Walker2d/Ant, clip 0.4, entropy 3e-4) into a resumable run directory, and :func:`learned_attack` turns a
trained adversary back into an attack for :class:`~orl.robust.attacks.ObservationAttack`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from orl.robust.attacks import Attack, Victim, learned_state_attack, pa_ad_perturbation
from orl.utils.envs import register_derived_env

KINDS = ("sa-rl", "pa-ad")
#: PROTECTED's attacker PPO settings (configs/config_*.json: adv_ppo_lr_adam, adv_clip_eps, adv_entropy_coeff).
ATTACKER_LR = {"Hopper": 1e-2, "HalfCheetah": 1e-2, "Walker2d": 1e-3, "Ant": 1e-3}
ATTACKER_SETTINGS = {"clip_coef": 0.4, "ent_coef": 3e-4}


class AdversaryWrapper(gym.Wrapper):
    """An environment turned into the MDP of an observation adversary against ``predict`` (the victim's
    deterministic action on raw observations; ``victim`` its distribution and normaliser for PA-AD).

    The adversary observes the true observation, acts (SA-RL: a perturbation in [-1, 1]^obs_dim; PA-AD: a
    direction in [-1, 1]^action_dim), the victim acts on the perturbed observation, and the adversary is paid
    ``sign * r`` (``-1``: the attacker's own game; PROTECTED's attacker also plays ``+1`` against the best past
    victim, ``orl.robust.protected``). PA-AD's random start has its own generator, seeded by ``reset``.
    """

    def __init__(self, env: gym.Env, predict, victim: Victim, action_dim: int, eps: float, kind: str = "sa-rl",
                 sign: float = -1.0) -> None:
        super().__init__(env)
        if kind not in KINDS:
            raise ValueError(f"unknown adversary kind {kind!r}; choose one of {', '.join(KINDS)}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.predict, self.victim, self.eps, self.kind, self.sign = predict, victim, float(eps), kind, float(sign)
        obs_dim = int(np.prod(env.observation_space.shape))
        act_dim = obs_dim if kind == "sa-rl" else int(action_dim)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
        self._obs: np.ndarray | None = None
        self._rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._obs, info = self.env.reset(seed=seed, options=options)
        return self._obs, info

    def perturbed(self, action: np.ndarray) -> np.ndarray:
        """The observation the victim sees when the adversary plays ``action`` (raw coordinates)."""
        s = torch.as_tensor(self.victim.normalize(self._obs), dtype=torch.float32).reshape(1, -1)
        a = torch.as_tensor(np.asarray(action, np.float32)).reshape(1, -1)
        if self.kind == "sa-rl":
            x = learned_state_attack(lambda _: a, s, self.eps)
        else:
            gen = torch.Generator().manual_seed(int(self._rng.integers(2**62)))
            x = pa_ad_perturbation(self.victim, s, a, self.eps, generator=gen)
        delta = np.clip((x - s).reshape(-1).double().numpy(), -self.eps, self.eps)
        return np.asarray(self._obs, np.float64) + delta * np.asarray(self.victim.std)

    def step(self, action: np.ndarray):
        victim_action = self.predict(self.perturbed(action).astype(np.float32))
        self._obs, reward, terminated, truncated, info = self.env.step(victim_action)
        return self._obs, self.sign * float(reward), terminated, truncated, {**info, "victim_reward": float(reward)}


class AdversaryEnv(gym.Env):
    """The adversary MDP against a *saved* victim, constructible by name (``register_adversary``): an
    :class:`AdversaryWrapper` over ``gym.make(env_id)`` with the victim loaded from its file.

    Args:
        env_id: the victim's environment (a Gymnasium id).
        victim: a saved orl agent (``Agent.save``) or run directory: the fixed victim.
        eps: the l-infinity budget in the victim's normalised observation space.
        kind: ``"sa-rl"`` or ``"pa-ad"`` (see :class:`AdversaryWrapper`).
    """

    metadata = {"render_modes": []}

    def __init__(self, env_id: str, victim: str, eps: float, kind: str = "sa-rl") -> None:
        import orl

        self.agent = orl.load(victim)
        self.game = AdversaryWrapper(gym.make(env_id), self.agent.predict, Victim.from_agent(self.agent),
                                     int(self.agent.spaces["action_dim"]), eps, kind)
        self.observation_space, self.action_space = self.game.observation_space, self.game.action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self.game.reset(seed=seed, options=options)

    def step(self, action: np.ndarray):
        return self.game.step(action)

    def perturbed(self, action: np.ndarray) -> np.ndarray:
        return self.game.perturbed(action)

    def close(self) -> None:
        self.game.close()

    def __getstate__(self) -> dict[str, Any]:
        # the inner env through orl's env serialiser: pickling alone drops MuJoCo's physics state, and a
        # resumed attacker run must continue the same episodes
        from orl.train.online import _env_state

        game = dict(self.game.__dict__)
        inner = self.game.env
        for k in ("env", "predict", "_action_space", "_observation_space", "_metadata", "_reward_range"):
            game.pop(k, None)
        return {"agent": self.agent, "game": game, "inner": _env_state(inner),
                "np_random": getattr(self, "_np_random", None)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from orl.train.online import _restore_env

        self.agent = state["agent"]
        g = state["game"]
        self.game = AdversaryWrapper(_restore_env(state["inner"]), self.agent.predict, g["victim"],
                                     int(self.agent.spaces["action_dim"]), g["eps"], g["kind"], g["sign"])
        self.game._obs, self.game._rng = g["_obs"], g["_rng"]
        self.observation_space, self.action_space = self.game.observation_space, self.game.action_space
        if state["np_random"] is not None:
            self._np_random = state["np_random"]


def register_adversary(env_id: str, victim: str | Path, eps: float, kind: str) -> str:
    """Register the adversary MDP as a Gymnasium id (named by a hash of its arguments, the same in every
    process, so a resumed attacker run finds its env) and return the id."""
    victim = str(Path(victim).resolve())
    return register_derived_env("orl-robust/Adversary", AdversaryEnv, env_id,
                                {"env_id": env_id, "victim": victim, "eps": float(eps), "kind": kind},
                                key=f"{env_id}|{victim}|{eps!r}|{kind}")


def attacker_settings(env_id: str) -> dict[str, Any]:
    """PROTECTED's attacker PPO settings for ``env_id`` (lr by environment, clip 0.4, entropy 3e-4)."""
    name = env_id.split("/")[-1].split("-")[0]
    return {"lr": ATTACKER_LR.get(name, 1e-3), **ATTACKER_SETTINGS}


def train_attacker(env_id: str, victim: str | Path, eps: float, kind: str, out_dir: str | Path, steps: int,
                   seed: int = 0, **settings: Any) -> dict[str, Any]:
    """Train a ``kind`` adversary against ``victim`` (a saved agent file) for ``steps`` environment steps with
    orl's PPO into the run directory ``out_dir`` (``config.yaml``, ``attacker.json``, logs, checkpoints); a
    directory that already holds a checkpoint is resumed exactly. Extra ``settings`` override PPO's fields.
    ``orl.load(out_dir)`` works after :func:`register_adversary` (``learned_attack`` does both)."""
    import dataclasses
    import json

    from omegaconf import OmegaConf

    from orl.algos.online.ppo import PPOConfig
    from orl.train.common import CHECKPOINT
    from orl.train.online import train_online
    from orl.utils.atomic import atomic_path

    out = Path(out_dir)
    adv_id = register_adversary(env_id, victim, eps, kind)
    config = PPOConfig(**{**attacker_settings(env_id), "se_every": 0, **settings})
    eval_every = max(steps // 10, config.num_steps * config.num_envs)
    out.mkdir(parents=True, exist_ok=True)
    spec = {"env_id": env_id, "victim": str(Path(victim).resolve()), "eps": float(eps), "kind": kind}
    run_cfg = {"algo": {"name": "ppo", "family": "online", **dataclasses.asdict(config)},
               "env": {"name": adv_id, "id": adv_id}, "steps": int(steps), "seed": int(seed), "eval_every": eval_every,
               "eval_episodes": 5, "threads": 1, "device": "cpu", "out_root": str(out.parent), "attacker": spec}
    resume = (out / CHECKPOINT).exists()
    if resume:
        saved = json.loads((out / "attacker.json").read_text())
        if saved != spec:
            raise ValueError(f"{out} holds an attacker for {saved}, not {spec}: choose another out_dir")
    else:
        with atomic_path(out / "attacker.json") as tmp:
            tmp.write_text(json.dumps(spec, indent=1))
        with atomic_path(out / "config.yaml") as tmp:
            tmp.write_text(OmegaConf.to_yaml(OmegaConf.create(run_cfg)))
    return train_online(adv_id, out, config, steps=steps, seed=seed, resume=resume, algo_name="ppo",
                        eval_every=eval_every, eval_episodes=5)


def load_attacker(attacker_run: str | Path):
    """The trained adversary of a :func:`train_attacker` run directory, as an orl agent, and its spec."""
    import json

    import orl

    spec = json.loads((Path(attacker_run) / "attacker.json").read_text())
    register_adversary(spec["env_id"], spec["victim"], spec["eps"], spec["kind"])
    return orl.load(attacker_run), spec


def learned_attack(attacker_run: str | Path, victim: Victim, generator: torch.Generator | None = None) -> Attack:
    """The attack of a trained adversary (its run directory): its deterministic action on the true observation,
    applied as SA-RL's perturbation or PA-AD's direction with the budget it was trained for. The adversary
    normalises observations its own way (its PPO observation filter), so the attack maps the victim-normalised
    input back to raw coordinates first."""
    adversary, spec = load_attacker(attacker_run)
    eps, kind = float(spec["eps"]), spec["kind"]
    mean, std = torch.as_tensor(victim.mean, dtype=torch.float32), torch.as_tensor(victim.std, dtype=torch.float32)

    def act(s: torch.Tensor) -> torch.Tensor:
        raw = (s * std + mean).numpy()
        return torch.as_tensor(adversary.predict(raw), dtype=torch.float32).reshape(s.shape[0], -1)

    if kind == "sa-rl":
        return lambda s: learned_state_attack(act, s, eps)
    return lambda s: pa_ad_perturbation(victim, s, act(s), eps, generator=generator)
