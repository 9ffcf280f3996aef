"""Inventory simulator and environments (Alvo, Russo & Kanoria, arXiv 2306.11246): dynamics on hand-computed
sequences, Gymnasium conformance, seeding, vectorisation, gradients and input validation."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import orl_envs
from orl_envs.inventory import (
    INVENTORY_IDS,
    DemandModel,
    InventoryEnv,
    InventorySetting,
    InventorySimulator,
    InventoryState,
    Upstream,
    full_allocation,
    initial_state,
    load_demand_csv,
    make_setting,
    proportional_allocation,
    sample_demands,
)

F64 = torch.float64


def t(x) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


def run(sim: InventorySimulator, state: InventoryState, orders, demands):
    """Step through ``orders``/``demands`` (lists of per-period rows for a batch of one); states and costs."""
    states, costs, placed = [state], [], []
    for o, d in zip(orders, demands):
        out = sim.step(states[-1], t([o]), t([d]))
        states.append(out.state)
        costs.append(float(out.cost[0]))
        placed.append(out.orders[0].tolist())
    return states, costs, placed


# --------------------------------------------------------------------------------------------------
# Dynamics on hand-computed sequences


@pytest.mark.parametrize(
    ("setting", "costs", "on_hand"),
    [
        # Lost: unmet demand vanishes, on-hand never below 0.
        ("one_store_lost", [8.0, 1.0, 4.0], [0 + 2, 1 + 4, 0 + 0]),
        # Backlog: unmet demand is carried as negative stock and paid every period it is short.
        ("one_store_backlogged", [8.0, 4.0, 12.0], [-2 + 2, -1 + 4, -3 + 0]),
    ],
)
def test_one_store_lead_time_one_lost_vs_backlogged(setting, costs, on_hand):
    sim = InventorySimulator(make_setting(setting, lead_time=1, underage_cost=4.0, holding_cost=1.0))
    state = InventoryState(stores=t([[[3.0]]]))
    states, got, _ = run(sim, state, orders=[[2.0], [4.0], [0.0]], demands=[[5.0], [1.0], [6.0]])
    assert got == pytest.approx(costs)
    # L = 1: the order placed in period t is on hand for period t + 1's demand.
    assert [float(s.stores[0, 0, 0]) for s in states[1:]] == pytest.approx(on_hand)


def test_one_store_lead_time_three_pipeline():
    sim = InventorySimulator(make_setting("one_store_backlogged", lead_time=3, underage_cost=9.0))
    state = InventoryState(stores=t([[[2.0, 1.0, 4.0]]]))  # on hand 2; 1 arrives in 1 period, 4 in 2
    states, costs, _ = run(sim, state, [[5.0], [6.0], [0.0], [0.0]], [[3.0], [2.0], [1.0], [0.0]])
    pipelines = [s.stores[0, 0].tolist() for s in states[1:]]
    assert pipelines == [[0.0, 4.0, 5.0], [2.0, 5.0, 6.0], [6.0, 6.0, 0.0], [12.0, 0.0, 0.0]]
    assert costs == pytest.approx([9.0, 18.0, 1.0, 6.0])
    # The 5 ordered in period 0 is first on hand in period 0 + L = 3 (6 = 1 left over + 5).


def _two_store_warehouse(transshipment: bool = False, lost: bool = True) -> InventorySetting:
    return InventorySetting(
        name="tiny",
        holding_costs=(1.0, 1.0),
        underage_costs=(9.0, 9.0),
        lead_times=(1, 2),
        demand=DemandModel("normal", mean=(5.0, 5.0), std=(1.0, 1.0)),
        lost_demand=lost,
        warehouse=Upstream(holding_cost=0.5, lead_time=2),
        transshipment=transshipment,
    )


def test_warehouse_proportional_allocation_when_orders_exceed_stock():
    sim = InventorySimulator(_two_store_warehouse())
    state = InventoryState(stores=t([[[0.0, 0.0], [0.0, 0.0]]]), warehouse=t([[[6.0, 0.0]]]))
    orders = [[4.0, 8.0, 10.0], [1.0, 1.0, 0.0], [3.0, 2.0, 0.0]]
    states, costs, placed = run(sim, state, orders, demands=[[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    # Period 0: requests 4 + 8 = 12 > 6 on hand -> scaled by 6/12 to (2, 4); the warehouse is emptied.
    assert placed[0] == pytest.approx([2.0, 4.0, 10.0])
    assert states[1].stores[0].tolist() == [[2.0, 0.0], [0.0, 4.0]]  # store 0 has L=1, store 1 has L=2
    assert states[1].warehouse[0, 0].tolist() == [0.0, 10.0]
    # Period 1: nothing on hand at the warehouse -> nothing shipped; store 0 sells 1 of its 2.
    assert placed[1] == pytest.approx([0.0, 0.0, 0.0])
    assert costs[:2] == pytest.approx([0.0, 1.0])
    # Period 2: the 10 arrived; requests 5 <= 10 are shipped in full, 5 stay (0.5 * 5) + stores hold 1 + 4.
    assert placed[2] == pytest.approx([3.0, 2.0, 0.0])
    assert costs[2] == pytest.approx(2.5 + 5.0)
    assert states[3].warehouse[0, 0].tolist() == [5.0, 0.0]  # the 5 not shipped stay on hand


def test_allocation_rules():
    shipped = proportional_allocation(t([[4.0, 8.0], [1.0, 2.0], [0.0, 0.0]]), t([6.0, 6.0, 3.0]))
    assert shipped.tolist() == [[2.0, 4.0], [1.0, 2.0], [0.0, 0.0]]  # scaled only when short
    # Transshipment centre: everything leaves, in proportion to requests (equal split if none).
    full = full_allocation(t([[1.0, 2.0], [0.0, 0.0]]), t([6.0, 6.0]))
    assert full.tolist() == [[2.0, 4.0], [3.0, 3.0]]
    # At zero requests the gradient is that of small requests: shipped in full if stock is there, else not.
    for available, slope in ((3.0, 1.0), (0.0, 0.0)):
        zero = torch.zeros(1, 2, dtype=F64, requires_grad=True)
        proportional_allocation(zero, t([available])).sum().backward()
        assert zero.grad.tolist() == [[slope, slope]]


def test_transshipment_centre_holds_no_stock_and_conserves_mass():
    sim = InventorySimulator(_two_store_warehouse(transshipment=True, lost=False))
    gen = torch.Generator().manual_seed(0)
    state = InventoryState(stores=t([[[3.0, 1.0], [2.0, 2.0]]] * 4), warehouse=t([[[5.0, 7.0]]] * 4))
    for _ in range(6):
        orders = torch.rand(4, 3, generator=gen, dtype=F64) * 6
        demand = torch.rand(4, 2, generator=gen, dtype=F64) * 6
        total = state.stores.sum((1, 2)) + state.warehouse.sum((1, 2))
        out = sim.step(state, orders, demand)
        assert torch.allclose(out.orders[:, :2].sum(1), state.warehouse[:, 0, 0])  # ships all it holds
        # Backlog: total stock changes only by the outside order minus demand; centre pays no holding cost.
        new_total = out.state.stores.sum((1, 2)) + out.state.warehouse.sum((1, 2))
        assert torch.allclose(new_total, total + orders[:, 2] - demand.sum(1))
        assert torch.allclose(out.cost, out.store_costs.sum(1))
        state = out.state


def test_serial_echelon_flow():
    setting = make_setting(
        "serial", lead_time=1, warehouse_lead_time=1, echelon_lead_times=(1, 1), underage_cost=9.0
    )
    sim = InventorySimulator(setting)
    assert sim.action_names() == ["store_0", "warehouse", "echelon_0", "echelon_1"]
    # Orders: store, warehouse, echelon 0 (buys from outside), echelon 1 (buys from echelon 0).
    orders = [[3.0, 4.0, 10.0, 5.0], [3.0, 4.0, 0.0, 6.0], [3.0, 4.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]]
    states, costs, placed = run(sim, sim.empty_state(1, F64), orders, [[0.0], [2.0], [0.0], [0.0]])
    # Only echelon 0 can order at first; each location ships at most its on-hand stock.
    assert placed == [[0.0, 0.0, 10.0, 0.0], [0.0, 0.0, 0.0, 6.0], [0.0, 4.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]]
    # Period 1: 9 * 2 backlog + 0.1 * (10 - 6) at echelon 0; period 2 adds 0.2 * (6 - 4) at echelon 1;
    # period 3: warehouse keeps 4 - 3 = 1 at 0.5.
    assert costs == pytest.approx([0.0, 18.4, 18.8, 19.3])
    final = states[-1]
    assert (final.stores[0, 0, 0].item(), final.warehouse[0, 0, 0].item()) == (1.0, 1.0)
    assert final.echelons[0, :, 0].tolist() == [4.0, 2.0]


def test_base_stock_matches_the_analytic_backlog_cost():
    """Order-up-to S* on the inventory position covers L + 1 periods of demand: the long-run cost is
    (h + p) sigma sqrt(L + 1) phi(z*) = 6.279 for L = 4, p = 9 (clipping at 0 barely changes it). A wrong
    period order (an order usable one period early, say) moves it far outside the tolerance."""
    setting = make_setting("one_store_backlogged", lead_time=4, underage_cost=9.0)
    sim, gen = InventorySimulator(setting), torch.Generator().manual_seed(0)
    state, demand = initial_state(setting, 1024, gen, dtype=F64), sample_demands(setting, 1024, 200, gen)
    target, costs = 5.0 * 5 + 1.2816 * 1.6 * 5**0.5, []
    for k in range(200):
        out = sim.step(state, torch.clamp(target - state.stores.sum(2), min=0.0), demand[:, :, k])
        state = out.state
        costs.append(out.cost.mean())
    assert torch.stack(costs[50:]).mean().item() == pytest.approx(6.279, abs=0.15)


def test_lost_demand_never_negative_on_random_rollout():
    setting = make_setting("one_warehouse_lost_demand", n_stores=3)
    sim, gen = InventorySimulator(setting), torch.Generator().manual_seed(1)
    state = initial_state(setting, 16, gen, dtype=F64)
    demand = sample_demands(setting, 16, 20, gen)
    for k in range(20):
        out = sim.step(state, torch.rand(16, 4, generator=gen, dtype=F64) * 8, demand[:, :, k])
        state = out.state
        assert (state.stores >= 0).all() and (state.warehouse >= 0).all()
        assert (out.cost >= 0).all()


# --------------------------------------------------------------------------------------------------
# Gradients


def _total_cost(setting: InventorySetting, orders: torch.Tensor, state: InventoryState, demand: torch.Tensor):
    sim = InventorySimulator(setting)
    total = torch.zeros((), dtype=F64)
    for k in range(orders.shape[0]):
        out = sim.step(state, orders[k], demand[:, :, k])
        state, total = out.state, total + out.cost.sum()
    return total


@pytest.mark.parametrize("name", ["tiny_warehouse", "serial"])
def test_autograd_matches_finite_differences(name):
    gen = torch.Generator().manual_seed(3)
    if name == "serial":
        setting = make_setting("serial", lead_time=2, warehouse_lead_time=1, echelon_lead_times=(1, 2))
        scale = 8.0
    else:
        setting = _two_store_warehouse()
        scale = 4.0  # requests often exceed the warehouse's stock: the proportional rule is exercised
    periods, batch = 5, 2
    state = initial_state(setting, batch, gen, dtype=F64)
    state.warehouse = state.warehouse + 5.0
    if state.echelons is not None:
        state.echelons = state.echelons + 6.0
    demand = sample_demands(setting, batch, periods, gen)
    orders = (0.5 + scale * torch.rand(periods, batch, setting.action_dim, generator=gen, dtype=F64)).requires_grad_()
    _total_cost(setting, orders, state, demand).backward()
    grad = orders.grad.clone()
    assert grad.abs().sum() > 0
    eps, numeric = 1e-6, torch.zeros_like(grad)
    with torch.no_grad():
        for idx in np.ndindex(*orders.shape):
            plus, minus = orders.detach().clone(), orders.detach().clone()
            plus[idx] += eps
            minus[idx] -= eps
            up, down = _total_cost(setting, plus, state, demand), _total_cost(setting, minus, state, demand)
            numeric[idx] = (up - down) / (2 * eps)
    torch.testing.assert_close(grad, numeric, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------------------------------
# Gymnasium conformance, seeding, vectorisation


def test_ids_registered():
    assert set(INVENTORY_IDS) <= set(orl_envs.ENV_IDS)
    assert all(env_id in gym.registry for env_id in orl_envs.ENV_IDS)


# check_env's advice (normalised action spaces, finite observation bounds) does not fit this task: stock is
# unbounded and orders are quantities.
@pytest.mark.filterwarnings("ignore:.*(infinity|symmetric and normalized)")
@pytest.mark.parametrize("env_id", sorted(INVENTORY_IDS))
def test_check_env(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space.dtype == np.float32 and np.all(np.isfinite(env.action_space.high))


@pytest.mark.filterwarnings("ignore:.*(infinity|symmetric and normalized)")
@pytest.mark.parametrize("env_id", sorted(INVENTORY_IDS))
def test_render_modes(env_id):
    """Gymnasium's conventions: render_mode=None is always accepted; "ansi" and "rgb_array" render the pipelines."""
    small = {"n_stores": 3} if "Store" not in env_id and "Serial" not in env_id else {}
    assert gym.make(env_id, render_mode=None, **small).render_mode is None
    for mode in ("ansi", "rgb_array"):
        env = gym.make(env_id, render_mode=mode, **small)
        check_env(env.unwrapped)  # with its render check
        env.reset(seed=0)
        env.step(env.action_space.sample())
        frame = env.render()
        if mode == "ansi":
            assert frame.startswith("period 1/50  last period's cost") and "store_0  on-hand" in frame
        else:
            assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8 and frame.std() > 0
    with pytest.raises(ValueError, match=r"render_mode must be one of \['ansi', 'rgb_array'\] or None, got 'human'"):
        InventoryEnv("one_store_lost", render_mode="human")


