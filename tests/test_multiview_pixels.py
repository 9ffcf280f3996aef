"""orl-envs multi-view recognition, ``pixels`` mode (issue 22): MuJoCo renderings of procedurally generated objects.

Rendering is deterministic for a seed; one object looks different from different views; sibling fine classes
differ exactly in their key views; the ideal observer's posterior equals the brute-force one (which classes
would render identically in the seen views); check_env; the three-stage pipeline runs on pixels and the rendered
splits are cached. Skipped where MuJoCo or an offscreen OpenGL (EGL/OSMesa) is missing.
"""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import orl_envs

gym.register_envs(orl_envs)
ID = "orl/MultiViewPixels-v0"


@pytest.fixture(scope="module")
def world():
    pytest.importorskip("mujoco")
    from orl_envs.multiview.pixels import PixelWorld

    try:
        w = PixelWorld(model_seed=0)
    except RuntimeError as e:  # no offscreen OpenGL here
        pytest.skip(str(e))
    yield w
    w.close()


def test_check_env_render_and_pickle(world):
    env = gym.make(ID, render_mode="rgb_array", allow_exit=True)
    check_env(env.unwrapped)
    obs, info = env.reset(seed=0)
    assert obs["images"].shape == (8, 32, 32, 3) and obs["images"].dtype == np.uint8
    assert np.all(obs["images"][obs["seen"] == 0] == 0) and obs["images"][info["view"]].any()
    assert env.render().shape == (256, 256, 3)
    copy = pickle.loads(pickle.dumps(env))
    again, _ = copy.reset(seed=0)  # the copy renders with its own context
    np.testing.assert_array_equal(again["images"], obs["images"])
    env.close()
    copy.close()


def test_rendering_is_deterministic_for_a_seed(world):
    from orl_envs.multiview.pixels import PixelWorld

    a, b = gym.make(ID), gym.make(ID)
    first, _ = a.reset(seed=5)
    second, _ = b.reset(seed=5)
    other, _ = a.reset(seed=6)
    np.testing.assert_array_equal(first["images"], second["images"])
    assert not np.array_equal(first["images"], other["images"])
    labels, colours = world.sample(np.random.default_rng(0), 4)
    twin = PixelWorld(model_seed=0)
    np.testing.assert_array_equal(world.observe(labels, colours), twin.observe(labels, colours))
    np.testing.assert_array_equal(world.key_views, twin.key_views)
    twin.close()
    a.close()
    b.close()


def test_one_object_looks_different_from_different_views(world):
    labels, colours = world.sample(np.random.default_rng(1), 40)
    images = world.observe(labels, colours).reshape(40, 8, -1)
    for y, im in zip(labels, images):
        assert len({v.tobytes() for v in im}) >= 2  # never 8 identical pictures
        if y // world.n_fine != 1:  # all bodies but the cylinder (rotation-symmetric) change with the viewpoint
            assert not np.array_equal(im[0], im[2]) and not np.array_equal(im[1], im[3])
    diffs = np.abs(images[:, :, None].astype(int) - images[:, None].astype(int)).mean(-1)
    assert diffs[:, ~np.eye(8, dtype=bool)].mean() > 5  # grey levels, on average between two views


def test_sibling_fine_classes_differ_exactly_in_their_key_views(world):
    colour = np.array([0.3, 0.4, 0.7])
    assert np.all(world.key_views.sum(1) >= 1) and np.all(world.key_views.sum(1) <= 4)
    for c in range(world.n_coarse):
        for j1 in range(world.n_fine):
            for j2 in range(j1 + 1, world.n_fine):
                y1, y2 = c * world.n_fine + j1, c * world.n_fine + j2
                a, b = world.render_object(y1, colour), world.render_object(y2, colour)
                differ = np.array([not np.array_equal(a[v], b[v]) for v in range(8)])
                np.testing.assert_array_equal(differ, world.key_views[y1] | world.key_views[y2])
    # and every object's part shows in exactly its class's key views, whatever its colour
    labels, colours = world.sample(np.random.default_rng(2), 30)
    for y, col in zip(labels, colours):
        shows = np.any(world.render_object(y, col) != world.render_object(y, col, with_part=False), axis=(1, 2, 3))
        np.testing.assert_array_equal(shows, world.key_views[y])


def test_ideal_observer_is_the_brute_force_one(world):
    """A class stays possible iff its object, with the same body colour, renders identically in every seen view."""
    rng = np.random.default_rng(3)
    labels, colours = world.sample(rng, 12)
    for y, col in zip(labels, colours):
        renders = np.stack([world.render_object(k, col) for k in range(world.n_classes)])
        for _ in range(3):
            seen = rng.random(8) < 0.35
            seen[rng.integers(8)] = True
            brute = np.array([np.array_equal(renders[k][seen], renders[y][seen]) for k in range(world.n_classes)])
            np.testing.assert_array_equal(world.consistent(np.array([y]), seen[None])[0], brute)


def test_greedy_information_gain_beats_random_for_the_ideal_observer(world):
    from orl_envs.multiview.baselines import every_start, greedy_orders, random_accuracy_curve

    labels, colours = world.sample(np.random.default_rng(4), 500)
    lab8, col8, starts = every_start(labels, colours)
    greedy = world.accuracy_along(lab8, col8, greedy_orders(world, lab8, starts))
    random = random_accuracy_curve(world, labels, colours)
    np.testing.assert_allclose(greedy[0], random[0])
    assert greedy[1] > random[1] + 0.1 and greedy[2] >= random[2]


def test_pipeline_runs_on_pixels_and_caches_the_renderings(world, tmp_path, one_thread):
    from orl.algos.structured.afgr import AFGRConfig
    from orl.train.multiview import evaluate, train_afgr

    config = AFGRConfig(n_train=300, pretrain_epochs=2, n_val=100, ppo_iterations=4, ppo_episodes=32,
                        finetune_epochs=1, optimizer="adam")
    result = train_afgr(config=config, n_test=20, log=None, eval_every=4, mode="pixels", cache_dir=tmp_path)
    out = evaluate(result)
    assert out["orders"].shape == (160, 8) and all(sorted(o) == list(range(8)) for o in out["orders"])
    assert np.all((out["classifier_accuracy"] >= 0) & (out["classifier_accuracy"] <= 1))
    np.testing.assert_allclose(out["bayes_accuracy"][-1], 1.0)  # all views: the ideal observer is certain
    cached = sorted(tmp_path.glob("multiview-pixels-*.npy"))
    assert len(cached) == 3  # train, val, test
    labels, colours = result.splits["test"]
    np.testing.assert_array_equal(np.load(cached[0]).shape[1:], (8, 32, 32, 3))
    np.testing.assert_array_equal(result.model.observe(labels, colours, cache_dir=tmp_path),
                                  result.model.observe(labels, colours))
    result.model.close()
