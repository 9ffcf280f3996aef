"""The on-policy loop: collect in lockstep sub-environments, normalise, update, evaluate, log, checkpoint.

Each of the ``num_envs`` sub-environments writes its transitions into its own :class:`ReplayBuffer`
of ``buffer_batches x num_steps`` rows (FIFO), so every buffer holds one contiguous, time-ordered
stream with correct episode ends: the one replay-buffer type of orl, not a rollout class of its own.
Observations and rewards are stored **unnormalised**; running statistics (observations, and the
discounted return for the reward scale, as Gymnasium's ``NormalizeObservation``/``NormalizeReward``
that CleanRL wraps its envs in) are updated during collection, and the whole buffer is normalised with
the current statistics at update time — what PPO-Buffer and PROPS need when they reuse old batches
(Corrado & Hanna, arXiv 2311.08290, following their ``PPOROS`` code).

Settings of ``python -m orl.run algo=ppo env=<Gymnasium id>``: ``steps`` counts environment steps
(all sub-environments together), ``eval_every`` too (the evaluation runs at the first update boundary
at or after each multiple), ``eval_episodes`` deterministic episodes of the target policy on fresh
environments seeded from ``seed``.

Checkpoints (atomic, after every evaluation, at an update boundary) hold the algorithm, the
normalisers, the buffers, the torch generator and the sub-environments themselves (pickled; MuJoCo
environments' physics through ``mj_getState``), so a resumed run continues exactly as an
uninterrupted one (tested on CartPole; exact wherever the environment pickles).
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from orl.algos.online.ppo import PPO, PPOConfig, gae
from orl.algos.online.props import PROPS, PROPSConfig
from orl.algos.online.sa_ppo import SAPPO
from orl.algos.online.sampling_error import sampling_error
from orl.data.buffer import ReplayBuffer
from orl.data.collect import evaluate
from orl.train.common import CSVLog, DurationEstimate, load_checkpoint, save_checkpoint
from orl.utils.config import build_config


#: ``orl.run algo=<name>`` of the online family -> its class (whose ``Config`` is its dataclass).
ONLINE_ALGORITHMS: dict[str, type[PPO]] = {"ppo": PPO, "props": PROPS, "sa_ppo": SAPPO}


class RunningMeanStd:
    """Running mean and variance over batches (Chan et al.'s parallel update, as Gymnasium's wrappers)."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = epsilon

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)
        if x.shape[0] == 1:  # one row (one sub-environment's step): the same update without the reductions
            delta = x[0] - self.mean
            total = self.count + 1
            self.mean = self.mean + delta / total
            self.var, self.count = (self.var * self.count + delta**2 * self.count / total) / total, total
            return
        b_mean, b_var, b_count = x.mean(0), x.var(0), x.shape[0]
        delta = b_mean - self.mean
        total = self.count + b_count
        self.mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta**2 * self.count * b_count / total
        self.var, self.count = m2 / total, total


def make_env(env_id: str):
    import gymnasium as gym

    from orl.data.chunks import ensure_registered

    try:
        ensure_registered(env_id)
        return gym.make(env_id)
    except (gym.error.Error, ImportError, TypeError) as e:
        raise ValueError(f"env {env_id!r} cannot be made: {e}") from None


def _env_state(env: Any) -> bytes:
    """A sub-environment as bytes: pickled, plus MuJoCo's full physics state (pickling drops it)."""
    extra = None
    data = getattr(env.unwrapped, "data", None)
    if data is not None and hasattr(env.unwrapped, "model"):
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        extra = np.empty(mujoco.mj_stateSize(env.unwrapped.model, spec))
        mujoco.mj_getState(env.unwrapped.model, data, extra, spec)
    return pickle.dumps((env, extra))


def _restore_env(blob: bytes) -> Any:
    env, extra = pickle.loads(blob)
    if extra is not None:
        import mujoco

        mujoco.mj_setState(env.unwrapped.model, env.unwrapped.data, extra, mujoco.mjtState.mjSTATE_INTEGRATION)
    return env


