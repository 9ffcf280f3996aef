"""The pieces of IQL and CQL checked against their definitions (the learning tests are in test_offline.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from orl.algos.base import return_range_scale
from orl.algos.offline.cql import TanhGaussianActor
from orl.algos.offline.iql import GaussianActor, expectile_loss
from orl.data import load_dataset
from orl.nets.population import MemberRandom
from orl.train.offline import make_algorithm

LOW, HIGH = np.array([-2.0]), np.array([2.0])


@pytest.fixture(scope="module")
def pendulum():
    return load_dataset("pendulum-scripted")


def _expectile(x: np.ndarray, tau: float) -> float:
    """The tau-expectile by bisection on tau E[(x - v)+] = (1 - tau) E[(v - x)+]."""
    lo, hi = x.min(), x.max()
    for _ in range(100):
        v = (lo + hi) / 2
        if tau * np.maximum(x - v, 0).mean() > (1 - tau) * np.maximum(v - x, 0).mean():
            lo = v
        else:
            hi = v
    return (lo + hi) / 2


@pytest.mark.parametrize("tau", [0.5, 0.7, 0.9])
def test_expectile_loss_is_minimised_by_the_expectile(tau):
    x = torch.as_tensor(np.random.default_rng(0).exponential(size=2000))
    v = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([v], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = expectile_loss((x - v)[None], tau).sum()  # a population of one member
        loss.backward()
        return loss

    opt.step(closure)
    assert v.item() == pytest.approx(_expectile(x.numpy(), tau), abs=1e-6)
    if tau == 0.5:
        assert v.item() == pytest.approx(x.mean().item(), abs=1e-6)


def test_iql_gaussian_log_prob_matches_torch():
    torch.manual_seed(0)
    actor = GaussianActor(3, 2, (16,), MemberRandom([0]).init)
    with torch.no_grad():
        actor.log_std.copy_(torch.tensor([[[-0.5, 0.3]]]))
    s, a = torch.randn(1, 10, 3), torch.rand(1, 10, 2) * 2 - 1
    expected = Normal(actor.mean(s), torch.tensor([-0.5, 0.3]).exp()).log_prob(a).sum(-1)
    torch.testing.assert_close(actor.log_prob(s, a), expected)
    assert torch.equal(actor(s, deterministic=True), actor.mean(s))


def test_cql_tanh_gaussian_log_prob_matches_torch():
    torch.manual_seed(0)
    random = MemberRandom([0])
    actor = TanhGaussianActor(3, 2, (16,), log_std_multiplier=1.0, log_std_offset=-1.0, gens=random.init)
    with torch.no_grad():
        actor.net[-1].weight.normal_(0.0, 0.3)  # a non-trivial distribution, not saturated
    s = torch.randn(1, 20, 3)
    a, logp = actor(s, random)
    mean, log_std = actor.net(s).split(2, -1)
    log_std = (log_std - 1.0).clamp(-20, 2)
    dist = TransformedDistribution(Normal(mean, log_std.exp()), TanhTransform(cache_size=1))
    torch.testing.assert_close(logp, dist.log_prob(a).sum(-1), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(actor.log_prob(s, a), logp, rtol=1e-3, atol=1e-3)
    det, _ = actor(s, deterministic=True)
    torch.testing.assert_close(det, torch.tanh(mean))
    assert a.abs().max() < 1


def test_iql_reward_scaling_and_cosine_schedule(pendulum):
    returns = pendulum.episode_returns()
    algo = make_algorithm("iql", pendulum, LOW, HIGH, {"hidden": [16]}, total_steps=20)
    assert algo.reward_scale.item() == pytest.approx(200.0 / (returns.max() - returns.min()))  # 200-step episodes
    batch = pendulum.sample(8, np.random.default_rng(0))
    _, _, r, _, _ = algo.prepare(batch)
    torch.testing.assert_close(r[0, :, 0], batch.rewards * algo.reward_scale.item())
    rng = np.random.default_rng(0)
    for _ in range(20):
        algo.update(pendulum.sample(8, rng))
    assert algo.actor_opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine down to 0 at the end
    off = make_algorithm("iql", pendulum, LOW, HIGH, {"hidden": [16], "normalize_reward": False})
    assert off.reward_scale.item() == 1.0


def test_reward_scaling_refuses_a_dataset_without_a_return_range(pendulum):
    one = pendulum.__class__.from_arrays(
        observations=pendulum.observations[:200], actions=pendulum.actions[:200], rewards=pendulum.rewards[:200],
        terminals=np.zeros(200, bool), timeouts=np.eye(1, 200, 199, dtype=bool)[0])
    with pytest.raises(ValueError, match="needs at least two episodes"):
        return_range_scale(one)


def _gap(algo, data) -> float:
    """mean over dataset states of Q_1(s, uniform a) - Q_1(s, a_data)."""
    with torch.no_grad():
        batch = data.sample(512, np.random.default_rng(123))
        s, a, *_ = algo.prepare(batch)
        q_data = algo.critic.Q1(s, a)
        q_rand = algo.critic.Q1(s, torch.rand_like(a) * 2 - 1)
    return float((q_rand - q_data).mean())


def test_cql_regulariser_pushes_down_unseen_actions(pendulum):
    """The conservative term lowers Q on out-of-distribution actions relative to the data's:
    the same training with cql_alpha = 10 ends with a clearly larger gap than with 0."""
    gaps = {}
    for cql_alpha in (0.0, 10.0):
        torch.manual_seed(0)
        algo = make_algorithm("cql", pendulum, LOW, HIGH, {"actor_hidden": [32, 32], "critic_hidden": [32, 32],
                                                           "n_actions": 4, "cql_alpha": cql_alpha})
        rng = np.random.default_rng(0)
        for _ in range(1000):
            metrics = algo.update(pendulum.sample(64, rng))
        assert all(math.isfinite(v) for v in metrics.values())
        gaps[cql_alpha] = _gap(algo, pendulum)
    # measured: about -1.0 against -0.2 after 1000 updates
    assert gaps[10.0] < gaps[0.0] - 0.5, gaps
    assert gaps[10.0] < -0.5, gaps


def test_cql_lagrange_and_max_backup_variants_run(pendulum):
    for over in ({"lagrange": True, "target_action_gap": 5.0}, {"max_target_backup": True, "backup_entropy": True},
                 {"importance_sample": False, "autotune_alpha": False, "bc_steps": 2}):
        algo = make_algorithm("cql", pendulum, LOW, HIGH, {"actor_hidden": [16], "critic_hidden": [16], "n_actions": 3,
                                                           **over})
        start = algo.log_alpha_prime.item()
        rng = np.random.default_rng(0)
        for _ in range(4):
            metrics = algo.update(pendulum.sample(32, rng))
        assert all(math.isfinite(v) for v in metrics.values()), over
        assert (algo.log_alpha_prime.item() != start) == bool(over.get("lagrange")), over