def test_render_ansi_shows_the_pipeline_and_the_vector_env_renders_each_sub_env():
    env = gym.make("orl/InventoryOneStoreBacklogged-v0", lead_time=2, render_mode="ansi")
    env.reset(seed=0)
    env.unwrapped._state.stores[0, 0] = t([-1.5, 4.0])
    assert env.render() == "period 0/50\nstore_0  on-hand    -1.50  arriving    4.00\n"
    vec = gym.make_vec("orl/InventoryOneStoreLost-v0", num_envs=2, render_mode="ansi")
    vec.reset(seed=0)
    frames = vec.render()
    assert len(frames) == 2 and all(f.startswith("period 0/50") for f in frames) and frames[0] != frames[1]


@pytest.mark.parametrize("env_id", ["orl/InventoryOneStoreLost-v0", "orl/InventoryOneWarehouseLostDemand-v0"])
def test_episode_truncates_and_reset_is_reproducible(env_id):
    env = gym.make(env_id, periods=7)

    def episode(seed):
        obs, _ = env.reset(seed=seed)
        trace, rewards = [obs], []
        for k in range(7):
            obs, r, term, trunc, info = env.step(np.full(env.action_space.shape, 3.0, np.float32))
            assert not term and trunc == (k == 6) and info["cost"] == -r
            trace.append(obs)
            rewards.append(r)
        return np.array(trace), np.array(rewards)

    a, b, c = episode(5), episode(5), episode(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(env.action_space.shape, np.float32))


