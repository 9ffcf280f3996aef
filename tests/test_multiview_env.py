"""orl-envs multi-view active fine-grained recognition (issue 22), ``features`` mode: registration and check_env,
exact seeding, masks and errors, the exact Bayes posterior against a Monte-Carlo estimate, the exact expected
information gain, and the baselines (greedy information gain beats random; the best fixed order is optimal)."""

from __future__ import annotations

import itertools
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import orl_envs
from orl_envs.multiview import (
    MULTIVIEW_IDS,
    N_VIEWS,
    MultiViewModel,
    accuracy_curve,
    all_views_accuracy,
    best_fixed_orders,
    fixed_orders,
    greedy_orders,
    random_accuracy_curve,
)
from orl_envs.multiview.baselines import every_start

gym.register_envs(orl_envs)
ID = "orl/MultiViewFeatures-v0"
VARIANTS = [{}, {"allow_exit": True, "view_cost": 0.01}, {"budget": 3, "n_coarse": 2, "n_fine": 3, "feature_dim": 4}]


@pytest.mark.parametrize("kwargs", VARIANTS)
@pytest.mark.parametrize("env_id", [ID])  # the pixels id: tests/test_multiview_pixels.py
def test_registered_and_check_env_passes(env_id, kwargs):
    assert env_id in orl_envs.ENV_IDS and set(MULTIVIEW_IDS) <= set(orl_envs.ENV_IDS)
    env = gym.make(env_id, render_mode="rgb_array", **kwargs)
    check_env(env.unwrapped)  # render check included
    budget = kwargs.get("budget", N_VIEWS)
    obs, info = env.reset(seed=0)
    assert info["num_views"] == 1 and obs["seen"].sum() == 1 and obs["seen"][info["view"]] == 1
    steps, terminated = 0, False
    while not terminated:
        obs, r, terminated, truncated, info = env.step(env.action_space.sample())  # sample() respects the mask
        assert env.observation_space.contains(obs) and not truncated and np.isfinite(r)
        steps += 1
    assert steps <= budget - 1 and info["num_views"] == obs["seen"].sum() <= budget
    image = env.render()
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8 and len(np.unique(image.reshape(-1, 3), axis=0)) > 3
    copy = pickle.loads(pickle.dumps(env))
    assert copy.observation_space == env.observation_space and copy.action_space == env.action_space


def _episode(env, seed, actions=None):
    obs, info = env.reset(seed=seed)
    out = [obs["features"].copy(), info["label"], info["view"]]
    rng = np.random.default_rng(seed)
    terminated = False
    while not terminated:
        a = rng.choice(np.flatnonzero(obs["action_mask"]))
        obs, r, terminated, _, info = env.step(a)
        out += [obs["features"].copy(), r]
    return out


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_seeding_is_exact():
    env = gym.make(ID)
    assert _same(_episode(env, 7), _episode(env, 7))
    assert _same(_episode(env, 7), _episode(gym.make(ID), 7))  # a fresh env too
    assert not _same(_episode(env, 7), _episode(env, 8))
    # the world is fixed by model_seed alone, and changes with it
    a, b, c = (MultiViewModel.generate(model_seed=s) for s in (0, 0, 1))
    assert np.array_equal(a.likelihood, b.likelihood) and np.array_equal(a.features, b.features)
    assert not np.array_equal(a.key_views, c.key_views)


