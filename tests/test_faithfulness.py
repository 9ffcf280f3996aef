"""Settings and update orders checked against the official codes (issue 15, items 13-16)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _compose(*overrides: str):
    """The configuration ``python -m orl.run`` trains with: Hydra's composition, then the tuned settings."""
    from hydra import compose, initialize_config_dir

    from orl.run import apply_tuned

    with initialize_config_dir(str(ROOT / "orl" / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
        apply_tuned(cfg)
    return cfg


# CORL (tinkoff-ai/CORL, configs/offline/{iql,cql}/<env>/<dataset>_v2.yaml): normalize_reward per dataset
CORL_IQL_NORMALIZE_REWARD = {
    "halfcheetah-medium": False, "halfcheetah-medium-replay": False, "halfcheetah-medium-expert": False,
    "hopper-medium": True, "hopper-medium-replay": True, "hopper-medium-expert": False,
    "walker2d-medium": False, "walker2d-medium-replay": False, "walker2d-medium-expert": False,
}
CORL_CQL_NORMALIZE_REWARD = {**{k: False for k in CORL_IQL_NORMALIZE_REWARD}, "hopper-medium": True}


@pytest.mark.parametrize("dataset", sorted(CORL_IQL_NORMALIZE_REWARD))
def test_reward_normalisation_follows_corl_per_dataset(dataset):
    iql = _compose("algo=iql", f"env={dataset}")
    cql = _compose("algo=cql", f"env={dataset}")
    assert iql.algo.normalize_reward is CORL_IQL_NORMALIZE_REWARD[dataset], dataset
    assert cql.algo.normalize_reward is CORL_CQL_NORMALIZE_REWARD[dataset], dataset


def test_sampler_temperature_is_the_papers_per_algorithm(tmp_path):
    """Hong et al.'s harness (experiments/d4rl/run_{cql,iql,td3bc}.py): RW/AW temperature 0.2 for CQL,
    0.1 for IQL and TD3+BC; an explicit ``sampler_alpha`` wins."""
    from orl.data import load_dataset
    from orl.train.offline import TrainConfig, sampler_alpha, train_offline

    assert _compose("algo=cql", "env=hopper-medium", "sampler=aw").sampler_alpha is None
    assert (sampler_alpha("cql"), sampler_alpha("iql"), sampler_alpha("td3bc")) == (0.2, 0.1, 0.1)
    assert sampler_alpha("cql", 0.3) == 0.3
    data = load_dataset("pendulum-scripted")
    small = {"actor_hidden": [16], "critic_hidden": [16], "n_actions": 2}
    for sampler in ("rw", "aw"):
        train_offline("cql", data, "Pendulum-v1", tmp_path / sampler,
                      TrainConfig(steps=1, eval_episodes=1, sampler=sampler), small, progress=False)
        assert data.sampler.alpha == 0.2, sampler
    train_offline("cql", data, "Pendulum-v1", tmp_path / "explicit",
                  TrainConfig(steps=1, eval_episodes=1, sampler="rw", sampler_alpha=0.5), small, progress=False)
    assert data.sampler.alpha == 0.5


def _official_a2pr_train(algo, batch) -> None:
    """``A2PR.train`` of the official code (``ltlhuuu/A2PR``, ``A2PR.py`` lines 100-215), transcribed
    line by line onto an orl :class:`~orl.algos.offline.a2pr.A2PR`'s networks and optimisers
    (actions already in [-1, 1], so ``max_action`` = 1)."""
    import torch
    import torch.nn.functional as F

    from orl.algos.base import soft_update

    c = algo.config
    algo.total_it += 1
    state, action, reward, next_state, not_done = algo.prepare(batch)
    with torch.no_grad():
        noise = (torch.randn_like(action) * c.policy_noise).clamp(-c.noise_clip, c.noise_clip)
        next_action = (algo.actor_target(next_state) + noise).clamp(-1.0, 1.0)
        target_Q1, target_Q2 = algo.critic_target(next_state, next_action)
        target_Q = torch.min(target_Q1, target_Q2)
        target_Q = reward + not_done * c.discount * target_Q
    current_Q1, current_Q2 = algo.critic(state, action)
    critic_loss = F.mse_loss(current_Q1, target_Q) + F.mse_loss(current_Q2, target_Q)
    algo.critic_opt.zero_grad()
    critic_loss.backward()
    algo.critic_opt.step()
    with torch.no_grad():
        next_current_Q1, next_current_Q2 = algo.critic(next_state, next_action)
        next_Q = torch.min(next_current_Q1, next_current_Q2)
        targ_Q = reward + not_done * c.discount * next_Q
        t_Q = torch.min(targ_Q, target_Q)
    value = algo.value(state)
    value_loss = F.mse_loss(value, t_Q)
    algo.value_opt.zero_grad()
    value_loss.backward()
    algo.value_opt.step()
    recon, mean, std = algo.vae(state, action)
    Q_vae = algo.critic.Q1(state, action)
    embedding = (Q_vae > value)
    weight_emb = c.vae_weight * embedding
    recon_loss = (weight_emb * torch.square(recon - action)).mean()
    KL_loss = -0.5 * (1 + torch.log(std.pow(2)) - mean.pow(2) - std.pow(2)).mean()
    vae_loss = recon_loss + 0.5 * KL_loss
    algo.vae_opt.zero_grad()
    vae_loss.backward()
    algo.vae_opt.step()
    if algo.total_it % c.policy_freq == 0:
        pi = algo.actor(state)
        Q = algo.critic.Q1(state, pi)
        lmbda = c.alpha / Q.abs().mean().detach()
        actor_loss = -lmbda * Q.mean()
        recon_pi, mean, std = algo.vae(state, pi)
        Q_new = algo.critic.Q1(state, action)
        advantage_action = Q_new - value
        Q_pi = algo.critic.Q1(state, recon_pi)
        advantage_pi = Q_pi - value
        embedding_pi = recon_pi * (advantage_pi >= advantage_action)
        embedding_action = action * (advantage_action > advantage_pi)
        embedding = embedding_pi + embedding_action
        adv_pi = (Q_pi.detach() >= value.detach())
        adv_action = (Q_new.detach() > value.detach())
        adv = c.mask * (adv_pi + adv_action)
        bc_loss = (torch.square(pi - embedding) * adv).mean()
        combined_loss = actor_loss + bc_loss
        algo.actor_opt.zero_grad()
        combined_loss.backward()
        algo.actor_opt.step()
        soft_update(algo.critic_target, algo.critic, c.tau)
        soft_update(algo.actor_target, algo.actor, c.tau)


def test_a2pr_update_is_the_official_train_step():
    """One orl A2PR update equals the official ``A2PR.train`` on the same batch and random stream: in
    particular V(s) from *before* the value step gates the VAE and the actor, and the BC weight is
    ``mask * (bool + bool)``, a logical or, in {0, mask}. A large value learning rate (0.03) makes V move
    enough in one step that the post-step V would flip some gates (checked below, so the test cannot
    pass vacuously)."""
    import copy

    import numpy as np
    import torch

    from orl.data import load_dataset
    from orl.train.offline import make_algorithm

    data = load_dataset("pendulum-scripted")
    batch = data.sample(256, np.random.default_rng(0))
    torch.manual_seed(0)
    algo = make_algorithm("a2pr", data, np.array([-2.0]), np.array([2.0]),
                          {"actor_hidden": [32, 32], "critic_hidden": [32, 32], "vae_hidden": [32, 32],
                           "value_lr": 0.03, "policy_freq": 1, "mask": 0.7})
    rng = np.random.default_rng(1)
    for _ in range(100):  # leave the initial state, where V is below Q everywhere
        algo.update(data.sample(256, rng))
    reference = copy.deepcopy(algo)

    s, a, *_ = reference.prepare(batch)
    v_before = reference.value(s).detach()
    torch.manual_seed(1)
    metrics = algo.update(batch)
    torch.manual_seed(1)
    _official_a2pr_train(reference, batch)

    # the gates are sensitive to which V is used: the post-step V would change some of them
    q_data = algo.critic.Q1(s, a).detach()
    v_after = algo.value(s).detach()
    assert ((q_data > v_before) != (q_data > v_after)).any()
    assert metrics["positive_adv_frac"] == pytest.approx((q_data > v_before).float().mean().item())
    for name in ("critic", "value", "vae", "actor", "critic_target", "actor_target"):
        for p, q in zip(getattr(algo, name).parameters(), getattr(reference, name).parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert metrics["bc_weight"] <= 0.7 + 1e-6  # a mean of weights in {0, mask}


def test_hdpo_run_has_its_own_budget_and_dev_cadence():
    """``orl.run algo=hdpo`` trains with HDPO's step budget and dev cadence (the paper's code: up to 20000
    epochs, a dev evaluation every 10 epochs, an epoch = 4 steps of 8192 out of 32768 scenarios), not the
    offline defaults (1M updates, an evaluation every 5000); the test set is the paper's 32768 scenarios.
    The offline algorithms keep theirs, and the command line still wins."""
    from orl.algos.structured.hdpo import HDPOConfig

    cfg = _compose("algo=hdpo", "env=inventory-one-store-backlogged")
    epoch = cfg.algo.n_train // cfg.algo.batch_size
    assert (epoch, cfg.steps, cfg.eval_every, cfg.algo.patience) == (4, 20000 * 4, 10 * 4, 500 // 10)
    assert cfg.algo.n_test == HDPOConfig().n_test == 32768
    offline = _compose("algo=td3bc", "env=hopper-medium")
    assert (offline.steps, offline.eval_every) == (1_000_000, 5000)
    assert _compose("algo=hdpo", "env=inventory-one-store-backlogged", "steps=500").steps == 500
