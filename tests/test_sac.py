"""SAC and the off-policy loop (issue 18): learning, exact resume, RLPD-style offline mixing."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

import orl
from orl.algos.online.sac import SAC, SACConfig
from orl.data.collect import evaluate
from orl.train.offpolicy import mixed_batch, train_offpolicy

SMALL = dict(start_steps=500, hidden=(64, 64))


def _rows(path):
    with open(path / "eval.csv") as f:
        return list(csv.DictReader(f))


def test_sac_learns_pendulum(tmp_path):
    result = train_offpolicy("Pendulum-v1", tmp_path, SACConfig(**{**SMALL, "start_steps": 1000}), steps=6000,
                             eval_every=3000, eval_episodes=5, progress=False)
    random_return = evaluate("Pendulum-v1", None, 5, seed=100).mean()  # about -1200
    assert result["last"] > -400 > random_return + 500, (result["last"], random_return)


def test_resume_equals_uninterrupted(tmp_path, monkeypatch):
    kw = dict(steps=2400, eval_every=800, eval_episodes=2, progress=False, seed=4)
    full = train_offpolicy("Pendulum-v1", tmp_path / "full", SACConfig(**SMALL), **kw)
    import orl.train.offpolicy as offpolicy

    saved, calls = offpolicy.save_checkpoint, {"save": 0, "update": 0}

    def save_then_die(out, state):
        saved(out, state)
        calls["save"] += 1
        if calls["save"] == 2:  # killed at step 1600 of 2400
            raise KeyboardInterrupt

    monkeypatch.setattr(offpolicy, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_offpolicy("Pendulum-v1", tmp_path / "cut", SACConfig(**SMALL), **kw)
    monkeypatch.setattr(offpolicy, "save_checkpoint", saved)
    update = SAC.update

    def counted(self, *a):
        calls["update"] += 1
        return update(self, *a)

    monkeypatch.setattr(SAC, "update", counted)
    resumed = train_offpolicy("Pendulum-v1", tmp_path / "cut", SACConfig(**SMALL), resume=True, **kw)
    assert calls["update"] == 800  # steps 1601..2400 only, one update each
    for k, v in full["algo"].actor.state_dict().items():
        assert torch.equal(v, resumed["algo"].actor.state_dict()[k]), k
    assert _rows(tmp_path / "cut") == _rows(tmp_path / "full")


def test_mixed_batches_and_rlpd_style_run(tmp_path):
    from orl.data import load_dataset
    from orl.data.buffer import ReplayBuffer

    offline = load_dataset("pendulum-scripted")
    online = ReplayBuffer(100, (3,), 1)
    for i in range(100):
        online.add(np.full(3, 7.0), np.zeros(1), 0.0, np.full(3, 7.0), False, False)
    b = mixed_batch(online, offline, 64, 0.5, np.random.default_rng(0), lambda a: a / 2)
    from_online = (b.observations == 7.0).all(1)
    assert int(from_online.sum()) == 32 and b.actions[~from_online].abs().max() <= 1.0
    assert mixed_batch(online, None, 64, 0.5, np.random.default_rng(0)).observations.eq(7.0).all()
    agent = orl.fit("sac", "Pendulum-v1", steps=1000, eval_every=1000, eval_episodes=1, out_dir=tmp_path / "rlpd",
                    offline_dataset="pendulum-scripted", offline_ratio=0.5, n_critics=4, num_min_qs=2,
                    critic_layer_norm=True, utd=2, start_steps=200, hidden=[32, 32], backup_entropy=False)
    assert (tmp_path / "rlpd" / "checkpoint.pt").exists() and agent.family == "offpolicy"
    obs = np.array([[1.0, 0.0, 0.5], [0.0, 1.0, -3.0]], np.float32)
    actions = agent.predict(obs)
    assert actions.shape == (2, 1) and np.all(np.abs(actions) <= 2.0)  # Pendulum's torque bounds, not [-1, 1]
    np.testing.assert_array_equal(orl.load(agent.save(tmp_path / "sac.pt")).predict(obs), actions)
    with pytest.raises(ValueError, match="needs algo.offline_dataset"):
        SACConfig(offline_ratio=0.5)
    with pytest.raises(ValueError, match="num_min_qs must lie in 1..n_critics=2"):
        SACConfig(num_min_qs=3)


def test_rlpd_steps_the_actor_once_per_environment_step(tmp_path):
    """RLPD's SACLearner: ``utd`` critic steps, then one actor and one temperature step (with the last batch); its
    target entropy is -|A|/2. With ``actor_each_update`` (SAC's default) every update steps all three."""
    from orl.algos.online.sac import RLPD

    torch.manual_seed(0)
    s, a, r, s2, d = torch.randn(8, 3), torch.rand(8, 2) * 2 - 1, torch.randn(8), torch.randn(8, 3), torch.zeros(8)
    steps = {}
    for each in (True, False):
        algo = SAC(3, 2, SACConfig(utd=3, hidden=(16, 16), n_critics=4, actor_each_update=each,
                                   target_entropy_scale=0.5))
        logged = [algo.update(s, a, r, s2, d) for _ in range(6)]
        steps[each] = ([int(st["step"]) for st in algo.actor_opt.state.values()][0],
                       int(algo.alpha_opt.state[algo.log_alpha]["step"]),
                       int(next(iter(algo.critic_opt.state.values()))["step"]), sum("actor_loss" in m for m in logged))
        assert algo.target_entropy == -1.0
    assert steps[True] == (6, 6, 6, 6) and steps[False] == (2, 2, 6, 2)
    # the loop averages a metric over the updates that reported it, not over all of them
    agent = orl.fit("sac", "Pendulum-v1", steps=300, eval_every=300, eval_episodes=1, log_every=20,
                    out_dir=tmp_path / "r",
                    **{**RLPD, "utd": 4, "start_steps": 256, "hidden": [16, 16], "n_critics": 3,
                       "offline_dataset": "pendulum-scripted"})
    with open(tmp_path / "r" / "metrics.csv") as f:
        rows = [row for row in csv.DictReader(f) if row.get("actor_loss")]
    assert rows and agent.algorithm.config.actor_each_update is False
    alphas = [float(row["alpha"]) for row in rows]
    assert all(0.5 < x <= 1.0 for x in alphas), alphas  # a mean of alphas near 1, not divided by utd


@pytest.mark.parametrize("name", ["sac", "dsrl_na", "dsrl_sac", "expo", "iql_ft"])
def test_the_cli_defaults_are_the_config_classes(name):
    """orl/conf/algo/<name>.yaml (what ``python -m orl.run algo=<name>`` trains with) equals the dataclass defaults
    (what ``orl.fit`` and the docstrings promise)."""
    import dataclasses
    from pathlib import Path

    import yaml

    from orl.train.offpolicy import OFFPOLICY_ALGORITHMS

    path = Path(__file__).resolve().parents[1] / "orl" / "conf" / "algo" / f"{name}.yaml"
    data = {k: v for k, v in yaml.safe_load(path.read_text())["algo"].items() if k not in ("name", "family")}
    fields = {f.name: f.default for f in dataclasses.fields(OFFPOLICY_ALGORITHMS[name].Config)}
    assert set(data) == set(fields)
    for k, default in fields.items():
        if k == "base":  # required: null in the file, "" in the class
            continue
        assert data[k] == (list(default) if isinstance(default, tuple) else default), k
