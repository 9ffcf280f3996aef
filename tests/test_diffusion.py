"""The diffusion policy (issue 18): bimodal imitation that a Gaussian/MSE BC cannot do, DDIM determinism and
differentiability in the noise, schedules, and diffusion BC through the user API."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from orl.algos.offline.bc import BC
from orl.algos.offline.diffusion_bc import DiffusionBC, DiffusionBCConfig
from orl.data.buffer import ReplayBuffer
from orl.nets.diffusion import DiffusionPolicy, cosine_beta_schedule, vp_beta_schedule


def _bimodal(n: int = 4000, seed: int = 0) -> ReplayBuffer:
    """One state (with a little noise); the action is +0.8 or -0.8 with probability 1/2 each."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(n, (1,), 1, metadata={"env_id": "none"})
    for i in range(n):
        a = rng.choice([-0.8, 0.8]) + rng.normal(0, 0.03)
        buf.add(rng.normal(0, 0.01, 1), np.array([a]), 0.0, rng.normal(0, 0.01, 1), False, i % 50 == 49)
    return buf


def _train(algo, buf: ReplayBuffer, steps: int) -> None:
    rng = np.random.default_rng(1)
    for _ in range(steps):
        algo.update(buf.sample(256, rng))


def test_diffusion_bc_recovers_both_modes_that_mse_bc_averages_away():
    buf = _bimodal()
    low, high = np.array([-1.0]), np.array([1.0])
    cfg = DiffusionBCConfig(hidden=64, blocks=2, time_dim=16, lr=1e-3, ema=0.05, lr_cosine=False)
    diffusion = DiffusionBC(1, low, high, cfg, *buf.observation_stats())
    _train(diffusion, buf, 1500)
    bc = BC(1, low, high, None, *buf.observation_stats())
    _train(bc, buf, 1500)
    obs = np.zeros((2000, 1), np.float32)
    a = diffusion.act(obs, deterministic=False).reshape(-1)
    fixed = diffusion.act(obs[:1])  # evaluation: a fixed noise, the same action every call
    np.testing.assert_array_equal(fixed, diffusion.act(obs[:1]))
    near_plus, near_minus, between = np.mean(np.abs(a - 0.8) < 0.2), np.mean(np.abs(a + 0.8) < 0.2), np.mean(np.abs(a) < 0.4)
    assert near_plus > 0.3 and near_minus > 0.3 and between < 0.1, (near_plus, near_minus, between)
    b = bc.act(obs).reshape(-1)
    assert np.all(np.abs(b) < 0.4)  # MSE regression lands between the modes, where no data is


def test_ddim_is_deterministic_in_the_noise_and_differentiable():
    gens = [torch.Generator().manual_seed(0)]
    policy = DiffusionPolicy(3, 2, gens, T=20, schedule="cosine", hidden=32, blocks=1, time_dim=8)
    s = torch.randn(1, 5, 3)
    w = torch.randn(1, 5, 2, requires_grad=True)
    a1, a2 = policy.ddim(s, w, steps=5), policy.ddim(s, w, steps=5)
    assert torch.equal(a1, a2) and a1.abs().max() <= 1.0 + 1e-6
    a1.sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0
    assert not torch.equal(policy.ddim(s, w + 0.5, steps=5), a1)  # the noise steers the action
    with pytest.raises(ValueError, match="must divide T=20"):
        policy.ddim(s, w, steps=3)


def test_schedules():
    vp, cos = vp_beta_schedule(10), cosine_beta_schedule(100)
    assert vp.shape == (10,) and torch.all(vp[1:] > vp[:-1]) and 0 < vp[0] < vp[-1] < 1
    assert cos.shape == (100,) and torch.all(cos <= 0.999) and torch.all(cos > 0)
    abar = torch.cumprod(1 - vp, 0)
    assert abar[-1] < 0.01  # the last step is (nearly) pure noise
    with pytest.raises(ValueError, match="unknown diffusion schedule"):
        DiffusionPolicy(1, 1, [torch.Generator()], schedule="linear")
