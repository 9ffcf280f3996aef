"""Shared fixtures. Every test run caches datasets in a fresh temporary ORL_DATA_DIR."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

# Set before orl is imported anywhere, so no test touches the user's ~/.orl or ~/.minari.
_TMP = tempfile.mkdtemp(prefix="orl-tests-")
os.environ["ORL_DATA_DIR"] = os.path.join(_TMP, "orl")
os.environ["MINARI_DATASETS_PATH"] = os.path.join(_TMP, "minari")
# One torch thread: results independent of the core count, and no spinning OpenMP workers when the
# machine is busy (on a loaded 2-core machine two threads made small updates tens of times slower).
torch.set_num_threads(1)


@pytest.fixture
def one_thread():
    """One torch thread during the test, the previous count restored after it (training functions set
    their own, e.g. ``threads=`` of train_hdpo)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def three_episodes():
    """Hand-built dataset: episodes of 3, 2 and 1 transitions; returns 3, 1, 5; 1-D states.

    Episode 0 ends by timeout, episode 1 by timeout, episode 2 is terminal. First states 0, 1, 2.
    """
    from orl.data import ReplayBuffer

    obs = np.array([[0.0], [10.0], [11.0], [1.0], [20.0], [2.0]], np.float32)
    nxt = np.array([[10.0], [11.0], [12.0], [20.0], [21.0], [30.0]], np.float32)
    act = np.array([[0.1], [0.2], [0.3], [0.4], [0.5], [0.6]], np.float32)
    rew = np.array([1, 1, 1, 0, 1, 5], np.float32)
    term = np.array([0, 0, 0, 0, 0, 1], bool)
    tout = np.array([0, 0, 1, 0, 1, 0], bool)
    return ReplayBuffer.from_arrays(obs, act, rew, term, tout, next_observations=nxt)
