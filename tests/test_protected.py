"""PROTECTED's discovery loop (issue 19): the set grows by one policy per iteration, the artifact round-trips,
resume after a kill equals an uninterrupted run, and the attacker's games are paid with the right signs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import orl
from orl.robust.protected import FlaggedActorCritic, PolicySet, ProtectedConfig, train_protected

CFG = ProtectedConfig(iterations=2, train_steps=4, num_steps=128, eps=0.1, plus_every=2, save_every=2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    return orl.fit("ppo", "Pendulum-v1", steps=2048, eval_every=2048, eval_episodes=1, se_every=0, num_steps=512,
                   out_dir=root / "ref")


def _weights(policy_set):
    return [torch.cat([p.flatten() for p in a.algorithm.net.parameters()]) for a in policy_set.agents]


def test_policy_set_grows_and_round_trips(reference, tmp_path):
    ps = train_protected("Pendulum-v1", tmp_path / "run", reference, CFG, progress=False)
    assert len(ps) == 1 + CFG.iterations and ps.info[0]["source"] == "reference"
    w = _weights(ps)
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[1], w[2])  # each iteration trained its victim
    loaded = PolicySet.load(tmp_path / "run" / "policy_set.pt")
    obs = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    for a, b in zip(ps.agents, loaded.agents):
        np.testing.assert_array_equal(a.predict(obs), b.predict(obs))
    with pytest.raises(ValueError, match="not an orl policy set"):
        PolicySet.load(reference.save(tmp_path / "agent.pt"))


def test_resume_after_a_kill_equals_the_uninterrupted_run(reference, tmp_path, monkeypatch):
    full = train_protected("Pendulum-v1", tmp_path / "full", reference, CFG, progress=False)
    import orl.train.common as common

    saved, calls = common.save_checkpoint, {"n": 0}

    def save_then_die(out, state):  # killed right after the second checkpoint (alternation 4 of 8)
        saved(out, state)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(common, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train_protected("Pendulum-v1", tmp_path / "cut", reference, CFG, progress=False)
    monkeypatch.setattr(common, "save_checkpoint", saved)
    from orl.robust import protected

    done = {"n": 0}
    alternation = protected.Protected.alternation

    def counted(self):
        done["n"] += 1
        return alternation(self)

    monkeypatch.setattr(protected.Protected, "alternation", counted)
    resumed = train_protected("Pendulum-v1", tmp_path / "cut", reference, CFG, progress=False)
    assert done["n"] == 4  # alternations 5-8 only
    for a, b in zip(_weights(full), _weights(resumed)):
        assert torch.equal(a, b)


def test_flagged_critic_hides_the_flag_from_the_policy():
    torch.manual_seed(0)
    net = FlaggedActorCritic(4, 2, False, (8,))
    x = torch.randn(5, 4)
    y = x.clone()
    y[:, -1] = 1 - y[:, -1]
    assert torch.equal(net.distribution(x).mean, net.distribution(y).mean)
    assert not torch.equal(net.value(x), net.value(y))


def test_the_attackers_two_games_are_paid_with_opposite_signs(reference):
    from orl.robust.protected import Protected

    run = Protected("Pendulum-v1", reference, CFG, seed=0)
    for i, sign in ((0, 1.0), (1, -1.0)):
        env = run.attacker.envs[i]
        obs, _ = env.reset(seed=3)
        assert obs[-1] == i  # the game flag
        _, reward, *_, info = env.step(env.action_space.sample())
        assert reward == sign * info["victim_reward"] and info["victim_reward"] != 0
