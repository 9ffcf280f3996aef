"""IQL fine-tuned online (issue 18): the merged-buffer share, improvement over the offline agent, config checks."""

from __future__ import annotations

import numpy as np
import pytest

import orl
from orl.algos.online.iql_ft import IQLFinetuneConfig, merged_share
from orl.data.buffer import ReplayBuffer
from orl.data.collect import evaluate
from orl.data.io import save_hdf5
from orl.data.registry import load_dataset
from orl.train.offpolicy import train_offpolicy
from tests.test_dsrl import ENV  # noqa: F401  (registers the target-action task)


def test_merged_share_follows_one_fifo_buffer():
    assert merged_share(1000, 0, 2000) == 1.0
    assert merged_share(1000, 500, 2000) == pytest.approx(1000 / 1500)
    assert merged_share(1000, 1500, 2000) == pytest.approx(500 / 2000)  # 500 dataset rows overwritten
    assert merged_share(1000, 3000, 2000) == 0.0


@pytest.fixture(scope="module")
def weak_iql(tmp_path_factory):
    """IQL after 100 offline updates on uniform-random actions of the target task (with its rewards)."""
    rng = np.random.default_rng(0)
    data = ReplayBuffer(5000, (1,), 1, metadata={"env_id": ENV})
    for i in range(5000):
        s, a = rng.uniform(-0.8, 0.8, 1), rng.uniform(-1, 1, 1)
        data.add(s, a, -10.0 * float((a[0] - s[0]) ** 2), rng.uniform(-0.8, 0.8, 1), False, i % 10 == 9)
    root = tmp_path_factory.mktemp("iql")
    data_path = root / "data.hdf5"
    save_hdf5(data, data_path)
    base = orl.fit("iql", data_path, steps=100, eval_every=100, eval_episodes=2, out_dir=root / "run", hidden=[64, 64],
                   eval_env=ENV, threads=1)
    return base.save(root / "base.pt"), str(data_path)


def test_online_fine_tuning_improves_the_offline_agent(weak_iql, tmp_path):
    base, data = weak_iql
    cfg = IQLFinetuneConfig(base=str(base), offline_dataset=data, batch_size=128)
    result = train_offpolicy(ENV, tmp_path, cfg, steps=1500, eval_every=1500, eval_episodes=30, progress=False,
                             offline=load_dataset(data), algo_name="iql_ft")
    agent = orl.load(base)
    before = evaluate(ENV, lambda o, _r: agent.predict(o), 30, seed=100).mean()
    after = evaluate(ENV, lambda o, _r: result["algo"].act(o, deterministic=True), 30, seed=100).mean()
    assert after > before + 0.5 * abs(before), (before, after)


def test_config_and_base_checks(weak_iql, tmp_path):
    base, data = weak_iql
    with pytest.raises(ValueError, match="offline_dataset"):
        IQLFinetuneConfig(base=str(base))
    with pytest.raises(ValueError, match="offline_ratio"):
        IQLFinetuneConfig(base=str(base), offline_dataset=data, offline_ratio=1.5)
    td3 = orl.fit("td3bc", data, steps=5, eval_every=5, eval_episodes=1, out_dir=tmp_path / "td3", eval_env=ENV)
    with pytest.raises(ValueError, match="iql agent, got 'td3bc'"):
        train_offpolicy(ENV, tmp_path / "x", IQLFinetuneConfig(base=str(td3.run_dir), offline_dataset=data), steps=10,
                        progress=False, algo_name="iql_ft")


def test_resume_equals_uninterrupted(weak_iql, tmp_path, monkeypatch):
    """Killed after the first checkpoint and resumed, the run ends with the uninterrupted run's weights (including
    the constant learning rate that replaced the offline cosine schedule) and evaluations."""
    import torch

    import orl.train.offpolicy as offpolicy

    base, data = weak_iql
    offline = load_dataset(data)
    cfg = lambda: IQLFinetuneConfig(base=str(base), offline_dataset=data, batch_size=64)  # noqa: E731
    kw = dict(steps=600, eval_every=300, eval_episodes=2, progress=False, seed=3, offline=offline, algo_name="iql_ft")
    full = train_offpolicy(ENV, tmp_path / "full", cfg(), **kw)
    saved = offpolicy.save_checkpoint

    def save_then_die(out, state):
        saved(out, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(offpolicy, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_offpolicy(ENV, tmp_path / "cut", cfg(), **kw)
    monkeypatch.setattr(offpolicy, "save_checkpoint", saved)
    from orl.algos.online.iql_ft import IQLFinetune

    update, calls = IQLFinetune.update, {"n": 0}

    def counted(self, *args):
        calls["n"] += 1
        return update(self, *args)

    monkeypatch.setattr(IQLFinetune, "update", counted)
    resumed = train_offpolicy(ENV, tmp_path / "cut", cfg(), resume=True, **kw)
    assert calls["n"] == 300  # steps 301..600 only: a restart from zero would redo all 600
    a, b = full["algo"].iql, resumed["algo"].iql
    assert a.total_it == b.total_it == 100 + 600  # offline updates, then one per online step
    for k, v in a.actor.state_dict().items():
        assert torch.equal(v, b.actor.state_dict()[k]), k
    assert b.actor_opt.param_groups[0]["lr"] == pytest.approx(3e-4)
    assert (tmp_path / "cut" / "eval.csv").read_text() == (tmp_path / "full" / "eval.csv").read_text()


def test_a_saved_agent_carries_its_base(weak_iql, tmp_path):
    """The fine-tuned agent's file carries the offline agent it started from: it loads and predicts the same when
    the base file is gone (the run directory, which refers to it by path, says it is missing)."""
    import shutil

    base_file, data = weak_iql
    base = tmp_path / "base.pt"
    shutil.copyfile(base_file, base)
    agent = orl.fit("iql_ft", ENV, steps=40, eval_every=40, eval_episodes=1, out_dir=tmp_path / "run",
                    base=str(base), offline_dataset=data, batch_size=16, threads=1)
    path = agent.save(tmp_path / "agent.pt")
    obs = np.linspace(-0.8, 0.8, 7, dtype=np.float32)[:, None]
    before = orl.load(path).predict(obs)
    base.unlink()
    with pytest.raises(FileNotFoundError, match=r"algo.base=.*base.pt' does not exist"):
        orl.load(tmp_path / "run")
    np.testing.assert_array_equal(orl.load(path).predict(obs), before)