def test_masks_and_invalid_actions():
    env = gym.make(ID, allow_exit=True)
    obs, info = env.reset(seed=3, options={"start_view": 5})
    assert info["view"] == 5
    np.testing.assert_array_equal(obs["action_mask"], [1, 1, 1, 1, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(env.unwrapped.action_masks(), obs["action_mask"].astype(bool))
    with pytest.raises(ValueError, match=r"action 5 is not allowed: view 5 was already seen \(legal actions: \[0, 1, 2, 3, 4, 6, 7, 8\]\)"):
        env.step(5)
    for bad in (9, -1, 2.5, np.array([1, 2])):
        with pytest.raises(ValueError, match="action must be one integer in"):
            env.step(bad)
    obs, *_ = env.step(2)
    assert obs["action_mask"][2] == 0 and obs["action_mask"][5] == 0 and obs["seen"][[2, 5]].tolist() == [1, 1]
    assert np.all(obs["features"][obs["seen"] == 0] == 0) and np.all(obs["features"][obs["seen"] == 1] != 0)
    for _ in range(50):  # the masked sampler never proposes a seen view
        assert obs["action_mask"][env.action_space.sample()] == 1
    obs, r, terminated, _, _ = env.step(N_VIEWS)  # exit
    assert terminated and r == 0.0 and obs["action_mask"].sum() == 0
    with pytest.raises(RuntimeError, match="the episode has ended"):
        env.step(0)
    with pytest.raises(RuntimeError, match="call reset"):
        gym.make(ID).unwrapped.step(0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"budget": 9}, r"budget must be an integer in \[2, 8\], got 9"),
        ({"budget": 1}, r"budget must be an integer in \[2, 8\], got 1"),
        ({"budget": 2.5}, r"budget must be an integer in \[2, 8\], got 2.5"),
        ({"n_coarse": 1}, r"n_coarse must be an integer in \[2, 32\], got 1"),
        ({"n_fine": "4"}, r"n_fine must be an integer in \[2, 32\], got '4'"),
        ({"feature_dim": 0}, r"feature_dim must be an integer in \[1, 1024\], got 0"),
        ({"max_key_views": 9}, r"max_key_views must be an integer in \[1, 8\], got 9"),
        ({"coarse_reliability": (0.6, 0.5)}, r"coarse_reliability must be a pair .* got \(0.6, 0.5\)"),
        ({"coarse_reliability": 0.5}, r"coarse_reliability must be a pair .* got 0.5"),
        ({"key_reliability": float("nan")}, r"key_reliability must be a finite number in \[0.2, 1.0\], got nan"),
        ({"detail_noise": 0.9}, r"detail_noise must be a finite number in \[0.0, 0.8\], got 0.9"),
        ({"view_cost": -0.1}, r"view_cost must be a finite number in \[0, 1\], got -0.1"),
        ({"allow_exit": "yes"}, r"allow_exit must be True or False, got 'yes'"),
        ({"render_mode": "ansi"}, r"render_mode must be one of \['rgb_array'\] or None, got 'ansi'"),
        ({"model_seed": -1}, r"model_seed must be an integer in \[0, "),
    ],
)
@pytest.mark.filterwarnings("ignore:.*not in the possible render_modes")  # gymnasium warns before the env raises
def test_bad_arguments_get_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=f"MultiViewFeaturesEnv: {message}"):
        gym.make(ID, **kwargs)


def test_bad_reset_options_get_clear_errors():
    env = gym.make(ID)
    with pytest.raises(ValueError, match=r"options\['start_view'\] must be an integer in \[0, 7\], got 8"):
        env.reset(options={"start_view": 8})
    with pytest.raises(ValueError, match=r"unknown reset option\(s\) \['label'\]"):
        env.reset(options={"label": 3})
    with pytest.raises(ValueError, match=r"the object's codes must be 8 integers in \[0, 19\]"):
        env.reset(options={"object": (0, [0] * 7)})
    with pytest.raises(ValueError, match=r"the object's label must be an integer in \[0, 15\], got 16"):
        env.reset(options={"object": (16, [0] * 8)})


