"""DSRL-NA (issue 18): steering a deliberately weak, frozen diffusion policy by RL in its noise space."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import orl
from orl.algos.online.dsrl import DSRLConfig
from orl.data.buffer import ReplayBuffer
from orl.data.collect import evaluate
from orl.train.offpolicy import train_offpolicy

ENV = "orl-test/TargetAction-v0"


class TargetAction(gym.Env):
    """Observation: a target in [-0.8, 0.8]; reward -(a - target)^2 * 10; 10 steps, a new target each step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.target = 0, self.np_random.uniform(-0.8, 0.8)
        return np.array([self.target], np.float32), {}

    def step(self, action):
        reward = -10.0 * float((np.clip(action[0], -1, 1) - self.target) ** 2)
        self.t += 1
        self.target = self.np_random.uniform(-0.8, 0.8)
        return np.array([self.target], np.float32), reward, False, self.t >= 10, {}


if ENV not in gym.envs.registry:
    gym.register(ENV, entry_point=TargetAction, max_episode_steps=10)


@pytest.fixture(scope="module")
def weak_base(tmp_path_factory):
    """A diffusion policy cloned from uniform-random actions: it ignores the target (about -3.5 per step)."""
    rng = np.random.default_rng(0)
    data = ReplayBuffer(5000, (1,), 1, metadata={"env_id": ENV})
    for i in range(5000):
        s = rng.uniform(-0.8, 0.8, 1)
        data.add(s, rng.uniform(-1, 1, 1), 0.0, rng.uniform(-0.8, 0.8, 1), False, i % 10 == 9)
    root = tmp_path_factory.mktemp("base")
    base = orl.fit("diffusion_bc", data, steps=1500, eval_every=1500, eval_episodes=2, out_dir=root / "run",
                   hidden=32, blocks=1, time_dim=8, lr=1e-3, threads=1)
    return base.save(root / "base.pt")


def test_dsrl_na_steers_a_weak_base_policy(weak_base, tmp_path):
    cfg = DSRLConfig(base=str(weak_base), hidden=(64, 64), utd=1, train_every=1, distill_steps=2, start_steps=300,
                     ddim_steps=2, batch_size=128)
    result = train_offpolicy(ENV, tmp_path, cfg, steps=2500, eval_every=2500, eval_episodes=20, progress=False,
                             algo_name="dsrl_na")
    algo, rng = result["algo"], np.random.default_rng(0)
    unsteered = evaluate(ENV, lambda o, _r: algo.random_action(o, rng), 20, seed=100).mean()
    assert unsteered < -30 and result["last"] > 0.2 * unsteered, (result["last"], unsteered)  # >= 80% of the loss gone
    saved = orl.load(weak_base).algorithm  # the base's weights are exactly the pretrained ones after steering
    for (name, a), b in zip(algo.base.components()["ema"].state_dict().items(),
                            saved.components()["ema"].state_dict().values()):
        assert torch.equal(a, b), name


def test_dsrl_config_and_base_checks(weak_base, tmp_path):
    with pytest.raises(ValueError, match="algo.base must name the frozen diffusion policy"):
        DSRLConfig()
    td3 = orl.fit("td3bc", "pendulum-scripted", steps=10, eval_every=10, eval_episodes=1, out_dir=tmp_path / "td3")
    with pytest.raises(ValueError, match="must be a diffusion_bc agent"):
        train_offpolicy("Pendulum-v1", tmp_path / "x", DSRLConfig(base=str(td3.save(tmp_path / "t.pt"))), steps=10,
                        progress=False, algo_name="dsrl_na")
    with pytest.raises(ValueError, match=r"the base policy acts on \(1,\) -> 1; this env on \(3,\) -> 1"):
        train_offpolicy("Pendulum-v1", tmp_path / "y", DSRLConfig(base=str(weak_base)), steps=10, progress=False,
                        algo_name="dsrl_na")


