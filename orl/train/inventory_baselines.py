"""Baselines of HDPO on the inventory settings: REINFORCE with a baseline, and stable-baselines3 PPO.

Both are trained and scored so that their costs sit in the same tables as HDPO's
(:mod:`orl.train.hdpo`): the dev and test sets are :class:`orl.train.hdpo.Scenarios` drawn from the same
seeds (``seed + SPLIT_SEED[split]``), the cost is :func:`orl.train.hdpo.mean_cost` (average cost per store
and period after the ignored warm-up) of the *deterministic* policy, and the gap is measured against
:func:`orl.train.hdpo.reference` (the optimal policy on the same test scenarios) where orl has an optimum.

* :func:`train_reinforce`: :mod:`orl.algos.structured.reinforce` on the batched simulator and HDPO's
  training scenarios (same seeds, batches drawn in the same order), no gradient through the dynamics.
  A run directory holds ``metrics.csv``, ``eval.csv`` (dev cost; a row at step 0 for the initial
  policy), ``checkpoint.pt`` (written atomically after every evaluation; ``resume=True`` continues
  bit-for-bit) and ``result.json``.
* :func:`train_ppo`: SB3's PPO on the Gymnasium env ``orl/Inventory<Setting>-v0`` (one ``InventoryEnv`` per
  worker in a ``DummyVecEnv``, ``periods = train_periods`` so episodes are HDPO's 50-period training
  horizon, truncated, with SB3 bootstrapping the value at truncation), wrapped in ``VecNormalize``
  (running mean/std of observations, and rewards scaled by the running std of the discounted return,
  SB3's recommendation for PPO on unnormalised costs). Two documented choices:

  - **actions**: PPO acts in ``[-1, 1]`` per order component (SB3's advice: normalised, symmetric
    actions), mapped linearly onto ``[0, action_periods x mean demand served]`` (:func:`unit_to_orders`;
    ``action_periods = 4`` by default, inside the env's own bound of 20, so the initial policy orders
    about two periods of demand rather than ten; ``None`` uses the env's full bound);
  - **discount** ``gamma = 0.99`` (PPO needs one; the scored objective stays the undiscounted average cost).

  Evaluation rolls the deterministic policy through the simulator via ``mean_cost``: the scenario state
  is turned into exactly the observation ``InventoryEnv`` gives (:func:`env_observation`), normalised
  with the frozen ``VecNormalize`` statistics, passed to ``policy.predict(deterministic=True)`` (which
  clips to ``[-1, 1]`` as in training) and mapped to orders by the same :func:`unit_to_orders` the
  training wrapper uses. The dev-best policy (with its observation statistics) is kept, as for HDPO.
  Files: ``metrics.csv``, ``eval.csv``, ``ppo.zip`` + ``vecnormalize.pkl`` (the final model) and
  ``best_ppo.zip`` + ``best_vecnormalize.pkl``, ``result.json``. No resume (SB3 cannot continue a run
  bit-for-bit); rerunning restarts.

Both loops accept ``target_dev_cost`` / ``max_train_seconds`` (used by ``experiments/bench_inventory.py``):
the training clock (``train_s``) excludes setup and dev evaluations; ``reached_s`` is the training time at
the first dev evaluation whose cost is ``<= target_dev_cost`` (training then stops), else ``None``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from orl_envs.inventory import ACTION_BOUND_PERIODS, INVENTORY_IDS
from orl_envs.inventory.env import observe, static_features
from orl_envs.inventory.settings import InventorySetting, make_setting
from orl_envs.inventory.simulator import InventorySimulator, InventoryState

from orl.algos.structured.hdpo import EvaluationSets, check_scenario_fields
from orl.algos.structured.reinforce import GaussianPolicy, ReinforceConfig, reinforce_loss
from orl.train.common import CSVLog, load_checkpoint, save_checkpoint
from orl.train.hdpo import SPLIT_SEED, Scenarios, mean_cost, reference, training_sets
from orl.utils.atomic import atomic_path, write_json

#: setting name -> Gymnasium id
ENV_IDS = {name: env_id for env_id, name in INVENTORY_IDS.items()}
_NOISE_SEED = 7919  # offset of REINFORCE's action-noise generator from the run's seed


def resolve_setting(setting: InventorySetting | str, params: dict[str, Any] | None) -> tuple[InventorySetting, dict]:
    """``(setting, params)`` with ``make_setting(setting.name, **params) == setting``.

    The Gymnasium env is built from the factory's keyword arguments, which an ``InventorySetting`` does
    not remember: pass a name and ``params``, or a setting together with the ``params`` that built it.
    """
    params = dict(params or {})
    if isinstance(setting, str):
        return make_setting(setting, **params), params
    if make_setting(setting.name, **params) != setting:
        raise ValueError(f"{setting.name}: pass params= with the factory arguments that built this setting "
                         f"(make_setting({setting.name!r}, **{params}) differs from it)")
    return setting, params


def _result(setting: InventorySetting, algo: str, sim: InventorySimulator, act, c, seed: int, test: bool,
            extra: dict[str, Any]) -> dict[str, Any]:
    """Test cost of ``act`` on HDPO's test scenarios, the reference and the gap."""
    result: dict[str, Any] = {"setting": setting.name, "algo": algo, "test_cost": None, "reference": {}, "gap": None}
    if test:
        scen = Scenarios(setting, c.n_test, c.test_periods, seed + SPLIT_SEED["test"])
        result["test_cost"] = mean_cost(sim, act, scen, c.test_ignore)
        result["reference"] = reference(setting, sim, scen, c.test_ignore)
        if result["reference"]:
            result["gap"] = result["test_cost"] / result["reference"]["test_cost"] - 1.0
    result.update(extra)
    return result


