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
