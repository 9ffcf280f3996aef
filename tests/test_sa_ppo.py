"""SA-PPO (issue 19's baseline): the smoothness search and the regulariser's effect on the trained policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import orl
from orl.algos.online.sa_ppo import SAPPO, SAPPOConfig, smoothness_search
from orl.robust.attacks import Victim, mad_attack


def test_search_stays_in_the_ball_and_beats_its_start():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.Tanh(), torch.nn.Linear(32, 2))
    obs = torch.randn(64, 6)  # the code's minibatch size; sigma of a trained policy (the noise is tuned for it)
    mu, sigma = net(obs).detach(), torch.full((2,), 0.05)
    gen = torch.Generator().manual_seed(0)
    x = smoothness_search(net, obs, mu, sigma, eps=0.1, steps=5, generator=gen)
    assert (x - obs).abs().max() <= 0.1 + 1e-6
    found = (((net(x) - mu) / sigma) ** 2).sum(-1).mean()
    random = (((net(obs + (torch.rand(obs.shape, generator=gen) * 2 - 1) * 0.1) - mu) / sigma) ** 2).sum(-1).mean()
    assert found > 2 * random


def test_eps_schedule_and_bad_settings():
    algo = SAPPO(3, 1, False, SAPPOConfig(robust_eps=0.2, robust_eps_ramp=0.5))
    algo.set_progress(0.0)
    assert algo.current_eps() == 0.0 and algo.regularizer(torch.zeros(4, 3), torch.Generator()) is None
    algo.set_progress(0.25)
    assert algo.current_eps() == pytest.approx(0.1)
    algo.set_progress(0.9)
    assert algo.current_eps() == pytest.approx(0.2)
    with pytest.raises(ValueError, match="robust_steps"):
        SAPPOConfig(robust_steps=0)
    with pytest.raises(ValueError, match="discrete actions"):
        SAPPO(4, 2, True)


def test_regularised_policy_is_smoother_than_ppo(tmp_path):
    """Same seed, data budget and settings; SA-PPO with a strong regulariser must end with a policy whose
    mean action moves less under a MAD attack of the same budget than plain PPO's (fails without the term)."""
    common = dict(steps=8192, eval_every=8192, eval_episodes=1, num_steps=1024, se_every=0, ent_coef=0.01)
    ppo = orl.fit("ppo", "Pendulum-v1", out_dir=tmp_path / "ppo", **common)
    sa = orl.fit("sa_ppo", "Pendulum-v1", out_dir=tmp_path / "sa", robust_eps=0.2, robust_reg=3.0,
                 robust_eps_ramp=0.1, **common)
    rng = np.random.default_rng(0)
    theta = rng.uniform(-np.pi, np.pi, 512)
    raw = np.stack([np.cos(theta), np.sin(theta), rng.uniform(-8, 8, 512)], 1)

    def sensitivity(agent) -> float:
        victim = Victim.from_agent(agent)
        s = torch.as_tensor(victim.normalize(raw), dtype=torch.float32)
        x = mad_attack(victim, s, 0.2, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            mu0, sigma = victim.action_mean(s)
            mu1, _ = victim.action_mean(x)
        return float((((mu1 - mu0) / sigma) ** 2).sum(-1).mean())

    assert sensitivity(sa) < 0.5 * sensitivity(ppo), (sensitivity(sa), sensitivity(ppo))
