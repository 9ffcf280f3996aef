"""The off-policy loop on a device (``device=cuda``): training stream per device type, exact resume on a GPU, a GPU
run loaded on the CPU (``orl.algos.online.device``)."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch

import orl
from orl.algos.online.sac import SAC, SACConfig
from tests.test_dsrl import ENV, weak_base  # noqa: F401  (a fixture, and the target-action task registered)
from tests.test_iql_ft import weak_iql  # noqa: F401


def _advanced_sac(seed: int) -> SAC:
    sac = SAC(3, 1, SACConfig(hidden=(8, 8)), seed)
    torch.randn(100, generator=sac.gen)  # the stream moved on, as after some updates
    return sac


def test_a_stream_continues_on_its_device_type_and_restarts_from_the_seed_on_another():
    state = _advanced_sac(5).state_dict()
    assert state["gen_device"] == "cpu"
    same = SAC(3, 1, SACConfig(hidden=(8, 8)), 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: the stream continues
        same.load_state_dict(state)
    assert torch.equal(same.gen.get_state(), state["gen"])
    old = {k: v for k, v in state.items() if k != "gen_device"}  # written before devices were recorded: the CPU's
    older = SAC(3, 1, SACConfig(hidden=(8, 8)), 5)
    older.load_state_dict(old)
    assert torch.equal(older.gen.get_state(), state["gen"])
    other = SAC(3, 1, SACConfig(hidden=(8, 8)), 5)
    with pytest.warns(RuntimeWarning, match="saved on cuda and continues on cpu from the seed"):
        other.load_state_dict({**state, "gen_device": "cuda"})
    assert torch.equal(other.gen.get_state(), torch.Generator().manual_seed(5).get_state())
    for k, v in state["actor"].items():  # the weights load whatever the stream
        assert torch.equal(other.actor.state_dict()[k], v), k


def test_moving_to_the_same_device_keeps_weights_optimizer_state_and_stream():
    sac = _advanced_sac(2)
    s, a = torch.randn(16, 3), torch.rand(16, 1) * 2 - 1
    sac.update(s, a, torch.randn(16), torch.randn(16, 3), torch.zeros(16))  # Adam moments exist now
    before = sac.state_dict()
    sac.to("cpu")
    after = sac.state_dict()
    assert torch.equal(before["gen"], after["gen"])
    for k, v in before["critic_opt"]["state"][0].items():
        assert torch.equal(v, after["critic_opt"]["state"][0][k]), k
    assert sac.critic_opt.param_groups[0]["params"][0] is next(sac.critic.parameters())


def _settings(name, weak_base, weak_iql):  # noqa: F811
    small = dict(batch_size=64, start_steps=100)
    if name == "sac":
        return {**small, "hidden": [32, 32], "n_critics": 4, "utd": 2, "actor_each_update": False}
    if name in ("dsrl_na", "dsrl_sac"):
        extra = {"distill_steps": 2} if name == "dsrl_na" else {}
        return {**small, **extra, "base": str(weak_base), "hidden": [32, 32], "utd": 2, "train_every": 1,
                "ddim_steps": 2}
    if name == "expo":
        return {**small, "base": str(weak_base), "hidden": [32, 32], "n_critics": 4, "n_samples": 4, "n_edit": 4,
                "utd": 2, "diffusion_hidden": 32, "diffusion_blocks": 1, "diffusion_time_dim": 8}
    base, data = weak_iql
    return {"batch_size": 64, "base": str(base), "offline_dataset": data}


def _rows(run):
    with open(run / "eval.csv") as f:
        return list(csv.DictReader(f))


def _equal(a, b, where=""):
    """Every tensor of two (nested) state dicts equal."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _equal(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where