def test_expo_improves_a_weak_base_policy(weak_base, tmp_path):
    from orl.algos.online.expo import EXPOConfig

    cfg = EXPOConfig(base=str(weak_base), hidden=(64, 64), n_critics=4, num_min_qs=2, n_samples=4, n_edit=4,
                     utd=2, start_steps=300, batch_size=128, diffusion_hidden=32, diffusion_blocks=1,
                     diffusion_time_dim=8, beta=0.2)
    result = train_offpolicy(ENV, tmp_path, cfg, steps=1500, eval_every=1500, eval_episodes=20, progress=False,
                             algo_name="expo")
    pretrained = orl.load(weak_base)  # the un-steered baseline: the pretrained base policy alone
    base_return = evaluate(ENV, lambda o, _r: pretrained.predict(o, deterministic=False), 20, seed=100).mean()
    assert base_return < -30 and result["last"] > 0.2 * base_return, (result["last"], base_return)


def test_expo_starts_from_the_base_and_acts_with_its_ema(weak_base):
    """As the code after its pretraining: the trained base starts from the pretrained weights, the acting copy from
    the pretrained EMA ("target actor"); the edit actor has the critic's hidden layers (the code's hidden_dims)."""
    from orl.algos.online.expo import EXPO, EXPOConfig

    algo = EXPO(1, 1, EXPOConfig(base=str(weak_base), hidden=(64, 48, 32), n_critics=2))
    pre = orl.load(weak_base).algorithm
    trained, ema = pre.components()["diffusion"].state_dict(), pre.components()["ema"].state_dict()
    assert any(not torch.equal(trained[k], ema[k]) for k in trained)  # 1,500 updates: the EMA lags the weights
    for k, v in algo.base.state_dict().items():
        assert torch.equal(v, trained[k]), k
    for k, v in algo.base_ema.state_dict().items():
        assert torch.equal(v, ema[k]), k
    widths = [m.out_features for m in algo.edit.modules() if isinstance(m, torch.nn.Linear)]
    assert widths[:3] == [64, 48, 32] and algo.base_opt.defaults["weight_decay"] == 1e-4


def test_dsrl_sac_steers_the_same_base_through_a_noise_action_env(weak_base, tmp_path):
    from gymnasium.utils.env_checker import check_env

    from orl.algos.online.dsrl import DSRLSACConfig, register_noise_env

    noise_id = register_noise_env(ENV, str(weak_base), 1.5, 2)
    check_env(gym.make(noise_id).unwrapped, skip_render_check=True)
    # through orl.fit (the CLI's path), so that the run directory holds a loadable agent
    agent = orl.fit("dsrl_sac", ENV, steps=2500, eval_every=2500, eval_episodes=20, out_dir=tmp_path / "run",
                    base=str(weak_base), ddim_steps=2, start_steps=300, hidden=[64, 64], threads=1)
    last = float((tmp_path / "run" / "eval.csv").read_text().splitlines()[-1].split(",")[1])
    pretrained = orl.load(weak_base)
    base_return = evaluate(ENV, lambda o, _r: pretrained.predict(o, deterministic=False), 20, seed=100).mean()
    assert base_return < -30 and last > 0.2 * base_return, (last, base_return)
    # the agent predicts environment actions (the base decodes its noise), not the noises it learned over
    targets = np.linspace(-0.8, 0.8, 41, dtype=np.float32)[:, None]
    actions = agent.predict(targets)
    assert actions.shape == (41, 1) and np.all(np.abs(actions) <= 1.0)
    episode_return = 10 * float(np.mean(-10.0 * (actions - targets) ** 2))  # 10 steps per episode
    assert episode_return > 0.2 * base_return, (episode_return, base_return)
    seen = []  # predict hands the agent's noises to decode_noise and returns what it decodes
    agent.algorithm.decode_noise = lambda obs, w: seen.append(w) or np.full_like(w, 0.123)
    assert np.all(agent.predict(targets) == np.float32(0.123)) and seen[0].shape == (41, 1)
    del agent.algorithm.decode_noise
    env = gym.make(noise_id).unwrapped  # decode_noise is what the noise env executes, for any noise
    obs, _ = env.reset(seed=0)
    for w in (np.array([-1.2], np.float32), np.array([0.3], np.float32)):
        decoded = agent.algorithm.decode_noise(obs[None], w[None])[0]
        obs_before = obs
        obs, *_, info = env.step(w)
        np.testing.assert_allclose(decoded, info["action"], atol=1e-6, err_msg=str(obs_before))
    with pytest.raises(ValueError, match="offline data has no actions"):
        DSRLSACConfig(base="x", offline_ratio=0.5, offline_dataset="pendulum-scripted")


