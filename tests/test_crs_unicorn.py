"""UNICORN and the flat DQN on the conversational recommendation env (issue 21): the policy's graph is the
observation's graph, UNICORN beats the Max Entropy rule on held-out dialogues of a small hard graph within a CI
budget, a resumed run continues exactly (it would differ if training restarted from zero), and the CLI entry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from orl.algos.crs.unicorn import StateBuilder, UnicornConfig, collate
from orl.train.crs import make_envs, train_crs
from orl_envs.crs import evaluate, max_entropy_policy, to_pyg_data

ROOT = Path(__file__).resolve().parents[1]


def _tiny_envs():
    return make_envs("lastfm", "binary", 0, dict(n_users=30, n_items=200), n_attribute_slots=5, n_item_slots=5)


def test_policy_graph_is_the_observations_graph():
    """With room for every candidate, the GCN's graph is exactly ``to_pyg_data``'s (same nodes, edges, weights);
    with ``max_graph_items`` it keeps the best-ranked candidates and every edge among the kept nodes."""
    env, _ = _tiny_envs()
    obs, _ = env.reset(seed=3)
    obs, *_ = env.step(0)
    data = to_pyg_data(obs, env.edge_index)
    full = StateBuilder(env, UnicornConfig(max_graph_items=10_000))(obs)
    n_u = env.graph.n_users
    # StateBuilder rows: node 0 -> the user's row, node 1 + v -> n_u + v, attributes after the items.
    expected_rows = np.where(data.x.numpy() == 0, obs["user"][0], n_u + data.x.numpy() - 1)
    assert full["x"].tolist() == expected_rows.tolist()
    assert sorted(map(tuple, full["edge_index"].T.tolist())) == sorted(map(tuple, data.edge_index.numpy().T.tolist()))
    assert np.allclose(np.sort(full["edge_weight"]), np.sort(data.edge_weight.numpy()))
    # The sequence is the user then the accepted attributes.
    acc = np.flatnonzero(obs["accepted"])
    assert full["x"][full["seq"]].tolist() == [obs["user"][0], *(n_u + env.graph.n_items + acc).tolist()]
    cut = StateBuilder(env, UnicornConfig(max_graph_items=3))(obs)
    items = cut["x"][(cut["x"] >= n_u) & (cut["x"] < n_u + env.graph.n_items)] - n_u
    cand = np.flatnonzero(obs["candidate_items"])
    best = cand[np.argsort(-obs["edge_weight"][cand], kind="stable")[:3]]
    assert sorted(items.tolist()) == sorted(best.tolist())
    batch = collate([full, cut])
    assert batch["x"].shape[0] == full["x"].size + cut["x"].size and batch["seq_mask"].sum() == 2 * (1 + acc.size)


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="policy must be 'unicorn' or 'flat', got 'gnn'"):
        UnicornConfig(policy="gnn")
    with pytest.raises(ValueError, match=r"warmup \(8\) must be >= batch_size \(16\)"):
        UnicornConfig(batch_size=16, warmup=8)


def test_resume_continues_exactly(tmp_path):
    """A run killed after 10 of 20 dialogues and resumed trains only dialogues 11-20 and ends with the same networks,
    replay and logs as 20 in one go (the run is deterministic, so a restart from zero is caught by the first check,
    a resume that lost the replay, optimiser or RNG state by the others)."""
    cfg = UnicornConfig(batch_size=16, warmup=16, max_graph_items=10, eval_dialogues=5, test_dialogues=5)
    tr, te = _tiny_envs()
    straight = train_crs(tr, te, tmp_path / "a", cfg, episodes=20, eval_every=10, progress=False, test=False)


    def kill_at_10(line: str) -> None:  # the log line follows the checkpoint: a kill right after it
        if line.startswith("dialogue 10/"):
            raise KeyboardInterrupt

    tr, te = _tiny_envs()
    with pytest.raises(KeyboardInterrupt):
        train_crs(tr, te, tmp_path / "b", cfg, episodes=20, eval_every=10, progress=False, test=False, log=kill_at_10)
    assert (tmp_path / "b" / "eval.csv").read_text().count("\n") == 2
    tr, te = _tiny_envs()
    lines: list[str] = []
    resumed = train_crs(tr, te, tmp_path / "b", cfg, episodes=20, eval_every=10, progress=False, test=False,
                        resume=True, log=lines.append)
    # Only dialogues 11-20 were trained after the resume (a restart from zero would evaluate at 10 again) ...
    assert [line.split(":")[0] for line in lines] == ["dialogue 20/20"]
    # ... and they continued the killed run exactly.
    assert resumed["updates"] == straight["updates"] > 0 and resumed["env_steps"] == straight["env_steps"]
    a, b = straight["agent"].net.state_dict(), resumed["agent"].net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(resumed["agent"].replay) == len(straight["agent"].replay)
    logs = [(p / "eval.csv").read_text() for p in (tmp_path / "a", tmp_path / "b")]
    assert logs[0] == logs[1] and logs[0].count("\n") == 3  # header + 2 evaluations


def test_unicorn_beats_max_entropy_on_held_out_dialogues():
    """The acceptance line: on a small generated LastFM-like graph where Max Entropy's SR@15 is clearly below 1
    (.75 on these 300 held-out dialogues), UNICORN trained for 240 validation dialogues (CI budget: about 2,000
    updates of batch 64, 5 + 5 action slots, 20 graph items) has a higher SR@15 on the same dialogues."""
    tr, te = make_envs("lastfm", "binary", 0, dict(n_users=100, n_items=1500), n_attribute_slots=5, n_item_slots=5)
    n = 300
    rule = evaluate(te, max_entropy_policy, n)
    assert 0.5 < rule["SR@15"] < 0.85  # hard enough that beating it means something
    cfg = UnicornConfig(batch_size=64, warmup=64, max_graph_items=20, lr=2e-4, eval_dialogues=20, test_dialogues=n)
    result = train_crs(tr, te, None, cfg, episodes=240, eval_every=240, progress=False)
    assert result["SR@15"] >= rule["SR@15"] + 0.04, (result["SR@15"], rule["SR@15"])
    assert result["AT"] < rule["AT"]


def test_cli_entry_trains_and_lists(tmp_path):
    """``python -m orl.run algo=crs_dqn env=crs-lastfm`` trains, checkpoints and prints the test line;
    ``python -m orl.list algos`` shows both algorithms."""
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'envs'}", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "orl.run", "algo=crs_dqn", "env=crs-lastfm", "steps=6", "eval_every=3",
                        "algo.batch_size=8", "algo.warmup=8", "algo.eval_dialogues=3", "algo.test_dialogues=5",
                        "+env.graph.n_users=20", "+env.graph.n_items=100", f"out_root={tmp_path}"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "test on 5 held-out dialogues (crs-lastfm" in r.stdout
    run_dir = next((tmp_path / "crs_dqn" / "crs-lastfm").iterdir())
    assert (run_dir / "checkpoint.pt").exists() and (run_dir / "result.json").exists()
    r = subprocess.run([sys.executable, "-m", "orl.list", "algos"], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=120)
    assert r.returncode == 0 and "unicorn" in r.stdout and "crs_dqn" in r.stdout


def test_configs_match_the_code():
    """``conf/algo/unicorn.yaml`` and ``crs_dqn.yaml`` hold UnicornConfig's defaults (the code's settings), and
    every ``env=crs-*`` names its registered id."""
    import dataclasses

    import yaml

    from orl.train.crs import CRS_ENVS

    defaults = dataclasses.asdict(UnicornConfig())
    for name, policy in (("unicorn", "unicorn"), ("crs_dqn", "flat")):
        cfg = yaml.safe_load((ROOT / "orl" / "conf" / "algo" / f"{name}.yaml").read_text())["algo"]
        assert cfg.pop("name") == name and cfg.pop("family") == "crs"
        assert cfg == {**defaults, "policy": policy}
    for name, (_, _, env_id) in CRS_ENVS.items():
        assert yaml.safe_load((ROOT / "orl" / "conf" / "env" / f"{name}.yaml").read_text())["crs"] == env_id