def _resume_equals_uninterrupted(name, device, settings, tmp_path, monkeypatch) -> dict:
    """``name`` trained 300 steps on ``device``, and again killed right after its first checkpoint (step 150) and
    resumed: the resumed run makes only the remaining steps' updates and ends with the uninterrupted run's eval rows
    and state. Returns the uninterrupted run's final algorithm state."""
    import orl.train.offpolicy as offpolicy
    from orl.train.common import load_checkpoint

    kw = dict(steps=300, seed=1, eval_every=150, eval_episodes=3, device=device, **settings)
    orl.fit(name, ENV, out_dir=tmp_path / "full", **kw)
    state = load_checkpoint(tmp_path / "full", map_location="cpu")["algo"]
    saved = offpolicy.save_checkpoint

    def save_then_die(out, st):
        saved(out, st)
        raise KeyboardInterrupt  # killed right after the first checkpoint (step 150)

    monkeypatch.setattr(offpolicy, "save_checkpoint", save_then_die)
    with pytest.raises(SystemExit, match="130"):  # orl.fit stops as the CLI does on Ctrl-C: exit status 130
        orl.fit(name, ENV, out_dir=tmp_path / "cut", **kw)
    monkeypatch.setattr(offpolicy, "save_checkpoint", saved)
    assert len(_rows(tmp_path / "cut")) == 1
    cls, calls = offpolicy.OFFPOLICY_ALGORITHMS[name], {"update": 0}
    update = cls.update

    def counted(self, *args):
        calls["update"] += 1
        return update(self, *args)

    monkeypatch.setattr(cls, "update", counted)
    orl.resume(tmp_path / "cut")
    monkeypatch.setattr(cls, "update", update)
    # steps 151..300 only (a restart from zero would make 300 or 200 rounds): utd 2, IQL's 1
    assert calls["update"] == 150 * (1 if name == "iql_ft" else 2), calls
    assert _rows(tmp_path / "cut") == _rows(tmp_path / "full")  # the stream continued across the kill
    _equal(state, load_checkpoint(tmp_path / "cut", map_location="cpu")["algo"])
    return state


@pytest.mark.parametrize("name", ["sac", "dsrl_na", "dsrl_sac", "expo", "iql_ft"])
def test_a_cpu_run_resumes_exactly(name, weak_base, weak_iql, tmp_path, monkeypatch):  # noqa: F811
    """Through ``orl.fit``/``orl.resume`` as a user runs them (test_sac.py and test_iql_ft.py also check SAC's and
    IQL's loop directly); the GPU test below is this one on ``cuda``."""
    state = _resume_equals_uninterrupted(name, "cpu", _settings(name, weak_base, weak_iql), tmp_path, monkeypatch)
    assert (state["iql"]["random"]["device_type"] if name == "iql_ft" else state["gen_device"]) == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["sac", "dsrl_na", "dsrl_sac", "expo", "iql_ft"])
def test_a_gpu_run_resumes_exactly_and_loads_on_the_cpu(name, weak_base, weak_iql, tmp_path,  # noqa: F811
                                                        monkeypatch):
    state = _resume_equals_uninterrupted(name, "cuda", _settings(name, weak_base, weak_iql), tmp_path, monkeypatch)
    # trained on the GPU: the stream it saved is the GPU's (IQL's members' streams record their device type)
    assert (state["iql"]["random"]["device_type"] if name == "iql_ft" else state["gen_device"]) == "cuda"
    gpu = orl.load(tmp_path / "full", device="cuda")
    assert gpu.algorithm.device.type == "cuda"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the GPU's stream cannot continue on the CPU: said by a warning
        cpu = orl.load(tmp_path / "full", device="cpu")
    assert cpu.algorithm.device.type == "cpu"
    obs = np.linspace(-0.8, 0.8, 7, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_allclose(cpu.predict(obs, deterministic=True), gpu.predict(obs, deterministic=True), atol=1e-4)


@pytest.mark.parametrize("name", ["sac", "dsrl_na", "dsrl_sac", "expo", "iql_ft"])
def test_update_metrics_stay_on_the_device_until_the_log_step(name, weak_base, weak_iql, tmp_path,  # noqa: F811
                                                            monkeypatch):
    """Each update reports 0-d tensors (a ``float`` there would be a host read per update on a GPU); the loop's
    ``metrics.csv`` row is still each metric's mean over the updates that reported it since the last row."""
    import orl.train.offpolicy as offpolicy

    cls, seen = offpolicy.OFFPOLICY_ALGORITHMS[name], []
    update, after = cls.update, getattr(cls, "after_updates", None)

    def recorded(fn):
        def wrapper(self, *args):
            seen.append(fn(self, *args))
            return seen[-1]
        return wrapper

    monkeypatch.setattr(cls, "update", recorded(update))
    if after is not None:
        monkeypatch.setattr(cls, "after_updates", recorded(after))
    settings = {**_settings(name, weak_base, weak_iql), "start_steps": 100}
    orl.fit(name, ENV, out_dir=tmp_path / "r", steps=140, seed=0, eval_every=140, eval_episodes=1, log_every=20,
            **settings)
    values = seen
    assert values and all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad
                          for m in values for v in m.values()), values[:2]
    with open(tmp_path / "r" / "metrics.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert int(last["step"]) == 140
    # the last row covers the updates of env steps 121..140: the reports made since the row before
    rounds = 20 * (1 if name == "iql_ft" else 2) + (20 if name == "dsrl_na" else 0)
    window = values[-rounds:]
    for k in window[0]:
        got = [float(m[k]) for m in window if k in m]
        assert float(last[k]) == pytest.approx(np.mean(got), rel=1e-6), k