# ------------------------------------------------------------------------------------------------------
# REINFORCE


def _sample_rollout(sim: InventorySimulator, policy: GaussianPolicy, state: InventoryState, demands: torch.Tensor,
                    noise: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Roll the stochastic policy (no gradients): inputs ``[T, B, obs]``, samples ``[T, B, A]``, costs ``[T, B]``."""
    inputs, samples, costs = [], [], []
    with torch.no_grad():
        for t in range(demands.shape[2]):
            x = state.flat()
            a, orders = policy.sample(x, noise)
            result = sim.step(state, orders, demands[:, :, t])
            inputs.append(x)
            samples.append(a)
            costs.append(result.cost)
            state = result.state
    return torch.stack(inputs), torch.stack(samples), torch.stack(costs)


def train_reinforce(setting: InventorySetting | str, out_dir: str | Path, config: ReinforceConfig | None = None,
                    steps: int = 2000, eval_every: int = 50, seed: int = 0, log_every: int = 10, resume: bool = False,
                    threads: int = 1, progress: bool = True, params: dict[str, Any] | None = None,
                    target_dev_cost: float | None = None, max_train_seconds: float | None = None,
                    test: bool = True) -> dict[str, Any]:
    """Train REINFORCE with a baseline for ``setting``; returns test cost, reference, gap and timings."""
    wall0 = time.time()
    c = config or ReinforceConfig()
    if isinstance(setting, str):
        setting, _ = resolve_setting(setting, params)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    sim, train, dev = training_sets(setting, c, seed)
    policy = GaussianPolicy(setting, tuple(c.hidden), c.init_std)
    opt = torch.optim.Adam(policy.parameters(), lr=c.lr)
    act = policy  # deterministic: the mean order
    gen = torch.Generator().manual_seed(seed)  # batch order: the same stream as HDPO's
    noise = torch.Generator().manual_seed(seed + _NOISE_SEED)
    start, best, best_state, since_best, train_s, reached_s = 0, float("inf"), None, 0, 0.0, None
    if resume:
        ck = load_checkpoint(out)
        policy.load_state_dict(ck["policy"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        noise.set_state(ck["noise"])
        torch.set_rng_state(ck["torch_rng"])
        start, best, best_state, since_best = ck["step"], ck["best"], ck["best_policy"], ck["since_best"]
        train_s, reached_s, initial_dev = ck["train_s"], ck["reached_s"], ck["initial_dev_cost"]
        perm, pos = ck["perm"], ck["pos"]
    metrics_csv = CSVLog(out / "metrics.csv", start if resume else None)
    eval_csv = CSVLog(out / "eval.csv", start if resume else None)
    if not resume:  # the initial policy is the first candidate of the model selection
        perm, pos = torch.randperm(c.n_train, generator=gen), 0
        initial_dev = best = mean_cost(sim, act, dev, c.dev_ignore)
        best_state = {k: v.clone() for k, v in policy.state_dict().items()}
        eval_csv.append({"step": 0, "dev_cost": initial_dev, "best_dev_cost": best, "train_s": 0.0})
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc="reinforce", unit="step", dynamic_ncols=True)
    losses: list[float] = []
    step = start
    clock = time.time()
    for step in range(start + 1, steps + 1) if reached_s is None else ():
        if pos + c.batch_size > c.n_train:  # a new epoch
            perm, pos = torch.randperm(c.n_train, generator=gen), 0
        idx = perm[pos : pos + c.batch_size]
        pos += c.batch_size
        state, demands = train.batch(idx)
        inputs, samples, costs = _sample_rollout(sim, policy, state, demands, noise)
        loss = reinforce_loss(policy, inputs, samples, costs, c.discount, c.baseline, setting.n_stores)
        opt.zero_grad()
        loss.backward()
        if c.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(policy.parameters(), c.grad_clip)
        opt.step()
        losses.append(float(costs[c.train_ignore :].mean()) / setting.n_stores)  # sampled policy's cost
        if step % log_every == 0 or step == steps:
            metrics_csv.append({"step": step, "train_cost": float(np.mean(losses)),
                                "std": float(policy.std().detach().mean()), "train_s": train_s + time.time() - clock})
            losses = []
        if bar is not None:
            bar.update(1)
        over = max_train_seconds is not None and train_s + time.time() - clock > max_train_seconds
        if step % eval_every == 0 or step == steps or over:
            train_s += time.time() - clock
            dev_cost = mean_cost(sim, act, dev, c.dev_ignore)
            if dev_cost < best:
                best, best_state, since_best = dev_cost, {k: v.clone() for k, v in policy.state_dict().items()}, 0
            else:
                since_best += 1
            if target_dev_cost is not None and reached_s is None and dev_cost <= target_dev_cost:
                reached_s = train_s
            eval_csv.append({"step": step, "dev_cost": dev_cost, "best_dev_cost": best, "train_s": train_s})
            if bar is not None:
                bar.set_postfix(dev=f"{dev_cost:.3f}")
            save_checkpoint(out, {"policy": policy.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                                  "noise": noise.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                                  "best": best, "best_policy": best_state, "since_best": since_best, "perm": perm,
                                  "pos": pos, "train_s": train_s, "reached_s": reached_s,
                                  "initial_dev_cost": initial_dev})
            clock = time.time()
            if since_best >= c.patience or reached_s is not None or over:
                break
    if bar is not None:
        bar.close()
    policy.load_state_dict(best_state)
    result = _result(setting, "reinforce", sim, act, c, seed, test,
                     {"best_dev_cost": best, "initial_dev_cost": initial_dev, "steps": step,
                      "train_s": train_s, "reached_s": reached_s, "target_dev_cost": target_dev_cost,
                      "config": asdict(c)})
    result["wall_s"] = time.time() - wall0
    write_json(out / "result.json", result)
    result.update(policy=policy, out_dir=str(out))
    return result


# ------------------------------------------------------------------------------------------------------
# PPO (stable-baselines3)


@dataclass
class PPOBaselineConfig(EvaluationSets):
    """SB3 PPO hyper-parameters (SB3's defaults unless noted); dev and test sets: HDPO's (inherited)."""

    n_envs: int = 8
    n_steps: int = 256  # per env: 2048 transitions per update, SB3's default rollout size
    batch_size: int = 256
    n_epochs: int = 10
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    net_arch: tuple[int, ...] = (64, 64)
    action_periods: float | None = 4.0  # unit action -> [0, action_periods x mean demand]; None: env bound
    norm_obs: bool = True
    norm_reward: bool = True
    train_periods: int = 50

    def __post_init__(self) -> None:
        if self.action_periods is not None and not 0 < self.action_periods <= ACTION_BOUND_PERIODS:
            raise ValueError(f"ppo: action_periods must lie in (0, {ACTION_BOUND_PERIODS}], "
                             f"got {self.action_periods!r}")
        check_scenario_fields(self, "ppo")


def env_observation(setting: InventorySetting, state: InventoryState) -> np.ndarray:
    """``[B, obs_dim]`` float32: what ``InventoryEnv`` observes in ``state`` (the env's own function)."""
    return observe(state, static_features(setting))


def order_bounds(setting: InventorySetting, action_periods: float | None) -> np.ndarray:
    """Largest order per component: ``action_periods`` x the mean demand the location serves."""
    periods = ACTION_BOUND_PERIODS if action_periods is None else action_periods
    means = np.asarray(setting.demand.mean, np.float64)
    return np.concatenate([means, np.full(len(setting.upstream), means.sum())]) * periods


def unit_to_orders(action: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """PPO's action in ``[-1, 1]`` (clipped) -> orders in ``[0, upper]`` (float64), linearly."""
    return (np.clip(np.asarray(action, np.float64), -1.0, 1.0) + 1.0) * 0.5 * upper


class UnitActions(gym.ActionWrapper):
    """Let the agent act in ``[-1, 1]^A``; the env receives :func:`unit_to_orders` of the action."""

    def __init__(self, env: gym.Env, upper: np.ndarray) -> None:
        super().__init__(env)
        self.upper = np.asarray(upper, np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, self.upper.shape, np.float32)

    def action(self, action: np.ndarray) -> np.ndarray:
        return unit_to_orders(action, self.upper)


def make_env(setting: InventorySetting | str, params: dict[str, Any] | None = None, periods: int = 50,
             action_periods: float | None = 4.0) -> gym.Env:
    """``orl/Inventory<Setting>-v0`` with the setting's params, acting in ``[-1, 1]`` (what PPO trains on)."""
    import orl_envs  # noqa: F401  (registers the ids)

    setting, params = resolve_setting(setting, params)
    env = gym.make(ENV_IDS[setting.name], periods=periods, **params)
    return UnitActions(env, order_bounds(setting, action_periods))


def ppo_act(model, vecnorm, setting: InventorySetting, action_periods: float | None):
    """``act(state) -> orders`` for :func:`orl.train.hdpo.mean_cost`: the PPO policy's deterministic action
    on the observation ``InventoryEnv`` would give, normalised with ``vecnorm``'s frozen statistics."""
    upper = order_bounds(setting, action_periods)

    def act(state: InventoryState) -> torch.Tensor:
        obs = env_observation(setting, state)
        if vecnorm is not None:
            obs = vecnorm.normalize_obs(obs)
        action, _ = model.policy.predict(obs, deterministic=True)
        return torch.as_tensor(unit_to_orders(action, upper), dtype=state.stores.dtype)

    return act


def _save_ppo(out: Path, name: str, model, vecnorm) -> None:
    with atomic_path(out / f"{name}ppo.zip", suffix=".zip") as tmp:
        model.save(tmp)
    if vecnorm is not None:
        with atomic_path(out / f"{name}vecnormalize.pkl") as tmp:
            vecnorm.save(tmp)


def train_ppo(setting: InventorySetting | str, out_dir: str | Path, config: PPOBaselineConfig | None = None,
              timesteps: int = 200_000, eval_every: int = 20_480, seed: int = 0, params: dict[str, Any] | None = None,
              threads: int = 1, progress: bool = True, target_dev_cost: float | None = None,
              max_train_seconds: float | None = None, test: bool = True, verbose: int = 0) -> dict[str, Any]:
    """Train SB3 PPO on ``setting``'s Gymnasium env and score it like HDPO; ``eval_every`` is in env steps
    (checked at rollout boundaries), ``timesteps`` the total env steps."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    wall0 = time.time()
    c = config or PPOBaselineConfig()
    setting, params = resolve_setting(setting, params)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    sim = InventorySimulator(setting, validate=False)
    dev = Scenarios(setting, c.n_dev, c.dev_periods, seed + SPLIT_SEED["dev"])

    def factory():
        return Monitor(make_env(setting, params, c.train_periods, c.action_periods))

    venv = DummyVecEnv([factory] * c.n_envs)
    vecnorm = VecNormalize(venv, norm_obs=c.norm_obs, norm_reward=c.norm_reward, gamma=c.gamma) \
        if (c.norm_obs or c.norm_reward) else None
    model = PPO("MlpPolicy", vecnorm or venv, learning_rate=c.lr, n_steps=c.n_steps, batch_size=c.batch_size,
                n_epochs=c.n_epochs, gamma=c.gamma, gae_lambda=c.gae_lambda, clip_range=c.clip_range,
                ent_coef=c.ent_coef, policy_kwargs={"net_arch": list(c.net_arch)}, seed=seed, device="cpu",
                verbose=verbose)
    act = ppo_act(model, vecnorm, setting, c.action_periods)
    metrics_csv, eval_csv = CSVLog(out / "metrics.csv", None), CSVLog(out / "eval.csv", None)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=timesteps, desc="ppo", unit="step", dynamic_ncols=True)

    class Tracker(BaseCallback):
        """Dev evaluations (off the training clock), model selection, logs, stopping."""

        def __init__(self) -> None:
            super().__init__()
            self.best, self.best_state, self.best_rms = float("inf"), None, None
            self.train_s, self.reached_s, self.last_eval, self.stop = 0.0, None, -1, False
            self.costs: list[float] = []
            self.clock = time.time()

        def evaluate(self) -> None:
            self.train_s += time.time() - self.clock
            dev_cost = mean_cost(sim, act, dev, c.dev_ignore)
            if dev_cost < self.best:
                self.best = dev_cost
                self.best_state = {k: v.clone() for k, v in model.policy.state_dict().items()}
                self.best_rms = copy.deepcopy(vecnorm.obs_rms) if vecnorm is not None else None
            if target_dev_cost is not None and self.reached_s is None and dev_cost <= target_dev_cost:
                self.reached_s, self.stop = self.train_s, True
            if max_train_seconds is not None and self.train_s > max_train_seconds:
                self.stop = True
            self.last_eval = model.num_timesteps
            eval_csv.append({"step": model.num_timesteps, "dev_cost": dev_cost, "best_dev_cost": self.best,
                             "train_s": self.train_s})
            if bar is not None:
                bar.set_postfix(dev=f"{dev_cost:.3f}")
            self.clock = time.time()

        def _on_rollout_start(self) -> None:  # the policy has just been updated
            if self.last_eval < 0 or model.num_timesteps - self.last_eval >= eval_every:
                self.evaluate()

        def _on_rollout_end(self) -> None:
            if self.costs:
                cost = float(np.mean(self.costs)) / setting.n_stores  # sampled policy, all periods
                metrics_csv.append({"step": model.num_timesteps, "train_cost": cost,
                                    "train_s": self.train_s + time.time() - self.clock})
                self.costs = []

        def _on_step(self) -> bool:
            self.costs.extend(float(info["cost"]) for info in self.locals["infos"])
            if bar is not None:
                bar.update(c.n_envs)
            if max_train_seconds is not None and self.train_s + time.time() - self.clock > max_train_seconds:
                self.stop = True
            return not self.stop

    tracker = Tracker()
    model.learn(total_timesteps=timesteps, callback=tracker)
    if not tracker.stop and tracker.last_eval != model.num_timesteps:
        tracker.evaluate()  # the final policy (a stopped run was evaluated when it stopped, or hit the cap)
    if bar is not None:
        bar.close()
    _save_ppo(out, "", model, vecnorm)
    model.policy.load_state_dict(tracker.best_state)
    if vecnorm is not None:
        vecnorm.obs_rms = tracker.best_rms
    _save_ppo(out, "best_", model, vecnorm)
    result = _result(setting, "ppo", sim, act, c, seed, test,
                     {"params": params, "best_dev_cost": tracker.best, "timesteps": int(model.num_timesteps),
                      "train_s": tracker.train_s, "reached_s": tracker.reached_s, "target_dev_cost": target_dev_cost,
                      "config": asdict(c)})
    result["wall_s"] = time.time() - wall0
    write_json(out / "result.json", result)
    venv.close()
    result.update(model=model, vecnorm=vecnorm, act=act, out_dir=str(out))
    return result


__all__ = ["ENV_IDS", "PPOBaselineConfig", "UnitActions", "env_observation", "make_env", "order_bounds", "ppo_act",
           "resolve_setting", "static_features", "train_ppo", "train_reinforce", "unit_to_orders"]
