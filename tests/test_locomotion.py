"""Locomotion dataset protocol on tiny sizes, with stand-in behaviour policies (random weights)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from orl.data import DatasetError, ReplayBuffer
from orl.data.locomotion import build_standard, mix, replay_segments

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from bench_generate import random_actor  # noqa: E402
from export_behaviour import select  # noqa: E402


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    d = root / "hopper"
    d.mkdir()
    for k, name in enumerate(["expert", "medium", "replay_0000300", "replay_0000600"]):
        a = random_actor(11, 3, seed=k)
        np.savez(d / f"{name}.npz", latent_pi_0_weight=a.W1.T, latent_pi_0_bias=a.b1, latent_pi_2_weight=a.W2.T,
                 latent_pi_2_bias=a.b2, mu_weight=a.Wh.T[:3], mu_bias=a.bh[:3], log_std_weight=a.Wh.T[3:],
                 log_std_bias=a.bh[3:])
    manifest = {"env_id": "Hopper-v5", "reference": {"random": {"mean": -20.0}, "expert": {"mean": 3000.0}},
                "replay": {"learning_starts": 300, "medium_step": 900,
                           "snapshots": [{"file": "replay_0000300", "step": 300}, {"file": "replay_0000600", "step": 600}]}}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_missing_policies_are_a_clear_error():
    with pytest.raises(DatasetError, match="no behaviour policies for 'hopper' are shipped"):
        build_standard("hopper", "medium", size=100, policy_dir=Path("/nonexistent"))


@pytest.mark.parametrize("level, size", [("random", 1500), ("medium", 1500), ("expert", 1500), ("medium-expert", 3000)])
def test_standard_levels(policy_dir, level, size):
    buf = build_standard("hopper", level, size=1500, policy_dir=policy_dir, progress=False, shards=1)
    assert len(buf) == size and buf.has_next.all()
    meta = buf.metadata
    assert meta["ref_min_score"] == -20.0 and meta["ref_max_score"] == 3000.0
    assert meta["d4rl_ref_min_score"] == pytest.approx(-20.272305) and meta["d4rl_ref_max_score"] == pytest.approx(3234.3)
    if level == "random":
        assert np.abs(buf.actions).max() <= 1.0


def test_medium_replay_follows_the_training_steps(policy_dir):
    manifest = json.loads((policy_dir / "hopper" / "manifest.json").read_text())
    assert replay_segments(manifest) == [(None, 300), ("replay_0000300", 300), ("replay_0000600", 300)]
    buf = build_standard("hopper", "medium-replay", policy_dir=policy_dir, progress=False)
    assert len(buf) == 900  # the replay buffer at the medium checkpoint: one transition per training step


def test_mix_shares_whole_trajectories():
    def dataset(value: float, n_eps: int, length: int) -> ReplayBuffer:
        n = n_eps * length
        tout = np.zeros(n, bool)
        tout[length - 1 :: length] = True
        obs = np.arange(n, dtype=np.float32)[:, None]
        return ReplayBuffer.from_arrays(obs, np.full((n, 1), value), np.full(n, value), np.zeros(n), tout)

    good, rand = dataset(1.0, 20, 50), dataset(0.0, 100, 10)
    out = mix(good, rand, percent=10, size=2000, seed=0)
    assert len(out) == 2000
    good_rows = out.actions[:, 0] == 1.0
    assert 200 <= good_rows.sum() < 250  # at least 10%, whole 50-step trajectories
    lengths, returns = out.episode_lengths(), out.episode_returns()
    assert set(lengths[returns > 0].tolist()) == {50}
    assert mix(good, rand, 10, 2000, seed=0).checksum() == out.checksum()


def test_export_selection_rules():
    rows = [{"step": str(s), "stoch_mean": str(v)} for s, v in
            [(10000, 10), (20000, 400), (30000, 880), (40000, 1100), (50000, 3000), (60000, 2800)]]
    snapshots = list(range(2000, 60001, 2000))  # every 2k steps, checkpoints included
    expert, medium, replay = select(rows, snapshots, max_replay=20)
    assert expert["step"] == "50000" and medium["step"] == "40000"  # closest to 3000 / 3 (1100 beats 880)
    assert replay == list(range(2000, 40001, 2000))  # all 20 snapshots up to medium
    _, _, few = select(rows, snapshots, max_replay=5)
    assert len(few) == 5 and few[0] == 2000 and few[-1] == 40000  # evenly spread, ends kept
    _, _, coarse = select(rows, [10000, 20000, 30000, 40000, 50000], max_replay=20)
    assert coarse == [10000, 20000, 30000, 40000]
    _, _, trained = select(rows, snapshots, max_replay=20, learning_starts=10000)
    assert trained[0] == 10000 and trained[-1] == 40000  # warm-up snapshots are not replay policies
    # A jump past a third: the first checkpoint above it (2900) is nearly an expert, so the medium
    # policy is the one closest to a third, before the jump; ties go to the earliest.
    jump = [{"step": str(s), "stoch_mean": str(v)} for s, v in
            [(10000, 10), (20000, 950), (30000, 1050), (40000, 2900), (50000, 3000), (60000, 1000)]]
    expert, medium, _ = select(jump, snapshots, max_replay=20)
    assert expert["step"] == "50000" and medium["step"] == "20000"
    # A later dip to a third (an expert's temporary collapse) is not a medium policy.
    dip = [{"step": str(s), "stoch_mean": str(v)} for s, v in
           [(10000, 10), (20000, 500), (30000, 2900), (40000, 1000), (50000, 3000)]]
    assert select(dip, snapshots, max_replay=20)[1]["step"] == "20000"
    # Medium from another run (its own evaluations), against a third of this run's expert.
    short = [{"step": str(s), "stoch_mean": str(v)} for s, v in [(10000, 5), (20000, 600), (30000, 1200), (40000, 2500)]]
    expert, medium, replay = select(rows, snapshots, max_replay=20, learning_starts=10000, medium_rows=short)
    assert expert["step"] == "50000" and medium["step"] == "30000" and replay == list(range(10000, 30001, 2000))
    with pytest.raises(SystemExit, match=r"reaches a third of the expert's evaluation \(1000\); its best is 600"):
        select(rows, snapshots, max_replay=20, medium_rows=short[:2])


def test_all_locomotion_names_are_registered():
    from orl.data import dataset_info, dataset_names

    names = set(dataset_names())
    for env in ("hopper", "halfcheetah", "walker2d"):
        assert {f"{env}-{lvl}" for lvl in ("random", "medium", "expert", "medium-replay", "medium-expert")} <= names
        assert {f"{env}-random-{g}-{p}" for g in ("medium", "expert") for p in (1, 5, 10, 50)} <= names
        assert dataset_info(f"{env}-medium").env_id.endswith("-v5")


def _shipped() -> list[str]:
    from orl.data.locomotion import POLICY_DIR

    return sorted(p.name for p in POLICY_DIR.iterdir() if (p / "manifest.json").exists()) if POLICY_DIR.exists() else []


def test_shipped_policies_are_small_and_complete():
    """Whatever behaviour policies the package ships: at most 25 MB together, a manifest with the
    provenance the datasets issue asks for, and actors that load and act in their environment."""
    import json

    import gymnasium as gym

    from orl.data.behaviour import TanhGaussianPolicy
    from orl.data.locomotion import ENVS, POLICY_DIR

    if not _shipped():
        pytest.skip("no behaviour policies shipped yet")
    assert sum(f.stat().st_size for f in POLICY_DIR.rglob("*") if f.is_file()) <= 25 * 2**20
    for env in _shipped():
        m = json.loads((POLICY_DIR / env / "manifest.json").read_text())
        assert m["env_id"] == ENVS[env] and m["versions"]["stable_baselines3"] and m["seed"] is not None
        assert m["training"]["steps_trained"] >= m["expert"]["step"] >= m["medium"]["step"]
        for key in ("random", "expert"):
            assert m["reference"][key]["episodes"] == 100 and np.isfinite(m["reference"][key]["mean"])
        assert m["reference"]["expert"]["mean"] > m["reference"]["random"]["mean"]
        files = ["expert", "medium"] + [s["file"] for s in m["replay"]["snapshots"]]
        space = gym.make(ENVS[env]).observation_space
        for f in files:
            actor = TanhGaussianPolicy.load(POLICY_DIR / env / f"{f}.npz")
            a = actor.act(np.zeros((3, space.shape[0]), np.float32), np.random.default_rng(0))
            assert a.shape == (3, gym.make(ENVS[env]).action_space.shape[0]) and np.all(np.abs(a) <= 1.0)


def test_hopper_physics_is_the_pinned_mujoco_s():
    """orl's Hopper data and policies are made on MuJoCo 3.2.3-3.4 physics (pyproject pins ``mujoco<3.5``):
    MuJoCo 3.5 changed Hopper-v5's foot contact, and a fixed action sequence then gives another
    trajectory (length 249, return 369.815 instead of 366.740 here)."""
    import gymnasium as gym

    env = gym.make("Hopper-v5")
    actions = 0.3 * np.random.default_rng(0).uniform(-1, 1, size=(300, 3)).astype(np.float32)
    env.reset(seed=0)
    total, steps = 0.0, 0
    for a in actions:
        _, r, terminated, _, _ = env.step(a)
        total, steps = total + r, steps + 1
        if terminated:
            break
    assert steps == 249
    assert total == pytest.approx(366.7399962834016, abs=1e-6), "Hopper-v5 physics differ from MuJoCo 3.2.3-3.4's"


# ------------------------------------------------------------------ every episode end carries a flag
def assert_every_end_flagged(buf: ReplayBuffer, tmp_path: Path, minari_root: Path | None = None,
                             minari_id: str | None = None) -> None:
    """Each episode end has ``terminals`` or ``timeouts`` in the buffer, in the D4RL HDF5 layout and in
    the Minari layout, so a reader that splits episodes at the flags alone (d3rlpy) sees orl's episodes."""
    import warnings

    import h5py
    import minari

    from orl.data import save_hdf5, save_minari
    from orl.data.io import minari_root as use_root

    assert buf.unflagged_ends().size == 0, f"unflagged episode ends at rows {buf.unflagged_ends()[:5]}"
    path = tmp_path / "flags.hdf5"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the writer must not have had to flag anything itself
        save_hdf5(buf, path, unflagged="error")
    with h5py.File(path) as f:
        flags = f["terminals"][()] | f["timeouts"][()]
    assert flags.sum() == buf.num_episodes and flags[buf.episode_ends].all()
    if minari_id is None:  # not a cached dataset: write it
        minari_root, minari_id = tmp_path / "minari", "orltest/flags-v0"
        save_minari(buf, minari_id, env=buf.metadata.get("env_id", "Hopper-v5"), root=minari_root,
                    overwrite=True, unflagged="error")
    with use_root(minari_root):
        episodes = list(minari.load_dataset(minari_id).iterate_episodes())
    assert len(episodes) == buf.num_episodes
    assert all(ep.terminations[-1] or ep.truncations[-1] for ep in episodes)


