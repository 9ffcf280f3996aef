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

import hashlib
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from orl.robust.attacks import Attack, Victim, learned_state_attack, pa_ad_perturbation

KINDS = ("sa-rl", "pa-ad")
#: PROTECTED's attacker PPO settings (configs/config_*.json: adv_ppo_lr_adam, adv_clip_eps, adv_entropy_coeff).
ATTACKER_LR = {"Hopper": 1e-2, "HalfCheetah": 1e-2, "Walker2d": 1e-3, "Ant": 1e-3}
ATTACKER_SETTINGS = {"clip_coef": 0.4, "ent_coef": 3e-4}


class AdversaryEnv(gym.Env):
    """The MDP of an observation adversary against a fixed victim (see the module docstring).

    Args:
        env_id: the victim's environment (a Gymnasium id).
        victim: a saved orl agent (``Agent.save``) or run directory: the fixed victim.
        eps: the l-infinity budget in the victim's normalised observation space.
        kind: ``"sa-rl"`` (act = observation perturbation, ``obs_dim`` in [-1, 1]) or ``"pa-ad"`` (act = a
            direction in the victim's action space).
    """

    metadata = {"render_modes": []}

    def __init__(self, env_id: str, victim: str, eps: float, kind: str = "sa-rl") -> None:
        import orl

        if kind not in KINDS:
            raise ValueError(f"unknown adversary kind {kind!r}; choose one of {', '.join(KINDS)}")
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.env = gym.make(env_id)
        self.agent = orl.load(victim)
        self.victim = Victim.from_agent(self.agent)
        self.eps, self.kind = float(eps), kind
        self.observation_space = self.env.observation_space
        obs_dim = int(np.prod(self.observation_space.shape))
        act_dim = obs_dim if kind == "sa-rl" else int(self.agent.spaces["action_dim"])
        self.action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._obs, info = self.env.reset(seed=seed, options=options)
        return self._obs, info

    def __getstate__(self) -> dict[str, Any]:
        # the inner env through orl's env serialiser: pickling alone drops MuJoCo's physics state, and a
        # resumed attacker run must continue the same episodes
        from orl.train.online import _env_state

        state = dict(self.__dict__)
        state["env"] = _env_state(self.env)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from orl.train.online import _restore_env

        state = dict(state)
        state["env"] = _restore_env(state["env"])
        self.__dict__.update(state)

    def perturbed(self, action: np.ndarray) -> np.ndarray:
        """The observation the victim sees when the adversary plays ``action`` (raw coordinates)."""
        s = torch.as_tensor(self.victim.normalize(self._obs), dtype=torch.float32).reshape(1, -1)
        a = torch.as_tensor(np.asarray(action, np.float32)).reshape(1, -1)
        if self.kind == "sa-rl":
            x = learned_state_attack(lambda _: a, s, self.eps)
        else:
            # PA-AD's random start, drawn from the env's own seeded stream (exact seeding and resume)
            gen = torch.Generator().manual_seed(int(self.np_random.integers(2**62)))
            x = pa_ad_perturbation(self.victim, s, a, self.eps, generator=gen)
        delta = np.clip((x - s).reshape(-1).double().numpy(), -self.eps, self.eps)
        return np.asarray(self._obs, np.float64) + delta * self.victim.std

    def step(self, action: np.ndarray):
        victim_action = self.agent.predict(self.perturbed(action).astype(np.float32))
        self._obs, reward, terminated, truncated, info = self.env.step(victim_action)
        return self._obs, -float(reward), terminated, truncated, {**info, "victim_reward": float(reward)}

    def close(self) -> None:
        self.env.close()


def register_adversary(env_id: str, victim: str | Path, eps: float, kind: str) -> str:
    """Register the adversary MDP as a Gymnasium id (named by a hash of its arguments, the same in every
    process, so a resumed attacker run finds its env) and return the id."""
    victim = str(Path(victim).resolve())
    key = hashlib.sha1(f"{env_id}|{victim}|{eps!r}|{kind}".encode()).hexdigest()[:12]
    adv_id = f"orl-robust/Adversary-{key}-v0"
    if adv_id not in gym.envs.registry:
        spec = gym.spec(env_id)
        gym.register(adv_id, entry_point=AdversaryEnv, max_episode_steps=spec.max_episode_steps,
                     kwargs={"env_id": env_id, "victim": victim, "eps": float(eps), "kind": kind})
    return adv_id


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
