"""orl-envs with third-party clients (issue 15, items 8-9 and the acceptance): Stable-Baselines3's PPO and
sb3-contrib's MaskablePPO build and learn on every id, and ``gymnasium.make_vec(..., vectorization_mode="async")``
and SB3's ``SubprocVecEnv`` run every id (both pickle the environments' spaces across processes).

Sizes are the smallest each family allows, so every case takes well under a second or two here.
"""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest

import orl_envs

gym.register_envs(orl_envs)

ROUTING = ["orl/TSP-v0", "orl/ATSP-v0", "orl/CVRP-v0", "orl/OP-v0", "orl/OP-v1", "orl/KP-v1"]
INVENTORY = list(orl_envs.inventory.INVENTORY_IDS)
MULTIVIEW = list(orl_envs.multiview.MULTIVIEW_IDS)
LINEAR_MDP = list(orl_envs.linear_mdp.LINEAR_MDP_IDS)
GROUPED = list(orl_envs.grouped_actions.GROUPED_ACTIONS_IDS)  # issue 20: Discrete observations and actions
CRS = list(orl_envs.crs.CRS_IDS)
PLAIN = INVENTORY + LINEAR_MDP + GROUPED  # no action mask: plain PPO learns on them
MASKED = ROUTING + MULTIVIEW + CRS  # Dict observations with an action mask; illegal actions raise
SMALL = {
    "orl/TSP-v0": {"size": 5},
    "orl/ATSP-v0": {"size": 5},
    "orl/CVRP-v0": {"size": 5, "capacity": 10},
    "orl/OP-v0": {"size": 5, "max_length": 2.0},
    "orl/OP-v1": {"size": 5, "max_length": 2.0},
    "orl/KP-v1": {"size": 5, "capacity": 1500},
    "orl/InventoryOneWarehouseLostDemand-v0": {"n_stores": 3},
    "orl/InventoryTransshipmentBacklogged-v0": {"n_stores": 3},
    "orl/MultiViewPixels-v0": {"image_size": 16},
}
PPO_ARGS = dict(n_steps=16, batch_size=8, n_epochs=1, device="cpu", seed=0, policy_kwargs={"net_arch": [16]})


def test_every_id_is_covered():
    assert sorted(ROUTING + INVENTORY + MULTIVIEW + LINEAR_MDP + GROUPED + CRS) == sorted(orl_envs.ENV_IDS)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread, restored after


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("env_id", MASKED + PLAIN)
def test_sb3_ppo_builds_and_learns(env_id):
    """PPO builds on every id (MultiInputPolicy for the routing Dict observations, whose KP key ``values`` used
    to break it) and learns on the inventory ids; on the routing and multi-view ids, whose illegal actions raise, MaskablePPO
    (which reads ``env.action_masks()``) learns a few steps."""
    from stable_baselines3 import PPO

    env = gym.make(env_id, **SMALL.get(env_id, {}))
    policy = "MultiInputPolicy" if env_id in MASKED else "MlpPolicy"
    model = PPO(policy, env, **PPO_ARGS)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action if env_id in INVENTORY else int(action))
    if env_id in PLAIN:
        model.learn(total_timesteps=16)
        assert model.num_timesteps == 16
        return
    from sb3_contrib import MaskablePPO

    masked = MaskablePPO(policy, env, **PPO_ARGS)
    masked.learn(total_timesteps=16)  # raises if it ever took an illegal action
    assert masked.num_timesteps == 16


@pytest.mark.parametrize("env_id", MASKED + PLAIN)
def test_make_vec_async_runs_every_id(env_id):
    # EGL (the pixels mode's offscreen OpenGL) does not survive fork: its async workers are spawned
    vector_kwargs = {"context": "spawn"} if env_id == "orl/MultiViewPixels-v0" else None
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode="async", vector_kwargs=vector_kwargs,
                        **SMALL.get(env_id, {}))
    try:
        obs, _ = envs.reset(seed=0)
        single = gym.make(env_id, **SMALL.get(env_id, {}))
        first, _ = single.reset(seed=0)  # sub-env 0 replays the single env with the same seed
        for key in obs if isinstance(obs, dict) else [None]:
            got = obs[key][0] if key else obs[0]
            np.testing.assert_array_equal(got, first[key] if key else first)
        envs.action_space.seed(0)
        for _ in range(12):
            mask = obs["action_mask"] if env_id in MASKED else None
            obs, reward, terminated, truncated, _ = envs.step(envs.action_space.sample(mask=mask))
            assert np.all(np.isfinite(reward))
    finally:
        envs.close()


@pytest.mark.parametrize("env_id", MASKED + PLAIN)
def test_envs_pickle(env_id):
    env = gym.make(env_id, **SMALL.get(env_id, {}))
    env.reset(seed=0)
    copy = pickle.loads(pickle.dumps(env))
    assert copy.observation_space == env.observation_space and copy.action_space == env.action_space


def test_sb3_subproc_vec_env_runs_a_routing_env():
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    vec = make_vec_env("orl/CVRP-v0", n_envs=2, vec_env_cls=SubprocVecEnv, env_kwargs=SMALL["orl/CVRP-v0"],
                       vec_env_kwargs={"start_method": "fork"}, seed=0)
    try:
        vec.reset()
        for _ in range(12):
            masks = np.stack(vec.env_method("action_masks"))
            actions = np.array([np.flatnonzero(m)[0] for m in masks])
            _, rewards, _, _ = vec.step(actions)
            assert np.all(np.isfinite(rewards))
    finally:
        vec.close()
