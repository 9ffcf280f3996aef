"""Offline algorithms and the training loop: learning, save/load, seeding, resume, the CLI."""

from __future__ import annotations

import csv
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from orl.algos import ALGORITHMS
from orl.data import load_dataset
from orl.train.offline import Member, TrainConfig, make_algorithm, train_offline, train_population

ROOT = Path(__file__).resolve().parents[1]
# Test-size networks: the learning logic is what is tested; the papers' sizes are the defaults.
SMALL = {"bc": {"hidden": [64, 64]}, "td3bc": {"hidden": [64, 64]}, "iql": {"hidden": [64, 64]},
         "a2pr": {"actor_hidden": [128, 128], "critic_hidden": [128, 128], "vae_hidden": [128, 128]},
         "cql": {"actor_hidden": [64, 64], "critic_hidden": [64, 64], "n_actions": 4},
         "diffusion_bc": {"hidden": 32, "blocks": 1, "time_dim": 8}}
LEARN = SMALL


@pytest.fixture(scope="module")
def pendulum():
    return load_dataset("pendulum-scripted")


def eval_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "eval.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("algo, steps", [("td3bc", 6000), ("iql", 8000), ("a2pr", 5000)])
def test_offline_rl_beats_the_data(tmp_path, pendulum, algo, steps):
    """On a noisy scripted controller's data (mean return about -285; random -1200; the
    noiseless controller -175), offline RL must do clearly better than the data's average — in a
    population of five seeds trained together, the median member must. A single seed is a coin
    toss for some of them here: measured final returns minus the data mean, seeds 0-4, were
    td3bc 101/130/79/118/128, iql (8000 updates) -241/135/141/-83/86, a2pr -61/130/120/113/127."""
    data_mean = pendulum.episode_returns().mean()
    members = [Member(pendulum, seed, "Pendulum-v1", LEARN[algo], f"seed{seed}") for seed in range(5)]
    result = train_population(algo, members, tmp_path, TrainConfig(steps=steps, eval_every=1000, eval_episodes=20),
                              progress=False)
    finals = [float(eval_rows(tmp_path / m.name)[-1]["return_mean"]) for m in members]
    assert np.median(finals) > data_mean + 50, f"{algo}: final returns {np.round(finals)} vs data mean {data_mean:.0f}"
    for m, summary in zip(members, result["members"]):
        assert summary["last"] == pytest.approx(float(eval_rows(tmp_path / m.name)[-1]["score_mean"]))


def test_cql_beats_the_data(tmp_path):
    """CQL on ``reacher-decoy`` (half a noisy reaching controller, half the same controller aimed at
    the mirrored target; mean return about -20.5, the noiseless reaching controller -5.3) must do
    clearly better than the data's average (it ends at -8 to -11.6 over seeds 0-5; behaviour cloning
    -9 to -13). On pendulum-scripted CQL does not learn reliably within a CI budget (docs/training.md).
    CORL's settings except test-size networks, 4 actions of each kind and a policy learning rate of
    1e-3 (CORL's 3e-5 is tuned for a million updates)."""
    data = load_dataset("reacher-decoy")
    data_mean = data.episode_returns().mean()
    train_offline("cql", data, "Reacher-v5", tmp_path, TrainConfig(steps=3000, eval_every=1000, eval_episodes=20),
                  {**SMALL["cql"], "actor_lr": 1e-3}, progress=False)
    final = float(eval_rows(tmp_path)[-1]["return_mean"])
    assert final > data_mean + 5, f"cql: final return {final:.1f} vs data mean {data_mean:.1f}"


