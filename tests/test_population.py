"""Populations: P runs trained in lockstep as one batched model learn exactly what they learn alone (issue 16)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from orl.algos import ALGORITHMS
from orl.data import load_dataset
from orl.train.offline import Member, MemberBatches, TrainConfig, make_algorithm, train_population

LOW, HIGH = np.array([-2.0]), np.array([2.0])
SMALL = {"bc": {"hidden": [32, 32]}, "td3bc": {"hidden": [32, 32]}, "iql": {"hidden": [32, 32]},
         "a2pr": {"actor_hidden": [32, 32], "critic_hidden": [32, 32], "vae_hidden": [32, 32]},
         "cql": {"actor_hidden": [32, 32], "critic_hidden": [32, 32], "n_actions": 3},
         "diffusion_bc": {"hidden": 32, "blocks": 1, "time_dim": 8}}
# a scalar each member may set differently (a sweep), per algorithm
SWEEP = {"bc": None, "td3bc": ("alpha", [1.0, 2.5, 5.0]), "iql": ("beta", [1.0, 3.0, 10.0]),
         "a2pr": ("mask", [0.3, 0.5, 0.7]), "cql": ("cql_alpha", [1.0, 5.0, 10.0]),
         "diffusion_bc": ("ema", [0.001, 0.01, 0.1])}


@pytest.fixture(scope="module")
def pendulum():
    return load_dataset("pendulum-scripted")


@pytest.fixture(scope="module")
def pendulum_random():
    return load_dataset("pendulum-random")


def _state(algo) -> dict[str, torch.Tensor]:
    """Every network parameter and buffer of ``algo`` by name (optimisers excluded)."""
    return {f"{k}.{n}": t for k, comp in algo.components().items() if isinstance(comp, torch.nn.Module)
            for n, t in comp.state_dict().items()}


def _train(algo, members: list[Member], updates: int, batch_size: int = 64) -> None:
    batches = MemberBatches(members, "uniform", 0.1, 10.0, batch_size)
    for _ in range(updates):
        algo.update(batches.sample())


def _assert_members_equal_singles(pop, singles) -> float:
    """Member p of ``pop`` equals ``singles[p]``: all its parameters as one vector to 1e-4 relative, and
    each tensor to 1e-4 of the largest parameter scale (a near-zero bias has no meaningful relative
    error of its own). Matmuls batched over members round differently from single ones, so exact
    equality is not expected. Returns the worst relative difference."""
    worst = 0.0
    pop_state = _state(pop)
    for p, one in enumerate(singles):
        mine = {name: pop_state[name][p : p + 1] for name in _state(one)}
        theirs = _state(one)
        flat_x = torch.cat([x.flatten() for x in theirs.values()])
        flat_y = torch.cat([mine[n].flatten() for n in theirs])
        rel = float((flat_y - flat_x).norm() / flat_x.norm())
        assert rel < 1e-4, f"member {p}: relative difference {rel:.2e}"
        scale = float(flat_x.abs().max())
        for name, x in theirs.items():
            err = float((mine[name] - x).abs().max())
            assert err < 1e-4 * scale, f"member {p}, {name}: max difference {err:.2e} (scale {scale:.2f})"
        worst = max(worst, rel)
    return worst


def _check_equivalence(name, data, seeds, overrides, updates):
    members = [Member(d, s, "Pendulum-v1", o, f"m{s}") for d, s, o in zip(data, seeds, overrides)]
    pop = make_algorithm(name, data, LOW, HIGH, overrides, total_steps=updates, seeds=seeds)
    singles = [make_algorithm(name, d, LOW, HIGH, o, total_steps=updates, seeds=[s]) for d, s, o in zip(data, seeds, overrides)]
    _train(pop, members, updates)
    for one, m in zip(singles, members):
        _train(one, [m], updates)
    _assert_members_equal_singles(pop, singles)
    # and the members really differ (a population that trained one member three times would not)
    first = _state(pop)[next(iter(_state(pop)))]
    assert not torch.allclose(first[0], first[1]) and not torch.allclose(first[0], first[2])
    # each member acts as its single run does, and member(p) carries it out as a single run
    obs = data[0].observations[:16]
    acts = pop.act(np.stack([obs] * len(seeds)))
    for p, one in enumerate(singles):
        np.testing.assert_allclose(acts[p], one.act(obs), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(pop.member(p).act(obs), one.act(obs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_population_of_seeds_learns_what_single_runs_learn(pendulum, name):
    """Three members with different seeds, 300 updates in lockstep on the same batches as the three
    single runs with those seeds: parameters equal to 1e-4 relative (issue 16's acceptance line)."""
    _check_equivalence(name, [pendulum] * 3, [3, 5, 7], [SMALL[name]] * 3, 300)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_population_of_datasets_and_a_sweep_learns_what_single_runs_learn(pendulum, pendulum_random, name):
    """Members that differ in dataset (statistics, reward scaling) and in a swept scalar too. 100
    updates: CQL with cql_alpha 1 on scaled rewards amplifies float rounding (batched and single
    matmuls round differently) from 1e-7 at 100 updates to 4e-4 at 200, so longer runs drift apart
    by chaos, not by a difference in the maths."""
    seeds, data = [3, 5, 7], [pendulum, pendulum_random, pendulum]
    overrides = [dict(SMALL[name]) for _ in seeds]
    if SWEEP[name]:
        field, values = SWEEP[name]
        for o, v in zip(overrides, values):
            o[field] = v
    if name in ("iql", "cql"):  # dataset-dependent reward scaling differs per member too
        for o, flag in zip(overrides, (True, False, True)):
            o["normalize_reward"] = flag
    _check_equivalence(name, data, seeds, overrides, 100)


def test_per_member_reductions_matter(pendulum):
    """The equivalence above is not vacuous: TD3+BC's lambda computed over the whole population
    (instead of per member) changes what the members learn by far more than the tolerance."""
    seeds = [3, 5, 7]
    overrides = [{**SMALL["td3bc"], "alpha": a} for a in (1.0, 2.5, 5.0)]
    members = [Member(pendulum, s, "Pendulum-v1", o, f"m{s}") for s, o in zip(seeds, overrides)]
    pop = make_algorithm("td3bc", pendulum, LOW, HIGH, overrides, total_steps=100, seeds=seeds)
    pop._lambda = lambda q: pop.hp("alpha") / q.detach().abs().mean()  # the wrong, pooled reduction
    singles = [make_algorithm("td3bc", pendulum, LOW, HIGH, o, total_steps=100, seeds=[s]) for s, o in zip(seeds, overrides)]
    _train(pop, members, 100)
    for one, m in zip(singles, members):
        _train(one, [m], 100)
    with pytest.raises(AssertionError, match="difference"):
        _assert_members_equal_singles(pop, singles)


def test_members_must_share_the_network_shape(pendulum):
    with pytest.raises(ValueError, match=r"members of one population must share hidden .*may differ only in: alpha"):
        make_algorithm("td3bc", pendulum, LOW, HIGH, [{"hidden": [32]}, {"hidden": [64]}], seeds=[0, 1])
    with pytest.raises(ValueError, match="must share actor_lr"):
        make_algorithm("td3bc", pendulum, LOW, HIGH, [{"actor_lr": 1e-3}, {}], seeds=[0, 1])
    hopper_like = load_dataset("reacher-decoy")
    with pytest.raises(ValueError, match="datasets differ in"):
        make_algorithm("td3bc", [pendulum, hopper_like], LOW, HIGH, seeds=[0, 1])
    pop = make_algorithm("td3bc", pendulum, LOW, HIGH, [{"alpha": 1.0}, {"alpha": 2.0}], seeds=[0, 1])
    assert pop.config.alpha is None  # a swept field is only read per member, through hp()
    assert pop.hp("alpha").view(-1).tolist() == [1.0, 2.0] and pop.hp("tau") == 0.005
    with pytest.raises(ValueError, match=r"expected observations \(P=2, N, 3\)"):
        pop.act(pendulum.observations[:4])


def _eval_rows(path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_population_resume_equals_uninterrupted_and_continues(tmp_path, pendulum, pendulum_random, monkeypatch):
    """A population stopped after its first checkpoint and resumed ends with the same parameters and
    evaluations as one never stopped; the resumed run does only the remaining updates and keeps the
    rows written before the stop (a restart from zero would redo 300 updates and rewrite them)."""
    members = [Member(pendulum, 3, "Pendulum-v1", SMALL["td3bc"], "a"),
               Member(pendulum_random, 4, "Pendulum-v1", {**SMALL["td3bc"], "alpha": 1.0}, "b")]
    cfg = dict(eval_every=100, eval_episodes=2, log_every=50)
    full = train_population("td3bc", members, tmp_path / "full", TrainConfig(steps=300, **cfg), progress=False)
    cut = tmp_path / "cut"
    train_population("td3bc", members, cut, TrainConfig(steps=100, **cfg), progress=False)
    for m in members:  # mark the rows written before the stop
        rows = _eval_rows(cut / m.name / "eval.csv")
        rows[0]["return_std"] = "123.456"
        with open(cut / m.name / "eval.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    calls = []
    original = MemberBatches.sample
    monkeypatch.setattr(MemberBatches, "sample", lambda self: calls.append(1) or original(self))
    resumed = train_population("td3bc", members, cut, TrainConfig(steps=300, **cfg), resume=True, progress=False)
    assert len(calls) == 200  # only the remaining updates
    for k, v in _state(full["algo"]).items():
        assert torch.equal(v, _state(resumed["algo"])[k]), k
    for m in members:
        rows, ref = _eval_rows(cut / m.name / "eval.csv"), _eval_rows(tmp_path / "full" / m.name / "eval.csv")
        assert rows[0]["return_std"] == "123.456"  # kept from before the stop
        assert [r["step"] for r in rows] == ["100", "200", "300"]
        assert [r["return_mean"] for r in rows] == [r["return_mean"] for r in ref]
    assert [s["last"] for s in resumed["members"]] == [s["last"] for s in full["members"]]
    # a checkpoint of other members is refused by name
    with pytest.raises(Exception, match="holds members"):
        train_population("td3bc", members[::-1], cut, TrainConfig(steps=300, **cfg), resume=True, progress=False)


def test_members_draw_with_their_own_samplers(pendulum):
    """A member's ``sampler`` (Hong et al.'s uniform / aw / rw as members of one population) draws the
    rows that a single run with that sampler draws, batch after batch."""
    members = [Member(pendulum, 1, "Pendulum-v1", name="u", sampler="uniform"),
               Member(pendulum, 1, "Pendulum-v1", name="a", sampler="aw"),
               Member(pendulum, 2, "Pendulum-v1", name="r", sampler="rw")]
    together = MemberBatches(members, "uniform", 0.1, 10.0, 32)
    alone = [MemberBatches([m], "uniform", 0.1, 10.0, 32) for m in members]
    for _ in range(70):  # past one pre-drawn block of 64 batches
        batch = together.sample()
        for p, single in enumerate(alone):
            np.testing.assert_array_equal(batch.indices[p], single.sample().indices[0])
    assert not np.array_equal(batch.indices[0], batch.indices[1])  # same seed, other sampler: other rows
    with pytest.raises(ValueError, match="sampler must be one of uniform, rw, aw, topk, got 'best'"):
        MemberBatches([Member(pendulum, 0, "Pendulum-v1", sampler="best")], "uniform", 0.1, 10.0, 32)
