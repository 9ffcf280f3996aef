"""HDPO on the inventory simulator: the reference optimum, learning, resume, the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from orl_envs.inventory.settings import make_setting
from orl_envs.inventory.simulator import InventorySimulator

from orl.algos.structured import references
from orl.algos.structured.hdpo import HDPOConfig
from orl.algos.structured.lost_sales_dp import solve
from orl.algos.structured.references import (GRID_STEP, BaseStockPolicy, LostSalesDPPolicy, base_stock_cost,
                                             base_stock_level, lead_time_demand, lost_sales_optimum)
from orl.train.hdpo import Scenarios, mean_cost, train_hdpo

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(n_train=1024, batch_size=256, n_dev=512, n_test=256, test_periods=300, test_ignore=100)


@pytest.mark.parametrize("lead_time, p", [(1, 9.0), (4, 39.0)])
def test_base_stock_reference_matches_the_analytic_optimum(lead_time, p):
    """The simulated optimal base-stock policy costs what the newsvendor cost of the clipped lead-time demand says
    (3.9703 for L=1, p=9 and 8.3620 for L=4, p=39; the unclipped-normal formula gave 3.9711 and 8.3640)."""
    setting = make_setting("one_store_backlogged", lead_time=lead_time, underage_cost=p)
    analytic = base_stock_cost(setting)
    assert analytic == pytest.approx({(1, 9.0): 3.97029, (4, 39.0): 8.36203}[(lead_time, p)], abs=2e-5)
    scen = Scenarios(setting, 2048, 600, seed=1)
    policy = BaseStockPolicy(base_stock_level(setting))
    simulated = mean_cost(InventorySimulator(setting), lambda s: policy(s.stores), scen, ignore=100)
    assert simulated == pytest.approx(analytic, rel=0.01)
    # a level 10% off the optimum costs clearly more
    worse = BaseStockPolicy(base_stock_level(setting) * 1.1)
    assert mean_cost(InventorySimulator(setting), lambda s: worse(s.stores), scen, ignore=100) > simulated * 1.02


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _Phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_lead_time_demand_of_one_period_is_the_clipped_normal():
    """One period: the numerical distribution has the clipped normal's atom at 0, mean and newsvendor cost
    (closed forms: E max(0, X) = mu Phi(mu/s) + s phi(mu/s); for S > 0, E (D-S)^+ is the normal's)."""
    mu, sigma, h, p = 5.0, 1.6, 1.0, 9.0
    grid, pmf = lead_time_demand(mu, sigma, 1)
    assert grid[0] == 0.0 and pmf[0] == pytest.approx(_Phi((GRID_STEP / 2 - mu) / sigma), rel=1e-9)
    assert float((grid * pmf).sum()) == pytest.approx(mu * _Phi(mu / sigma) + sigma * _phi(mu / sigma), abs=1e-9)
    z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p / (p + h), dtype=torch.float64)))
    level = mu + sigma * z
    short = sigma * _phi(z) - (level - mu) * (1 - _Phi(z))
    exact = p * short + h * (level - (mu * _Phi(mu / sigma) + sigma * _phi(mu / sigma)) + short)
    numeric = float((np.clip(grid - level, 0, None) * pmf).sum())
    assert numeric == pytest.approx(short, rel=1e-6)
    assert p * numeric + h * (level - float((grid * pmf).sum()) + numeric) == pytest.approx(exact, rel=1e-6)


def test_clipped_demand_optimum_is_below_the_unclipped_formula_by_what_the_issue_measured():
    """Normal(5, 1.6) clipped at 0: the exact optimum is 0.015-0.05% below the unclipped-normal formula on the
    paper's grid; halving the grid step changes it by less than 1e-7 (relative)."""
    for lead_time, p, low, high in [(1, 4.0, 0.02, 0.03), (7, 19.0, 0.03, 0.035), (10, 4.0, 0.045, 0.055)]:
        setting = make_setting("one_store_backlogged", lead_time=lead_time, underage_cost=p)
        unclipped = dataclasses.replace(setting, demand=dataclasses.replace(setting.demand, clip=False))
        drop = 100 * (1 - base_stock_cost(setting) / base_stock_cost(unclipped))
        assert low < drop < high, (lead_time, p, drop)
    fine = references._base_stock.__wrapped__  # uncached
    coarse_cost = fine(5.0, 1.6, 7, 1.0, 19.0, True)[1]
    old_step = references.GRID_STEP
    try:
        references.GRID_STEP = old_step / 2
        assert fine(5.0, 1.6, 7, 1.0, 19.0, True)[1] == pytest.approx(coarse_cost, rel=1e-7)
    finally:
        references.GRID_STEP = old_step


