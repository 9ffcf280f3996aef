"""A compiled update step for the offline loop (``compile=true``): ``torch.compile`` of ``algo.update``.

On a GPU one population update of the MLP algorithms here is launch-bound: a TD3+BC update is a
few hundred small kernels, each issued by Python, so the device idles between them. Compiling the
update fuses the element-wise work (Inductor) and, on CUDA, replays each compiled segment as a CUDA
graph (mode ``"reduce-overhead"``), so that the host issues a handful of graph launches per update
instead of hundreds of kernels. On a CPU the update is matmul-bound and compiling it gains nothing
measurable (``experiments/bench_population.py --compile`` prints the ratio); the option is there so
that the same run can move to a GPU unchanged.

What is compiled is the algorithm's own ``update``, unchanged: Dynamo traces it, and whatever it
cannot trace (the members' noise generators, ``backward()``, the optimisers' bookkeeping) runs as
ordinary Python between the compiled segments ("graph breaks"), so the step computes what the
eager one does (``tests/test_compiled_update.py``: parameters equal to float32 rounding after
the same updates, for every offline algorithm). The checkpoint is the algorithm's state as
before: a compiled run resumes uncompiled and the other way round.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from orl.data.buffer import Batch

Update = Callable[[Batch], dict[str, torch.Tensor]]


def compiled_update(algo, device: torch.device | str) -> Update:
    """``algo.update`` compiled with ``torch.compile`` (CUDA: ``mode="reduce-overhead"``, i.e. CUDA graphs).

    The returned callable copies the metrics it returns: a CUDA-graph replay writes its outputs into
    the same memory every time, and the loop keeps the metrics on the device across updates."""
    device = torch.device(device)
    mode = "reduce-overhead" if device.type == "cuda" else None
    # dynamic=None (automatic): the update counter ``total_it`` changes every call; after its first change
    # Dynamo treats it as a symbolic integer (guarding only on ``total_it % policy_freq``) instead of
    # recompiling for every value. The batch shapes never change within a run.
    fn = torch.compile(algo.update, mode=mode, dynamic=None)

    def update(batch: Batch) -> dict[str, torch.Tensor]:
        if mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # one update = one step of the graph trees
        return {k: v.clone() for k, v in fn(batch).items()}

    return update


MATMUL_PRECISIONS = ("highest", "high", "medium")


def set_matmul_precision(precision: str) -> None:
    """``torch.set_float32_matmul_precision``: ``"highest"`` (float32, the default), ``"high"`` (TF32 on
    GPUs that have it: about 10 bits of mantissa in the products, float32 accumulation) or ``"medium"``
    (bfloat16 products). A GPU run's results at "high" are not bit-comparable with float32 ones; the
    setting is written in the run's config."""
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul_precision must be one of {', '.join(MATMUL_PRECISIONS)}, got {precision!r}")
    torch.set_float32_matmul_precision(precision)
