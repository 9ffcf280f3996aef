"""Dataset names and ``load_dataset(spec)``: one front door for every dataset source.

A *spec* is one of

- a registered dataset name (``orl.data.dataset_names()``), built on first use and cached as a
  local Minari dataset ``orl/<name>-v<version>`` under ``$ORL_DATA_DIR/minari`` (``ORL_DATA_DIR``
  defaults to ``~/.orl``);
- a path to a D4RL-layout HDF5 file (``*.hdf5`` / ``*.h5``);
- ``minari:<dataset_id>`` for a local Minari dataset: orl's cache (``$ORL_DATA_DIR/minari``)
  first, then Minari's own store (``MINARI_DATASETS_PATH`` or ``~/.minari/datasets``).
  Nothing is ever downloaded.

Builds are serialised by a lock file, so concurrent first uses build once, and written
atomically, so an interrupted build leaves no dataset that loads. A cached copy that is damaged
(truncated, emptied, overwritten: its HDF5 file does not open, or its data differ from the checksum
written with it) is not "built": the next build or load says so on stderr and rebuilds it. The
temporary directories of builds that were killed are removed at the next build or load.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orl.data.buffer import ReplayBuffer
from orl.data.errors import CorruptFileError, DatasetError, os_error_message


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: how to build it, deterministically, and for which environment."""

    name: str
    env_id: str
    build: Callable[[], ReplayBuffer]
    description: str
    version: int = 0
    #: A fingerprint of what the data is made from (for the locomotion datasets, the shipped behaviour
    #: policies), stored in the built dataset's metadata as ``source``: a cached dataset whose
    #: fingerprint differs is stale and is rebuilt on the next load. None (or a function returning
    #: None, e.g. when the policies are missing) skips the check.
    source: Callable[[], str | None] | None = None

    @property
    def minari_id(self) -> str:
        return f"orl/{self.name}-v{self.version}"


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> None:
    """Add a dataset name (overwriting is an error: names are a public contract)."""
    if info.name in _REGISTRY:
        raise ValueError(f"dataset {info.name!r} is already registered")
    _REGISTRY[info.name] = info


