"""Learned attackers (SA-RL, PA-AD) against a fixed victim, and the attack suite (issue 19)."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import orl
from orl.robust.adversary import AdversaryEnv, load_attacker, register_adversary, train_attacker
from orl.robust.evaluate import attack_suite


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    root = tmp_path_factory.mktemp("victim")
    agent = orl.fit("ppo", "CartPole-v1", steps=30_000, eval_every=10_000, eval_episodes=5, se_every=0,
                    out_dir=root / "run")
    return agent, agent.save(root / "victim.pt")


def test_adversary_env_is_a_gymnasium_env(victim):
    _, path = victim
    for kind in ("sa-rl", "pa-ad"):
        env = AdversaryEnv("CartPole-v1", str(path), eps=0.2, kind=kind)
        check_env(env, skip_render_check=True)
        obs, _ = env.reset(seed=0)
        _, reward, *_ , info = env.step(env.action_space.sample())
        assert reward == -info["victim_reward"]
    with pytest.raises(ValueError, match="unknown adversary kind 'fgsm'"):
        AdversaryEnv("CartPole-v1", str(path), eps=0.2, kind="fgsm")
    assert register_adversary("CartPole-v1", path, 0.2, "sa-rl") == register_adversary("CartPole-v1", path, 0.2, "sa-rl")


def test_a_trained_sa_rl_attacker_beats_random_noise_of_the_same_budget(victim, tmp_path):
    agent, path = victim
    train_attacker("CartPole-v1", path, eps=0.2, kind="sa-rl", out_dir=tmp_path / "sarl", steps=20_000,
                   num_steps=512, num_minibatches=8, update_epochs=4)
    adversary, spec = load_attacker(tmp_path / "sarl")
    assert spec["kind"] == "sa-rl" and adversary.spaces["action_dim"] == 4
    results = attack_suite(agent, "CartPole-v1", 0.2, episodes=5, attackers={"sa-rl": tmp_path / "sarl"})
    assert results["none"]["mean"] > 450  # the victim solves CartPole unattacked
    assert results["sa-rl"]["mean"] < 0.5 * results["random"]["mean"], results
    assert set(results) == {"none", "random", "mad", "critic", "sa-rl"}
    with pytest.raises(ValueError, match="holds an attacker for"):
        train_attacker("CartPole-v1", path, eps=0.3, kind="sa-rl", out_dir=tmp_path / "sarl", steps=20_000)


def test_robust_sarsa_learns_the_victims_q_and_the_term_smooths_it(tmp_path):
    import torch

    from orl.robust.attacks import Victim
    from orl.robust.sarsa import SarsaConfig, action_smoothness, collect, train_robust_sarsa

    agent = orl.fit("ppo", "Pendulum-v1", steps=4096, eval_every=4096, eval_episodes=1, se_every=0, num_steps=1024,
                    out_dir=tmp_path / "pendulum")
    cfg = dict(steps=8000, epochs=30, gamma=0.9, hidden=(64, 64), lr=1e-3, tau=0.05)
    plain = train_robust_sarsa(agent, "Pendulum-v1", SarsaConfig(reg=0.0, **cfg), seed=0)
    robust = train_robust_sarsa(agent, "Pendulum-v1", SarsaConfig(reg=10.0, action_eps=0.5, **cfg), seed=0)
    # Q against Monte-Carlo discounted returns of fresh victim episodes (gamma 0.9: ~40-step horizon)
    data = collect(agent, "Pendulum-v1", 1000, seed=123)
    r, G, out = data["r"], 0.0, np.zeros(len(data["r"]))
    for t in range(len(r) - 1, -1, -1):
        G = r[t] + (0.9 * G if (t + 1) % 200 else 0.0)
        out[t] = G
    victim = Victim.from_agent(agent)
    s = torch.as_tensor(victim.normalize(data["s"]), dtype=torch.float32)
    a = torch.as_tensor(data["a"]).reshape(len(s), -1)
    keep = (np.arange(len(r)) % 200) < 150  # returns cut by the episode end are biased: leave them out
    with torch.no_grad():
        q = plain(s, a).numpy()
    assert np.corrcoef(q[keep], out[keep])[0, 1] > 0.8
    with pytest.raises(ValueError, match="continuous-action victim"):
        train_robust_sarsa(orl.Agent("ppo", "online", {}, None, spaces={"discrete": True}), "CartPole-v1")
    assert action_smoothness(robust, s, a, 0.5).item() < 0.5 * action_smoothness(plain, s, a, 0.5).item()


def test_adversary_env_pickles_mid_episode_and_continues_identically(victim):
    import pickle

    _, path = victim
    for kind in ("pa-ad", "sa-rl"):
        env = AdversaryEnv("CartPole-v1", str(path), eps=0.2, kind=kind)
        env.reset(seed=1)
        for _ in range(3):
            env.step(env.action_space.sample())
        copy = pickle.loads(pickle.dumps(env))  # what an attacker run's checkpoint stores
        for _ in range(5):
            a = env.action_space.sample()
            x, y = env.step(a), copy.step(a)
            assert np.array_equal(x[0], y[0]) and x[1] == y[1]
