"""The Python API end to end (issue 23): fit on pendulum-scripted, save, load in a fresh process, predict
equal actions, resume a killed run exactly, and bad input named."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import orl

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(eval_episodes=1, log_every=50, threads=1)
OBS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -2.0], [-0.5, 0.8, 4.0]], np.float32)


def _python(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "envs"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kw)


def test_fit_save_load_in_a_fresh_process_predicts_the_same(tmp_path):
    agent = orl.fit("td3bc", "pendulum-scripted", steps=300, eval_every=150, out_dir=tmp_path / "run", **SMALL)
    assert agent.run_dir == tmp_path / "run"
    for name in ("config.yaml", "checkpoint.pt", "metrics.csv", "eval.csv"):
        assert (agent.run_dir / name).exists(), name
    assert agent.algorithm.total_it == 300
    actions = agent.predict(OBS)
    assert actions.shape == (3, 1) and np.all(np.abs(actions) <= 2.0)  # Pendulum's torque bounds
    np.testing.assert_allclose(agent.predict(OBS[0]), actions[0], atol=1e-6)  # batch-size rounding only
    path = agent.save(tmp_path / "agent.pt")
    code = (f"import json, numpy as np, orl\n"
            f"a = orl.load({str(path)!r})\n"
            f"print(json.dumps({{'algo': a.algo_name, 'actions': a.predict(np.array({OBS.tolist()}, np.float32)).tolist()}}))")
    proc = _python(code)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    loaded = json.loads(out.strip().splitlines()[-1])
    assert loaded["algo"] == "td3bc"
    np.testing.assert_array_equal(np.array(loaded["actions"], np.float32), actions)
    # the run directory loads too, to the same policy
    np.testing.assert_array_equal(orl.load(agent.run_dir).predict(OBS), actions)
    # and a differently seeded run acts differently (the comparison above can fail)
    other = orl.fit("td3bc", "pendulum-scripted", steps=300, eval_every=150, seed=1, out_dir=tmp_path / "run1", **SMALL)
    assert not np.allclose(other.predict(OBS), actions)


def test_resume_continues_a_killed_run_exactly(tmp_path, monkeypatch):
    steps = 1200
    kwargs = dict(steps=steps, eval_every=100, **SMALL)
    whole = orl.fit("td3bc", "pendulum-scripted", out_dir=tmp_path / "whole", **kwargs)
    killed = tmp_path / "killed"
    proc = _python(f"import orl; orl.fit('td3bc', 'pendulum-scripted', out_dir={str(killed)!r}, **{kwargs!r})")
    deadline = time.time() + 120
    while not (killed / "checkpoint.pt").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    from orl.train.common import load_checkpoint

    step = int(load_checkpoint(killed)["step"])
    assert 100 <= step < steps, f"the run was not interrupted mid-way (checkpoint at step {step})"
    # count the updates the resumed run does: a silent restart from zero would do all of them
    from orl.algos.offline.td3bc import TD3BC

    calls = {"n": 0}
    update = TD3BC.update

    def counting(self, batch):
        calls["n"] += 1
        return update(self, batch)

    monkeypatch.setattr(TD3BC, "update", counting)
    resumed = orl.resume(killed)
    assert calls["n"] == steps - step
    assert resumed.algorithm.total_it == steps
    np.testing.assert_array_equal(resumed.predict(OBS), whole.predict(OBS))
    eval_whole = (tmp_path / "whole" / "eval.csv").read_text()
    assert (killed / "eval.csv").read_text() == eval_whole
    with pytest.raises(ValueError, match="already holds a run"):
        orl.fit("td3bc", "pendulum-scripted", out_dir=killed, **kwargs)


def test_online_agent_and_population_members(tmp_path):
    ppo = orl.fit("ppo", "CartPole-v1", steps=1024, eval_every=1024, num_steps=256, se_every=0,
                  out_dir=tmp_path / "ppo", eval_episodes=1)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    actions = ppo.predict(obs)
    assert actions.dtype.kind == "i" and set(actions.tolist()) <= {0, 1}
    np.testing.assert_array_equal(orl.load(ppo.save(tmp_path / "ppo.pt")).predict(obs), actions)

    pop = orl.fit("iql", "pendulum-scripted", steps=100, eval_every=100, seeds=[0, 1],
                  sweep={"expectile": [0.7, 0.9]}, out_dir=tmp_path / "pop", **SMALL)
    assert len(pop.members) == 4 and "pendulum-scripted/expectile=0.9/seed1" in pop.members
    with pytest.raises(ValueError, match="pick one with agent.member"):
        pop.predict(OBS)
    one = pop.member("pendulum-scripted/expectile=0.9/seed1")
    assert one.algorithm.configs[0].expectile == 0.9 and one.algorithm.seeds == [1]
    np.testing.assert_allclose(pop.algorithm.act(np.stack([OBS] * 4))[3], one.predict(OBS), atol=1e-5)
    np.testing.assert_array_equal(orl.load(one.save(tmp_path / "one.pt")).predict(OBS), one.predict(OBS))


def test_typed_config_and_signatures(tmp_path):
    from orl.algos.offline.iql import IQL, IQLConfig

    sig = inspect.signature(IQL)
    assert list(sig.parameters)[:4] == ["obs_dim", "action_low", "action_high", "config"]
    assert "IQLConfig" in str(sig.parameters["config"].annotation)
    assert IQL.__doc__ and "Kostrikov" in IQL.__doc__
    agent = orl.fit("iql", "pendulum-scripted", config=IQLConfig(expectile=0.85, hidden=(32, 32)), steps=50,
                    eval_every=50, out_dir=tmp_path / "typed", **SMALL)
    assert agent.algorithm.config.expectile == 0.85 and agent.algorithm.config.hidden == (32, 32)
    assert "expectile: 0.85" in (tmp_path / "typed" / "config.yaml").read_text()


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown algo 'iqll'.*valid: .*iql"):
        orl.fit("iqll", "pendulum-scripted")
    with pytest.raises(ValueError, match="unknown setting 'expectil'.*expectile"):
        orl.fit("iql", "pendulum-scripted", expectil=0.8)
    with pytest.raises(ValueError, match="unknown env 'pendulum-scriptd'"):
        orl.fit("iql", "pendulum-scriptd")
    from orl.algos.offline.td3bc import TD3BCConfig

    with pytest.raises(ValueError, match="config= for algo=iql must be a IQLConfig, got TD3BCConfig"):
        orl.fit("iql", "pendulum-scripted", config=TD3BCConfig())
    with pytest.raises(ValueError, match="sweep over unknown hyperparameter 'lr'"):
        orl.fit("iql", "pendulum-scripted", sweep={"lr": [1e-3, 1e-4]})
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        orl.fit("iql", "pendulum-scripted", steps=0, out_dir=tmp_path / "zero")
    assert not (tmp_path / "zero").exists()  # nothing left behind by a refused run
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot be read"):
        orl.load(junk)
    import torch

    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="is not an orl agent file"):
        orl.load(tmp_path / "other.pt")
    torch.save({"format": "orl-agent", "format_version": 99, "versions": {"orl": "9.0"}}, tmp_path / "new.pt")
    with pytest.raises(ValueError, match="newer orl"):
        orl.load(tmp_path / "new.pt")
    with pytest.raises(ValueError, match="does not exist"):
        orl.resume(tmp_path / "nowhere")


def test_fit_on_an_in_memory_dataset(tmp_path):
    from orl.data import ReplayBuffer, load_dataset

    buf = load_dataset("pendulum-scripted")
    agent = orl.fit("bc", buf, steps=100, eval_every=100, out_dir=tmp_path / "mem", **SMALL)
    assert (tmp_path / "mem" / "dataset.hdf5").exists()  # the run's own copy: resume needs no live object
    assert agent.config["env"]["dataset"] == str((tmp_path / "mem" / "dataset.hdf5").absolute())
    assert agent.predict(OBS).shape == (3, 1)
    bare = ReplayBuffer(10, (3,), 1)  # no metadata: the evaluation env must be named
    with pytest.raises(ValueError, match="needs eval_env="):
        orl.fit("bc", bare, steps=10)