def dataset_names() -> list[str]:
    return sorted(_REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
    if name not in _REGISTRY:
        raise DatasetError(_unknown_message(name))
    return _REGISTRY[name]


def data_dir() -> Path:
    """``$ORL_DATA_DIR`` or ``~/.orl``: where orl caches datasets and behaviour policies."""
    return Path(os.environ.get("ORL_DATA_DIR") or Path.home() / ".orl").expanduser()


def minari_cache() -> Path:
    return data_dir() / "minari"


def _unknown_message(spec: str) -> str:
    close = difflib.get_close_matches(spec, dataset_names(), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return (f"unknown dataset {spec!r}.{hint} Known names: {', '.join(dataset_names())}; "
            f"or give a path to a D4RL-layout .hdf5 file, or minari:<dataset_id> of a local Minari dataset.")


def _data_dir_error(e: OSError, doing: str, path: Path) -> DatasetError:
    """A fault of ``$ORL_DATA_DIR`` (a file, read-only, not ours) as one line naming it and the remedy."""
    return DatasetError(f"ORL_DATA_DIR {data_dir()} cannot be used: {os_error_message(e, path, doing)}; "
                        f"set ORL_DATA_DIR to a writable directory (default ~/.orl)")


def cache_fault(name: str) -> str | None:
    """Why the cached copy of ``name`` cannot be used although it is there (damaged), or None when it is
    absent or looks whole. Cheap (opens the HDF5 file, reads no data): truncated, emptied and
    overwritten files fail to open; damage inside the data shows on load, as a checksum mismatch."""
    import h5py

    data = minari_cache() / dataset_info(name).minari_id / "data"
    meta_file, data_file = data / "metadata.json", data / "main_data.hdf5"
    if not meta_file.exists():
        return None
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as e:
        return f"{meta_file} cannot be read ({e})"
    if not data_file.exists():
        return f"{data_file} is missing"
    try:
        with h5py.File(data_file, "r") as f:
            episodes = len(f.keys())
    except Exception as e:  # noqa: BLE001 - h5py raises OSError, RuntimeError, ... for a damaged file
        return f"{data_file} is not a readable HDF5 file ({e})"
    if isinstance(meta, dict) and meta.get("total_episodes") not in (None, episodes):
        return f"{data_file} holds {episodes} episodes, its metadata says {meta['total_episodes']}"
    return None


def is_built(name: str) -> bool:
    """Whether ``name`` is in the cache, whole (:func:`cache_fault`) and not stale (its ``source``
    fingerprint is current)."""
    info = dataset_info(name)
    meta_file = minari_cache() / info.minari_id / "data" / "metadata.json"
    if not meta_file.exists() or cache_fault(name) is not None:
        return False
    current = info.source() if info.source is not None else None
    if current is None:
        return True
    try:
        stored = json.loads(json.loads(meta_file.read_text()).get("orl", "{}")).get("source")
    except (ValueError, TypeError, AttributeError):
        return False  # unreadable metadata: rebuild
    return stored == current


def build_dataset(name: str, force: bool = False) -> Path:
    """Build the registered dataset ``name`` into the cache (if needed); return its directory."""
    return ensure_built(name, force)[0]


def ensure_built(name: str, force: bool = False) -> tuple[Path, bool]:
    """:func:`build_dataset`, also saying whether this call built it (False: it was already built,
    possibly by another process while this one waited for the build lock)."""
    from orl.data.io import save_minari

    info = dataset_info(name)
    target = minari_cache() / info.minari_id
    lock_file = data_dir() / "locks" / f"{name}.lock"
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        lock = open(lock_file, "w")
    except OSError as e:
        raise _data_dir_error(e, "creating", lock_file) from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent builder waits here, then finds the dataset built
        if is_built(name) and not force:
            return target, False
        fault = cache_fault(name)
        if fault is not None:
            print(f"orl: the cached copy of {name} is damaged: {fault}; rebuilding it", file=sys.stderr)
        buffer = info.build()
        if info.source is not None:
            buffer.metadata["source"] = info.source()
        buffer.metadata.setdefault("env_id", info.env_id)
        buffer.metadata["dataset"] = name
        buffer.metadata["checksum"] = buffer.checksum()
        # unflagged="error": a registered dataset whose episode end lacks a terminal/timeout flag
        # is a generation bug; refuse it instead of writing it.
        save_minari(buffer, info.minari_id, env=info.env_id, root=minari_cache(), overwrite=True, unflagged="error",
                    algorithm_name=str(buffer.metadata.get("policy", "orl")), description=info.description,
                    ref_min_score=buffer.metadata.get("ref_min_score"), ref_max_score=buffer.metadata.get("ref_max_score"))
    return target, True


def load_dataset(spec: str, *, build: bool = True) -> ReplayBuffer:
    """Load a dataset by name, HDF5 path or ``minari:<id>`` (see the module docstring)."""
    from orl.data.io import load_hdf5, load_minari

    if not isinstance(spec, (str, os.PathLike)):
        raise DatasetError(f"dataset spec must be a string or path, got {type(spec).__name__}")
    spec = os.fspath(spec)
    if spec.startswith("minari:"):
        dataset_id = spec[len("minari:"):]
        if not dataset_id:
            raise DatasetError("minari: needs a dataset id, e.g. minari:orl/hopper/medium-v0")
        if (minari_cache() / dataset_id / "data").exists():  # orl's own cache first, then Minari's store
            return load_minari(dataset_id, root=minari_cache())
        return load_minari(dataset_id)
    if spec.endswith((".hdf5", ".h5")) or os.sep in spec or Path(spec).is_file():
        return load_hdf5(spec)
    info = dataset_info(spec)
    from orl.data.io import MINARI_TMP_PREFIX
    from orl.utils.atomic import sweep_stale_tempdirs

    sweep_stale_tempdirs(minari_cache(), MINARI_TMP_PREFIX)  # left by builds that were killed
    if not is_built(spec):
        if not build:
            fault = cache_fault(spec)
            state = "is not built yet" if fault is None else f"has a damaged cached copy ({fault})"
            raise DatasetError(f"dataset {spec!r} {state}; run: python -m orl.data.build {spec}")
        build_dataset(spec)
    try:
        return load_minari(info.minari_id, root=minari_cache())
    except CorruptFileError as e:  # damage that only reading all the data shows (a checksum mismatch)
        if not build:
            raise CorruptFileError(f"{e}; rebuild it with: python -m orl.data.build {spec} --force", e.path) from None
        print(f"orl: {e}; rebuilding {spec}", file=sys.stderr)
        ensure_built(spec, force=True)
        return load_minari(info.minari_id, root=minari_cache())


def normalized_score(name: str, returns: float | np.ndarray, reference: str = "orl") -> np.ndarray:
    """``100 * (R - ref_min) / (ref_max - ref_min)`` with the dataset's reference scores.

    ``reference="orl"`` uses the scores stored in the dataset (random and expert policies of
    orl's own environments, 100 episodes each); ``"d4rl"`` uses D4RL's published constants,
    where the dataset defines them (``d4rl_ref_min_score`` / ``d4rl_ref_max_score``).
    """
    meta = dataset_metadata(name)
    if reference == "orl":
        keys = ("ref_min_score", "ref_max_score")
    elif reference == "d4rl":
        keys = ("d4rl_ref_min_score", "d4rl_ref_max_score")
    else:
        raise ValueError(f"reference must be 'orl' or 'd4rl', got {reference!r}")
    if meta.get(keys[0]) is None or meta.get(keys[1]) is None:
        raise DatasetError(f"dataset {name!r} has no {reference} reference scores ({keys[0]}, {keys[1]})")
    lo, hi = float(meta[keys[0]]), float(meta[keys[1]])
    return 100.0 * (np.asarray(returns, dtype=np.float64) - lo) / (hi - lo)


def dataset_metadata(spec: str) -> dict:
    """A dataset's metadata; for a built registered dataset, read without loading its data."""
    if spec in _REGISTRY and is_built(spec):
        meta = json.loads((minari_cache() / _REGISTRY[spec].minari_id / "data" / "metadata.json").read_text())
        if "orl" in meta:
            return json.loads(meta["orl"])
    return load_dataset(spec).metadata


def _register_builtin() -> None:
    from orl.data import locomotion, pendulum, reacher

    for name, env_id, build, description, source in locomotion.dataset_specs():
        register_dataset(DatasetInfo(name=name, env_id=env_id, build=build, description=description, source=source))

    # pendulum-scripted v1: torque noise 0.5 (v0 had 1.0, too much for behaviour cloning to recover)
    for policy, text, version in (("random", "uniform-random torques", 0),
                                  ("scripted", f"a swing-up controller with Gaussian torque noise (std {pendulum.NOISE_STD})", 1)):
        register_dataset(DatasetInfo(
            name=f"pendulum-{policy}", env_id=pendulum.ENV_ID, version=version,
            build=lambda p=policy: pendulum.build(p),
            description=f"Pendulum-v1, 100 episodes x 200 steps of {text}; orl's small embedded dataset."))
    register_dataset(DatasetInfo(
        name="reacher-decoy", env_id=reacher.ENV_ID, build=reacher.build,
        description="Reacher-v5, 400 episodes x 50 steps: half a noisy reaching controller, half the same controller "
                    "aimed at the mirrored target; a small embedded dataset (CQL's CI task)."))


_register_builtin()
