"""The ready-to-use solver (``orl.routing.solve``, ``python -m orl.routing.solve``) with the shipped
BQ models, and the TSPLIB tour / CVRPLIB solution files it reads and writes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from orl.algos.structured.bq import BQConfig, BQPolicy
from orl.data.routing import generate
from orl.routing import MODEL_DIR, actions_to_solution, shipped_models, solve
from orl_envs.routing import CVRPInstance, TSPInstance, generate_cvrp, generate_tsp
from orl_envs.routing.io import (load_cvrp_solution, load_cvrplib, load_tour, load_tsplib, save_cvrp_solution,
                                 save_cvrplib, save_tour)

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "envs"), os.environ.get("PYTHONPATH", "")])}
TINY = BQConfig(dim=16, layers=1, heads=2, ff_dim=16)


# ----------------------------------------------------------------------------- files


def test_tour_file_round_trip_and_errors(tmp_path):
    tour = [0, 3, 1, 4, 2]
    save_tour(tour, tmp_path / "t.tour", name="five", comment="hand made")
    text = (tmp_path / "t.tour").read_text()
    assert "TYPE : TOUR" in text and "TOUR_SECTION\n1\n4\n2\n5\n3\n-1\nEOF" in text  # 1-based ids
    assert load_tour(tmp_path / "t.tour") == tour
    (tmp_path / "bad.tour").write_text("NAME : x\nTYPE : TSP\nTOUR_SECTION\n1\n-1\n")
    with pytest.raises(ValueError, match=r"bad.tour: TYPE TSP is not supported here \(supported: TOUR\)"):
        load_tour(tmp_path / "bad.tour")
    (tmp_path / "dup.tour").write_text("TYPE : TOUR\nDIMENSION : 3\nTOUR_SECTION\n1 2 2\n-1\n")
    with pytest.raises(ValueError, match=r"the tour must list nodes 1..3 \(DIMENSION\) once each"):
        load_tour(tmp_path / "dup.tour")
    (tmp_path / "key.tour").write_text("TYPE : TOUR\nEDGE_WEIGHT_TYPE : EUC_2D\nTOUR_SECTION\n1\n-1\n")
    with pytest.raises(ValueError, match="line 2: unsupported keyword EDGE_WEIGHT_TYPE in a tour file"):
        load_tour(tmp_path / "key.tour")
    with pytest.raises(ValueError, match="a tour must visit nodes 0..2 once each"):
        save_tour([0, 1, 1], tmp_path / "x.tour")


def test_cvrplib_solution_round_trip_and_errors(tmp_path):
    routes = [[3, 1], [2, 5, 4]]
    save_cvrp_solution(routes, 27591, tmp_path / "a.sol")
    assert (tmp_path / "a.sol").read_text() == "Route #1: 3 1\nRoute #2: 2 5 4\nCost 27591\n"
    assert load_cvrp_solution(tmp_path / "a.sol") == (routes, 27591.0)
    save_cvrp_solution(routes, 12.125, tmp_path / "b.sol")
    assert load_cvrp_solution(tmp_path / "b.sol")[1] == 12.125
    (tmp_path / "c.sol").write_text("Route #1: 1 2\nRoute #2: 2 3\nCost 5\n")
    with pytest.raises(ValueError, match="a customer appears in more than one route"):
        load_cvrp_solution(tmp_path / "c.sol")
    (tmp_path / "d.sol").write_text("Route #1: 1 x\n")
    with pytest.raises(ValueError, match=r"d.sol: line 1: non-integer customer id"):
        load_cvrp_solution(tmp_path / "d.sol")
    (tmp_path / "e.sol").write_text("Tour: 1 2\n")
    with pytest.raises(ValueError, match=r"line 1: expected 'Route #k: \.\.\.' or 'Cost \.\.\.', got 'Tour: 1 2'"):
        load_cvrp_solution(tmp_path / "e.sol")


def test_instance_files_round_trip_through_the_solver(tmp_path):
    """A .vrp written from an instance loads back to the same costs, and the solution file written
    by the CLI reads back to routes whose length is the printed cost (file units)."""
    inst = CVRPInstance(coords=generate_cvrp(20, np.random.default_rng(0)).coords * 1000.0,
                        demands=generate_cvrp(20, np.random.default_rng(0)).demands, capacity=30, name="rt")
    save_cvrplib(inst, tmp_path / "rt.vrp")
    back = load_cvrplib(tmp_path / "rt.vrp")
    np.testing.assert_array_equal(back.distances, inst.distances)
    model = _tiny_model(tmp_path, "cvrp")
    out = subprocess.run([sys.executable, "-m", "orl.routing.solve", str(tmp_path / "rt.vrp"), "--beam", "0",
                          "--model", str(model), "--out", str(tmp_path / "sol")], capture_output=True, text=True,
                         env=ENV, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    routes, cost = load_cvrp_solution(tmp_path / "sol" / "rt.sol")
    assert cost == pytest.approx(inst.routes_length(routes))
    assert f"rt.vrp: cvrp cost {cost:g} (greedy" in out.stdout
    assert cost > 1000  # in the file's units, not the unit square


def _tiny_model(tmp_path: Path, problem: str) -> Path:
    torch.manual_seed(0)
    policy = BQPolicy(problem, TINY)
    from dataclasses import asdict

    path = tmp_path / f"{problem}-tiny.pt"
    torch.save({"policy": policy.state_dict(), "problem": problem, "size": 20, "config": asdict(TINY)}, path)
    return path


# ----------------------------------------------------------------------------- solve()


def test_solve_normalises_coordinates_and_reports_costs_in_the_instances_units(tmp_path):
    model = BQPolicy("tsp", TINY).eval()
    small = generate_tsp(15, np.random.default_rng(1))
    big = TSPInstance(coords=small.coords * 5000.0 + 300.0)  # the same instance in other units
    a = solve([small], beam=0, model=model)
    b = solve([big], beam=0, model=model)
    assert a.tours == b.tours and sorted(a.tours[0]) == list(range(15))
    assert b.costs[0] == pytest.approx(5000.0 * a.costs[0])
    assert a.costs[0] == pytest.approx(small.tour_length(a.tours[0]))
    # A TSPLIB file: EUC_2D distances are rounded as the file defines them.
    lines = ["NAME : t15", "TYPE : TSP", "DIMENSION : 15", "EDGE_WEIGHT_TYPE : EUC_2D", "NODE_COORD_SECTION"]
    lines += [f"{i + 1} {x:.1f} {y:.1f}" for i, (x, y) in enumerate(big.coords)] + ["EOF"]
    (tmp_path / "t15.tsp").write_text("\n".join(lines) + "\n")
    f = solve(str(tmp_path / "t15.tsp"), beam=3, model=model)
    inst = load_tsplib(tmp_path / "t15.tsp")
    assert f.costs[0] == inst.tour_length(f.tours[0]) and float(f.costs[0]).is_integer()


def test_solve_groups_sizes_and_beam_is_no_worse_than_greedy():
    torch.manual_seed(0)
    model = BQPolicy("cvrp", TINY).eval()
    inst = [generate_cvrp(10, np.random.default_rng(i)) for i in range(3)] + [generate_cvrp(20, np.random.default_rng(9))]
    g = solve(inst, problem="cvrp", beam=0, model=model)
    b = solve(inst, problem="cvrp", beam=8, model=model)
    for i, x in enumerate(inst):
        assert g.costs[i] == pytest.approx(x.routes_length(g.tours[i]))
        assert b.costs[i] == pytest.approx(x.routes_length(b.tours[i]))
    assert np.all(b.costs <= g.costs + 1e-9)


def test_solve_rejects_bad_input_by_name(tmp_path):
    model = BQPolicy("tsp", TINY)
    inst = generate_tsp(8, np.random.default_rng(0))
    with pytest.raises(ValueError, match="problem='cvrp' but the instances are 'tsp' instances"):
        solve(inst, problem="cvrp", model=model)
    with pytest.raises(ValueError, match=r"unknown problem 'vrp'; allowed: tsp, cvrp, op, kp"):
        solve(inst, problem="vrp", model=model)
    with pytest.raises(ValueError, match=r"beam must be an integer >= 0 \(0 or 1 = greedy\), got -2"):
        solve(inst, beam=-2, model=model)
    with pytest.raises(ValueError, match="the instances mix problems"):
        solve([inst, generate_cvrp(10, np.random.default_rng(0))], model=model)
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match=r"unknown file type '.txt'; allowed: .tsp \(TSPLIB\), .vrp \(CVRPLIB\)"):
        solve(str(tmp_path / "x.txt"))


def test_actions_to_solution():
    assert actions_to_solution("cvrp", np.array([2, 3, 4 + 0, 1, -1]), 4) == [[3, 4], [1, 2]]
    assert actions_to_solution("tsp", np.array([2, 1, -1]), 3) == [0, 2, 1]
    assert actions_to_solution("op", np.array([4, 0, 5]), 5) == [5, 1]


# ----------------------------------------------------------------------------- the shipped models


@pytest.mark.parametrize("name", ["tsp50", "cvrp50", "kp100", "op50"])
def test_shipped_model_reproduces_its_committed_costs(name):
    models = shipped_models()
    assert name in models, f"{name} is not shipped in {MODEL_DIR}"
    meta = models[name]
    assert (MODEL_DIR / f"{name}.pt").stat().st_size < 10.5e6  # the size limit (~10 MB)
    check = meta["check"]
    inst = [generate(meta["problem"], meta["size"], 0, "test", i) for i in range(len(check["greedy_costs"]))]
    assert len(inst) == 3
    g = solve(inst, problem=meta["problem"], beam=0)
    np.testing.assert_allclose(g.costs, check["greedy_costs"], rtol=1e-9)
    b = solve(inst, problem=meta["problem"], beam=4)
    np.testing.assert_allclose(b.costs, check["beam4_costs"], rtol=1e-9)
    # The record states what the model is: training time, data and measured gap.
    assert meta["train_time_s"] > 0 and meta["steps"] > 0 and meta["train_data"]["instances"] > 0
    assert np.isfinite(meta["test"]["greedy_gap_pct"]) and meta["test"]["instances"] >= 100
    json.dumps(meta)


def test_training_continues_from_the_shipped_checkpoint(tmp_path, monkeypatch):
    """experiments/bq_ship.py resumes the shipped file: steps and training time accumulate, the
    record keeps one history entry per run, and solve() reproduces the recorded costs."""
    monkeypatch.setenv("ORL_DATA_DIR", str(tmp_path / "data"))
    sys.path.insert(0, str(ROOT / "experiments"))
    import bq_ship

    args = ["--problem", "tsp", "--size", "10", "--minutes", "0.01", "--train-instances", "12", "--val-instances", "4",
            "--test-instances", "5", "--beam", "0", "--batch-size", "8", "--out", str(tmp_path / "runs"),
            "--models", str(tmp_path / "models"), "--history-csv", str(tmp_path / "history.csv")]
    assert bq_ship.main(args) == 0
    first = json.loads((tmp_path / "models" / "tsp10.json").read_text())
    common = ["--problem", "tsp", "--size", "10", "--minutes", "0.01", "--test-instances", "5", "--beam", "0",
              "--out", str(tmp_path / "runs"), "--models", str(tmp_path / "models"),
              "--history-csv", str(tmp_path / "history.csv")]
    # Continuing, the model's own settings hold: a flag that would be silently ignored is refused, and so is a
    # smaller training set; nothing is trained or rewritten by a refused call.
    for bad in (["--lr", "1e-3"], ["--batch-size", "8"], ["--val-instances", "4"], ["--train-instances", "11"]):
        with pytest.raises(SystemExit) as e:
            bq_ship.main(common + bad)
        assert e.value.code == 2
    assert json.loads((tmp_path / "models" / "tsp10.json").read_text()) == first
    assert bq_ship.main(common + ["--train-instances", "16"]) == 0  # the training set may grow
    second = json.loads((tmp_path / "models" / "tsp10.json").read_text())
    assert second["steps"] > first["steps"] and second["train_time_s"] > first["train_time_s"]
    assert len(second["history"]) == 2 and second["history"][1]["steps_after"] == second["steps"]
    assert [h["train_instances"] for h in second["history"]] == [12, 16] and second["train_data"]["instances"] == 16
    assert second["config"]["batch_size"] == 8 and second["config"]["val_instances"] == 4  # kept from the first run
    # The gap-versus-training-time rows: one per sitting (accumulated hours), and the heuristics on the same instances.
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    greedy = [r for r in rows if r["method"] == "bq greedy"]
    assert [float(r["gap_pct"]) for r in greedy] == [h["greedy_gap_pct"] for h in second["history"]]
    assert [r["steps"] for r in greedy] == [str(first["steps"]), str(second["steps"])]
    hours = np.cumsum([h["added_train_s"] for h in second["history"]]) / 3600
    np.testing.assert_allclose([float(r["train_hours"]) for r in greedy], hours, atol=1e-4)
    heur = {r["method"]: float(r["gap_pct"]) for r in rows if r["train_hours"] == ""}
    assert heur == second["test"]["heuristics"] and set(heur) == {"nearest_neighbour", "farthest_insertion"}
    assert heur["nearest_neighbour"] > 0
    inst = [generate("tsp", 10, 0, "test", i) for i in range(3)]
    costs = solve(inst, beam=0, model=tmp_path / "models" / "tsp10.pt").costs
    np.testing.assert_allclose(costs, second["check"]["greedy_costs"], rtol=1e-9)
    # The record's test gap is the shipped (latest) weights' own, and the file holds one set of weights.
    assert torch.load(tmp_path / "models" / "tsp10.pt", weights_only=False)["best_policy"] is None
    test = [generate("tsp", 10, 0, "test", i) for i in range(5)]
    shipped = solve(test, beam=0, model=tmp_path / "models" / "tsp10.pt").objective
    assert abs(float(np.mean(shipped)) - second["test"]["greedy_objective"]) < 1e-5


def test_a_larger_model_starts_from_a_smaller_ones_weights(tmp_path, monkeypatch):
    """bq_ship --init-from: a new 12-node model starts from the 10-node model's weights and architecture (one
    Adam step away from them, where a random initialisation is far), records where it started, keeps that
    record when continued, and refuses to overwrite an existing model's weights."""
    monkeypatch.setenv("ORL_DATA_DIR", str(tmp_path / "data"))
    sys.path.insert(0, str(ROOT / "experiments"))
    import bq_ship

    models = tmp_path / "models"
    common = ["--minutes", "0", "--test-instances", "5", "--beam", "0", "--out", str(tmp_path / "runs"),
              "--models", str(models), "--history-csv", str(tmp_path / "h.csv")]
    data = ["--train-instances", "12", "--val-instances", "4"]
    assert bq_ship.main(["--problem", "tsp", "--size", "10", "--batch-size", "8", "--lr", "1e-3"] + data + common) == 0
    src = torch.load(models / "tsp10.pt", weights_only=False)
    assert bq_ship.main(["--problem", "tsp", "--size", "12", "--init-from", str(models / "tsp10.pt")] + data + common) == 0
    new = torch.load(models / "tsp12.pt", weights_only=False)
    meta = json.loads((models / "tsp12.json").read_text())
    assert meta["config"]["lr"] == 1e-3 and meta["config"]["batch_size"] == 8  # the source's settings
    assert meta["init_from"] == {"model": "tsp10.pt", "problem": "tsp", "size": 10, "steps": src["step"],
                                 "train_time_s": round(src["elapsed_s"], 1)}
    assert new["step"] == 1  # --minutes 0: one step, then the validation and the checkpoint
    start = src.get("best_policy") or src["policy"]
    moved = max(float((new["policy"][k] - v).abs().max()) for k, v in start.items())
    assert 0 < moved <= 1.01e-3  # one Adam step of lr 1e-3 from the source's weights
    fresh = BQPolicy("tsp", BQConfig(**{k: meta["config"][k] for k in ("dim", "layers", "heads", "ff_dim")})).state_dict()
    assert max(float((fresh[k] - v).abs().max()) for k, v in start.items()) > 0.05
    assert bq_ship.main(["--problem", "tsp", "--size", "12"] + common) == 0  # a continuation keeps the record
    assert json.loads((models / "tsp12.json").read_text())["init_from"] == meta["init_from"]
    with pytest.raises(SystemExit) as e:
        bq_ship.main(["--problem", "tsp", "--size", "12", "--init-from", str(models / "tsp10.pt")] + common)
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        bq_ship.main(["--problem", "cvrp", "--size", "12", "--init-from", str(models / "tsp10.pt")] + common)
    assert e.value.code == 2 and not (models / "cvrp12.pt").exists()


def test_cli_lists_the_shipped_models_with_their_gaps(capsys):
    from orl.routing.solve import main

    assert main(["--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    models = shipped_models()
    assert len(out) == 1 + len(models)
    for name, meta in models.items():
        line = next(row for row in out if row.startswith(name + " "))
        assert f"{meta['test']['greedy_gap_pct']:.3f}%" in line and str(meta["steps"]) in line
    with pytest.raises(SystemExit):
        main([])  # neither files nor --list


def test_docs_table_of_shipped_models_matches_their_records(capsys):
    """docs/routing.md's table is what ``--list --markdown`` prints from the JSON records (a stale page fails)."""
    from orl.routing.solve import main

    assert main(["--list", "--markdown"]) == 0
    table = capsys.readouterr().out.strip()
    assert table.count("\n") == 1 + len(shipped_models())
    page = (Path(__file__).resolve().parents[1] / "docs" / "routing.md").read_text()
    assert table in page, "docs/routing.md's shipped-model table is stale: python -m orl.routing.solve --list --markdown"
