"""Exact tabular solvers against brute force over every deterministic policy."""

import itertools

import numpy as np
import pytest

from orl.algos.provable.exact import (
    discounted_policy_evaluation,
    discounted_value_iteration,
    episodic_policy_evaluation,
    episodic_value_iteration,
)


def _random_mdp(rng, S=3, A=2, H=None):
    shape = (S, A, S) if H is None else (H, S, A, S)
    P = rng.dirichlet(np.ones(S), size=shape[:-1])
    R = rng.uniform(size=shape[:-1])
    return P, R


def test_discounted_vi_matches_best_deterministic_policy():
    rng = np.random.default_rng(0)
    P, R = _random_mdp(rng, S=4, A=3)
    sol = discounted_value_iteration(P, R, gamma=0.9)
    values = [discounted_policy_evaluation(P, R, 0.9, np.array(pi)) for pi in itertools.product(range(3), repeat=4)]
    best = np.max(values, axis=0)  # one policy is optimal in every state at once
    np.testing.assert_allclose(sol.V, best, atol=1e-8)
    np.testing.assert_allclose(discounted_policy_evaluation(P, R, 0.9, sol.policy), best, atol=1e-8)


def test_discounted_vi_fixed_iteration_budget_is_truncated():
    rng = np.random.default_rng(1)
    P, R = _random_mdp(rng)
    one = discounted_value_iteration(P, R, gamma=0.9, iterations=1)
    assert one.iterations == 1
    np.testing.assert_allclose(one.V, R.max(-1))  # one sweep from V = 0
    full = discounted_value_iteration(P, R, gamma=0.9)
    assert np.abs(full.V - one.V).max() > 0.1


def test_stochastic_policy_evaluation_is_linear_in_the_mixture():
    rng = np.random.default_rng(2)
    P, R = _random_mdp(rng)
    v0 = discounted_policy_evaluation(P, R, 0.8, np.zeros(3, dtype=int))
    v1 = discounted_policy_evaluation(P, R, 0.8, np.ones(3, dtype=int))
    mixed = discounted_policy_evaluation(P, R, 0.8, np.full((3, 2), 0.5))
    # not linear in general (the mixture changes the state distribution), but bounded by the two
    assert np.all(mixed <= np.maximum(v0, v1) + 1e-9) and np.all(mixed >= np.minimum(v0, v1) - 1e-9)


def test_episodic_vi_matches_brute_force_nonstationary():
    rng = np.random.default_rng(3)
    H, S, A = 3, 2, 2
    P, R = _random_mdp(rng, S=S, A=A, H=H)
    sol = episodic_value_iteration(P, R)
    best = -np.inf * np.ones(S)
    for flat in itertools.product(range(A), repeat=H * S):
        pi = np.array(flat).reshape(H, S)
        best = np.maximum(best, episodic_policy_evaluation(P, R, pi)[0])
    np.testing.assert_allclose(sol.V[0], best, atol=1e-10)
    np.testing.assert_allclose(episodic_policy_evaluation(P, R, sol.policy)[0], best, atol=1e-10)
    assert np.all(sol.V[H] == 0)


def test_bad_input_is_named():
    rng = np.random.default_rng(4)
    P, R = _random_mdp(rng)
    with pytest.raises(ValueError, match="horizon is required"):
        episodic_value_iteration(P, R)
    with pytest.raises(ValueError, match="probability distribution"):
        discounted_value_iteration(P * 2, R, 0.9)
    with pytest.raises(ValueError, match="gamma"):
        discounted_value_iteration(P, R, 1.0)
    with pytest.raises(ValueError, match="actions outside"):
        discounted_policy_evaluation(P, R, 0.9, np.array([0, 5, 1]))