def test_bc_imitates_the_data(tmp_path, pendulum):
    result = train_offline("bc", pendulum, "Pendulum-v1", tmp_path, TrainConfig(steps=3000, eval_every=3000, eval_episodes=10),
                           SMALL["bc"], progress=False)
    algo = result["algo"]
    pred = algo.act(pendulum.observations)
    mse = float(((pred - pendulum.actions) ** 2).mean())
    baseline = float(((pendulum.actions - pendulum.actions.mean(0)) ** 2).mean())
    assert mse < 0.6 * baseline  # it has learned the state -> action mapping
    # and matches the data's return (the noise it cannot predict only costs the data return)
    data_mean = pendulum.episode_returns().mean()
    final = float(eval_rows(tmp_path)[-1]["return_mean"])
    assert final > data_mean - 50, f"bc: final return {final:.0f} vs data mean {data_mean:.0f}"


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_save_load_round_trip(tmp_path, pendulum, name):
    a = make_algorithm(name, pendulum, np.array([-2.0]), np.array([2.0]), SMALL[name])
    rng = np.random.default_rng(0)
    for _ in range(5):
        a.update(pendulum.sample(64, rng))
    torch.save(a.state_dict(), tmp_path / "algo.pt")
    b = make_algorithm(name, pendulum, np.array([-2.0]), np.array([2.0]), SMALL[name])
    b.load_state_dict(torch.load(tmp_path / "algo.pt", weights_only=False))
    obs = pendulum.observations[:50]
    np.testing.assert_array_equal(a.act(obs), b.act(obs))
    assert np.abs(a.act(obs)).max() <= 2.0 and a.act(obs[0]).shape == (1,)
    # both continue identically (optimiser state and counters were restored too)
    ma = a.update(pendulum.sample(64, np.random.default_rng(5)))  # the update noise was restored too
    mb = b.update(pendulum.sample(64, np.random.default_rng(5)))
    assert ma.keys() == mb.keys() and all(torch.equal(ma[k], mb[k]) for k in ma)
    with pytest.raises(ValueError, match="state is for algorithm"):
        other = next(n for n in ALGORITHMS if n != name)
        make_algorithm(other, pendulum, np.array([-2.0]), np.array([2.0]), SMALL[other]).load_state_dict(a.state_dict())


def _params(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoint.pt", weights_only=False)["algo"]["components"]["actor"]


@pytest.mark.parametrize("sampler", ["uniform", "aw"])
def test_same_seed_same_result_and_resume_equals_uninterrupted(tmp_path, pendulum, sampler):
    cfg = dict(eval_every=100, eval_episodes=2, log_every=50, sampler=sampler, seed=3)
    full = tmp_path / "full"
    train_offline("td3bc", pendulum, "Pendulum-v1", full, TrainConfig(steps=300, **cfg), SMALL["td3bc"], progress=False)
    again = tmp_path / "again"
    train_offline("td3bc", pendulum, "Pendulum-v1", again, TrainConfig(steps=300, **cfg), SMALL["td3bc"], progress=False)
    cut = tmp_path / "cut"  # stops after the first checkpoint, then resumes in a fresh algorithm
    train_offline("td3bc", pendulum, "Pendulum-v1", cut, TrainConfig(steps=100, **cfg), SMALL["td3bc"], progress=False)
    train_offline("td3bc", pendulum, "Pendulum-v1", cut, TrainConfig(steps=300, **cfg), SMALL["td3bc"], resume=True,
                  progress=False)
    for other in (again, cut):
        for k, v in _params(full).items():
            assert torch.equal(v, _params(other)[k]), k
        assert eval_rows(other) == eval_rows(full)
    other_seed = tmp_path / "seed4"
    train_offline("td3bc", pendulum, "Pendulum-v1", other_seed, TrainConfig(steps=300, **{**cfg, "seed": 4}),
                  SMALL["td3bc"], progress=False)
    assert not torch.equal(_params(full)["0.weight"], _params(other_seed)["0.weight"])


def test_bad_settings_name_the_field(pendulum):
    with pytest.raises(ValueError, match="steps must be a positive integer, got -5"):
        TrainConfig(steps=-5)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="sampler must be one of uniform, rw, aw, topk, got 'best'"):
        TrainConfig(sampler="best")
    with pytest.raises(ValueError, match=r"td3bc: unknown hyperparameter\(s\) \['alhpa'\]"):
        make_algorithm("td3bc", pendulum, np.array([-2.0]), np.array([2.0]), {"alhpa": 3})
    with pytest.raises(ValueError, match="unknown algorithm 'sac'; choose one of a2pr, bc, cql, diffusion_bc, iql, td3bc"):
        make_algorithm("sac", pendulum, np.array([-2.0]), np.array([2.0]))


