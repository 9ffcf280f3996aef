"""Registered datasets: unknown names, build-on-first-use cache, determinism, interrupted builds."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from orl.data import DatasetError, build_dataset, data_dir, dataset_names, load_dataset, normalized_score
from orl.data import registry


def test_unknown_name_lists_the_known_names():
    with pytest.raises(DatasetError) as info:
        load_dataset("pendulum-expert")
    msg = str(info.value)
    assert "unknown dataset 'pendulum-expert'" in msg
    for name in dataset_names():
        assert name in msg
    assert "minari:" in msg and ".hdf5" in msg


def test_pendulum_dataset_builds_once_and_loads_everywhere():
    buf = load_dataset("pendulum-scripted")
    assert len(buf) == 20_000 and buf.num_episodes == 100
    assert buf.timeouts.sum() == 100 and buf.terminals.sum() == 0 and buf.has_next.all()
    meta = buf.metadata
    assert meta["env_id"] == "Pendulum-v1" and meta["dataset"] == "pendulum-scripted"
    assert meta["ref_min_score"] < buf.episode_returns().mean() < meta["ref_max_score"]
    assert meta["checksum"] == buf.checksum()  # what was written is what is read
    cached = data_dir() / "minari" / "orl" / "pendulum-scripted-v1"
    stamp = (cached / "data" / "metadata.json").stat().st_mtime_ns
    again = load_dataset("pendulum-scripted")  # cached: no rebuild
    assert (cached / "data" / "metadata.json").stat().st_mtime_ns == stamp
    assert again.checksum() == buf.checksum()
    # the same data through the other front doors
    assert load_dataset("minari:orl/pendulum-scripted-v1").checksum() == buf.checksum()
    score = normalized_score("pendulum-scripted", [meta["ref_min_score"], meta["ref_max_score"]])
    np.testing.assert_allclose(score, [0.0, 100.0])
    with pytest.raises(DatasetError, match="no d4rl reference scores"):
        normalized_score("pendulum-scripted", 0.0, reference="d4rl")


def test_reacher_decoy_holds_both_controllers():
    from orl.data import reacher

    buf = load_dataset("reacher-decoy")
    assert len(buf) == 20_000 and buf.num_episodes == 400
    assert buf.timeouts.sum() == 400 and buf.terminals.sum() == 0 and buf.has_next.all()
    returns = buf.episode_returns()
    reaching, decoy = returns[:200].mean(), returns[200:].mean()
    lo, hi = buf.metadata["ref_min_score"], buf.metadata["ref_max_score"]
    assert lo < decoy < reaching < hi  # noise costs the reaching half, aiming wrong costs the decoy more
    # the controller by hand: q = 0 (arm along +x, tip at (0.21, 0)), target 0.1 above the tip;
    # J(0) = [[0, 0], [0.21, 0.11]], so tau = K J^T (target - tip) = 10 * (0.21, 0.11) * 0.1
    obs = np.zeros((1, 10), np.float32)
    obs[0, [0, 1]] = 1.0
    obs[0, 4:6] = (0.21, 0.1)
    obs[0, 8:10] = (0.0, -0.1)  # tip - target
    np.testing.assert_allclose(reacher.reach(obs)[0], [0.21, 0.11], rtol=1e-5)
    # the decoy aims at -target = (-0.21, -0.1): error (-0.42, -0.1), the same torques reversed
    np.testing.assert_allclose(reacher.reach(obs, mirror=True)[0], [-0.21, -0.11], rtol=1e-5)


def test_rebuild_is_deterministic():
    first = load_dataset("pendulum-random").checksum()
    build_dataset("pendulum-random", force=True)
    assert load_dataset("pendulum-random").checksum() == first


def test_interrupted_build_leaves_nothing_loadable(monkeypatch):
    import orl.data.io as io

    info = registry.DatasetInfo(name="pendulum-interrupted", env_id="Pendulum-v1",
                                build=lambda: __import__("orl.data.pendulum", fromlist=["x"]).rollout("random", 3, 0),
                                description="test")
    monkeypatch.setitem(registry._REGISTRY, info.name, info)
    real = io.ReplayBuffer.episodes

    def crash_midway(self):  # the Minari write dies after a few episodes were converted
        for i, ep in enumerate(real(self)):
            if i == 2:
                raise KeyboardInterrupt("killed mid-write")
            yield ep

    monkeypatch.setattr(io.ReplayBuffer, "episodes", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        build_dataset(info.name)
    assert not registry.is_built(info.name)
    with pytest.raises(DatasetError, match="not built yet"):
        load_dataset(info.name, build=False)
    monkeypatch.setattr(io.ReplayBuffer, "episodes", real)
    assert len(load_dataset(info.name)) == 600  # the next use builds it whole


def test_a_concurrent_first_use_builds_once_and_says_who_built(monkeypatch, capsys):
    import threading

    from orl.data import build as build_cli
    from orl.data.pendulum import rollout

    started, release, calls = threading.Event(), threading.Event(), []

    def slow_build():
        calls.append(1)
        started.set()
        release.wait(10)
        return rollout("random", 2, 0)

    info = registry.DatasetInfo(name="pendulum-concurrent", env_id="Pendulum-v1", build=slow_build, description="test")
    monkeypatch.setitem(registry._REGISTRY, info.name, info)
    real_flock, waiting = registry.fcntl.flock, threading.Event()

    def flock(fd, op):  # the second caller announces itself before it blocks on the lock
        if started.is_set():
            waiting.set()
        return real_flock(fd, op)

    monkeypatch.setattr(registry.fcntl, "flock", flock)
    first = threading.Thread(target=build_cli.main, args=([info.name],))
    first.start()
    assert started.wait(10)  # the first builder holds the lock
    second = threading.Thread(target=build_cli.main, args=([info.name],))
    second.start()
    assert waiting.wait(10)  # the second is at the lock: let the first finish
    release.set()
    first.join(30)
    second.join(30)
    out = capsys.readouterr().out
    assert len(calls) == 1
    assert out.count(f"{info.name}: built in") == 1
    assert out.count(f"{info.name}: built by another process while this one waited") == 1


def test_a_killed_build_process_leaves_nothing_loadable(tmp_path):
    """SIGKILL a real build process mid-way: no dataset appears, and the next build succeeds."""
    code = (
        "import os, signal, orl.data.io as io\n"
        "real = io.ReplayBuffer.episodes\n"
        "def die(self):\n"
        "    for i, ep in enumerate(real(self)):\n"
        "        if i == 50: os.kill(os.getpid(), signal.SIGKILL)\n"
        "        yield ep\n"
        "io.ReplayBuffer.episodes = die\n"
        "from orl.data import build_dataset; build_dataset('pendulum-random')\n"
    )
    env = {**__import__("os").environ, "ORL_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert proc.returncode == -9
    check = subprocess.run([sys.executable, "-c", "from orl.data import registry; print(registry.is_built('pendulum-random'))"],
                           env=env, capture_output=True, text=True)
    assert check.stdout.strip() == "False"


def test_a_dataset_built_from_other_sources_is_stale_and_rebuilt(monkeypatch):
    """A cached dataset records the fingerprint of what it was made from (for locomotion, the shipped
    policies); when that changes (a re-export, a newer orl), the next load rebuilds it."""
    from orl.data import pendulum

    source = {"value": "policies-v1"}
    builds = []

    def build():
        builds.append(source["value"])
        return pendulum.rollout("random", 2, seed=len(builds))

    info = registry.DatasetInfo(name="test-stale", env_id=pendulum.ENV_ID, build=build, description="test",
                                source=lambda: source["value"])
    monkeypatch.setitem(registry._REGISTRY, "test-stale", info)
    first = load_dataset("test-stale")
    assert registry.is_built("test-stale") and first.metadata["source"] == "policies-v1"
    load_dataset("test-stale")
    assert builds == ["policies-v1"]  # cached
    source["value"] = "policies-v2"
    assert not registry.is_built("test-stale")
    second = load_dataset("test-stale")
    assert builds == ["policies-v1", "policies-v2"] and second.metadata["source"] == "policies-v2"
    assert not np.array_equal(first.observations, second.observations)


def test_locomotion_datasets_are_fingerprinted_by_their_policies(tmp_path):
    from orl.data.locomotion import GENERATION, POLICY_DIR, policies_fingerprint, source_fingerprint

    assert policies_fingerprint("walker2d", tmp_path) is None  # nothing shipped: no check
    assert source_fingerprint("walker2d", tmp_path) is None
    shipped = policies_fingerprint("halfcheetah")
    assert shipped is not None and shipped == policies_fingerprint("halfcheetah", POLICY_DIR)
    # the generation code's revision is part of the fingerprint: a change to the data rebuilds caches
    assert registry.dataset_info("halfcheetah-medium").source() == f"generation-{GENERATION}:{shipped}"
