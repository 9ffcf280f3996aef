"""Solved routing instances: the imitation data and the test sets of the BQ policy.

A :class:`SolvedSet` holds ``M`` instances of one problem and size (stacked arrays) with one
reference solution each, as the environment action sequence that replays it (padded with -1)
and its objective. Sets are generated locally (instances from :mod:`orl_envs.routing`'s
generators, solutions from its solvers), cached as ``.npz`` files under
``$ORL_DATA_DIR/routing/`` and written atomically in chunks, so an interrupted build resumes
where it stopped (solving thousands of CVRP instances takes hours here).

Instance ``i`` of a set is drawn from ``numpy.random.default_rng([seed, split, i])``: a larger
set extends a smaller one with the same seed, and training (``split`` 0), test (``split`` 1) and
validation (``split`` 2) instances never coincide. BQ-NCO orders a CVRP solution's routes by the capacity they leave
unused, fullest route first (the official data code sorts sub-tours by remaining capacity;
the paper reports it roughly halves the gap); :func:`cvrp_actions_sorted` does the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orl.utils.atomic import atomic_path

PROBLEMS = ("tsp", "cvrp", "op", "kp")
SPLITS = {"train": 0, "test": 1, "val": 2}


def data_dir() -> Path:
    """``$ORL_DATA_DIR/routing``: ``ORL_DATA_DIR`` read in one place (:func:`orl.data.registry.data_dir`)."""
    from orl.data.registry import data_dir as orl_data_dir

    return orl_data_dir() / "routing"


def generate(problem: str, size: int, seed: int, split: str, index: int, **kwargs):
    """Instance ``index`` of the ``split`` set with ``seed`` (independent of the set's length)."""
    from orl_envs.routing.instances import PROBLEMS as GENERATORS

    if problem not in GENERATORS:
        raise ValueError(f"unknown routing problem {problem!r}; known: {', '.join(sorted(GENERATORS))}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    rng = np.random.default_rng([seed, SPLITS[split], index])
    return GENERATORS[problem].generate(size, rng, **kwargs)


def stack_instances(instances: list) -> dict[str, np.ndarray]:
    """The arrays of a list of same-size instances of one problem (what a ``.npz`` stores)."""
    from orl_envs.routing import ATSPInstance, CVRPInstance, KPInstance, OPInstance, TSPInstance

    kind = type(instances[0])
    fields = {
        TSPInstance: ("coords",),
        ATSPInstance: ("distances",),
        CVRPInstance: ("coords", "demands", "capacity"),
        OPInstance: ("coords", "prizes", "max_length"),
        KPInstance: ("weights", "values", "capacity", "scale"),
    }[kind]
    return {f: np.stack([np.asarray(getattr(i, f)) for i in instances]) for f in fields}


def unstack_instances(problem: str, arrays: dict[str, np.ndarray]) -> list:
    from orl_envs.routing import ATSPInstance, CVRPInstance, KPInstance, OPInstance, TSPInstance

    cls = {"tsp": TSPInstance, "atsp": ATSPInstance, "cvrp": CVRPInstance, "op": OPInstance, "kp": KPInstance}[problem]
    keys = [k for k in arrays if k not in ("actions", "objective", "runtime_s")]
    m = len(arrays[keys[0]])
    return [cls(**{k: arrays[k][i] for k in keys}) for i in range(m)]


def cvrp_actions_sorted(routes: list[list[int]], instance) -> list[int]:
    """Environment actions for ``routes``, fullest route first (BQ-NCO's expert ordering)."""
    n = instance.num_customers
    order = sorted(routes, key=lambda r: instance.capacity - int(instance.demands[r].sum()))
    actions: list[int] = []
    for k, route in enumerate(order):
        for j, c in enumerate(route):
            actions.append(c - 1 + (n if (k > 0 and j == 0) else 0))
    return actions


@dataclass
class SolvedSet:
    """Instances (stacked arrays) with one reference solution each."""

    problem: str
    size: int
    arrays: dict[str, np.ndarray]  # instance fields
    actions: np.ndarray  # (M, T) int64, -1 after the end of a solution
    objective: np.ndarray  # (M,) float64
    method: str

    def __len__(self) -> int:
        return len(self.objective)

    @property
    def lengths(self) -> np.ndarray:
        return (self.actions >= 0).sum(axis=1)

    def instances(self, idx=None) -> list:
        sel = slice(None) if idx is None else idx
        return unstack_instances(self.problem, {k: v[sel] for k, v in self.arrays.items()})

    def subset(self, idx) -> SolvedSet:
        return SolvedSet(self.problem, self.size, {k: v[idx] for k, v in self.arrays.items()}, self.actions[idx],
                         self.objective[idx], self.method)


def _pad(actions: list[list[int]]) -> np.ndarray:
    t = max(len(a) for a in actions)
    out = np.full((len(actions), t), -1, dtype=np.int64)
    for i, a in enumerate(actions):
        out[i, : len(a)] = a
    return out


def solved_set(problem: str, size: int, count: int, *, seed: int = 0, split: str = "train", method: str = "auto",
               time_limit: float | None = None, chunk: int = 100, progress: bool = True,
               cache: bool = True, workers: int = 0, runs: int | None = None,
               iterations: int | None = None) -> SolvedSet:
    """``count`` instances of ``problem`` with ``size`` nodes, solved by ``method`` (cached).

    The cache file is ``$ORL_DATA_DIR/routing/<problem><size>-<split>-s<seed>-<method>-n<count>.npz``;
    while building, every ``chunk`` solved instances are saved to ``...partial.npz`` (atomically),
    from which a new call resumes. ``workers > 0`` solves in that many processes (results are
    taken in instance order, so the partial files and the resumption are the same). ``runs``: LKH's
    runs for ``method="elkai"`` (default 10; the cache name then gains ``-r<runs>``); ``iterations``: PyVRP's
    search iterations for ``method="pyvrp"`` (the name gains ``-i<iterations>``).
    """
    from orl_envs.routing.solvers import METHODS

    if problem not in PROBLEMS:
        raise ValueError(f"unknown routing problem {problem!r} for imitation; known: {', '.join(PROBLEMS)}")
    if method == "auto":
        method = METHODS[problem][0]
    if method not in METHODS[problem]:
        raise ValueError(f"unknown method {method!r} for {problem}; known: {', '.join(METHODS[problem])}")
    tl = "" if time_limit is None else f"-t{time_limit:g}"
    tl += "" if runs is None else f"-r{int(runs)}"  # LKH's runs (elkai): a set of its own
    tl += "" if iterations is None else f"-i{int(iterations)}"  # PyVRP's iterations: likewise
    name = f"{problem}{size}-{split}-s{seed}-{method}{tl}-n{count}"
    path, partial = data_dir() / f"{name}.npz", data_dir() / f"{name}.partial.npz"
    if cache and path.exists():
        return _load(path, problem, size, method)
    actions: list[list[int]] = []
    objective: list[float] = []
    # Instance i depends only on (problem, size, seed, split, i), so the set of another count is a
    # prefix of this one (or this one a prefix of it): reuse the largest complete set cached.
    prefix = _largest_cached(name.rsplit("-n", 1)[0]) if cache else None
    if prefix is not None:
        m, other = prefix
        done_set = _load(other, problem, size, method)
        if m >= count:
            return done_set.subset(slice(0, count))
        actions = [list(a[a >= 0]) for a in done_set.actions]
        objective = list(done_set.objective)
    if cache and partial.exists():
        with np.load(partial) as z:
            done = int(z["done"])
            if done > len(actions):  # the partial build got further than the largest complete set
                actions = [list(a[a >= 0]) for a in z["actions"][:done]]
                objective = list(z["objective"][:done])
    instances = [generate(problem, size, seed, split, i) for i in range(count)]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=count, initial=len(actions), desc=f"solving {problem}{size} ({method})", unit="inst")
    todo = range(len(actions), count)
    pool = None
    if workers > 0:
        from orl.utils.parallel import process_pool

        pool = process_pool(workers)  # its workers leave Ctrl-C to this process and die with it
        solutions = pool.map(_solve_one, [(instances[i], method, time_limit, i, runs, iterations) for i in todo],
                             chunksize=4)
    else:
        solutions = (_solve_one((instances[i], method, time_limit, i, runs, iterations)) for i in todo)
    try:
        for i, sol in zip(todo, solutions):
            acts = cvrp_actions_sorted(sol.nodes, instances[i]) if problem == "cvrp" else list(sol.actions)
            actions.append(acts)
            objective.append(sol.objective)
            if bar is not None:
                bar.update(1)
            if cache and ((i + 1) % chunk == 0) and i + 1 < count:
                _save(partial, instances[: i + 1], actions, objective, done=i + 1)
    except BaseException:
        if pool is not None:
            from orl.utils.parallel import terminate_pool

            terminate_pool(pool)  # Ctrl-C: end the running solves now, not after them
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    if bar is not None:
        bar.close()
    out = SolvedSet(problem, size, stack_instances(instances), _pad(actions), np.asarray(objective, np.float64), method)
    if cache:
        _save(path, instances, actions, objective)
        if partial.exists():
            partial.unlink()
    return out


def _solve_one(args: tuple):
    """``solve(instance, method, time_limit=..., seed=..., runs=..., iterations=...)`` from one picklable tuple: the
    one call of the solver for both paths (inline and in worker processes)."""
    from orl_envs.routing.solvers import solve

    instance, method, time_limit, seed, runs, iterations = args
    return solve(instance, method, time_limit=time_limit, seed=seed, runs=runs, iterations=iterations)


def _largest_cached(stem: str) -> tuple[int, Path] | None:
    """The complete cached set ``<stem>-n<m>.npz`` with the largest ``m``, if any."""
    best = None
    for f in data_dir().glob(f"{stem}-n*.npz"):
        m = re.fullmatch(re.escape(stem) + r"-n(\d+)\.npz", f.name)
        if m and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), f)
    return best


def _save(path: Path, instances: list, actions: list[list[int]], objective: list[float], done: int | None = None) -> None:
    arrays = stack_instances(instances)
    extra = {} if done is None else {"done": np.int64(done)}
    try:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, actions=_pad(actions), objective=np.asarray(objective, np.float64), **arrays, **extra)
    except OSError as e:  # a full disk, a read-only or file ORL_DATA_DIR: one line naming it
        from orl.data.errors import DatasetError, os_error_message

        raise DatasetError(os_error_message(e, path, "writing")) from None


def _load(path: Path, problem: str, size: int, method: str) -> SolvedSet:
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files if k not in ("actions", "objective", "done")}
            return SolvedSet(problem, size, arrays, z["actions"], z["objective"], method)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"corrupt routing data file {path}: {e}; delete it to rebuild") from None