def test_env_posterior_and_rewards_are_the_models():
    """info['posterior'] is the model's exact posterior of the views seen, rewards are the increases of the true
    class's probability, and the return telescopes to p_last(y*) - p_first(y*) (minus the view cost)."""
    env = gym.make(ID, view_cost=0.02)
    model = env.unwrapped.model
    labels, codes = model.sample(np.random.default_rng(0), 1)
    obs, info = env.reset(options={"object": (labels[0], codes[0]), "start_view": 3})
    first = info["posterior"][labels[0]]
    total, seen, terminated = 0.0, [3], False
    while not terminated:
        a = int(np.argmax(env.unwrapped.information_gain()))
        before = info["posterior"][labels[0]]
        obs, r, terminated, _, info = env.step(a)
        seen.append(a)
        mask = np.zeros((1, N_VIEWS), bool)
        mask[0, seen] = True
        np.testing.assert_allclose(info["posterior"], model.posterior(codes, mask)[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(r, info["posterior"][labels[0]] - before - 0.02, atol=1e-12)
        total += r
    np.testing.assert_allclose(total, info["posterior"][labels[0]] - first - 0.02 * 7, atol=1e-12)
    # the env's greedy walk is the batched greedy policy's
    assert seen == greedy_orders(model, codes, np.array([3]))[0].tolist()


def test_exact_posterior_matches_a_monte_carlo_estimate():
    """Draw 300k objects with the sampler the env uses; for every pair of codes seen at views 2 and 5, the share of
    each class among the objects showing them estimates P(y | o_2, o_5). The exact posterior must match it within
    sampling error, and a posterior that is wrong (view 5 ignored, or the views' likelihoods swapped) must not."""
    model = MultiViewModel.generate()
    labels, codes = model.sample(np.random.default_rng(0), 300_000)
    views = [2, 5]
    k = model.n_codes
    outcome = codes[:, views[0]] * k + codes[:, views[1]]
    counts = np.zeros((k * k, model.n_classes))
    np.add.at(counts, (outcome, labels), 1)
    n_o = counts.sum(1)
    keep = n_o >= 200
    empirical = counts[keep] / n_o[keep, None]
    obs_codes = np.zeros((k * k, N_VIEWS), dtype=np.int64)
    obs_codes[:, views[0]], obs_codes[:, views[1]] = np.divmod(np.arange(k * k), k)

    def weighted_tv(seen_views, codes_table=obs_codes):
        seen = np.zeros((k * k, N_VIEWS), bool)
        seen[:, seen_views] = True
        exact = model.posterior(codes_table, seen)[keep]
        tv = 0.5 * np.abs(exact - empirical).sum(1)
        return float((tv * n_o[keep]).sum() / n_o[keep].sum())

    assert keep.sum() > 100 and n_o[keep].sum() > 0.9 * len(labels)
    good = weighted_tv(views)
    assert good < 0.03, good
    assert weighted_tv([2]) > 3 * good  # ignoring a view is detected
    swapped = obs_codes.copy()
    swapped[:, [2, 5]] = swapped[:, [5, 2]]
    assert weighted_tv(views, swapped) > 3 * good  # reading the codes under the wrong views' likelihoods too
    # the class marginal of the sampler is the uniform prior, the code marginals the model's
    np.testing.assert_allclose(np.bincount(labels, minlength=model.n_classes) / len(labels), 1 / model.n_classes, atol=0.004)
    freq = np.bincount(codes[:, 0], minlength=k) / len(labels)
    np.testing.assert_allclose(freq, model.likelihood[:, 0].mean(0), atol=0.004)


def test_information_gain_is_the_expected_entropy_drop():
    """The closed form of the EIG equals the entropy drop computed the long way: enumerate the next view's codes,
    update the posterior by Bayes' rule with model.posterior, weight by the predictive probability."""
    model = MultiViewModel.generate(model_seed=3)
    labels, codes = model.sample(np.random.default_rng(1), 5)
    seen = np.zeros((5, N_VIEWS), bool)
    seen[:, [0, 3]] = True
    prior = model.posterior(codes, seen)
    gain = model.information_gain(prior)

    def entropy(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1)

    for i in range(5):
        for v in (1, 4, 6):
            expected_h = 0.0
            for o in range(model.n_codes):
                c = codes[i:i + 1].copy()
                c[0, v] = o
                s = seen[i:i + 1].copy()
                s[0, v] = True
                p_o = float(prior[i] @ model.likelihood[:, v, o])
                expected_h += p_o * entropy(model.posterior(c, s)[0])
            np.testing.assert_allclose(gain[i, v], entropy(prior[i]) - expected_h, atol=1e-10)
    assert np.all(gain > 0)


def test_greedy_information_gain_beats_random_and_the_ceiling_holds():
    model = MultiViewModel.generate()
    labels, codes = model.sample(np.random.default_rng(2), 2000)
    lab8, codes8, starts = every_start(labels, codes)
    greedy = accuracy_curve(model, lab8, codes8, greedy_orders(model, codes8, starts))
    random = random_accuracy_curve(model, labels, codes)
    ceiling = all_views_accuracy(model, labels, codes)
    np.testing.assert_allclose([greedy[0], greedy[-1]], [random[0], ceiling])  # same start view, same 8 views
    np.testing.assert_allclose(random[-1], ceiling)
    assert np.all(greedy[1:7] > random[1:7]) and np.all(greedy[1:5] > random[1:5] + 0.08), (greedy, random)
    assert greedy[1:7].mean() > random[1:7].mean() + 0.1
    assert 0.1 < random[0] < 0.5 < ceiling  # a task where views matter: one view is far from enough


def test_best_fixed_order_is_optimal_and_between_random_and_greedy():
    model = MultiViewModel.generate()
    labels, codes = model.sample(np.random.default_rng(4), 1500)
    acc = model.subset_accuracies(labels, codes)
    table = best_fixed_orders(model, labels, codes, acc)
    assert sorted(table[0]) == list(range(N_VIEWS)) and table[0, 0] == 0

    def area(order):
        s, total = 0, 0.0
        for v in order:
            s |= 1 << v
            total += acc[s]
        return total

    brute = max(area((0, *rest)) for rest in itertools.permutations(range(1, N_VIEWS)))
    np.testing.assert_allclose(area(table[0]), brute)
    lab8, codes8, starts = every_start(labels, codes)
    fixed = accuracy_curve(model, lab8, codes8, fixed_orders(table, starts))
    random = random_accuracy_curve(model, labels, codes, acc)
    assert fixed[1:7].mean() > random[1:7].mean()
