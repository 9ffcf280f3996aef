"""``compile=true``: the offline update step under ``torch.compile`` learns what the eager one learns (issue 16).

On a CPU compiling gains no speed (the benchmark says so); these tests hold the compiled step to the
eager step's results, so that a GPU run with ``compile=true`` is the same experiment, faster."""

from __future__ import annotations

import pytest
import torch
from torch._dynamo.utils import counters

from orl.algos import ALGORITHMS
from orl.data import load_dataset
from orl.train.compiled import compiled_update, set_matmul_precision
from orl.train.offline import Member, MemberBatches, TrainConfig, make_algorithm, train_offline

from test_population import HIGH, LOW, SMALL, _state

UPDATES = 6  # covers both phases of TD3+BC's / A2PR's delayed actor step (policy_freq 2) three times


@pytest.fixture(scope="module")
def pendulum():
    return load_dataset("pendulum-scripted")


def _graphs() -> int:
    return int(counters["stats"]["unique_graphs"])


def _flat(algo) -> torch.Tensor:
    return torch.cat([t.flatten().double() for t in _state(algo).values()])


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_compiled_update_learns_what_the_eager_update_learns(pendulum, name):
    torch.set_num_threads(1)
    seeds = [0, 1]
    members = [Member(pendulum, s, "Pendulum-v1", {}, f"m{s}") for s in seeds]
    eager = make_algorithm(name, pendulum, LOW, HIGH, SMALL[name], total_steps=UPDATES, seeds=seeds)
    comp = make_algorithm(name, pendulum, LOW, HIGH, SMALL[name], total_steps=UPDATES, seeds=seeds)
    start = _flat(eager)
    assert torch.equal(start, _flat(comp))
    graphs = _graphs()
    update = compiled_update(comp, "cpu")
    eager_batches, comp_batches = (MemberBatches(members, "uniform", 0.1, 10.0, 64) for _ in range(2))
    for _ in range(UPDATES):
        m_eager = eager.update(eager_batches.sample())
        m_comp = update(comp_batches.sample())
        assert set(m_eager) == set(m_comp)
        for k in m_eager:
            torch.testing.assert_close(m_comp[k], m_eager[k], rtol=1e-4, atol=1e-5, msg=f"metric {k}")
    assert _graphs() > graphs, "nothing was compiled"
    assert comp.total_it == eager.total_it == UPDATES
    x, y = _flat(eager), _flat(comp)
    assert float((x - start).norm()) > 0  # the updates changed the networks
    rel = float((y - x).norm() / x.norm())
    assert rel < 1e-5, f"{name}: compiled and eager parameters differ by {rel:.2e} (relative)"


def test_compile_in_the_training_loop_matches_eager(tmp_path, pendulum):
    cfg = dict(steps=40, eval_every=20, eval_episodes=1, log_every=10, batch_size=64)
    eager = train_offline("td3bc", pendulum, "Pendulum-v1", tmp_path / "eager", TrainConfig(**cfg),
                          SMALL["td3bc"], progress=False)
    graphs = _graphs()
    comp = train_offline("td3bc", pendulum, "Pendulum-v1", tmp_path / "comp", TrainConfig(**cfg, compile=True),
                         SMALL["td3bc"], progress=False)
    assert _graphs() > graphs, "compile=True did not compile the update"
    rel = float((_flat(comp["algo"]) - _flat(eager["algo"])).norm() / _flat(eager["algo"]).norm())
    assert rel < 1e-5
    assert comp["last"] == pytest.approx(eager["last"], abs=1e-3)
    rows = (tmp_path / "comp" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 4  # header + one row per log_every


def test_matmul_precision_is_checked():
    with pytest.raises(ValueError, match="matmul_precision must be one of highest, high, medium, got 'tf32'"):
        TrainConfig(matmul_precision="tf32")
    with pytest.raises(ValueError, match="matmul_precision"):
        set_matmul_precision("fast")
    set_matmul_precision("highest")
    assert torch.get_float32_matmul_precision() == "highest"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["td3bc", "a2pr"])
def test_compiled_update_on_cuda_learns_what_the_eager_update_learns(pendulum, name):
    """On CUDA the compiled step replays CUDA graphs (mode "reduce-overhead"); same results as eager."""
    seeds = [0, 1]
    members = [Member(pendulum, s, "Pendulum-v1", {}, f"m{s}") for s in seeds]
    algos = [make_algorithm(name, pendulum, LOW, HIGH, SMALL[name], total_steps=12, seeds=seeds).to("cuda")
             for _ in range(2)]
    update = compiled_update(algos[1], "cuda")
    batches = [MemberBatches(members, "uniform", 0.1, 10.0, 64) for _ in range(2)]
    kept = []
    for _ in range(12):
        algos[0].update(batches[0].sample().to("cuda"))
        kept.append(update(batches[1].sample().to("cuda")))  # outputs must survive the next replays
    assert all(torch.isfinite(v).all() for m in kept for v in m.values())
    x, y = _flat(algos[0]), _flat(algos[1])
    assert float((y - x).norm() / x.norm()) < 1e-4
