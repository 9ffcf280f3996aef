"""D4RL HDF5 and Minari round trips, hand-written D4RL files, corrupt files, atomic writes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from orl.data import DatasetError, ReplayBuffer, load_dataset, load_hdf5, load_minari, save_hdf5, save_minari


def assert_same(a: ReplayBuffer, b: ReplayBuffer) -> None:
    for col in ("observations", "actions", "rewards", "next_observations", "terminals", "timeouts", "has_next"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col), err_msg=col)
    np.testing.assert_array_equal(a.episode_lengths(), b.episode_lengths())
    assert a.checksum() == b.checksum()


def test_hdf5_round_trip(tmp_path, three_episodes):
    three_episodes.metadata.update({"env_id": "Foo-v0", "ref_min_score": -1.5, "nested": {"a": [1, 2]}})
    path = save_hdf5(three_episodes, tmp_path / "d.hdf5")
    back = load_hdf5(path)
    assert_same(three_episodes, back)
    assert back.metadata == three_episodes.metadata
    with h5py.File(path) as f:  # scalars are plain attributes too, readable by other tools
        assert f.attrs["env_id"] == "Foo-v0" and "next_observations" in f


def test_hdf5_round_trip_without_known_successors(tmp_path):
    obs = np.arange(8, dtype=np.float32).reshape(4, 2)
    buf = ReplayBuffer.from_arrays(obs, np.ones((4, 1)), [1, 2, 3, 4], [0, 0, 0, 0], [0, 1, 0, 1])
    assert not buf.has_next.all()
    back = load_hdf5(save_hdf5(buf, tmp_path / "d.hdf5"))
    assert_same(buf, back)


def test_handwritten_d4rl_file_loads(tmp_path):
    """A D4RL-layout file written with plain h5py: terminals and timeouts, no next_observations."""
    path = tmp_path / "hand.hdf5"
    obs = np.array([[0, 0], [1, 1], [2, 2], [3, 3], [4, 4], [5, 5], [6, 6]], np.float64)
    with h5py.File(path, "w") as f:
        f["observations"] = obs
        f["actions"] = np.linspace(-1, 1, 7)[:, None]
        f["rewards"] = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 0.5, 0.5])
        f["terminals"] = np.array([False, False, False, False, True, False, False])
        f["timeouts"] = np.array([False, False, True, False, False, False, True])
        f.create_group("infos")["qpos"] = np.zeros((7, 3))  # extra D4RL keys are ignored
        f.create_group("metadata")["algorithm"] = "SAC"
    buf = load_dataset(str(path))
    np.testing.assert_array_equal(buf.episode_lengths(), [3, 2, 2])
    np.testing.assert_allclose(buf.episode_returns(), [6.0, 30.0, 1.0])
    np.testing.assert_array_equal(buf.terminals, [0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(buf.timeouts, [0, 0, 1, 0, 0, 0, 1])
    nxt = buf.next_observations[:, 0]
    np.testing.assert_array_equal(nxt[[0, 1, 3, 5]], [1, 2, 4, 6])
    np.testing.assert_array_equal(buf.has_next, [1, 1, 0, 1, 1, 1, 0])
    assert buf.observations.dtype == np.float32
    assert buf.metadata["algorithm"] == "SAC"


def _write(path, **cols):
    with h5py.File(path, "w") as f:
        for k, v in cols.items():
            f[k] = v


GOOD = dict(observations=np.zeros((5, 3)), actions=np.zeros((5, 2)), rewards=np.zeros(5),
            terminals=np.zeros(5, bool), timeouts=np.zeros(5, bool))


@pytest.mark.parametrize("change, message", [
    ({"rewards": None}, r"missing required key\(s\) \['rewards'\]"),
    ({"actions": np.zeros((4, 2))}, "actions: length 4 does not match observations' length 5"),
    ({"observations": np.array([[0, 0, 0]] * 4 + [[0, np.inf, 0]])}, r"observations: contains NaN or inf \(first at index \(4, 1\)\)"),
    ({"rewards": np.array([0, 0, np.nan, 0, 0])}, "rewards: contains NaN or inf"),
    ({"terminals": np.array([b"a", b"b", b"c", b"d", b"e"])}, "terminals: expected booleans"),
    ({"rewards": np.zeros((5, 2))}, r"rewards: expected shape \(5,\)"),
])
def test_corrupt_files_name_the_file_and_fault(tmp_path, change, message):
    cols = {**GOOD, **change}
    path = tmp_path / "bad.hdf5"
    _write(path, **{k: v for k, v in cols.items() if v is not None})
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(str(path))
    assert str(path) in str(info.value)


def test_not_hdf5_and_truncated_and_missing(tmp_path):
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"this is not an HDF5 file" * 10)
    with pytest.raises(DatasetError, match="junk.hdf5: not a readable HDF5 file"):
        load_dataset(str(junk))
    good = tmp_path / "good.hdf5"
    _write(good, **{**GOOD, "observations": np.random.default_rng(0).normal(size=(20000, 3)),
                    "actions": np.zeros((20000, 2)), "rewards": np.zeros(20000),
                    "terminals": np.zeros(20000, bool), "timeouts": np.zeros(20000, bool)})
    cut = tmp_path / "cut.hdf5"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DatasetError, match="cut.hdf5"):
        load_dataset(str(cut))
    with pytest.raises(DatasetError, match="nope.hdf5: file not found"):
        load_dataset(str(tmp_path / "nope.hdf5"))


def test_atomic_hdf5_write_keeps_the_old_file_on_failure(tmp_path, three_episodes, monkeypatch):
    path = save_hdf5(three_episodes, tmp_path / "d.hdf5")
    before = path.read_bytes()
    bad = ReplayBuffer.from_arrays(np.ones((2, 1)), np.ones((2, 1)), [7, 7], [0, 1])
    bad.metadata["boom"] = object()  # not serialisable: the write fails after the file was opened
    with pytest.raises(TypeError):
        save_hdf5(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.hdf5"]  # no temporary left behind


def test_minari_round_trip(tmp_path, three_episodes):
    import gymnasium as gym

    three_episodes.metadata["note"] = "hand-built"
    spaces = dict(observation_space=gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
                  action_space=gym.spaces.Box(-1, 1, (1,), np.float32))
    save_minari(three_episodes, "orltest/three-v0", root=tmp_path, **spaces)
    back = load_minari("orltest/three-v0", root=tmp_path)
    assert_same(three_episodes, back)
    assert back.metadata["note"] == "hand-built"
    import minari  # the dataset is a real Minari dataset, readable by Minari itself
    import os

    os.environ["MINARI_DATASETS_PATH"], old = str(tmp_path), os.environ.get("MINARI_DATASETS_PATH")
    try:
        ds = minari.load_dataset("orltest/three-v0")
        assert ds.total_episodes == 3 and ds.total_steps == 6
        assert "orltest/three-v0" in minari.list_local_datasets()
    finally:
        os.environ["MINARI_DATASETS_PATH"] = old
    with pytest.raises(DatasetError, match="already exists"):
        save_minari(three_episodes, "orltest/three-v0", root=tmp_path, **spaces)


def test_minari_round_trip_restores_unknown_successors(tmp_path):
    obs = np.arange(6, dtype=np.float32)[:, None]
    buf = ReplayBuffer.from_arrays(obs, np.zeros((6, 1)), np.ones(6), [0, 0, 0, 1, 0, 0], [0, 1, 0, 0, 0, 1])
    save_minari(buf, "orltest/gaps-v0", env="Pendulum-v1", root=tmp_path,
                observation_space=__import__("gymnasium").spaces.Box(-np.inf, np.inf, (1,), np.float32))
    back = load_minari("orltest/gaps-v0", root=tmp_path)
    np.testing.assert_array_equal(back.has_next, buf.has_next)
    np.testing.assert_array_equal(back.episode_lengths(), buf.episode_lengths())


def test_minari_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match=r"'orltest/none-v0' not found .* \(orl never downloads\)"):
        load_minari("orltest/none-v0", root=tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_dataset("minari:orltest/none-v0")


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    """mkstemp/mkdtemp create owner-only temporaries; the renamed results get what open()/mkdir() give."""
    import os
    import stat

    from orl.utils.atomic import atomic_dir, atomic_path

    umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "result.csv") as tmp, open(tmp, "w") as f:
            f.write("a,b\n")
        with atomic_dir(tmp_path / "dataset") as tmp:
            (tmp / "data.txt").write_text("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "result.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "dataset").stat().st_mode) == 0o755


def test_write_csv_replaces_whole_files_only(tmp_path):
    """A results table is rewritten whole: a row that cannot be written leaves the previous file intact."""
    import csv

    from orl.utils.atomic import write_csv

    out = tmp_path / "results.csv"
    write_csv(out, [{"algo": "td3bc", "score": 1.5}], ["algo", "score"])
    with pytest.raises(ValueError):  # a column not in the header: DictWriter refuses it mid-write
        write_csv(out, [{"algo": "iql", "score": 2.0}, {"algo": "cql", "bogus": 1}], ["algo", "score"])
    with open(out, newline="") as f:
        assert list(csv.DictReader(f)) == [{"algo": "td3bc", "score": "1.5"}]
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temporary left behind
