"""Worker processes that do numpy work beside a training or generation loop."""

from __future__ import annotations


def one_thread() -> None:
    """Worker initializer: one BLAS/OpenMP thread. Idle BLAS threads spin-wait between small
    matrix products, so several workers with several threads each oversubscribe the cores
    (measured here: 2 dataset-generation workers ran at 1.2k transitions/s in all, one process
    alone at 3.0k)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