def test_devices_are_checked_by_name():
    with pytest.raises(ValueError, match=r"device must be 'cpu' or 'cuda\[:N\]', got 'tpu'"):
        TrainConfig(device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda', but torch sees no CUDA GPU here; use device=cpu"):
            TrainConfig(device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_a_gpu_run_checkpoints_to_a_cpu_policy(tmp_path, pendulum, name):
    """Trained on the GPU, the checkpoint loads on a CPU and acts as the GPU policy did."""
    cfg = TrainConfig(steps=200, eval_every=100, eval_episodes=1, device="cuda")
    result = train_offline(name, pendulum, "Pendulum-v1", tmp_path, cfg, SMALL[name], progress=False)
    cpu = make_algorithm(name, pendulum, np.array([-2.0]), np.array([2.0]), SMALL[name])
    cpu.load_state_dict(torch.load(tmp_path / "checkpoint.pt", weights_only=False, map_location="cpu")["algo"])
    obs = pendulum.observations[:64]
    np.testing.assert_allclose(cpu.act(obs), result["algo"].act(obs), atol=1e-4)
    assert float(eval_rows(tmp_path)[-1]["return_mean"]) < 0  # Pendulum returns are negative: it ran


def test_configs_match_the_code():
    from orl.data import dataset_names

    conf = ROOT / "orl" / "conf"
    # simulators (algo=hdpo), generated routing problems (algo=bq) and conversational recommendation graphs
    # (algo=unicorn) are not datasets, and Gymnasium ids (online algorithms, env=gym) are not datasets either
    other = {p.stem for p in (conf / "env").glob("*.yaml")
             if {"setting", "problem", "id", "crs"} & set(yaml.safe_load(p.read_text()))}
    assert {p.stem for p in (conf / "env").glob("*.yaml")} - other == set(dataset_names()) | {"custom"}
    for name, cls in ALGORITHMS.items():
        cfg = yaml.safe_load((conf / "algo" / f"{name}.yaml").read_text())
        assert cfg.pop("name") == name
        defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cls.Config()).items()}
        assert cfg == defaults, name
    for path in (conf / "tuned").glob("*/*.yaml"):
        if path.parent.name not in ALGORITHMS:  # online algorithms' (Gymnasium ids): tests/test_online.py
            continue
        fields = ALGORITHMS[path.parent.name].Config.__dataclass_fields__
        assert set(yaml.safe_load(path.read_text())) <= set(fields), path
        assert path.stem in dataset_names(), path


def _cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orl.run", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ}, **kw)


def test_cli_errors_exit_2_with_the_valid_names(tmp_path):
    r = _cli("algo=td4bc", cwd=tmp_path)
    assert r.returncode == 2 and "unknown algo 'td4bc'; valid: a2pr, bc, bq, cql, crs_dqn, diffusion_bc, dsrl_na, dsrl_sac, expo, hdpo, iql, iql_ft, ppo, props, protected, sa_ppo, sac, td3bc, unicorn" in r.stderr and "Traceback" not in r.stderr
    r = _cli("env=hopper-mediun", cwd=tmp_path)
    assert r.returncode == 2 and "hopper-medium" in r.stderr and "minari:" in r.stderr and "Traceback" not in r.stderr
    r = _cli("algo=bc", "env=pendulum-scripted", "steps=-1", cwd=tmp_path)
    assert r.returncode == 2 and "steps must be a positive integer, got -1" in r.stderr
    r = _cli("algo=bc", "env=pendulum-scripted", "batch_size=0", cwd=tmp_path)
    assert r.returncode == 2 and "batch_size must be a positive integer, got 0" in r.stderr


def test_tuned_settings_are_applied():
    from hydra import compose, initialize_config_dir

    from orl.run import apply_tuned

    with initialize_config_dir(str(ROOT / "orl" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["algo=a2pr", "env=hopper-medium"])
        applied = apply_tuned(cfg)
    assert cfg.algo.discount == 0.995 and cfg.algo.mask == 0.4 and "discount=0.995" in applied
