"""ReplayBuffer: construction, episode structure, D4RL next-observation semantics, FIFO, sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from orl.data import Batch, DatasetError, ReplayBuffer


def test_episodes_returns_lengths(three_episodes):
    buf = three_episodes
    assert len(buf) == 6 and buf.num_episodes == 3
    np.testing.assert_array_equal(buf.episode_lengths(), [3, 2, 1])
    np.testing.assert_allclose(buf.episode_returns(), [3.0, 1.0, 5.0])
    np.testing.assert_array_equal(buf.episode_index(), [0, 0, 0, 1, 1, 2])
    eps = list(buf.episodes())
    assert [e.length for e in eps] == [3, 2, 1]
    assert [e.terminated for e in eps] == [False, False, True]
    np.testing.assert_array_equal(eps[1].observations[:, 0], [1.0, 20.0])
    mean, std = buf.observation_stats()
    np.testing.assert_allclose(mean, [np.mean([0, 10, 11, 1, 20, 2])], rtol=1e-6)
    np.testing.assert_allclose(std, [np.std([0, 10, 11, 1, 20, 2])], rtol=1e-6)


def test_discontinuity_splits_episodes_without_flags():
    obs = np.array([[0.0], [1.0], [5.0], [6.0]], np.float32)
    nxt = np.array([[1.0], [2.0], [6.0], [7.0]], np.float32)  # 2.0 != 5.0: a boundary with no flag
    buf = ReplayBuffer.from_arrays(obs, np.zeros((4, 1)), np.ones(4), np.zeros(4), np.zeros(4), next_observations=nxt)
    np.testing.assert_array_equal(buf.episode_lengths(), [2, 2])


def test_derived_next_observations_never_cross_an_episode():
    # Episode A: 3 steps ending in a timeout; episode B: 2 steps, terminal; episode C: 2 steps, data ends.
    obs = np.arange(7, dtype=np.float32)[:, None]
    term = np.array([0, 0, 0, 0, 1, 0, 0])
    tout = np.array([0, 0, 1, 0, 0, 0, 0])
    buf = ReplayBuffer.from_arrays(obs, np.zeros((7, 2)), np.arange(7), term, tout)
    np.testing.assert_array_equal(buf.episode_lengths(), [3, 2, 2])
    nxt = buf.next_observations[:, 0]
    # within episodes: s_{t+1} is the next row
    assert nxt[0] == 1 and nxt[1] == 2 and nxt[3] == 4 and nxt[5] == 6
    # a timeout row has no successor in the data: it must not point at the next episode's first state
    assert nxt[2] != 3 and not buf.has_next[2]
    # a terminal row keeps a placeholder that never enters a target, and stays sampleable
    assert nxt[4] != 5 and buf.has_next[4] and buf.terminals[4]
    # the dataset's final row has no successor either
    assert not buf.has_next[6]
    np.testing.assert_array_equal(buf.has_next, [1, 1, 0, 1, 1, 1, 0])
    # its reward still counts in the episode return
    np.testing.assert_allclose(buf.episode_returns(), [0 + 1 + 2, 3 + 4, 5 + 6])
    rows = buf.sample(4096, np.random.default_rng(0)).indices
    assert not np.isin(rows, [2, 6]).any()
    assert set(rows.tolist()) == {0, 1, 3, 4, 5}


def test_sample_batch_types_and_terminal_semantics(three_episodes):
    batch = three_episodes.sample(64, np.random.default_rng(1))
    assert isinstance(batch, Batch) and len(batch) == 64
    assert batch.observations.dtype == torch.float32 and batch.observations.shape == (64, 1)
    assert batch.actions.shape == (64, 1) and batch.rewards.shape == (64,)
    assert batch.terminals.dtype == torch.float32
    rows = batch.indices
    np.testing.assert_array_equal(batch.terminals.numpy(), (rows == 5).astype(np.float32))
    np.testing.assert_array_equal(batch.timeouts.numpy(), np.isin(rows, [2, 4]).astype(np.float32))
    np.testing.assert_array_equal(batch.next_observations.numpy()[:, 0], three_episodes.next_observations[rows, 0])


def test_sampling_is_deterministic_for_a_seed(three_episodes):
    a = three_episodes.sample(32, np.random.default_rng(7)).indices
    b = three_episodes.sample(32, np.random.default_rng(7)).indices
    c = three_episodes.sample(32, np.random.default_rng(8)).indices
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_add_fifo_and_open_episode():
    buf = ReplayBuffer(capacity=5, observation_shape=(2,), action_dim=1)
    for t in range(7):  # episodes: t=0..2 (timeout at 2), t=3..6 open
        buf.add([t, t], [0.0], float(t), [t + 1, t + 1], terminal=False, timeout=(t == 2))
    assert len(buf) == 5 and buf.capacity == 5
    # oldest first: rows for t = 2..6; t=0,1 were overwritten
    np.testing.assert_array_equal(buf.observations[:, 0], [2, 3, 4, 5, 6])
    np.testing.assert_array_equal(buf.episode_lengths(), [1, 4])  # truncated oldest episode, open newest
    np.testing.assert_allclose(buf.episode_returns(), [2, 3 + 4 + 5 + 6])
    rows = buf.sample(1000, np.random.default_rng(0)).indices
    assert rows.min() >= 0 and rows.max() <= 4 and len(set(rows.tolist())) == 5


def test_add_episode_keeps_episodes_contiguous():
    buf = ReplayBuffer(capacity=100, observation_shape=(1,), action_dim=1)
    buf.add_episode(np.array([[0.0], [1.0]]), np.zeros((2, 1)), [1.0, 2.0], np.array([[1.0], [2.0]]), [0, 1])
    buf.add_episode(np.array([[5.0]]), np.zeros((1, 1)), [4.0], np.array([[6.0]]), [0], [1])
    np.testing.assert_array_equal(buf.episode_lengths(), [2, 1])
    np.testing.assert_allclose(buf.episode_returns(), [3.0, 4.0])
    assert buf.has_next.all()
    with pytest.raises(ValueError, match="more than one episode"):
        buf.add_episode(np.array([[0.0], [1.0]]), np.zeros((2, 1)), [1.0, 2.0], np.array([[1.0], [2.0]]), [1, 0])


def test_bad_inputs_give_clear_errors():
    with pytest.raises(DatasetError, match="actions: length 3 does not match"):
        ReplayBuffer.from_arrays(np.zeros((4, 2)), np.zeros((3, 1)), np.zeros(4), np.zeros(4))
    with pytest.raises(DatasetError, match="rewards: contains NaN"):
        ReplayBuffer.from_arrays(np.zeros((2, 2)), np.zeros((2, 1)), [0.0, np.nan], np.zeros(2))
    with pytest.raises(DatasetError, match="terminals: expected booleans"):
        ReplayBuffer.from_arrays(np.zeros((2, 2)), np.zeros((2, 1)), np.zeros(2), [0.5, 0.0])
    with pytest.raises(DatasetError, match="observations: the dataset is empty"):
        ReplayBuffer.from_arrays(np.zeros((0, 2)), np.zeros((0, 1)), np.zeros(0), np.zeros(0))
    buf = ReplayBuffer(10, (3,), 2)
    with pytest.raises(ValueError, match=r"observation: expected shape \(3,\)"):
        buf.add(np.zeros(4), np.zeros(2), 0.0, np.zeros(3), False)
    with pytest.raises(ValueError, match="action: expected 2 values"):
        buf.add(np.zeros(3), np.zeros(3), 0.0, np.zeros(3), False)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="capacity must be a positive integer"):
        ReplayBuffer(0, (3,), 2)


def test_checksum_tracks_content(three_episodes):
    same = ReplayBuffer.from_arrays(three_episodes.observations, three_episodes.actions, three_episodes.rewards,
                                    three_episodes.terminals, three_episodes.timeouts,
                                    next_observations=three_episodes.next_observations)
    assert same.checksum() == three_episodes.checksum()
    rew = three_episodes.rewards.copy()
    rew[0] += 1e-3
    other = ReplayBuffer.from_arrays(three_episodes.observations, three_episodes.actions, rew,
                                     three_episodes.terminals, three_episodes.timeouts,
                                     next_observations=three_episodes.next_observations)
    assert other.checksum() != three_episodes.checksum()


def test_a_pickled_buffer_keeps_writing_where_it_reads():
    """Checkpoints pickle online buffers: after unpickling, new rows must reach the packed matrix that
    ``sample``/``gather`` read (a pickle stores the column views as separate arrays unless rebuilt)."""
    import pickle

    buf = ReplayBuffer(8, (2,), 1)
    buf.add(np.ones(2), np.ones(1), 1.0, np.ones(2), False)
    copy = pickle.loads(pickle.dumps(buf))
    copy.add(np.full(2, 5.0), np.full(1, 0.5), 2.0, np.full(2, 6.0), True)
    batch = copy.gather(np.array([1]))
    assert batch.observations.tolist() == [[5.0, 5.0]] and batch.next_observations.tolist() == [[6.0, 6.0]]
    assert batch.actions.tolist() == [[0.5]] and batch.rewards.tolist() == [2.0] and batch.terminals.tolist() == [1.0]