class OnPolicyLearner:
    """One on-policy learner in its sub-environments: collection, running normalisation, the FIFO buffers,
    GAE, the algorithm's updates (PROPS's behaviour updates included), evaluation, and its complete state.

    :func:`train_online` drives one learner with logging and checkpoints; loops that alternate several
    learners (PROTECTED's victim and attacker, ``orl.robust.protected``) drive theirs the same way.
    ``wrap(env, i)`` (optional) wraps sub-environment ``i`` after it is made or restored: wrappers that hold
    live objects (an attacker's current policy) are applied anew instead of being pickled with the env.
    """

    def __init__(self, env_id: str, config: PPOConfig, algo_cls: type[PPO], seed: int = 0, wrap=None) -> None:
        import gymnasium as gym

        self.env_id, self.config, self.seed, self.wrap = env_id, config, int(seed), wrap
        c = config
        # the environments as made (what a checkpoint serialises) and as stepped (``wrap`` applied over them)
        self.inner = [make_env(env_id) for _ in range(c.num_envs)]
        self.envs = [self._wrapped(e, i) for i, e in enumerate(self.inner)]
        space = self.envs[0].action_space
        self.discrete = isinstance(space, gym.spaces.Discrete)
        if not self.discrete and not isinstance(space, gym.spaces.Box):
            raise ValueError(f"env {env_id!r} has action space {space}; PPO here acts in Box or Discrete spaces")
        obs_shape = self.envs[0].observation_space.shape
        if obs_shape is None or len(obs_shape) != 1:
            raise ValueError(f"env {env_id!r} observes {self.envs[0].observation_space}; PPO here needs flat Box "
                             "observations")
        self.obs_dim = int(obs_shape[0])
        action_dim = 1 if self.discrete else int(np.prod(space.shape))
        self.algo = algo_cls(self.obs_dim, int(space.n) if self.discrete else action_dim, self.discrete, c)
        self.low, self.high = (None, None) if self.discrete else (space.low, space.high)
        self.m = getattr(c, "props_num_steps", c.num_steps)  # steps per sub-environment between behaviour updates
        self.per_update = c.num_envs * c.num_steps
        self.gen = torch.Generator().manual_seed(self.seed)
        self.obs_rms, self.ret_rms = RunningMeanStd((self.obs_dim,)), RunningMeanStd()
        self.buffers = [ReplayBuffer(c.buffer_batches * c.num_steps, (self.obs_dim,), action_dim,
                                     metadata={"env_id": env_id}) for _ in range(c.num_envs)]
        self.discounted = np.zeros(c.num_envs)
        self.ep_return, self.ep_length = np.zeros(c.num_envs), np.zeros(c.num_envs, int)
        self.updates, self.step = 0, 0
        self.finished: list[tuple[float, int]] = []
        self.obs = np.stack([env.reset(seed=self.seed * 1000 + i)[0] for i, env in enumerate(self.envs)]).astype(np.float32)
        self.obs_rms.update(self.obs)

    def set_wrap(self, wrap) -> None:
        """Wrap the sub-environments with ``wrap(env, i)`` from now on (for wrappers that need the learner)."""
        self.wrap = wrap
        self.envs = [self._wrapped(e, i) for i, e in enumerate(self.inner)]

    def _wrapped(self, env, i: int = 0):
        return self.wrap(env, i) if self.wrap is not None else env

    def normalise_obs(self, x: np.ndarray) -> np.ndarray:
        c = self.config
        if not c.normalize_obs:
            return np.asarray(x, np.float32)
        return np.clip((x - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + 1e-8), -c.clip_obs, c.clip_obs).astype(np.float32)

    def iteration(self, progress: float, on_step=None) -> dict[str, Any]:
        """Collect ``num_steps`` per sub-environment and make the target update (with PROPS's behaviour updates
        every ``m`` steps); ``progress`` in [0, 1) drives the learning-rate anneal. Returns the metrics row."""
        c, algo = self.config, self.algo
        algo.set_progress(progress)
        row: dict[str, Any] = {}
        for round_ in range(c.num_steps // self.m):
            for _ in range(self.m):
                self.obs = _collect_step(algo, self.envs, self.buffers, self.obs, self.normalise_obs, self.discounted,
                                         self.ep_return, self.ep_length, self.finished, self.gen, self.discrete,
                                         self.low, self.high, c.gamma)
                self.obs_rms.update(self.obs)
                self.ret_rms.update(self.discounted)
                self.step += c.num_envs
                if on_step is not None:
                    on_step(c.num_envs)
            batch, theta_params = _prepare(algo, self.buffers, self.normalise_obs, self.ret_rms, c)
            row = {"step": self.step}
            if round_ == c.num_steps // self.m - 1:  # a target update is due (every n steps)
                if c.se_every and (self.updates + 1) % c.se_every == 0:  # before the update, as PPOROS
                    # its own random stream: measuring must not change what the run learns
                    se_gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.updates)
                    row["sampling_error"] = sampling_error(algo.net, batch[0], batch[1], c.se_epochs, generator=se_gen)
                row.update(algo.update(*batch, generator=self.gen))
            if isinstance(algo, PROPS):
                keep = _without_oldest(self.buffers, self.m)
                params = theta_params[keep] if self.discrete else (theta_params[0][keep], theta_params[1][keep])
                row.update(algo.props_update(batch[0][keep], batch[1][keep], batch[5][keep], params, self.gen))
        self.updates += 1
        if self.finished:
            row["episode_return"] = float(np.mean([r for r, _ in self.finished]))
            row["episode_length"] = float(np.mean([n for _, n in self.finished]))
            self.finished = []
        return row

    def predict(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic target policy's actions for raw observations ``obs`` [N, obs_dim].

        Continuous actions are clipped to the action space, as in collection (CleanRL's ``ClipAction``): the
        Gaussian's mean can leave the box, and MuJoCo tasks charge their control cost on the action passed in
        (HalfCheetah's 0.1 |a|^2 turned a policy worth +1,190 into -1,090 when unclipped means were sent)."""
        a = self.algo.act(self.normalise_obs(obs), deterministic=True)
        return a if self.discrete else np.clip(a, self.low, self.high)

    def evaluate(self, episodes: int, seed: int | None = None) -> np.ndarray:
        """Returns of the deterministic target policy (:meth:`predict`) on fresh environments (wrapped like the
        learner's)."""
        policy = lambda o, _rng: self.predict(o)  # noqa: E731
        if self.wrap is None:
            return evaluate(self.env_id, policy, episodes, seed=self.seed + 100 if seed is None else seed)
        from orl.data.collect import _lockstep_returns

        s = self.seed + 100 if seed is None else seed
        envs = [self._wrapped(make_env(self.env_id), 0) for _ in range(episodes)]
        rng = np.random.default_rng(s)
        return _lockstep_returns(envs, [s * 1_000_000 + k for k in range(episodes)], lambda obs, idx: policy(obs[idx], rng))

    def state_dict(self) -> dict[str, Any]:
        return {"algo": self.algo.state_dict(), "obs_rms": self.obs_rms, "ret_rms": self.ret_rms,
                "buffers": self.buffers, "envs": [_env_state(e) for e in self.inner],
                "obs": self.obs, "discounted": self.discounted, "ep_return": self.ep_return,
                "ep_length": self.ep_length, "gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
                "update": self.updates, "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.algo.load_state_dict(state["algo"])
        self.obs_rms, self.ret_rms, self.buffers = state["obs_rms"], state["ret_rms"], state["buffers"]
        self.inner = [_restore_env(b) for b in state["envs"]]
        self.envs = [self._wrapped(e, i) for i, e in enumerate(self.inner)]
        self.obs, self.discounted = state["obs"], state["discounted"]
        self.ep_return, self.ep_length = state["ep_return"], state["ep_length"]
        self.gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        self.updates = int(state["update"])
        self.step = int(state.get("step", self.updates * self.per_update))

    def close(self) -> None:
        for env in self.envs:
            env.close()


def train_online(env_id: str, out_dir: str | Path, config: PPOConfig | None = None, steps: int = 1_000_000,
                 seed: int = 0, eval_every: int = 10_000, eval_episodes: int = 10, resume: bool = False,
                 threads: int = 1, progress: bool = True, algo_name: str | None = None) -> dict[str, Any]:
    """Train PPO / PPO-Buffer (``config.buffer_batches``), SA-PPO or PROPS (a ``PROPSConfig``) on Gymnasium env
    ``env_id``; returns the summary."""
    c = config or PPOConfig()
    cls = ONLINE_ALGORITHMS[algo_name] if algo_name else (PROPS if isinstance(c, PROPSConfig) else PPO)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    learner = OnPolicyLearner(env_id, c, cls, seed)
    algo, per_update = learner.algo, learner.per_update
    num_updates = steps // per_update
    if num_updates < 1:
        raise ValueError(f"steps={steps} is less than one update's {per_update} env steps (num_envs x num_steps)")
    start, next_eval = 0, eval_every
    if resume:
        state = load_checkpoint(out)
        learner.load_state_dict(state)
        start, next_eval = int(state["update"]), int(state["next_eval"])
    step = learner.step = start * per_update
    metrics_csv = CSVLog(out / "metrics.csv", step if resume else None)
    eval_csv = CSVLog(out / "eval.csv", step if resume else None)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(out / "tb"), purge_step=step + 1 if resume else None)
    bar = eta = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=num_updates * per_update, initial=step, desc=f"{algo.name} {env_id}", unit="step",
                   dynamic_ncols=True)
        eta = DurationEstimate(step, num_updates * per_update, unit="env steps", write=tqdm.write)

    def on_step(n: int) -> None:
        if bar is not None:
            bar.update(n)
            eta(learner.step)

    t0 = time.time()
    try:
        for update in range(start, num_updates):
            row = learner.iteration(update / num_updates, on_step)
            step = learner.step
            row["env_steps_per_s"] = (step - start * per_update) / max(time.time() - t0, 1e-9)
            metrics_csv.append(row)
            for k, v in row.items():
                if k != "step":
                    tb.add_scalar(f"train/{k}", v, step)
            if step >= next_eval or update == num_updates - 1:
                while next_eval <= step:
                    next_eval += eval_every
                returns = learner.evaluate(eval_episodes)
                eval_csv.append({"step": step, "return_mean": float(returns.mean()), "return_std": float(returns.std())})
                tb.add_scalar("eval/return", float(returns.mean()), step)
                if bar is not None:
                    bar.set_postfix(ret=f"{returns.mean():.1f}")
                save_checkpoint(out, {**learner.state_dict(), "update": update + 1, "next_eval": next_eval})
    finally:
        if bar is not None:
            bar.close()
        tb.close()
        learner.close()
    returns = [float(r["return_mean"]) for r in eval_csv.rows]
    if not returns:
        raise RuntimeError("no evaluation was recorded")
    return {"last": returns[-1], "best": max(returns), "episodes": eval_episodes, "algo": algo, "out_dir": str(out)}


def _collect_step(algo: PPO, envs: list, buffers: list[ReplayBuffer], obs: np.ndarray, normalise_obs,
                  discounted: np.ndarray, ep_return: np.ndarray, ep_length: np.ndarray, finished: list,
                  gen: torch.Generator, discrete: bool, low, high, gamma: float) -> np.ndarray:
    """One step of every sub-environment with the collecting policy; returns the next observations
    (after an automatic reset where an episode ended; its last observation goes into the buffer)."""
    actions = algo.act(normalise_obs(obs), generator=gen)
    next_obs = np.empty_like(obs)
    for i, env in enumerate(envs):
        a = actions[i] if discrete else np.clip(actions[i], low, high)  # stored unclipped (CleanRL)
        nxt, reward, terminated, truncated, _ = env.step(int(a) if discrete else a)
        buffers[i].add(obs[i], actions[i], float(reward), nxt, terminated, truncated)
        discounted[i] = discounted[i] * gamma * (1 - terminated) + reward  # Gymnasium's NormalizeReward
        ep_return[i] += reward
        ep_length[i] += 1
        if terminated or truncated:
            finished.append((ep_return[i], ep_length[i]))
            ep_return[i], ep_length[i] = 0.0, 0
            nxt, _ = env.reset()
        next_obs[i] = nxt
    return next_obs


def _without_oldest(buffers: list[ReplayBuffer], m: int) -> torch.Tensor:
    """Rows of the concatenated buffers that PROPS trains on: all of them while a buffer has room for m
    more steps, else all but each buffer's oldest m (they are evicted before the next update)."""
    keep, lo = [], 0
    for buf in buffers:
        skip = m if len(buf) > buf.capacity - m else 0
        keep.append(torch.arange(lo + skip, lo + len(buf)))
        lo += len(buf)
    return torch.cat(keep)


def _prepare(algo: PPO, buffers: list[ReplayBuffer], normalise_obs, ret_rms: RunningMeanStd,
             c: PPOConfig) -> tuple[tuple[torch.Tensor, ...], Any]:
    """The whole buffer as update tensors (obs, actions, advantages, returns, values, log pi_theta(a|s)):
    normalised with the current statistics, log-probabilities and V(s) recomputed under the current target,
    GAE per sub-environment (oldest first); and the target's distribution parameters (means and stds, or
    logits) for PROPS's regulariser."""
    parts: list[list[np.ndarray]] = [[] for _ in range(4)]
    for buf in buffers:
        parts[0].append(normalise_obs(buf.observations))
        parts[1].append(normalise_obs(buf.next_observations))
        parts[2].append(buf.actions)
        scale = np.sqrt(ret_rms.var + 1e-8) if c.normalize_reward else 1.0
        parts[3].append(np.clip(buf.rewards / scale, -c.clip_reward, c.clip_reward))
    obs, nxt = torch.from_numpy(np.concatenate(parts[0])), torch.from_numpy(np.concatenate(parts[1]))
    actions = torch.from_numpy(np.concatenate(parts[2]).astype(np.float32))
    with torch.no_grad():
        values, next_values = algo.net.value(obs).numpy(), algo.net.value(nxt).numpy()
        old_logp, _ = algo.net.log_prob_entropy(obs, actions)
        dist = algo.net.distribution(obs)
        theta_params = dist.logits if algo.discrete else (dist.mean, dist.stddev)
    adv, lo = [], 0
    for buf, rew in zip(buffers, parts[3]):
        hi = lo + len(buf)
        adv.append(gae(rew.astype(np.float64), values[lo:hi], next_values[lo:hi], buf.terminals.astype(np.float64),
                       buf.episode_ends.astype(np.float64), c.gamma, c.gae_lambda))
        lo = hi
    advantages = torch.from_numpy(np.concatenate(adv).astype(np.float32))
    values_t = torch.from_numpy(values)
    return (obs, actions, advantages, advantages + values_t, values_t, old_logp), theta_params


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=ppo env=<Gymnasium id>``: train and return the final line."""
    from omegaconf import OmegaConf

    if "id" not in cfg.env:
        raise ValueError(f"algo={cfg.algo.name} trains online in a Gymnasium environment (env=<id>, e.g. "
                         f"env=CartPole-v1); env={cfg.env.name} is a dataset or simulator entry")
    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items() if k not in ("name", "family")}
    if cfg.get("compile"):  # the top-level switch: compiled minibatch losses (algo.compile)
        params["compile"] = True
    config = build_config(ONLINE_ALGORITHMS[cfg.algo.name].Config, params, cfg.algo.name, prefix="algo.")
    result = train_online(cfg.env.id, out_dir, config, steps=cfg.steps, seed=cfg.seed, eval_every=cfg.eval_every,
                          eval_episodes=cfg.eval_episodes, resume=resume, threads=cfg.threads,
                          algo_name=cfg.algo.name)
    return f"return: last {result['last']:.1f}, best {result['best']:.1f} over {result['episodes']} episodes"