def test_the_noise_env_of_a_chunk_env_registers_in_a_fresh_process(weak_base):
    """A resumed DSRL-SAC run on chunks starts in a process where nothing has registered the chunk id yet."""
    from orl.algos.online.dsrl import register_noise_env
    from orl.data.chunks import chunk_env_id

    cid = chunk_env_id(ENV, 1)
    gym.envs.registry.pop(cid, None)  # as in a new process
    noise_id = register_noise_env(cid, str(weak_base), 1.5, 2)
    assert cid in gym.envs.registry
    env = gym.make(noise_id)
    obs, _ = env.reset(seed=0)
    assert env.action_space.shape == (1,) and np.isfinite(env.step(np.zeros(1, np.float32))[1])


@pytest.mark.parametrize("algo", ["dsrl_na", "dsrl_sac", "expo"])
def test_a_saved_agent_carries_its_base(weak_base, tmp_path, algo):
    """Agent.save writes the base agent into the file: it loads and predicts the same once the base file is gone
    (a run directory refers to its base by path, and says so when it is missing)."""
    import shutil

    base = tmp_path / "base.pt"
    shutil.copyfile(weak_base, base)
    small = {"dsrl_na": {"utd": 1, "distill_steps": 1, "ddim_steps": 2},
             "dsrl_sac": {"ddim_steps": 2},
             "expo": {"n_critics": 2, "n_samples": 2, "n_edit": 2, "utd": 1}}[algo]
    agent = orl.fit(algo, ENV, steps=60, eval_every=60, eval_episodes=1, out_dir=tmp_path / "run", base=str(base),
                    start_steps=20, batch_size=16, hidden=[16, 16], threads=1, **small)
    path = agent.save(tmp_path / "agent.pt")
    obs = np.linspace(-0.8, 0.8, 7, dtype=np.float32)[:, None]
    before = orl.load(path).predict(obs)
    base.unlink()
    with pytest.raises(FileNotFoundError, match=r"algo.base=.*base.pt' does not exist"):
        orl.load(tmp_path / "run").predict(obs)
    loaded = orl.load(path)
    np.testing.assert_array_equal(loaded.predict(obs), before)
    carried = loaded.algorithm.base_agent.algorithm.components()["ema"].state_dict()
    for (name, a), b in zip(carried.items(), orl.load(weak_base).algorithm.components()["ema"].state_dict().values()):
        assert torch.equal(a, b), name  # the pretrained base itself, not a copy of what EXPO trained on


