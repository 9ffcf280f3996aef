"""Worker processes that do numpy work beside a training or generation loop, and child processes
that shield the caller from a crashing C library.

Rules every process orl starts follows:

- **It dies with its parent.** A worker whose parent was killed (``kill -9``, an OOM kill, a closed
  terminal) would otherwise keep a core busy, orphaned, until its task ends. On Linux the kernel does
  it (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere a daemon thread polls the parent pid.
- **Ctrl-C is the parent's.** Workers ignore SIGINT (the terminal sends it to the whole process
  group); the parent gets ``KeyboardInterrupt`` and ends its workers at once, instead of waiting for
  their queued tasks (``ProcessPoolExecutor`` finishes every submitted task on shutdown, and its
  workers catch a ``KeyboardInterrupt`` in one task and go on to the next).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def one_thread() -> None:
    """Worker initializer: one BLAS/OpenMP thread. Idle BLAS threads spin-wait between small
    matrix products, so several workers with several threads each oversubscribe the cores
    (measured here: 2 dataset-generation workers ran at 1.2k transitions/s in all, one process
    alone at 3.0k)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def die_with_parent(parent_pid: int | None = None) -> None:
    """End this process when its parent ends (see the module docstring).

    ``parent_pid`` is the pid the parent had when it started this process: if the parent died
    before this call, ``getppid()`` already differs from it and the process exits now.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        except (OSError, AttributeError):
            _watch_parent()
    else:
        _watch_parent()
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent is already gone (it died before the death signal was armed)


def _watch_parent(interval_s: float = 1.0) -> None:
    """Fallback where there is no PR_SET_PDEATHSIG: exit once the parent pid changes (re-parenting)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            threading.Event().wait(interval_s)

    threading.Thread(target=watch, name="orl-watch-parent", daemon=True).start()


def worker_init(parent_pid: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> None:
    """Initializer of every pool worker: die with the parent, leave Ctrl-C to it, one BLAS thread,
    then the caller's own ``initializer(*initargs)``."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    one_thread()
    # tqdm's default lock is a multiprocessing semaphore: a worker killed mid-task leaves it to the
    # resource tracker, which then warns of a leak at exit. A spawned worker shares no lock anyway.
    from tqdm.auto import tqdm

    tqdm.set_lock(threading.RLock())
    if initializer is not None:
        initializer(*initargs)


def process_pool(workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()):
    """A spawn-context ``ProcessPoolExecutor`` whose workers follow the module's rules.

    Use it as ``with worker_pool(process_pool(n)) as pool:`` so that an exception or Ctrl-C in the
    block ends the workers at once (:func:`worker_pool`).
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    return cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=worker_init,
                                  initargs=(os.getpid(), initializer, initargs))


def terminate_pool(pool: Any) -> None:
    """Kill ``pool``'s workers, cancel what it has not started, and shut it down (within moments)."""
    # ProcessPoolExecutor has no public way to stop running tasks before Python 3.14's terminate_workers();
    # its worker table is taken before shutdown(), which forgets it.
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.kill()
    for proc in processes:
        with contextlib.suppress(Exception):
            proc.join(5)
    # With its workers dead the pool's manager thread sees a broken pool and ends at once; waiting for
    # it closes the pool's queues, whose semaphores would otherwise be reported leaked at exit.
    pool.shutdown(wait=True, cancel_futures=True)
    import gc

    gc.collect()  # the queues' semaphores are released when collected


@contextlib.contextmanager
def worker_pool(pool: Any) -> Iterator[Any]:
    """``with worker_pool(process_pool(n)) as pool``: on success wait for the workers as ``with pool``
    does; on an exception (Ctrl-C included) kill them at once (:func:`terminate_pool`) and re-raise."""
    try:
        yield pool
    except BaseException:
        terminate_pool(pool)
        raise
    pool.shutdown(wait=True)


class ChildFailed(Exception):
    """:func:`call_in_child`'s child died (a signal, e.g. a segfault in a C library) without a Python
    exception. ``stderr`` holds the end of what it wrote there."""

    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


def call_in_child(fn: Callable[[], None], stderr_tail: int = 65536) -> str:
    """Run ``fn()`` in a forked child process and wait for it; return what the child wrote to stderr.

    Why: HDF5 (through h5py, as Minari writes its files) does not report every failed write as a
    Python exception: on a full disk the errors surface in object destructors, hundreds of lines of
    them, and closing the file then segfaults (h5py 3 / HDF5 1.14, a full tmpfs). In a child, such a
    crash ends the child only: the caller gets :class:`ChildFailed` (or the child's own exception,
    re-raised here) with the child's stderr to inspect, and can clean up and say one clear thing.

    The child ignores Ctrl-C and dies with its parent; if the parent is interrupted while it waits,
    the child is killed before the ``KeyboardInterrupt`` propagates. Without ``os.fork`` (Windows)
    ``fn`` runs in this process.
    """
    if not hasattr(os, "fork"):
        fn()
        return ""
    err_r, err_w = os.pipe()  # the child's stderr (HDF5's error stacks go there)
    exc_r, exc_w = os.pipe()  # a pickled exception, if fn raised one
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 0
        try:
            os.close(err_r)
            os.close(exc_r)
            os.dup2(err_w, 2)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            die_with_parent(parent)
            fn()
        except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
            code = 1
            try:
                payload = pickle.dumps(e)
            except Exception:  # noqa: BLE001 - an unpicklable exception: send its text
                payload = pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))
            with contextlib.suppress(OSError):
                os.write(exc_w, payload)
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)
    os.close(err_w)
    os.close(exc_w)
    chunks: list[bytes] = []
    exc_chunks: list[bytes] = []

    def drain_exc() -> None:  # read both pipes at once so that neither fills and blocks the child
        while data := os.read(exc_r, 65536):
            exc_chunks.append(data)

    reader = threading.Thread(target=drain_exc, daemon=True)
    reader.start()
    try:
        while data := os.read(err_r, 65536):
            chunks.append(data)
            if sum(map(len, chunks)) > 2 * stderr_tail:
                chunks[:] = [b"".join(chunks)[-stderr_tail:]]
        reader.join()
        _, status = os.waitpid(pid, 0)
    except BaseException:  # Ctrl-C (or anything) while waiting: the child must not outlive the wait
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(err_r)
        reader.join(1)
        os.close(exc_r)
    stderr = b"".join(chunks)[-stderr_tail:].decode(errors="replace")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return stderr
    exc: BaseException | None = None
    if exc_chunks:
        with contextlib.suppress(Exception):
            exc = pickle.loads(b"".join(exc_chunks))
    if isinstance(exc, BaseException):
        with contextlib.suppress(Exception):
            exc.child_stderr = stderr  # type: ignore[attr-defined]  # what HDF5 printed, for a diagnosis
        raise exc
    how = (f"signal {signal.Signals(os.WTERMSIG(status)).name}" if os.WIFSIGNALED(status)
           else f"exit status {os.WEXITSTATUS(status)}")
    raise ChildFailed(f"the writer process died ({how})", stderr)
