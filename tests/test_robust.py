"""Observation attacks, schedules and the EXP3 defence (issue 19)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from orl.algos.online.ppo import ActorCritic
from orl.robust.attacks import (
    ObservationAttack,
    Victim,
    budget,
    critic_attack,
    learned_state_attack,
    mad_attack,
    pa_ad_perturbation,
    random_attack,
)
from orl.robust.exp3 import EXP3, run_exp3
from orl.robust.schedules import ScheduledAttack, attack_schedule


def _victim(obs_dim=8, action_dim=2, seed=0) -> tuple[Victim, ActorCritic]:
    torch.manual_seed(seed)
    net = ActorCritic(obs_dim, action_dim, False, (16, 16))
    with torch.no_grad():  # a policy whose mean reacts to its input (PPO's 0.01-gain head barely does)
        net.actor[-1].weight.mul_(100.0)
    return Victim(dist=net.distribution, mean=np.zeros(obs_dim), std=np.ones(obs_dim), value=net.value), net


def test_every_attack_stays_inside_its_ball():
    victim, net = _victim()
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    adversary = torch.nn.Linear(8, 8)
    for trial in range(25):  # random observations, scales and budgets
        s = torch.as_tensor(rng.normal(scale=rng.uniform(0.1, 10), size=(16, 8)), dtype=torch.float32)
        eps = float(rng.uniform(0.01, 0.5))
        attacks = {
            "random": random_attack(s, eps, gen),
            "mad": mad_attack(victim, s, eps, generator=gen),
            "critic": critic_attack(net.value, s, eps, generator=gen),
            "sarsa-like": critic_attack(lambda x: net.value(x) * 0 + victim.action_mean(x)[0].sum(-1), s, eps,
                                        generator=gen),
            "sa-rl": learned_state_attack(lambda x: adversary(x) * 50, s, eps),
            "pa-ad": pa_ad_perturbation(victim, s, torch.randn(16, 2, generator=gen), eps, generator=gen),
        }
        for name, x in attacks.items():
            gap = (x - s).abs().max().item()
            assert gap <= eps * (1 + 1e-5) + 1e-6, (name, trial, gap, eps)
    # PA-AD and a saturated SA-RL adversary use the whole budget (a corner of the ball)
    assert (attacks["pa-ad"] - s).abs().min().item() == pytest.approx(eps, rel=1e-4)


def test_wrapper_perturbs_inside_the_ball_in_normalised_space():
    victim, _ = _victim(obs_dim=3, action_dim=1)
    victim.mean, victim.std = np.array([1.0, -2.0, 0.0]), np.array([0.5, 3.0, 8.0])
    env = ObservationAttack(gym.make("Pendulum-v1"), lambda s: s + 10.0, eps=0.1, victim=victim)  # a bad attack
    raw = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=3)
    ref, _ = raw.reset(seed=3)
    for _ in range(20):
        delta = (obs - ref) / victim.std
        assert np.all(np.abs(delta) <= 0.1 + 1e-6) and np.abs(delta).max() > 0.09  # clamped to the ball, not ignored
        a = raw.action_space.sample()
        obs, *_ = env.step(a)
        ref, *_ = raw.step(a)
    with pytest.raises(ValueError, match="flat Box"):
        ObservationAttack(gym.make("Blackjack-v1"), random_attack, 0.1)
    assert budget("Hopper-v5") == 0.075 and budget("Walker2d-v5") == 0.05 and budget("HalfCheetah-v5") == 0.15
    with pytest.raises(ValueError, match="no published attack budget"):
        budget("CartPole-v1")


def _kl(net: ActorCritic, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.distributions.kl_divergence(net.distribution(s), net.distribution(x)).sum(-1)


def test_mad_raises_the_policy_kl_more_than_random_noise_of_the_same_budget():
    victim, net = _victim()
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(512, 8, generator=gen)
    eps = 0.1
    kl_mad = _kl(net, s, mad_attack(victim, s, eps, generator=gen)).mean().item()
    kl_random = _kl(net, s, random_attack(s, eps, gen)).mean().item()
    assert kl_mad > 3 * kl_random, (kl_mad, kl_random)
    # and MAD with no steps is no attack at all (the comparison above is not trivially true)
    assert _kl(net, s, mad_attack(victim, s, eps, steps=0)).max().item() == 0.0


def test_exp3_matches_a_hand_computed_3_arm_4_round_example():
    b = EXP3(K=3, T=4, normalizer=10.0, lr=2.0)
    eta = 2.0 * np.sqrt(np.log(3) / 12)  # 0.605148...
    gamma = eta / 2
    w = np.ones(3)
    for arm, ret in [(0, 5.0), (1, 10.0), (0, 0.0), (2, 2.0)]:  # rounds: (played arm, its episode return)
        p = w / w.sum()
        np.testing.assert_allclose(b.probabilities(), p, rtol=1e-12)
        w[arm] *= np.exp(eta * (ret / 10.0) / (p[arm] + gamma))
        b.update(ret, arm)
        np.testing.assert_allclose(b.weights, w, rtol=1e-12)
        if arm == 0 and ret == 5.0:
            np.testing.assert_allclose(b.weights, [1.609325, 1.0, 1.0], rtol=1e-6)  # round 1 by hand
    # the same numbers written out: after round 1, w0 = exp(eta * 0.5 / (1/3 + eta/2)) = 1.60932...
    assert b.eta == pytest.approx(0.6051480, rel=1e-6)
    assert np.exp(eta * 0.5 / (1 / 3 + gamma)) == pytest.approx(1.609325, rel=1e-5)
    np.testing.assert_allclose(b.probabilities(), w / w.sum())
    assert b.probabilities()[1] > b.probabilities()[0] > b.probabilities()[2]


class _SignEnv(gym.Env):
    """A tiny env: the observation is +-c (random), reward 1 when the action's sign matches it; 5 steps."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.s = self.np_random.choice([-0.05, 0.05])
        return np.array([self.s], np.float32), {}

    def step(self, action):
        reward = float(np.sign(action[0]) == np.sign(self.s))
        self.t += 1
        self.s = self.np_random.choice([-0.05, 0.05])
        return np.array([self.s], np.float32), reward, False, self.t >= 5, {}