def test_dsrl_rates_fresh_distillation_batches_and_sampled_evaluation(weak_base, tmp_path):
    """The code's schedule: rounds of ``utd`` updates every ``train_every`` transitions, ``distill_steps`` noise-critic
    steps per round, each on a fresh batch; evaluation samples the policy from a stream of its own, so evaluating
    more often leaves training exactly as it was."""
    from orl.algos.online.dsrl import DSRLNA

    cfg = dict(base=str(weak_base), hidden=(32, 32), utd=3, train_every=4, distill_steps=2, start_steps=100,
               ddim_steps=2, batch_size=32)
    runs = {}
    for every in (60, 300):
        result = train_offpolicy(ENV, tmp_path / str(every), DSRLConfig(**cfg), steps=300, eval_every=every,
                                 eval_episodes=2, progress=False, algo_name="dsrl_na")
        runs[every] = result["algo"]
    assert runs[300].updates == 3 * (300 // 4 - 100 // 4 + 1)  # rounds at steps 100, 104, ..., 300
    for a, b in zip(runs[60].state_dict()["q_w"].values(), runs[300].state_dict()["q_w"].values()):
        assert torch.equal(a, b)  # five evaluations against one: the same training
    with open(tmp_path / "60" / "eval.csv") as f:
        assert len(f.read().splitlines()) == 1 + 5
    algo = DSRLNA(1, 1, DSRLConfig(**cfg))
    drawn = []

    def sample():
        drawn.append(torch.rand(32, 1) * 1.6 - 0.8)
        return type("B", (), {"observations": drawn[-1]})

    out = algo.after_updates(sample)
    assert len(drawn) == 2 and not torch.equal(drawn[0], drawn[1]) and "q_w_loss" in out


def test_dsrl_sac_first_steps_are_the_base_policys_own_noise(weak_base):
    """The code's initial rollouts in the noise env: w ~ N(0, I) clipped to [-b, b] (about 13% of draws sit on the
    bound at b = 1.5), handed to the loop as w / b in [-1, 1]."""
    from orl.algos.online.dsrl import DSRLSAC, DSRLSACConfig

    algo = DSRLSAC(1, 1, DSRLSACConfig(base=str(weak_base), hidden=(8, 8)))
    w = algo.random_action(np.zeros((20000, 1), np.float32), np.random.default_rng(0))
    assert w.shape == (20000, 1) and np.abs(w).max() <= 1.0
    assert abs(float(np.mean(np.abs(w) == 1.0)) - 0.1336) < 0.01


def test_expo_diagnosis_takes_the_acting_policy_apart(weak_base, tmp_path):
    """experiments/expo_diagnosis.py: its four policies are what they say — the pretrained base's proposals do not
    move when the fine-tuned base changes, the fine-tuned base's do, and lending the pretrained base to the
    on-the-fly policy leaves the run's own acting base in place."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    import expo_diagnosis

    orl.fit("expo", ENV, steps=60, eval_every=60, eval_episodes=1, out_dir=tmp_path / "run",
            base=str(weak_base), start_steps=20, batch_size=16, hidden=[16, 16], threads=1, n_critics=2, n_samples=2,
            n_edit=2, utd=1)
    algo = orl.load(tmp_path / "run").algorithm
    pol = expo_diagnosis.policies(algo)
    assert set(pol) == set(expo_diagnosis.POLICIES)
    obs = np.linspace(-0.8, 0.8, 64, dtype=np.float32)[:, None]

    def draw(name):
        algo.gen.manual_seed(7)
        return pol[name](obs)

    before = {name: draw(name) for name in pol}
    acting = algo.base_ema
    with torch.no_grad():  # make the fine-tuned base propose something else entirely
        for p in algo.base_ema.parameters():
            p.mul_(3.0).add_(0.5)
    after = {name: draw(name) for name in pol}
    assert algo.base_ema is acting  # otf_pre_base lent the pretrained base and gave the acting one back
    np.testing.assert_array_equal(after["base_pre"], before["base_pre"])
    np.testing.assert_array_equal(after["otf_pre_base"], before["otf_pre_base"])
    assert not np.array_equal(after["base_ft"], before["base_ft"]) and not np.array_equal(after["otf"], before["otf"])
    for name, actions in after.items():
        assert actions.shape == (64, 1) and np.all(np.abs(actions) <= 1), name
    fresh = orl.fit("expo", ENV, steps=30, eval_every=30, eval_episodes=1, out_dir=tmp_path / "fresh", start_steps=20,
                    batch_size=16, hidden=[16, 16], threads=1, n_critics=2, n_samples=2, n_edit=2, utd=1,
                    diffusion_hidden=16, diffusion_blocks=1, diffusion_time_dim=8)
    with pytest.raises(ValueError, match="no pretrained base to compare with"):
        expo_diagnosis.policies(fresh.algorithm)