def test_generated_episodes_all_end_with_a_flag(policy_dir, tmp_path):
    """Every level's generation code at a tiny size: the last episode cut at the size limit, the
    episodes cut at medium-replay's snapshot boundaries and the mixed datasets' cut tails end in a
    timeout (they used to carry no flag at all)."""
    levels = {lvl: build_standard("hopper", lvl, size=300, policy_dir=policy_dir, progress=False, shards=1)
              for lvl in ("random", "medium", "expert", "medium-expert", "medium-replay")}
    # the cut tails exist: a size limit inside an episode, and one per snapshot boundary
    assert levels["random"].timeouts[-1] and not levels["random"].terminals[-1]
    starts, _ = levels["medium-replay"].episode_bounds()
    assert {300, 600} <= set(starts.tolist())  # episodes are cut at the snapshot boundaries...
    assert levels["medium-replay"].timeouts[[299, 599]].all()  # ...and say so
    for lvl, buf in levels.items():
        assert_every_end_flagged(buf, tmp_path / lvl)
    for good in ("medium", "expert"):
        for pct in (1, 50):
            mixed = mix(levels[good], levels["random"], pct, size=400, seed=pct)
            assert len(mixed) == 400
            assert_every_end_flagged(mixed, tmp_path / f"{good}-{pct}")