@pytest.mark.parametrize("env_id", ["orl/InventorySerial-v0", "orl/InventoryTransshipmentBacklogged-v0"])
def test_make_vec_equals_single_envs(env_id):
    n, periods = 3, 4
    vec = gym.make_vec(env_id, num_envs=n, periods=periods)
    assert type(vec).__name__ == "InventoryVectorEnv" and vec.num_envs == n
    singles = [gym.make(env_id, periods=periods) for _ in range(n)]
    obs_v, _ = vec.reset(seed=11)
    obs_s = np.stack([e.reset(seed=11 + i)[0] for i, e in enumerate(singles)])
    np.testing.assert_array_equal(obs_v, obs_s)
    rng = np.random.default_rng(0)
    for k in range(periods):
        actions = rng.uniform(0, 6, size=vec.action_space.shape).astype(np.float32)
        obs_v, r_v, term_v, trunc_v, info = vec.step(actions)
        outs = [e.step(a) for e, a in zip(singles, actions)]
        np.testing.assert_array_equal(obs_v, np.stack([o[0] for o in outs]))
        np.testing.assert_array_equal(r_v, np.array([o[1] for o in outs]))
        assert trunc_v.tolist() == [k == periods - 1] * n and not term_v.any()
        np.testing.assert_array_equal(info["cost"], -r_v)
    # NEXT_STEP autoreset: the step after truncation starts new episodes, like single envs' reset().
    obs_v, r_v, _, trunc_v, _ = vec.step(np.zeros(vec.action_space.shape, np.float32))
    np.testing.assert_array_equal(obs_v, np.stack([e.reset()[0] for e in singles]))
    assert not trunc_v.any() and (r_v == 0).all()


