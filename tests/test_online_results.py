"""experiments/online_results.py: the grid's settings (PPO b=1, PPO-Buffer b=2, PROPS b=2 with its tuned file),
the AUC by hand, and bad arguments stopping before any work."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import online_results  # noqa: E402

from orl.algos.online.ppo import PPOConfig  # noqa: E402
from orl.algos.online.props import PROPSConfig  # noqa: E402
from orl.utils.config import build_config  # noqa: E402


def test_grid_settings_are_the_papers_runs():
    name, ppo = online_results.settings("ppo", "Walker2d-v5")
    assert name == "ppo" and ppo["buffer_batches"] == 1 and ppo["num_steps"] == 4096 and ppo["lr"] == 1e-3
    name, buf = online_results.settings("ppo-buffer", "Hopper-v5")
    assert name == "ppo" and buf["buffer_batches"] == 2 and buf["num_steps"] == 1024 and buf["lr"] == 1e-4
    assert buf["se_every"] == 10 and buf["ent_coef"] == 0.01 and buf["target_kl"] == 0.03
    name, props = online_results.settings("props", "HalfCheetah-v5")
    assert name == "props" and props["buffer_batches"] == 2 and props["props_num_steps"] == 512
    # every cell builds a valid config of its class
    for algo in online_results.ALGOS:
        for env in online_results.ENVS:
            name, s = online_results.settings(algo, env)
            build_config(PROPSConfig if name == "props" else PPOConfig, s, name)


def test_auc_is_the_mean_return_over_the_curve(tmp_path):
    (tmp_path / "eval.csv").write_text("step,return_mean,return_std\n10,0,0\n20,100,0\n40,100,0\n")
    final, auc = online_results.curve_metrics(tmp_path, 40)
    # trapezoid: 10*50 + 20*100 = 2500 over a width of 30
    assert final == 100 and auc == pytest.approx(2500 / 30)


def test_bad_arguments(capsys):
    with pytest.raises(ValueError, match="algo='sac'"):
        online_results.settings("sac", "Hopper-v5")
    with pytest.raises(ValueError, match="env='Ant-v5'"):
        online_results.settings("ppo", "Ant-v5")
    with pytest.raises(SystemExit):
        online_results.main(["--steps", "100"])
    assert "--steps=100" in capsys.readouterr().err
