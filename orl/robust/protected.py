"""PROTECTED's discovery of non-dominated policies (Liu, Deng, Sun, Liang & Huang, "Beyond Worst-case Attacks:
Robust RL with Adaptive Defense via Non-dominated Policies", ICLR 2024), as its code (``umd-huang-lab/PROTECTED``:
``run.py``, ``policy_gradients/agent.py``: ``train_step``, ``merge_saps``, ``start_new_iteration``) runs it.

The policy set starts from a pretrained victim, ``Pi = {pi_0}``. Iteration ``k = 1..K``:

1. the new victim ``pi_k`` starts from the last policy of ``Pi`` (the code's ``start_new_iteration``); a fresh
   PA-AD attacker ``nu_k`` (a "director" in action space, realised by an FGSM step on the observation,
   :func:`~orl.robust.attacks.pa_ad_perturbation`) with fresh critics;
2. ``train_steps`` alternations of
   a. a **victim step**: ``num_steps`` environment steps of ``pi_k`` under the attack ``nu_k``, then a PPO update
      with SA-PPO's smoothness term (the code's mode ``adv_pa_ppo``; :class:`~orl.algos.online.sa_ppo.SAPPO`);
   b. an **attacker step**: ``num_steps`` steps of ``nu_k`` against ``pi_k`` and ``num_steps`` against the best past
      victim ``pi_plus = argmax_{pi in Pi} J(pi, nu_k)``, one PPO update on both, the first paid ``+r`` and the
      second ``-r``: the attacker maximises ``J(pi_k, nu) - J(pi_plus, nu)`` (``merge_saps`` negates the
      current-victim part of the attacker's own ``-r`` game). ``pi_plus`` is re-selected every
      ``plus_every`` alternations by rolling out every past victim under ``nu_k``;
3. ``pi_k`` joins ``Pi``: the policy whose mean training return (under attack) over the last 5 alternations was
   best, among snapshots taken every ``save_every`` alternations (the released models were picked this way,
   ``get_best_pickle.py``).

The result is one artifact, :class:`PolicySet` (``policy_set.pt``): the policies as orl agents, to be defended
at test time by EXP3 (:mod:`orl.robust.exp3`).

Reconstruction choices and deviations, named: the code keeps two attacker critics (one per game); orl's attacker
has one critic that also sees a game flag (its policy does not: ``FlaggedActorCritic``). Both learners are
orl's CleanRL-style PPO (:class:`~orl.train.online.OnPolicyLearner`); learning rates anneal and SA-PPO's eps
ramps (over 75% of it) within each iteration, as the code re-creates its schedulers per iteration. A resumed run
reseeds PA-AD's random starts inside the victim's rollouts (everything else continues from the checkpoint). Victims act deterministically inside
the attacker's games (their evaluation mode) and sample in their own rollouts. The paper stops when no attack
leaves a gap above delta; the code (and orl) run a fixed ``K``. Budgets here are far below the code's (K = 10,
2441 alternations of 2048 steps per learner): every result states its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from orl.algos.online.ppo import PPO, PPOConfig, ActorCritic
from orl.algos.online.sa_ppo import SAPPO, SAPPOConfig
from orl.robust.adversary import AdversaryWrapper, attacker_settings
from orl.robust.attacks import ObservationAttack, Victim, budget, pa_ad_perturbation

POLICY_SET_FORMAT = "orl-policy-set"


@dataclass
class ProtectedConfig:
    """Settings of the discovery loop (code defaults in comments; the defaults here are a CPU-size budget)."""

    iterations: int = 3  # K (code: 10)
    train_steps: int = 50  # alternations per iteration (code: 2441)
    num_steps: int = 2048  # env steps per learner per alternation (code: 2048)
    eps: float | None = None  # l-inf budget; None: the papers' for the env (Hopper 0.075, ...)
    plus_every: int = 10  # re-select pi_plus every this many alternations (code: 10)
    plus_episodes: int = 2
    save_every: int = 5  # snapshot the victim every this many alternations (code: save_iters 50)
    victim_lr: float = 3e-4
    victim_reg: float = 0.3  # SA-PPO kappa of the victim step (code: robust_ppo_reg)
    ent_coef: float = 0.01

    def __post_init__(self) -> None:
        for name in ("iterations", "train_steps", "num_steps", "plus_every", "plus_episodes", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")


class FlaggedActorCritic(ActorCritic):
    """An actor-critic whose last observation entry is a game flag that only the critic sees: one critic for
    PROTECTED's two attacker games, one policy (the attack must not know which victim it faces)."""

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, hidden: tuple[int, ...]) -> None:
        super().__init__(obs_dim, action_dim, discrete, hidden)
        from orl.algos.online.ppo import _tanh_mlp

        self.actor = _tanh_mlp(obs_dim - 1, hidden, action_dim, 0.01)

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        return super().distribution(obs[..., :-1])  # the actor without the flag


