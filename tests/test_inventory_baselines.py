"""REINFORCE and PPO baselines of HDPO on the inventory settings (orl/train/inventory_baselines.py)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch
from orl_envs.inventory import InventoryEnv
from orl_envs.inventory.settings import make_setting
from orl_envs.inventory.simulator import InventorySimulator

import orl.train.inventory_baselines as baselines
from orl.algos.structured.reinforce import ReinforceConfig, costs_to_go
from orl.train.hdpo import SPLIT_SEED, Scenarios, mean_cost
from orl.train.inventory_baselines import (PPOBaselineConfig, env_observation, make_env, ppo_act, resolve_setting,
                                           train_ppo, train_reinforce, unit_to_orders)

TINY_RF = dict(n_train=1024, batch_size=256, n_dev=512, n_test=256, test_periods=300, test_ignore=100, lr=1e-2)


def _dev_costs(path):
    return [(int(r["step"]), float(r["dev_cost"])) for r in csv.DictReader(open(path))]


def test_costs_to_go_and_config_checks():
    costs = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])  # [T=3, B=2]
    assert torch.equal(costs_to_go(costs, 1.0), torch.tensor([[9.0, 12.0], [8.0, 10.0], [5.0, 6.0]]))
    halved = torch.tensor([[1 + 1.5 + 1.25, 2 + 2 + 1.5], [5.5, 7.0], [5.0, 6.0]])
    assert torch.allclose(costs_to_go(costs, 0.5), halved)
    with pytest.raises(ValueError, match="baseline must be one of batch_mean, none"):
        ReinforceConfig(baseline="value")
    with pytest.raises(ValueError, match="discount must lie in"):
        ReinforceConfig(discount=0.0)


def test_reinforce_learns_one_store_backlogged(tmp_path):
    """40 steps (a few seconds): from a policy that over-orders (dev cost ~55) to within 10% of the optimal
    base-stock policy on the same test scenarios (measured: 3.2%), evaluated deterministically."""
    setting = make_setting("one_store_backlogged", lead_time=1)
    result = train_reinforce(setting, tmp_path, ReinforceConfig(**TINY_RF), steps=40, eval_every=10, progress=False)
    assert result["best_dev_cost"] < 0.2 * result["initial_dev_cost"], result
    assert result["reference"]["name"].startswith("base-stock")
    assert 0 <= result["gap"] < 0.10, result
    # the reported test cost is mean_cost of the mean action on HDPO's test scenarios
    test = Scenarios(setting, 256, 300, 0 + SPLIT_SEED["test"])
    assert mean_cost(InventorySimulator(setting), result["policy"], test, 100) == pytest.approx(result["test_cost"])
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["test_cost"] == pytest.approx(result["test_cost"]) and saved["wall_s"] > 0
    assert _dev_costs(tmp_path / "eval.csv")[0] == (0, pytest.approx(result["initial_dev_cost"]))


def test_reinforce_resume_equals_uninterrupted(tmp_path):
    setting = make_setting("one_store_backlogged", lead_time=1)
    config = ReinforceConfig(n_train=256, batch_size=64, n_dev=64, n_test=32, test_periods=50, test_ignore=10)
    full = train_reinforce(setting, tmp_path / "full", config, steps=6, eval_every=3, progress=False)
    train_reinforce(setting, tmp_path / "cut", config, steps=3, eval_every=3, progress=False)
    at3 = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    cut = train_reinforce(setting, tmp_path / "cut", config, steps=6, eval_every=3, resume=True, progress=False)
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 6
    for k in a["policy"]:
        assert torch.equal(a["policy"][k], b["policy"][k]), k
    assert torch.equal(a["noise"], b["noise"]) and a["pos"] == b["pos"]
    assert _dev_costs(tmp_path / "cut" / "eval.csv") == _dev_costs(tmp_path / "full" / "eval.csv")
    assert len(_dev_costs(tmp_path / "full" / "eval.csv")) == 3  # steps 0, 3, 6
    assert cut["test_cost"] == full["test_cost"]
    # and the resumed part really trained: the parameters after 6 steps differ from those after 3
    assert at3["step"] == 3 and any(not torch.equal(at3["policy"][k], a["policy"][k]) for k in a["policy"])


@pytest.mark.parametrize("name, params", [("serial", {}), ("one_warehouse_lost_demand", {"n_stores": 3}),
                                          ("one_store_lost", {"lead_time": 3})])
def test_eval_observation_equals_the_envs(name, params):
    """The observation built from a simulator state for PPO's evaluation is the env's, on every tier layout."""
    setting = make_setting(name, **params)
    env = InventoryEnv(name, periods=10, **params)
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(10):
        assert np.array_equal(env_observation(setting, env._state)[0], obs)
        obs, *_ = env.step(rng.uniform(0, 2 * env.action_space.high / 20).astype(np.float32))


def test_ppo_trains_and_is_scored_on_hdpo_scenarios(tmp_path, monkeypatch):
    setting = make_setting("one_store_backlogged", lead_time=1)
    config = PPOBaselineConfig(n_envs=2, n_steps=64, batch_size=64, n_epochs=2, n_dev=64, dev_periods=30, dev_ignore=10,
                               n_test=64, test_periods=60, test_ignore=20)
    result = train_ppo("one_store_backlogged", tmp_path, config, timesteps=256, eval_every=128, params={"lead_time": 1},
                       progress=False)
    assert result["timesteps"] == 256
    assert math.isfinite(result["test_cost"]) and result["test_cost"] > 0
    assert result["reference"]["name"].startswith("base-stock") and math.isfinite(result["gap"])
    assert {"ppo.zip", "vecnormalize.pkl", "best_ppo.zip", "best_vecnormalize.pkl", "eval.csv", "result.json"} <= {
        p.name for p in tmp_path.iterdir()}
    model, vecnorm, act = result["model"], result["vecnorm"], result["act"]
    assert mean_cost(InventorySimulator(setting), act, Scenarios(setting, 64, 60, SPLIT_SEED["test"]), 20) == \
        pytest.approx(result["test_cost"])

    # End to end: one episode of the env (as PPO trained on it, actions through the [-1, 1] wrapper) and the
    # same episode through mean_cost's rollout give the same observations and the same costs.
    env = make_env("one_store_backlogged", {"lead_time": 1}, periods=25)
    obs, _ = env.reset(seed=11)
    scen = Scenarios.__new__(Scenarios)  # the env's episode as a scenario set of one
    scen.state, scen.demands = env.unwrapped._state, env.unwrapped._demand.clone()
    env_obs, env_cost = [obs], 0.0
    for _ in range(25):
        action, _ = model.policy.predict(vecnorm.normalize_obs(obs[None]), deterministic=True)
        obs, reward, _, truncated, info = env.step(action[0])
        env_cost += info["cost"]
        env_obs.append(obs)
    assert truncated
    seen = []

    def recording(setting_, state):
        out = env_observation(setting_, state)
        seen.append(out[0])
        return out

    monkeypatch.setattr(baselines, "env_observation", recording)
    eval_cost = mean_cost(InventorySimulator(setting), ppo_act(model, vecnorm, setting, config.action_periods), scen, 0)
    assert len(seen) == 25 and all(np.array_equal(a, b) for a, b in zip(seen, env_obs))
    assert eval_cost == pytest.approx(env_cost / 25, rel=1e-9)


def test_unit_actions_and_setting_params():
    upper = np.array([20.0, 40.0])
    assert np.allclose(unit_to_orders(np.array([-1.0, 0.0]), upper), [0.0, 20.0])
    assert np.allclose(unit_to_orders(np.array([3.0, -7.0]), upper), [20.0, 0.0])  # clipped to [-1, 1]
    setting = make_setting("one_store_backlogged", lead_time=7)
    assert resolve_setting(setting, {"lead_time": 7})[0] is setting
    with pytest.raises(ValueError, match="pass params="):
        resolve_setting(setting, None)
    with pytest.raises(ValueError, match="action_periods must lie in"):
        PPOBaselineConfig(action_periods=50.0)