@pytest.mark.parametrize("name", __import__("orl.data", fromlist=["x"]).dataset_names())
def test_every_registered_dataset_ends_every_episode_with_a_flag(name, tmp_path):
    """Every registered dataset: the small ones built for real and read in both layouts; the 1M-row
    locomotion ones are made by build_standard / build_mixed, whose code paths the tiny test above runs."""
    from functools import partial

    from orl.data import dataset_info, load_dataset
    from orl.data.locomotion import build_mixed
    from orl.data.registry import minari_cache

    info = dataset_info(name)
    if isinstance(info.build, partial) and info.build.func in (build_standard, build_mixed):
        assert info.source is not None  # locomotion: fingerprinted, so a generation change rebuilds caches
        return
    buf = load_dataset(name)
    assert_every_end_flagged(buf, tmp_path, minari_root=minari_cache(), minari_id=info.minari_id)


def test_writers_flag_or_refuse_an_unflagged_episode_end(tmp_path):
    """A buffer whose last episode was cut (no flag): the writers mark it a timeout with a warning, or
    refuse it with unflagged="error"; nothing is written then."""
    from orl.data import DatasetError, load_hdf5, save_hdf5, save_minari

    obs = np.arange(5, dtype=np.float32)[:, None]
    buf = ReplayBuffer.from_arrays(obs, np.zeros((5, 1)), np.ones(5), [0, 0, 1, 0, 0], [0, 0, 0, 0, 0])
    assert buf.unflagged_ends().tolist() == [4]
    with pytest.warns(UserWarning, match=r"1 episode end\(s\) carry neither .* \(rows \[4\]\); written as timeouts"):
        back = load_hdf5(save_hdf5(buf, tmp_path / "d.hdf5"))
    np.testing.assert_array_equal(back.timeouts, [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(back.has_next, buf.has_next)  # the cut row's successor stays unknown
    with pytest.raises(DatasetError, match=r"e.hdf5: 1 episode end\(s\) carry neither"):
        save_hdf5(buf, tmp_path / "e.hdf5", unflagged="error")
    with pytest.raises(DatasetError, match=r"'orltest/cut-v0': 1 episode end\(s\) carry neither"):
        save_minari(buf, "orltest/cut-v0", env="Pendulum-v1", root=tmp_path / "m", unflagged="error",
                    observation_space=__import__("gymnasium").spaces.Box(-np.inf, np.inf, (1,), np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.hdf5"]