def test_exp3_approaches_the_better_arm_under_every_schedule():
    """Two hand-made policies, each best under a different attack: "follow the sign" earns 5 per episode
    unattacked and 0 under the sign-flipping attack; "always +1" earns 2.5 either way. EXP3 over the two,
    one round per episode of a real wrapped env, must end near the best fixed arm in hindsight."""
    follow = lambda obs: np.sign(obs)  # noqa: E731
    constant = lambda obs: np.ones(1)  # noqa: E731
    flip = lambda s: learned_state_attack(lambda x: -torch.sign(x), s, 0.1)  # noqa: E731  pushes across zero
    T = 1200
    for kind in ("none", "always", "period", "prob"):
        schedule = attack_schedule(T, kind, interval=100, prob=0.3, rng=np.random.default_rng(0))
        env = ScheduledAttack(ObservationAttack(_SignEnv(), flip, eps=0.1), schedule)
        episode_seed = iter(range(10**6))

        def play(arm: int, t: int) -> float:
            obs, _ = env.reset(seed=next(episode_seed))
            policy, total, done = (follow, constant)[arm], 0.0, False
            while not done:
                obs, r, term, trunc, _ = env.step(policy(obs))
                total += r
                done = term or trunc
            return total

        means = lambda t: np.array([0.0 if schedule[t] else 5.0, 2.5])  # noqa: E731
        run = run_exp3(play, K=2, T=T, rng=np.random.default_rng(1), normalizer=5.0, lr=5.0, arm_means=means)
        best = max(sum(means(t)[i] for t in range(T)) for i in range(2))
        uniform = sum(means(t).mean() for t in range(T))
        regret = run.regret()
        assert regret[-1] < 0.08 * best, (kind, regret[-1], best)  # within 8% of the best fixed arm
        assert run.rewards.sum() > uniform + 0.5 * (best - uniform), kind  # well above picking at random
        assert regret[-1] / T < regret[T // 4 - 1] / (T // 4) or regret[-1] < 0.02 * best, kind  # sublinear
    # the schedules themselves
    s = attack_schedule(800, "period", interval=100, force_quarters=False)
    assert s[:100].all() and not s[100:200].any() and s[200:300].all()
    forced = attack_schedule(800, "period", interval=50)
    assert forced[:200].all() and forced[400:600].all() and not forced[250:300].any()
    with pytest.raises(ValueError, match="unknown schedule 'sometimes'"):
        attack_schedule(10, "sometimes")