def test_clipped_base_stock_optimum_against_brute_force_simulation():
    """Where clipping matters (Normal(1, 2): 31% of the draws are clipped to 0), the simulator running the
    base-stock policy at the computed level costs the computed optimum, the unclipped formula is far off, and
    moving the level either way costs more (same scenarios)."""
    base = make_setting("one_store_backlogged", lead_time=1, underage_cost=9.0)
    setting = dataclasses.replace(base, demand=dataclasses.replace(base.demand, mean=(1.0,), std=(2.0,)))
    unclipped = dataclasses.replace(setting, demand=dataclasses.replace(setting.demand, clip=False))
    optimum, level = base_stock_cost(setting), float(base_stock_level(setting)[0])
    assert abs(base_stock_cost(unclipped) / optimum - 1) > 0.15  # the old reference is 18% off here
    sim, scen = InventorySimulator(setting), Scenarios(setting, 4096, 400, seed=3)

    def simulated(s: float) -> float:
        policy = BaseStockPolicy(torch.tensor([s], dtype=torch.float64))
        return mean_cost(sim, lambda st: policy(st.stores), scen, ignore=50)

    at = simulated(level)
    assert at == pytest.approx(optimum, rel=0.01)
    assert simulated(level - 0.3) > at and simulated(level + 0.3) > at


# Zipkin (2008), "Old and new methods for lost-sales inventory systems", optimal costs for Poisson(5), h = 1
ZIPKIN = {(1, 4.0): 4.04, (1, 9.0): 5.44, (1, 19.0): 6.68, (1, 39.0): 7.84,
          (2, 4.0): 4.40, (2, 9.0): 6.09, (2, 19.0): 7.66, (2, 39.0): 9.11}


@pytest.mark.parametrize("lead_time, p", sorted(ZIPKIN))
def test_lost_sales_dp_reproduces_zipkin(lead_time, p):
    solution = solve(lead_time, p)
    assert solution.average_cost == pytest.approx(ZIPKIN[(lead_time, p)], abs=0.006)
    assert solution.span < 1e-6


def test_lost_sales_dp_policy_achieves_its_cost_in_the_simulator():
    """The DP's policy, run in orl-envs' simulator (independent code for the dynamics), costs the DP's
    average cost; a larger state-space truncation does not change the optimum."""
    setting = make_setting("one_store_lost", lead_time=3, underage_cost=19.0)
    solution = lost_sales_optimum(setting)
    assert solve(3, 19.0, max_stock=80, max_order=30).average_cost == pytest.approx(solution.average_cost, abs=1e-6)
    scen = Scenarios(setting, 2048, 800, seed=2)
    policy = LostSalesDPPolicy(solution)
    simulated = mean_cost(InventorySimulator(setting), lambda s: policy(s.stores), scen, ignore=200)
    assert simulated == pytest.approx(solution.average_cost, rel=0.01)
    # ordering one unit more than optimal everywhere costs more
    worse = mean_cost(InventorySimulator(setting), lambda s: policy(s.stores) + 1.0, scen, ignore=200)
    assert worse > simulated * 1.02
    with pytest.raises(ValueError, match="lost-sales DP needs"):
        lost_sales_optimum(make_setting("one_store_backlogged"))


def test_base_stock_refuses_settings_where_it_is_not_optimal():
    with pytest.raises(ValueError, match="store-only backlogged"):
        base_stock_level(make_setting("one_store_lost"))


def test_hdpo_learns_one_store_backlogged_near_the_optimum(tmp_path):
    """200 gradient steps (about half a minute): within 1% of the optimal base-stock policy on the
    same test scenarios (measured: 0.45%)."""
    setting = make_setting("one_store_backlogged", lead_time=1, underage_cost=9.0)
    config = HDPOConfig(n_train=4096, batch_size=1024, n_dev=2048, n_test=1024, test_periods=1000, test_ignore=500,
                        lr=1e-2)
    result = train_hdpo(setting, tmp_path, config, steps=200, eval_every=25, progress=False)
    assert result["reference"]["name"].startswith("base-stock")
    assert 0 <= result["gap"] < 0.01, result
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["test_cost"] == pytest.approx(result["test_cost"])
    # the learned policy orders roughly up to the optimal level: base-stock-like behaviour
    level = float(base_stock_level(setting)[0])
    state = Scenarios(setting, 64, 1, seed=5).state
    orders = result["policy"](state.stores.flatten(1))[:, 0]
    position = state.stores.sum(dim=(1, 2))
    assert torch.allclose(position + orders, torch.full_like(orders, level), atol=0.1 * level)