class AttackerPPO(PPO):
    """PPO on :class:`FlaggedActorCritic` (PROTECTED's attacker)."""

    name = "protected_attacker"

    def __init__(self, obs_dim: int, action_dim: int, discrete: bool, config: PPOConfig | None = None) -> None:
        super().__init__(obs_dim, action_dim, discrete, config)
        self.net = FlaggedActorCritic(obs_dim, action_dim, discrete, tuple(self.config.hidden))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.config.lr, eps=1e-5, fused=True)


class GameFlag(gym.ObservationWrapper):
    """Append a constant flag to the observation (which of the attacker's games this env plays)."""

    def __init__(self, env: gym.Env, flag: float) -> None:
        super().__init__(env)
        space = env.observation_space
        self.flag = float(flag)
        self.observation_space = gym.spaces.Box(np.append(space.low, -1.0).astype(np.float32),
                                                np.append(space.high, 1.0).astype(np.float32), dtype=np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.append(observation, self.flag).astype(np.float32)


class LearnerVictim(Victim):
    """The :class:`Victim` view of a learner still training: its network and *current* normaliser."""

    def __init__(self, learner: Any) -> None:  # noqa: D107 - a live view, not the dataclass' fields
        self.learner = learner
        self.value = None

    @property
    def dist(self):  # type: ignore[override]
        return self.learner.algo.net.distribution

    @property
    def mean(self) -> np.ndarray:  # type: ignore[override]
        return np.asarray(self.learner.obs_rms.mean, np.float64)

    @property
    def std(self) -> np.ndarray:  # type: ignore[override]
        return np.sqrt(np.asarray(self.learner.obs_rms.var, np.float64) + 1e-8)


def _deterministic(learner_or_agent: Any):
    """A raw-observation -> action function of a learner's (or agent's) deterministic policy."""
    from orl.train.online import OnPolicyLearner

    if not isinstance(learner_or_agent, OnPolicyLearner):
        return learner_or_agent.predict  # an orl Agent: takes one observation
    learner = learner_or_agent  # its predict takes a batch
    return lambda obs: learner.predict(np.asarray(obs, np.float32).reshape(1, -1))[0]


class PolicySet:
    """PROTECTED's result: policies (orl agents) with their provenance, saved as one file."""

    def __init__(self, agents: list[Any], env_id: str, eps: float, info: list[dict[str, Any]] | None = None) -> None:
        self.agents, self.env_id, self.eps = list(agents), env_id, float(eps)
        self.info = list(info or [{} for _ in agents])

    def __len__(self) -> int:
        return len(self.agents)

    def save(self, path: str | Path) -> Path:
        from orl.train.common import save_torch

        save_torch(path, {"format": POLICY_SET_FORMAT, "env_id": self.env_id, "eps": self.eps, "info": self.info,
                          "agents": [a.to_blob() for a in self.agents]})
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> PolicySet:
        from orl.api import Agent
        from orl.train.common import CheckpointError, load_torch

        blob = load_torch(path)
        if not isinstance(blob, dict) or blob.get("format") != POLICY_SET_FORMAT:
            raise CheckpointError(f"{path} is not an orl policy set (PROTECTED's policy_set.pt)")
        return cls([Agent.from_blob(b, str(path)) for b in blob["agents"]], blob["env_id"], blob["eps"], blob["info"])


class Protected:
    """The state of a discovery run (both learners, the set, the bookkeeping), resumable from a checkpoint."""

    def __init__(self, env_id: str, reference: Any, config: ProtectedConfig, seed: int = 0) -> None:
        from orl.train.online import OnPolicyLearner

        self.env_id, self.config, self.seed = env_id, config, int(seed)
        self.eps = float(config.eps if config.eps is not None else budget(env_id))
        self.set: list[Any] = [reference]
        self.info: list[dict[str, Any]] = [{"source": "reference"}]
        self.k, self.i = 1, 0
        self.victim_cfg = SAPPOConfig(lr=config.victim_lr, num_steps=config.num_steps, ent_coef=config.ent_coef,
                                      robust_eps=self.eps, robust_reg=config.victim_reg, robust_eps_ramp=0.75,
                                      se_every=0)
        self.attacker_cfg = PPOConfig(**{**attacker_settings(env_id), "num_envs": 2, "num_steps": config.num_steps,
                                         "se_every": 0})
        self._learner_cls = OnPolicyLearner
        self.attack_gen = torch.Generator().manual_seed(self.seed)  # PA-AD's random starts in the victim's rollouts
        self.new_iteration(init=reference)

    # -- learners
    def _victim_env(self, env: gym.Env, _i: int) -> gym.Env:
        """The victim's rollouts: observations attacked by the current attacker's PA-AD realisation."""
        victim = LearnerVictim(self.victim)
        gen = self.attack_gen

        def attack(s: torch.Tensor) -> torch.Tensor:
            raw = s.numpy() * victim.std + victim.mean
            flagged = np.append(raw.reshape(-1), 0.0).reshape(1, -1)
            direction = self.attacker.algo.act(self.attacker.normalise_obs(flagged), deterministic=True)
            return pa_ad_perturbation(victim, s, torch.as_tensor(direction, dtype=torch.float32), self.eps,
                                      generator=gen)

        return ObservationAttack(env, attack, self.eps, victim)

    def _attacker_env(self, env: gym.Env, i: int) -> gym.Env:
        """Game 0: against the current victim, paid +r; game 1: against pi_plus, paid -r."""
        if i == 0:
            target, victim, sign = self.victim, LearnerVictim(self.victim), 1.0
        else:
            plus = self.set[self.plus]
            target, victim, sign = plus, Victim.from_agent(plus), -1.0
        action_dim = int(self.set[0].spaces["action_dim"])
        game = AdversaryWrapper(env, _deterministic(target), victim, action_dim, self.eps, "pa-ad", sign)
        return GameFlag(game, float(i))

    def new_iteration(self, init: Any) -> None:
        """Fresh learners: the victim starts from ``init`` (the last policy of the set), the attacker anew."""
        seed = self.seed + 1000 * self.k
        self.plus = len(self.set) - 1
        self.victim = self._learner_cls(self.env_id, self.victim_cfg, SAPPO, seed)
        self.victim.algo.net.load_state_dict(init.algorithm.net.state_dict())
        if init.normalizer is not None:  # continue with the reference's observation statistics
            self.victim.obs_rms.mean = np.array(init.normalizer["mean"])
            self.victim.obs_rms.var = np.array(init.normalizer["var"])
            self.victim.obs_rms.count = 1e4
        self.attacker = self._learner_cls(self.env_id, self.attacker_cfg, AttackerPPO, seed + 1, wrap=self._attacker_env)
        self.victim.set_wrap(self._victim_env)  # its attack needs both learners
        self.returns: list[float] = []
        self.best: tuple[float, Any] | None = None

    def select_plus(self) -> None:
        """pi_plus = the past victim with the highest return under the current attacker (deterministic)."""
        from orl.robust.evaluate import attacked_returns

        scores = []
        for agent in self.set:
            victim = Victim.from_agent(agent)

            def attack(s: torch.Tensor, victim=victim) -> torch.Tensor:
                raw = s.numpy() * victim.std + victim.mean
                flagged = np.append(raw.reshape(-1), 0.0).reshape(1, -1)
                d = self.attacker.algo.act(self.attacker.normalise_obs(flagged), deterministic=True)
                return pa_ad_perturbation(victim, s, torch.as_tensor(d, dtype=torch.float32), self.eps)

            scores.append(float(attacked_returns(agent, self.env_id, attack, self.eps, self.config.plus_episodes,
                                                 seed=self.seed + 7 * self.i, victim=victim).mean()))
        self.plus = int(np.argmax(scores))
        game = self.attacker.envs[1].env  # GameFlag(AdversaryWrapper): point its game at the new pi_plus
        plus = self.set[self.plus]
        game.predict, game.victim = _deterministic(plus), Victim.from_agent(plus)

    def alternation(self) -> dict[str, float]:
        """One victim step and one attacker step (section 2 of the module docstring)."""
        from orl.api import Agent

        c = self.config
        progress = self.i / c.train_steps  # learning rates anneal and SA-PPO's eps ramps within an iteration
        row = {f"victim_{k}": v for k, v in self.victim.iteration(progress).items() if k != "step"}
        row.update({f"attacker_{k}": v for k, v in self.attacker.iteration(progress).items() if k != "step"})
        self.i += 1
        if "victim_episode_return" in row:
            self.returns.append(row["victim_episode_return"])
        if self.i % c.save_every == 0 and self.returns:
            score = float(np.mean(self.returns[-5:]))
            if self.best is None or score > self.best[0]:
                self.best = (score, Agent.from_learner(self.victim, "sa_ppo"))
        if self.i % c.plus_every == 0 and len(self.set) > 1:
            self.select_plus()
        return row

    def finish_iteration(self) -> None:
        """Append pi_k (its best snapshot, else its final policy) and start the next iteration from it."""
        from orl.api import Agent

        chosen = self.best[1] if self.best is not None else Agent.from_learner(self.victim, "sa_ppo")
        self.set.append(chosen)
        self.info.append({"source": f"iteration {self.k}", "train_return_last5": None if self.best is None else self.best[0]})
        self.k += 1
        self.i = 0
        if self.k <= self.config.iterations:
            self.new_iteration(init=self.set[-1])

    # -- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k, "i": self.i, "set": [a.to_blob() for a in self.set], "info": self.info,
                "victim": self.victim.state_dict(), "attacker": self.attacker.state_dict(), "plus": self.plus,
                "returns": self.returns, "best": None if self.best is None else (self.best[0], self.best[1].to_blob()),
                "attack_gen": self.attack_gen.get_state(),
                # the attacker's games live in wrappers (re-applied on restore): their episode state is kept here
                "games": [(e.env._obs, e.env._rng) for e in self.attacker.envs]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from orl.api import Agent

        self.set = [Agent.from_blob(b) for b in state["set"]]
        self.info, self.k, self.i, self.plus = state["info"], int(state["k"]), int(state["i"]), int(state["plus"])
        if self.k <= self.config.iterations:
            self.new_iteration(init=self.set[-1])
            self.plus = int(state["plus"])
            self.victim.load_state_dict(state["victim"])
            self.attacker.load_state_dict(state["attacker"])
            for env, (obs, rng) in zip(self.attacker.envs, state["games"]):
                env.env._obs, env.env._rng = obs, rng
        self.attack_gen.set_state(state["attack_gen"])
        self.returns = list(state["returns"])
        self.best = None if state["best"] is None else (state["best"][0], Agent.from_blob(state["best"][1]))


def train_protected(env_id: str, out_dir: str | Path, reference: str | Path | Any, config: ProtectedConfig | None = None,
                    seed: int = 0, progress: bool = True) -> PolicySet:
    """Run the discovery loop from the pretrained ``reference`` victim (an agent, its file or run directory) into
    ``out_dir`` (``metrics.csv``, ``checkpoint.pt`` after every alternation block, ``policy_set.pt``); a directory
    with a checkpoint is resumed. Returns the policy set."""
    import orl
    from orl.train.common import CHECKPOINT, CSVLog, load_checkpoint, save_checkpoint

    c = config or ProtectedConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    ref = orl.load(reference) if isinstance(reference, (str, Path)) else reference
    if ref.family != "online" or ref.spaces.get("discrete"):
        raise ValueError("PROTECTED needs a continuous-action online victim (ppo / sa_ppo agent) as its reference")
    run = Protected(env_id, ref, c, seed)
    done_alternations = 0
    if (out / CHECKPOINT).exists():
        state = load_checkpoint(out)
        run.load_state_dict(state["protected"])
        done_alternations = int(state["step"])
    log = CSVLog(out / "metrics.csv", done_alternations if done_alternations else None)
    total = c.iterations * c.train_steps
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=done_alternations, desc=f"protected {env_id}", unit="alt", dynamic_ncols=True)
    t0 = time.time()
    try:
        while run.k <= c.iterations:
            row = {"step": done_alternations + 1, "iteration": run.k, "alternation": run.i + 1, **run.alternation()}
            done_alternations += 1
            row["seconds"] = time.time() - t0
            log.append(row)
            if bar is not None:
                bar.update(1)
            if run.i >= c.train_steps:
                run.finish_iteration()
            if done_alternations % c.save_every == 0 or run.k > c.iterations:
                save_checkpoint(out, {"protected": run.state_dict(), "step": done_alternations})
    finally:
        if bar is not None:
            bar.close()
    policy_set = PolicySet(run.set, env_id, run.eps, run.info)
    policy_set.save(out / "policy_set.pt")
    return policy_set


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=protected env=Hopper-v5``: pretrain the reference PPO victim (``steps`` env
    steps, in ``<run>/reference``; or ``algo.reference=<agent file or run dir>``), run the discovery loop
    (``<run>/protected``), and print each policy's return without attack."""
    from omegaconf import OmegaConf

    import orl
    from orl.robust.evaluate import attacked_returns
    from orl.train.common import CHECKPOINT, load_checkpoint
    from orl.utils.config import build_config

    if "id" not in cfg.env:
        raise ValueError(f"algo=protected trains online in a Gymnasium environment (env=<id>, e.g. env=Hopper-v5); "
                         f"env={cfg.env.name} is a dataset or simulator entry")
    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items()
              if k not in ("name", "family", "reference")}
    config = build_config(ProtectedConfig, params, "protected", prefix="algo.")
    env_id = cfg.env.id
    if cfg.algo.get("reference"):
        reference = orl.load(cfg.algo.reference)
    else:
        ref_dir = Path(out_dir) / "reference"
        if (ref_dir / CHECKPOINT).exists():
            step = int(load_checkpoint(ref_dir)["step"])
            reference = orl.load(ref_dir) if step >= cfg.steps else orl.resume(ref_dir)
        else:
            print(f"pretraining the reference PPO victim for {cfg.steps:,} env steps in {ref_dir}", flush=True)
            reference = orl.fit("ppo", env_id, steps=cfg.steps, seed=cfg.seed, out_dir=ref_dir,
                                eval_every=cfg.eval_every, eval_episodes=cfg.eval_episodes, threads=cfg.threads)
    policy_set = train_protected(env_id, Path(out_dir) / "protected", reference, config, seed=cfg.seed)
    clean = [attacked_returns(a, env_id, None, policy_set.eps, cfg.eval_episodes, seed=cfg.seed + 100).mean()
             for a in policy_set.agents]
    return (f"policy set of {len(policy_set)} policies: {Path(out_dir) / 'protected' / 'policy_set.pt'}; "
            f"returns without attack: {', '.join(f'{r:.1f}' for r in clean)}")
