"""The peer cross-check's command line (experiments/peer_d3rlpy.py): bad arguments stop before any work.

The cross-check itself needs d3rlpy in its own venv and hours of training; it is not run here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
import peer_d3rlpy  # noqa: E402


@pytest.mark.parametrize("argv, message", [
    (["--steps", "0", "--libraries", "orl"], "--steps must be positive"),
    (["--eval-every", "-5", "--libraries", "orl"], "--eval-every must be positive"),
    ([], "--d3rlpy-python is required"),
    (["--d3rlpy-python", "/nonexistent/python"], "not an executable file"),
    (["--algos", "cql"], "invalid choice"),
])
def test_bad_arguments_exit_2_naming_them(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        peer_d3rlpy.parse(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_report_reads_the_results_rows():
    rows = [{"library": lib, "algo": "td3bc", "dataset": "hopper-medium", "seed": s, "updates": 10, "step": step,
             "score_mean": str(v + step + s)} for lib, v in (("orl", 1.0), ("d3rlpy", 5.0)) for s in range(3)
            for step in (5, 10)]
    text = peer_d3rlpy.report(rows)
    assert "| hopper-medium | td3bc | orl | 3 | 7.0 ± 1.0 | 12.0 ± 1.0 |" in text
    assert "| 0.005k | 0.01k |" in text
    assert "| hopper-medium | td3bc | 11.0, 12.0, 13.0 | 15.0, 16.0, 17.0 | -4.0 [-6.3, -1.7], t = -4.90" in text