def test_sync_vector_env_matches_native():
    kwargs = {"num_envs": 2, "periods": 3, "lead_time": 2}
    native = gym.make_vec("orl/InventoryOneStoreBacklogged-v0", **kwargs)
    sync = gym.make_vec("orl/InventoryOneStoreBacklogged-v0", vectorization_mode="sync", **kwargs)
    assert type(sync).__name__ == "SyncVectorEnv"
    np.testing.assert_array_equal(native.reset(seed=4)[0], sync.reset(seed=4)[0])
    for _ in range(3):
        action = np.array([[4.0], [7.0]], np.float32)
        np.testing.assert_array_equal(native.step(action)[1], sync.step(action)[1])


def test_float32_batch_matches_float64():
    setting = make_setting("one_warehouse_lost_demand", n_stores=3)
    sim, gen = InventorySimulator(setting), torch.Generator().manual_seed(2)
    state64 = initial_state(setting, 8, gen, dtype=F64)
    state64.warehouse = state64.warehouse + 10.0
    state32 = InventoryState(*(x.float() for x in (state64.stores, state64.warehouse)))
    orders, demand = torch.rand(8, 4, generator=gen, dtype=F64) * 9, sample_demands(setting, 8, 1, gen)[:, :, 0]
    out64, out32 = sim.step(state64, orders, demand), sim.step(state32, orders.float(), demand.float())
    assert out32.cost.dtype == torch.float32
    torch.testing.assert_close(out32.cost.double(), out64.cost, rtol=1e-5, atol=1e-5)


