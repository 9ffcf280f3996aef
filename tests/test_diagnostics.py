"""TQ and SACo (Schweighofer et al. 2022) on hand-computed cases, and the diagnose CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from orl.data import ReplayBuffer
from orl.data.diagnostics import saco, tq, unique_state_actions
from orl.diagnose import main


def test_tq_hand_computed(three_episodes):
    # mean return (3 + 1 + 5) / 3 = 3; (3 - 1) / (5 - 1) = 0.5
    assert tq(three_episodes, random_return=1.0, expert_return=5.0) == pytest.approx(0.5)
    assert tq(three_episodes, random_return=-1.0, expert_return=3.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="must differ"):
        tq(three_episodes, 2.0, 2.0)


def _sa(states, actions):
    n = len(states)
    return ReplayBuffer.from_arrays(np.array(states, np.float32)[:, None], np.array(actions, np.float32)[:, None],
                                    np.zeros(n), np.ones(n))


def test_saco_hand_computed():
    # Reference (s, a) in {(0,0), (1,1), (0,1)}; with 2 edges [min, max] = [0, 1] per dimension,
    # np.digitize codes 0 below, 1 in [0, 1), 2 at >= 1: cells (1,1), (2,2), (1,2) -> 3 unique.
    reference = _sa([0, 1, 0], [0, 1, 1])
    # Dataset (0,0), (0,0.5), (1,1) -> cells (1,1), (1,1), (2,2) -> 2 unique.
    data = _sa([0, 0, 1], [0, 0.5, 1])
    assert saco(data, reference, bins=2) == pytest.approx(2 / 3)
    assert saco(reference, reference, bins=2) == pytest.approx(1.0)
    # More edges separate 0 and 0.5: edges [0, 0.5, 1] -> (1,1), (1,2), (3,3) -> 3 unique;
    # reference -> (1,1), (3,3), (1,3) -> 3 unique.
    assert saco(data, reference, bins=3) == pytest.approx(1.0)
    # Values outside the reference's range fall in the outer cells (below min: code 0)
    outside = _sa([-5, -6, 9], [0, 0, 0])  # cells (0,1), (0,1), (2,1)
    assert saco(outside, reference, bins=2) == pytest.approx(2 / 3)


def test_exact_count_matches_a_python_set():
    rng = np.random.default_rng(0)
    n = 5000
    buf = ReplayBuffer.from_arrays(rng.normal(size=(n, 4)), rng.uniform(-1, 1, size=(n, 2)), np.zeros(n), np.zeros(n))
    low, high = np.full(6, -1.5), np.full(6, 1.5)
    sa = np.concatenate([buf.observations, buf.actions], 1).astype(np.float64)
    expected = {tuple(np.digitize(row[d], np.linspace(low[d], high[d], 5)) for d in range(6)) for row in sa}
    assert unique_state_actions(buf, low, high, bins=5) == len(expected)
    # max_transitions counts only the first N rows
    first = {tuple(np.digitize(row[d], np.linspace(low[d], high[d], 5)) for d in range(6)) for row in sa[:100]}
    assert unique_state_actions(buf, low, high, bins=5, max_transitions=100) == len(first)


def test_diagnose_cli_json_and_errors(capsys, tmp_path, three_episodes):
    from orl.data import save_hdf5

    path = save_hdf5(three_episodes, tmp_path / "three.hdf5")
    assert main([str(path), "--reference", str(path), "--random-return", "1", "--expert-return", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["transitions"] == 6 and out["episodes"] == 3
    assert out["return_mean"] == pytest.approx(3.0) and out["return_max"] == pytest.approx(5.0)
    assert out["tq"] == pytest.approx(0.5) and out["saco"] == pytest.approx(1.0)
    assert main([str(path)]) == 0  # a table, with TQ n/a when no references are known
    table = capsys.readouterr().out
    assert "transitions" in table and "n/a" in table
    assert main(["hopper-mediun"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'hopper-mediun'" in err and "pendulum-scripted" in err and "Traceback" not in err
    assert main([str(tmp_path / "missing.hdf5")]) == 2
    assert "missing.hdf5: file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(path), "--random-return", "1"])  # needs both references