def test_hdpo_resume_equals_uninterrupted(tmp_path):
    setting = make_setting("one_store_lost", lead_time=2)
    config = HDPOConfig(**TINY)
    full = train_hdpo(setting, tmp_path / "full", config, steps=30, eval_every=10, progress=False)
    train_hdpo(setting, tmp_path / "cut", config, steps=10, eval_every=10, progress=False)
    cut = train_hdpo(setting, tmp_path / "cut", config, steps=30, eval_every=10, resume=True, progress=False)
    assert (tmp_path / "cut" / "eval.csv").read_text() == (tmp_path / "full" / "eval.csv").read_text()
    assert cut["test_cost"] == full["test_cost"]
    assert full["reference"]["name"] == "lost-sales DP (optimal)"


def test_time_budget_stops_after_an_evaluation_and_says_how_far_it_got(tmp_path):
    setting = make_setting("one_store_lost", lead_time=2)
    result = train_hdpo(setting, tmp_path, HDPOConfig(**TINY), steps=30, eval_every=10, progress=False,
                        max_train_seconds=0.0)
    assert result["steps"] == 1 and 0.0 < result["train_s"]
    assert (tmp_path / "eval.csv").read_text().splitlines()[1].startswith("1,")  # evaluated before stopping


def test_bad_devices_are_refused_by_name(tmp_path):
    setting = make_setting("one_store_lost", lead_time=2)
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda\\[:N\\]', got 'tpu'"):
        train_hdpo(setting, tmp_path, HDPOConfig(**TINY), steps=2, progress=False, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda', but torch sees no CUDA GPU here"):
            train_hdpo(setting, tmp_path, HDPOConfig(**TINY), steps=2, progress=False, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_gpu_run_trains_on_the_same_data_as_a_cpu_run(tmp_path):
    setting = make_setting("one_warehouse_lost_demand", n_stores=3)
    config = HDPOConfig(policy="gnn", lr=1e-3, grad_clip=1.0, **TINY)
    cpu = train_hdpo(setting, tmp_path / "cpu", config, steps=20, eval_every=10, progress=False)
    gpu = train_hdpo(setting, tmp_path / "gpu", config, steps=20, eval_every=10, progress=False, device="cuda")
    assert gpu["device"].startswith("cuda")
    # Same scenarios and batches; only floating-point reduction order differs.
    assert gpu["test_cost"] == pytest.approx(cpu["test_cost"], rel=1e-3)


def test_hdpo_config_names_bad_fields():
    with pytest.raises(ValueError, match="n_train must be a positive integer, got 0"):
        HDPOConfig(n_train=0)
    with pytest.raises(ValueError, match=r"test_ignore must lie in \[0, test_periods\), got 5000"):
        HDPOConfig(test_ignore=5000)
    with pytest.raises(ValueError, match="policy must be one of base_stock, capped_base_stock, echelon_stock, gnn, mlp, "
                                         "symmetry_aware, got 'transformer'"):
        HDPOConfig(policy="transformer")


def test_hdpo_yaml_matches_the_code():
    cfg = yaml.safe_load((ROOT / "orl" / "conf" / "algo" / "hdpo.yaml").read_text())["algo"]
    assert cfg.pop("name") == "hdpo" and cfg.pop("family") == "hdpo"
    assert cfg == {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(HDPOConfig()).items()}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orl.run", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ}, timeout=600)


def test_cli_trains_hdpo_and_refuses_mismatched_families(tmp_path):
    tiny = [f"algo.{k}={v}" for k, v in TINY.items()]
    r = _cli("algo=hdpo", "env=inventory-one-store-backlogged", "steps=20", "eval_every=10", "env.params.lead_time=1",
             *tiny, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("test cost: ") and "base-stock (optimal)" in last and "gap" in last
    run_dir = next((tmp_path / "runs" / "hdpo" / "inventory-one-store-backlogged").iterdir())
    assert {"config.yaml", "eval.csv", "metrics.csv", "checkpoint.pt", "result.json"} <= {p.name for p in run_dir.iterdir()}
    r2 = _cli(f"resume={run_dir}", cwd=tmp_path)
    assert r2.returncode == 0 and f"resume: {run_dir} finished at step 20 of 20" in r2.stdout, r2.stderr[-2000:]
    r = _cli("algo=hdpo", "env=pendulum-scripted", cwd=tmp_path)
    assert r.returncode == 2 and "needs an inventory env" in r.stderr and "Traceback" not in r.stderr
    r = _cli("algo=td3bc", "env=inventory-one-store-lost", cwd=tmp_path)
    assert r.returncode == 2 and "is not one" in r.stderr and "Traceback" not in r.stderr