def test_make_kwargs_reach_the_setting():
    env = gym.make("orl/InventoryOneStoreLost-v0", lead_time=2, underage_cost=19, periods=3)
    assert env.unwrapped.setting.lead_times == (2,) and env.unwrapped.setting.underage_costs == (19.0,)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2 + 5,)  # pipeline of width L, then h, p, L, mean, std
    assert obs[2:5].tolist() == [1.0, 19.0, 2.0]
    vec = gym.make_vec("orl/InventoryOneWarehouseLostDemand-v0", num_envs=2, n_stores=10)
    assert vec.single_action_space.shape == (11,)


def test_paper_instance_is_fixed_and_instance_seed_changes_it():
    a = make_setting("one_warehouse_lost_demand", n_stores=5)
    assert a == make_setting("one_warehouse_lost_demand", n_stores=5)
    assert a.demand.mean != make_setting("one_warehouse_lost_demand", n_stores=5, instance_seed=1).demand.mean
    assert all(2.5 <= m <= 7.5 for m in a.demand.mean) and set(a.lead_times) <= {2, 3}
    assert all(0.25 * m - 1e-3 <= s <= 0.5 * m + 1e-3 for m, s in zip(a.demand.mean, a.demand.std))


def test_demand_distributions():
    gen = torch.Generator().manual_seed(0)
    poisson = sample_demands(make_setting("one_store_lost"), 400, 50, gen)
    assert abs(poisson.mean().item() - 5.0) < 0.1 and (poisson == poisson.round()).all()
    setting = make_setting("transshipment_backlogged", n_stores=3)
    d = sample_demands(setting, 400, 50, gen)  # not clipped: exact normal moments
    flat = d.transpose(0, 1).reshape(3, -1)
    assert torch.allclose(flat.mean(1), t(setting.demand.mean), atol=0.05)
    assert abs(torch.corrcoef(flat)[0, 1].item() - 0.5) < 0.03


# --------------------------------------------------------------------------------------------------
# Demand CSV and bad input


