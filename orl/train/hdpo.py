"""The HDPO loop (:mod:`orl.algos.structured.hdpo`): scenario sets, back-propagation through the
simulator, dev-set model selection, test cost against the known optimum, logs, checkpoints, resume.

Where orl knows no closed-form or DP optimum but an optimal policy *class* (the serial system:
echelon-stock, Clark & Scarf), :func:`learned_reference` trains that parametric policy by the same
gradient loop on the same scenarios and scores it on the same test scenarios.

A run directory holds ``metrics.csv`` (training cost per logged step), ``eval.csv`` (dev cost per
evaluation), TensorBoard logs in ``tb/``, ``checkpoint.pt`` (policy, optimiser, best policy, step and
random state, written atomically after every evaluation) and ``result.json`` (test cost and reference).
Scenario sets are re-drawn from fixed seeds, so a resumed run sees the same data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from orl_envs.inventory.scenario import initial_state, sample_demands
from orl_envs.inventory.settings import InventorySetting, make_setting
from orl_envs.inventory.simulator import InventorySimulator, InventoryState

from orl.algos.structured.hdpo import PARAMETRIC, HDPOConfig, make_policy
from orl.algos.structured.references import (BaseStockPolicy, LostSalesDPPolicy, base_stock_applies, base_stock_cost,
                                             base_stock_level, lost_sales_dp_applies, lost_sales_optimum)
from orl.train.common import CSVLog, DurationEstimate, check_device, load_checkpoint, save_checkpoint
from orl.utils.config import build_config
from orl.utils.atomic import write_json
# Scenario sets come from their own seeds (offset from the run's seed) so that they never overlap.
SPLIT_SEED = {"train": 0, "dev": 10_000, "test": 20_000}


class Scenarios:
    """A fixed set of scenarios: demand traces ``[N, n_stores, periods]`` and initial pipelines."""

    def __init__(self, setting: InventorySetting, n: int, periods: int, seed: int) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.demands = sample_demands(setting, n, periods, gen).float()
        self.state = initial_state(setting, n, gen)

    def to(self, device: str | torch.device) -> Scenarios:
        """The same scenarios on ``device`` (a copy; ``self`` stays where it is). Scenarios are always drawn on
        the CPU from CPU generators, so a GPU run sees exactly the data of a CPU run with the same seed."""
        moved = object.__new__(Scenarios)
        s = self.state
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        moved.demands, moved.state = self.demands.to(device), InventoryState(move(s.stores), move(s.warehouse),
                                                                              move(s.echelons))
        return moved

    def batch(self, idx: torch.Tensor | slice) -> tuple[InventoryState, torch.Tensor]:
        s = self.state
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        return InventoryState(s.stores[idx], pick(s.warehouse), pick(s.echelons)), self.demands[idx]


def rollout(sim: InventorySimulator, act, state: InventoryState, demands: torch.Tensor, ignore: int) -> torch.Tensor:
    """Total cost per scenario over periods ``ignore..T-1`` and over all periods: ``(counted, all)`` [B]."""
    counted = torch.zeros(demands.shape[0], device=demands.device)
    total = torch.zeros(demands.shape[0], device=demands.device)
    for t in range(demands.shape[2]):
        result = sim.step(state, act(state), demands[:, :, t])
        state = result.state
        total = total + result.cost
        if t >= ignore:
            counted = counted + result.cost
    return counted, total


def mean_cost(sim: InventorySimulator, act, scen: Scenarios, ignore: int, chunk: int = 8192) -> float:
    """Average cost per store and period after ``ignore`` periods, over all scenarios (no gradients)."""
    n, periods = scen.demands.shape[0], scen.demands.shape[2]
    costs = []
    with torch.no_grad():
        for i in range(0, n, chunk):
            state, demands = scen.batch(slice(i, i + chunk))
            costs.append(rollout(sim, act, state, demands, ignore)[0])
    return float(torch.cat(costs).sum()) / (n * (periods - ignore) * sim.n_stores)


def training_sets(setting: InventorySetting, c, seed: int) -> tuple[InventorySimulator, Scenarios, Scenarios]:
    """The simulator and the train/dev scenario sets of a run with ``seed`` (``c``: a ScenarioConfig) — the
    same for HDPO and the baselines, so their costs are comparable."""
    sim = InventorySimulator(setting, validate=False)
    train = Scenarios(setting, c.n_train, c.train_periods, seed + SPLIT_SEED["train"])
    dev = Scenarios(setting, c.n_dev, c.dev_periods, seed + SPLIT_SEED["dev"])
    return sim, train, dev


def reference(setting: InventorySetting, sim: InventorySimulator, test: Scenarios, ignore: int, *,
              learned: bool = False, config: HDPOConfig | None = None, seed: int = 0,
              train: Scenarios | None = None, dev: Scenarios | None = None,
              learned_steps: int | None = None) -> dict[str, Any]:
    """The known optimum, where orl can compute one: its exact long-run cost (``analytic_cost``) and its
    cost on the test scenarios (``test_cost``, the comparison HDPO's gap is measured against).

    Base-stock (one store, backlog; analytic) and the lost-sales DP are computed directly and fast. With
    ``learned=True`` (opt-in: it trains), a setting whose optimal policy class is known but has no
    closed form (the serial system: echelon-stock) gets :func:`learned_reference` instead, trained on
    ``train`` (default: the scenarios a :func:`train_hdpo` run with ``config`` and ``seed`` draws) for
    ``learned_steps`` steps (default :data:`LEARNED_REFERENCE_STEPS`); it has no ``analytic_cost``.
    Otherwise ``{}``.
    """
    if base_stock_applies(setting):
        levels = base_stock_level(setting)
        policy = BaseStockPolicy(levels)
        return {"name": "base-stock (optimal)", "levels": levels.tolist(), "analytic_cost": base_stock_cost(setting),
                "test_cost": mean_cost(sim, lambda s: policy(s.stores), test, ignore)}
    if lost_sales_dp_applies(setting):
        solution = lost_sales_optimum(setting)
        dp = LostSalesDPPolicy(solution)
        return {"name": "lost-sales DP (optimal)", "analytic_cost": solution.average_cost,
                "test_cost": mean_cost(sim, lambda s: dp(s.stores), test, ignore)}
    if learned and learned_reference_policy(setting) is not None:
        return learned_reference(setting, config=config, seed=seed, sim=sim, train=train, dev=dev, test=test,
                                 steps=LEARNED_REFERENCE_STEPS if learned_steps is None else learned_steps)
    return {}


#: Gradient steps of :func:`learned_reference` by default (the paper: 200-500 epochs of 4 batches).
LEARNED_REFERENCE_STEPS = 300


def learned_reference_policy(setting: InventorySetting) -> str | None:
    """The parametric policy that is optimal for ``setting`` but needs learning, or None: ``echelon_stock``
    for a serial system with backlogged demand (Clark & Scarf 1960)."""
    if setting.echelons and setting.n_stores == 1 and not setting.lost_demand and not setting.transshipment:
        return "echelon_stock"
    return None


def fit_policy(policy: torch.nn.Module, sim: InventorySimulator, train: Scenarios, steps: int, batch_size: int,
               lr: float, *, dev: Scenarios | None = None, dev_ignore: int = 0, eval_every: int = 50, seed: int = 0,
               grad_clip: float = 0.0) -> float | None:
    """HDPO's gradient loop without logs or checkpoints: ``steps`` Adam steps on minibatches of ``train``
    (loss = total cost / (batch x periods x stores), all periods), keeping the parameters with the lowest
    cost on ``dev`` (evaluated every ``eval_every`` steps and at the end; without ``dev``, the last ones).
    Returns the best dev cost (None without ``dev``). Batches come from a generator seeded with ``seed``."""
    n, periods = train.demands.shape[0], train.demands.shape[2]
    batch_size = min(batch_size, n)
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(n, generator=gen), 0
    best, best_state = float("inf"), None
    for step in range(1, steps + 1):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=gen), 0
        idx = perm[pos : pos + batch_size]
        pos += batch_size
        state, demands = train.batch(idx)
        _, total = rollout(sim, policy, state, demands, 0)
        loss = total.sum() / (len(idx) * periods * sim.n_stores)
        opt.zero_grad()
        loss.backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(policy.parameters(), grad_clip)
        opt.step()
        if dev is not None and (step % eval_every == 0 or step == steps):
            cost = mean_cost(sim, policy, dev, dev_ignore)
            if cost < best:
                best, best_state = cost, {k: v.clone() for k, v in policy.state_dict().items()}
    if best_state is not None:
        policy.load_state_dict(best_state)
    return best if dev is not None else None


def learned_reference(setting: InventorySetting, policy: str | None = None, config: HDPOConfig | None = None,
                      steps: int = LEARNED_REFERENCE_STEPS, seed: int = 0, *, lr: float | None = None,
                      eval_every: int = 50, sim: InventorySimulator | None = None, train: Scenarios | None = None,
                      dev: Scenarios | None = None, test: Scenarios | None = None) -> dict[str, Any]:
    """Train a parametric reference policy by HDPO with a small fixed budget and score it on the test set.

    ``policy``: ``base_stock``, ``capped_base_stock`` or ``echelon_stock`` (default:
    :func:`learned_reference_policy`, i.e. echelon-stock for the serial system). The scenario sets default
    to those of a :func:`train_hdpo` run with the same ``config`` and ``seed`` (same sizes, periods and
    seeds), so the result is comparable with that run's test cost. Batch size, periods and ignored periods
    come from ``config``; the learning rate is the *policy's* default (``lr`` overrides it), not
    ``config.lr``, which belongs to the run's network. ``steps`` Adam steps, dev-best parameters kept.

    Returns ``name``, ``policy``, ``levels`` (and ``caps``), ``steps``, ``lr``, ``best_dev_cost``,
    ``test_cost`` (per store and period, after ``config.test_ignore``) and ``train_seconds``.
    """
    c = config or HDPOConfig()
    policy = policy or learned_reference_policy(setting)
    if policy is None:
        raise ValueError(f"no learned reference policy is known for {setting.name!r}; pass policy=...")
    if policy not in PARAMETRIC:
        raise ValueError(f"learned_reference: {policy!r} is not a parametric policy "
                         f"(base_stock, capped_base_stock, echelon_stock)")
    if sim is None or train is None or dev is None:
        own = training_sets(setting, c, seed)
        sim, train, dev = (given if given is not None else made for given, made in zip((sim, train, dev), own))
    model = make_policy(policy, setting)
    lr = model.default_lr if lr is None else lr
    t0 = time.time()
    best_dev = fit_policy(model, sim, train, steps, c.batch_size, lr, dev=dev, dev_ignore=c.dev_ignore,
                          eval_every=eval_every, seed=seed)
    seconds = time.time() - t0
    if test is None:
        test = Scenarios(setting, c.n_test, c.test_periods, seed + SPLIT_SEED["test"])
    label = {"base_stock": "base-stock", "capped_base_stock": "capped base-stock",
             "echelon_stock": "echelon-stock (Clark-Scarf optimal)"}[policy]
    result = {"name": f"{label}, learned by HDPO ({steps} steps)", "policy": policy, "learned": True,
              "levels": model.levels.detach().tolist(), "steps": steps, "lr": lr, "best_dev_cost": best_dev,
              "train_seconds": round(seconds, 2), "test_cost": mean_cost(sim, model, test, c.test_ignore)}
    if hasattr(model, "caps"):
        result["caps"] = model.caps.detach().tolist()
    return result


def train_hdpo(setting: InventorySetting, out_dir: str | Path, config: HDPOConfig | None = None, steps: int = 2000,
               eval_every: int = 50, seed: int = 0, log_every: int = 10, resume: bool = False, threads: int = 1,
               progress: bool = True, reference_steps: int = LEARNED_REFERENCE_STEPS,
               device: str | torch.device = "cpu", max_train_seconds: float | None = None) -> dict[str, Any]:
    """Train an HDPO policy for ``setting``; returns test cost, reference and paths.

    ``device``: where the policy and the rollouts live (``"cuda"`` for a GPU, as the paper trains). The
    scenario sets are still drawn on the CPU from the same seeds, and the minibatch order comes from a CPU
    generator, so a GPU run trains on exactly the data of a CPU run; its numbers differ only by floating-point
    reduction order. The optimum's reference cost is computed on the CPU copy of the test set.

    ``max_train_seconds``: stop (after a dev evaluation and a checkpoint) once this much training time has
    been spent, counted across resumptions and excluding dev evaluations, as the baselines' loops
    (:mod:`orl.train.inventory_baselines`) do; ``result["steps"]`` then says how far it got.

    ``reference_steps``: the budget of the learned reference (:func:`learned_reference`; only where no
    analytic or DP optimum exists but an optimal parametric class does, i.e. the serial system); 0 skips it."""
    c = config or HDPOConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    device = check_device(device)
    sim, train_cpu, dev_cpu = training_sets(setting, c, seed)  # the CPU copies also serve a learned reference
    train, dev = train_cpu.to(device), dev_cpu.to(device)
    policy = make_policy(c.policy, setting, c.hidden).to(device)  # maps an InventoryState to orders [B, action_dim]
    opt = torch.optim.Adam(policy.parameters(), lr=c.learning_rate)
    act = policy
    gen = torch.Generator().manual_seed(seed)
    start, best, best_state, since_best, train_s = 0, float("inf"), None, 0, 0.0
    step = start
    if resume:
        state = load_checkpoint(out, map_location=device)
        policy.load_state_dict(state["policy"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["torch_rng"])
        start, best, best_state, since_best = state["step"], state["best"], state["best_policy"], state["since_best"]
        train_s = state.get("train_s", 0.0)  # checkpoints written before the time budget existed
        step = start
    metrics_csv = CSVLog(out / "metrics.csv", start if resume else None)
    eval_csv = CSVLog(out / "eval.csv", start if resume else None)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(out / "tb"), purge_step=start + 1 if resume else None)
    bar = eta = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=start, desc="hdpo", unit="step", dynamic_ncols=True)
        if max_train_seconds is None:  # a time budget already bounds the run
            eta = DurationEstimate(start, steps, unit="steps", write=tqdm.write)
    t0, losses = time.time(), []
    clock = t0  # training clock: excludes the dev evaluations
    if resume:  # the epoch's order and position, so the resumed run draws the very same batches
        perm, pos = state["perm"], state["pos"]
    else:
        perm, pos = torch.randperm(c.n_train, generator=gen), 0
    try:
        for step in range(start + 1, steps + 1):
            if pos + c.batch_size > c.n_train:  # a new epoch
                perm, pos = torch.randperm(c.n_train, generator=gen), 0
            idx = perm[pos : pos + c.batch_size]
            pos += c.batch_size
            state, demands = train.batch(idx)
            counted, total = rollout(sim, act, state, demands, c.train_ignore)
            loss = total.sum() / (len(idx) * c.train_periods * setting.n_stores)  # the code trains on all periods
            opt.zero_grad()
            loss.backward()
            if c.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(policy.parameters(), c.grad_clip)
            opt.step()
            losses.append(float(counted.detach().sum()) / (len(idx) * (c.train_periods - c.train_ignore) * setting.n_stores))
            if step % log_every == 0 or step == steps:
                row = {"step": step, "train_cost": float(np.mean(losses)), "steps_per_s": (step - start) / (time.time() - t0)}
                metrics_csv.append(row)
                tb.add_scalar("train/cost", row["train_cost"], step)
                losses = []
            if bar is not None:
                bar.update(1)
            if eta is not None:
                eta(step)
            over = max_train_seconds is not None and train_s + time.time() - clock > max_train_seconds
            if step % eval_every == 0 or step == steps or over:
                train_s += time.time() - clock
                dev_cost = mean_cost(sim, act, dev, c.dev_ignore)
                if dev_cost < best:
                    best, best_state, since_best = dev_cost, {k: v.clone() for k, v in policy.state_dict().items()}, 0
                else:
                    since_best += 1
                eval_csv.append({"step": step, "dev_cost": dev_cost, "best_dev_cost": best})
                tb.add_scalar("eval/dev_cost", dev_cost, step)
                if bar is not None:
                    bar.set_postfix(dev=f"{dev_cost:.3f}")
                save_checkpoint(out, {"policy": policy.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                                      "torch_rng": torch.get_rng_state(), "step": step, "best": best,
                                      "best_policy": best_state, "since_best": since_best, "perm": perm, "pos": pos,
                                      "train_s": train_s})
                if since_best >= c.patience or over:
                    break
                clock = time.time()
    finally:  # the bar ends its line before any message (an error, Ctrl-C) is printed
        if bar is not None:
            bar.close()
        tb.close()
    policy.load_state_dict(best_state)
    test = Scenarios(setting, c.n_test, c.test_periods, seed + SPLIT_SEED["test"])
    test_cost = mean_cost(sim, act, test.to(device), c.test_ignore)
    # The references (the DP policy is numpy) run on the CPU, on the same scenarios.
    ref = reference(setting, sim, test, c.test_ignore, learned=reference_steps > 0, config=c, seed=seed,
                    train=train_cpu, dev=dev_cpu, learned_steps=reference_steps)
    result = {"setting": setting.name, "test_cost": test_cost, "best_dev_cost": best, "reference": ref,
              "gap": (test_cost / ref["test_cost"] - 1.0) if ref else None, "steps": step,
              "train_s": train_s, "device": str(device)}
    write_json(out / "result.json", result)
    result.update(policy=policy, out_dir=str(out))
    return result


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=hdpo env=inventory-...``: train and return the final line."""
    from omegaconf import OmegaConf

    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items() if k not in ("name", "family")}
    device = cfg.get("device", "cpu")  # where it runs (orl.run's device=), not a hyperparameter of the method
    config = build_config(HDPOConfig, params, "hdpo", prefix="algo.")
    if "setting" not in cfg.env:
        raise ValueError(f"algo=hdpo needs an inventory env (env=inventory-...), not {cfg.env.name!r}")
    env_params = {k: tuple(v) if isinstance(v, list) else v for k, v in OmegaConf.to_container(cfg.env.params, resolve=True).items()}
    setting = make_setting(cfg.env.setting, **env_params)
    result = train_hdpo(setting, out_dir, config, steps=cfg.steps, eval_every=cfg.eval_every,
                        seed=cfg.seed, log_every=cfg.log_every, resume=resume, threads=cfg.threads,
                        device=device)
    ref = result["reference"]
    line = f"test cost: {result['test_cost']:.4f} per store and period"
    if ref:
        line += f" ({ref['name']}: {ref['test_cost']:.4f} on the same scenarios, gap {100 * result['gap']:+.2f}%)"
    return line