def test_demand_csv(tmp_path):
    path = tmp_path / "demand.csv"
    history = np.arange(60, dtype=float).reshape(30, 2)
    path.write_text("a,b\n" + "\n".join(f"{x},{y}" for x, y in history))
    loaded = load_demand_csv(path, 2)
    np.testing.assert_array_equal(loaded.numpy(), history)
    windows = sample_demands(_two_store_warehouse(), 5, 8, torch.Generator().manual_seed(0), loaded)
    starts = windows[:, 0, 0] / 2  # column 0 holds 0, 2, 4, ...: row r has value 2r
    expected = (starts[:, None, None] + torch.arange(8)[None, None, :]) * 2 + torch.tensor([0.0, 1.0])[None, :, None]
    assert torch.equal(windows, expected.to(F64))
    one = tmp_path / "one.csv"
    one.write_text("\n".join(str(v) for v in range(1, 21)))
    env = gym.make("orl/InventoryOneStoreLost-v0", demand_csv=str(one), periods=10)
    obs, _ = env.reset(seed=0)
    assert obs[-2] == pytest.approx(10.5)  # the mean-demand feature is the history's mean


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2\n3,4\n", "data row 1 has 2 columns, expected one per store \\(1\\)"),
        ("1\n-2\n", r"data row 2, column 0: demand must be finite and in \[0, 1e\+12\], got -2"),
        ("1\nabc\n", "data row 2, column 0: 'abc' is not a number"),
        ("x\n", "no data rows"),
        ("1\n1e308\n", r"data row 2, column 0: demand must be finite and in \[0, 1e\+12\], got 1e308"),
        ("d\n0\n0\n0\n", r"column 0 \(store 0\) is 0 in every row; every store needs some demand"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", r"not a text CSV file \(a NUL byte at offset 8"),
        (b"1\n\xff\xfe2\n", r"not a UTF-8 text CSV file \(byte 0xff at offset 2"),
    ],
)
def test_bad_demand_csv(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ValueError, match=f"demand_csv '{re.escape(str(path))}': {message}"):
        load_demand_csv(path, 1)
    # the environments read the file the same way (and so fail the same way)
    with pytest.raises(ValueError, match=message):
        gym.make("orl/InventoryOneStoreLost-v0", demand_csv=str(path), periods=1)


def test_demand_csv_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffdemand\n1\n2\n".encode())
    np.testing.assert_array_equal(load_demand_csv(path, 1).numpy(), [[1.0], [2.0]])


def test_csv_shorter_than_episode(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("1\n2\n3\n")
    with pytest.raises(ValueError, match="fewer than periods=10"):
        gym.make("orl/InventoryOneStoreLost-v0", demand_csv=str(path), periods=10)


def test_bad_orders_raise_clear_errors():
    sim = InventorySimulator(_two_store_warehouse())
    state = sim.empty_state(2, F64)
    demand = torch.zeros(2, 2, dtype=F64)
    with pytest.raises(ValueError, match=r"got -1.5 for store_1 \(batch row 1\)"):
        sim.step(state, t([[1.0, 1.0, 1.0], [1.0, -1.5, 1.0]]), demand)
    with pytest.raises(ValueError, match="got nan for warehouse"):
        sim.step(state, t([[1.0, 1.0, float("nan")], [1.0, 1.0, 1.0]]), demand)
    with pytest.raises(ValueError, match="got inf for store_0 \\(batch row 0\\)"):
        sim.step(state, t([[float("inf"), 1.0, 1.0], [1.0, 1.0, 1.0]]), demand)
    with pytest.raises(ValueError, match=r"shape \(batch=2, 3\)"):
        sim.step(state, t([[1.0, 1.0], [1.0, 1.0]]), demand)
    env = gym.make("orl/InventoryOneStoreLost-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="got -1.0 for store_0"):
        env.step(np.array([-1.0], np.float32))
    with pytest.raises(ValueError, match="action must have shape"):
        env.step(np.zeros(3, np.float32))


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(TypeError, match="unknown parameters \\['n_stores'\\]"):
        gym.make("orl/InventoryOneStoreLost-v0", n_stores=3)
    with pytest.raises(ValueError, match="lead times must be integers >= 1"):
        make_setting("one_store_backlogged", lead_time=0)
    with pytest.raises(ValueError, match="periods must be an integer >= 1"):
        gym.make("orl/InventorySerial-v0", periods=0)
