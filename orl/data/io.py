"""Reading and writing :class:`~orl.data.buffer.ReplayBuffer` in the formats users already have.

**D4RL HDF5 layout** (what ``d4rl``'s ``get_dataset`` reads): top-level datasets
``observations (N, obs_dim)``, ``actions (N, act_dim)``, ``rewards (N,)``, ``terminals (N,)``,
``timeouts (N,)`` and, optionally, ``next_observations (N, obs_dim)``; other keys (``infos/*``,
``metadata/*``) are allowed and ignored, except that scalars under ``metadata/`` are read into
the buffer's metadata. orl writes its metadata as file attributes: plain scalars one attribute
each, and the whole dictionary as JSON in the attribute ``orl_metadata``.

**Minari** (local datasets only: ``minari.create_dataset_from_buffers`` / ``minari.load_dataset``;
no download, no jax). Episodes store ``T + 1`` observations, so ``next_observations`` come from
the episode itself. An episode whose final next observation is unknown (a D4RL file without
``next_observations`` that ends in a timeout) is written with its last observation repeated and
listed in the dataset metadata key ``orl_episodes_without_final_next_obs``, so that reading it
back restores ``has_next = False`` for that row.

Every write is atomic: the file (or dataset directory) is built under a temporary name and
renamed into place, so an interrupted write never leaves something that loads. Both writers store a
SHA-256 of the data as written (the HDF5 attribute ``orl_sha256``, the Minari metadata key
``orl_sha256``) and both readers check it when it is there, so a file truncated, overwritten or
damaged on disk raises :class:`~orl.data.errors.CorruptFileError` naming the file, instead of an
h5py traceback or silently wrong data. A write that fails (a full disk, a read-only directory)
raises :class:`DatasetError` with one line saying what and where, and leaves no temporary behind;
the temporaries of a writer that was killed are removed by the next write into the same place.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from orl.data.buffer import ReplayBuffer
from orl.data.errors import DISK_FULL, CorruptFileError, DatasetError, os_error_message
from orl.utils.atomic import atomic_path, owned_tempdir, sweep_stale_tempdirs
from orl.utils.parallel import ChildFailed, call_in_child

REQUIRED_KEYS = ("observations", "actions", "rewards", "terminals")
MISSING_NEXT_KEY = "orl_episodes_without_final_next_obs"
CHECKSUM_KEY = "orl_sha256"
#: h5py/HDF5 raise these (besides DatasetError's own checks) on a damaged file: OSError for an
#: unreadable block, RuntimeError/KeyError/ValueError/TypeError for a damaged header or message.
_READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, AttributeError)
#: save_minari's temporary Minari roots, next to the datasets they become
MINARI_TMP_PREFIX = ".orl-minari-"


class _ColumnHash:
    """SHA-256 over named arrays, fed in order (a dataset's checksum as written and as read back)."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, name: str, arr: np.ndarray) -> None:
        arr = np.ascontiguousarray(arr)
        self._h.update(f"{name}:{arr.dtype.str}:{arr.shape}".encode())
        self._h.update(arr.tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _write_error(e: OSError, path: Path) -> DatasetError:
    """An ``OSError`` of a write as one clear :class:`DatasetError` (the partial write is already gone)."""
    msg = os_error_message(e, path, "writing")
    if e.errno in DISK_FULL:
        msg += "; freed the partial write"
    return DatasetError(msg)


# ---------------------------------------------------------------------------- D4RL HDF5
def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _end_flags(buffer: ReplayBuffer, unflagged: str, where: str) -> np.ndarray:
    """``buffer.timeouts`` with every unflagged episode end marked a time-out (see :func:`save_hdf5`)."""
    if unflagged not in ("timeout", "error"):
        raise ValueError(f"unflagged must be 'timeout' or 'error', got {unflagged!r}")
    timeouts = buffer.timeouts.copy()
    rows = buffer.unflagged_ends()
    if rows.size:
        what = (f"{rows.size} episode end(s) carry neither a terminal nor a timeout flag "
                f"(rows {rows[:5].tolist()}{' ...' if rows.size > 5 else ''})")
        if unflagged == "error":
            raise DatasetError(f"{where}: {what}; every episode end must be flagged")
        warnings.warn(f"{where}: {what}; written as timeouts (truncated episodes)", stacklevel=3)
        timeouts[rows] = True
    return timeouts


def save_hdf5(buffer: ReplayBuffer, path: str | os.PathLike[str], compression: str | None = None,
              unflagged: str = "timeout") -> Path:
    """Write ``buffer`` as a D4RL-layout HDF5 file, atomically. Returns the path.

    Every episode end carries a flag in the file, as readers that split episodes at
    ``terminals | timeouts`` alone (d3rlpy, ``d4rl.sequence_dataset``) need: an end with
    neither (a cut at a size limit, an unfinished episode) is written as a time-out with a
    warning (``unflagged="timeout"``), or refused with :class:`DatasetError`
    (``unflagged="error"``). ``next_observations`` is written whenever every row's successor
    is known; otherwise it is omitted (with ``episode_ends``) and the reader derives it within
    episodes exactly as it was.
    """
    import h5py

    path = Path(path)
    timeouts = _end_flags(buffer, unflagged, str(path))
    meta = _jsonable(buffer.metadata)
    cols = {"observations": buffer.observations, "actions": buffer.actions, "rewards": buffer.rewards,
            "terminals": buffer.terminals, "timeouts": timeouts}
    if buffer.has_next.all():
        cols["next_observations"] = buffer.next_observations
    else:
        # Successors unknown at some episode ends: the reader derives them within episodes, from these ends.
        cols["episode_ends"] = buffer.episode_ends
    digest = _ColumnHash()
    for key, arr in cols.items():
        digest.update(key, arr)
    try:
        with atomic_path(path, suffix=".hdf5") as tmp:
            with h5py.File(tmp, "w") as f:
                for key, arr in cols.items():
                    f.create_dataset(key, data=arr, compression=compression)
                for key, value in meta.items():
                    if isinstance(value, (str, int, float, bool)):
                        f.attrs[key] = value
                f.attrs["orl_metadata"] = json.dumps(meta)
                f.attrs[CHECKSUM_KEY] = digest.hexdigest()
    except OSError as e:  # h5py raises OSError(errno) for a failed write; atomic_path removed the temporary
        raise _write_error(e, path) from None
    return path


def load_hdf5(path: str | os.PathLike[str]) -> ReplayBuffer:
    """Read a D4RL-layout HDF5 file into a :class:`ReplayBuffer`, validating it.

    Raises :class:`DatasetError` naming the file and the fault: not found, not HDF5, a missing
    key, a length mismatch, a wrong dtype or shape, NaN/inf values; :class:`CorruptFileError`
    for a truncated or damaged file (h5py's own errors, or a checksum that differs).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: file not found")
    if path.is_dir():
        raise DatasetError(f"{path}: is a directory, not an HDF5 file")
    try:
        return _load_hdf5(path)
    except DatasetError:
        raise
    except _READ_ERRORS as e:  # a damaged header or message that h5py reports from deep inside
        raise CorruptFileError(f"{path}: cannot be read, the file is truncated or corrupt ({e})", path) from None


def _load_hdf5(path: Path) -> ReplayBuffer:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise CorruptFileError(f"{path}: not a readable HDF5 file ({e})", path) from None
    with f:
        missing = [k for k in REQUIRED_KEYS if k not in f]
        if missing:
            raise DatasetError(f"{path}: missing required key(s) {missing}; the file has {sorted(f.keys())} "
                               f"(the D4RL layout needs {list(REQUIRED_KEYS)}, optionally timeouts and next_observations)")
        cols: dict[str, np.ndarray | None] = {}
        for key in (*REQUIRED_KEYS, "timeouts", "next_observations", "episode_ends"):
            if key not in f:
                cols[key] = None
                continue
            node = f[key]
            if not isinstance(node, h5py.Dataset):
                raise DatasetError(f"{path}: '{key}' is a group, expected an array")
            try:
                cols[key] = node[()]
            except _READ_ERRORS as e:
                raise CorruptFileError(f"{path}: cannot read '{key}' ({e}); the file is probably truncated or corrupt",
                                       path) from None
        stored = f.attrs.get(CHECKSUM_KEY)
        if stored is not None:  # written by orl: the columns must be the bytes that were written
            digest = _ColumnHash()
            for key in ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations", "episode_ends"):
                if cols[key] is not None:
                    digest.update(key, cols[key])
            if digest.hexdigest() != (stored.decode() if isinstance(stored, bytes) else str(stored)):
                raise CorruptFileError(f"{path}: the data differ from what was written (checksum {CHECKSUM_KEY} "
                                       f"does not match); the file is corrupt", path)
        metadata: dict[str, Any] = {}
        if "orl_metadata" in f.attrs:
            try:
                metadata = json.loads(f.attrs["orl_metadata"])
            except (TypeError, ValueError) as e:
                raise DatasetError(f"{path}: attribute 'orl_metadata' is not valid JSON ({e})") from None
        else:
            metadata = {k: _jsonable(v) for k, v in f.attrs.items()}
            group = f.get("metadata")
            if isinstance(group, h5py.Group):
                for k, v in group.items():
                    if isinstance(v, h5py.Dataset) and v.shape == ():
                        val = v[()]
                        metadata[k] = val.decode() if isinstance(val, bytes) else _jsonable(val)
    try:
        return ReplayBuffer.from_arrays(
            cols["observations"], cols["actions"], cols["rewards"], cols["terminals"],
            timeouts=cols["timeouts"], next_observations=cols["next_observations"],
            episode_ends=cols["episode_ends"], metadata=metadata)
    except DatasetError as e:
        raise DatasetError(f"{path}: {e}") from None


# ---------------------------------------------------------------------------- Minari
@contextmanager
def minari_root(root: str | os.PathLike[str] | None) -> Iterator[Path]:
    """Point Minari at ``root`` (``MINARI_DATASETS_PATH``) for the duration of the block."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    if root is not None:
        os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield Path(os.environ.get("MINARI_DATASETS_PATH", Path.home() / ".minari" / "datasets"))
    finally:
        if root is not None:
            if old is None:
                os.environ.pop("MINARI_DATASETS_PATH", None)
            else:
                os.environ["MINARI_DATASETS_PATH"] = old


class _MinariHash(_ColumnHash):
    """The checksum of a Minari dataset, episode by episode, over the columns as :func:`load_minari`
    reads them (float32 observations, actions and rewards, bool flags): the same bytes whether they
    are hashed before the write or after the read, whatever dtypes the spaces store."""

    def update(self, obs: Any, actions: Any, rewards: Any, terminations: Any, truncations: Any) -> None:  # type: ignore[override]
        n = len(rewards)
        super().update("observations", np.asarray(obs, np.float32).reshape(n + 1, -1))
        super().update("actions", np.asarray(actions, np.float32).reshape(n, -1))
        super().update("rewards", np.asarray(rewards, np.float32))
        super().update("terminations", np.asarray(terminations, bool))
        super().update("truncations", np.asarray(truncations, bool))


def save_minari(buffer: ReplayBuffer, dataset_id: str, env: Any = None, *, root: str | os.PathLike[str] | None = None,
                observation_space: Any = None, action_space: Any = None, overwrite: bool = False,
                unflagged: str = "timeout", **create_kwargs: Any) -> Path:
    """Write ``buffer`` as the local Minari dataset ``dataset_id`` (e.g. ``orl/hopper/medium-v0``).

    ``env`` is a Gymnasium id, spec or env (or give both spaces). ``root`` overrides
    ``MINARI_DATASETS_PATH``. ``create_kwargs`` go to ``minari.create_dataset_from_buffers``
    (``algorithm_name``, ``ref_min_score``, ``ref_max_score``, ``description``, ...). The dataset
    is built in a temporary Minari root next to the target and renamed into place, so an
    interrupted write leaves nothing loadable. ``buffer.metadata`` is stored under the key
    ``orl`` of the Minari metadata. An episode whose last step has neither ``terminations`` nor
    ``truncations`` is written truncated, or refused, as ``unflagged`` says (see :func:`save_hdf5`).
    Returns the dataset directory.
    """
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer
    from minari.namespace import create_namespace, list_local_namespaces
    from minari.utils import parse_dataset_id

    if env is None and (observation_space is None or action_space is None):
        raise ValueError("save_minari needs env (a Gymnasium id, spec or env) or both spaces")
    if observation_space is None or action_space is None:
        probe = gym.make(env) if isinstance(env, (str, gym.envs.registration.EnvSpec)) else env
        observation_space = observation_space or probe.observation_space
        action_space = action_space or probe.action_space
    episodes, without_final = [], []
    discrete = isinstance(action_space, gym.spaces.Discrete)
    starts, lengths = buffer.episode_bounds()
    has_next = buffer.has_next
    timeouts = _end_flags(buffer, unflagged, f"Minari dataset {dataset_id!r}")
    digest = _MinariHash()
    for i, ep in enumerate(buffer.episodes()):
        obs = np.concatenate([ep.observations, ep.next_observations[-1:]], axis=0).astype(observation_space.dtype)
        if not has_next[starts[i] + lengths[i] - 1]:
            without_final.append(i)
        actions = (ep.actions[:, 0].astype(np.int64) if discrete else ep.actions).astype(action_space.dtype)
        rewards, truncations = ep.rewards.astype(np.float64), timeouts[starts[i]: starts[i] + lengths[i]]
        digest.update(obs, actions, rewards, ep.terminals, truncations)
        episodes.append(EpisodeBuffer(id=i, observations=list(obs), actions=list(actions), rewards=list(rewards),
                                      terminations=list(ep.terminals), truncations=list(truncations)))
    with minari_root(root) as final_root:
        target = final_root / dataset_id
        if target.exists() and not overwrite:
            raise DatasetError(f"Minari dataset {dataset_id!r} already exists at {target} (pass overwrite=True)")
        extra = {"orl": json.dumps(_jsonable(buffer.metadata)), MISSING_NEXT_KEY: without_final,
                 CHECKSUM_KEY: digest.hexdigest()}
        try:
            sweep_stale_tempdirs(final_root, MINARI_TMP_PREFIX)  # what killed writers left behind
            with owned_tempdir(final_root, MINARI_TMP_PREFIX) as tmp_root:
                def write() -> None:
                    with minari_root(tmp_root), warnings.catch_warnings():
                        # Minari nags about optional provenance fields (author, permalink, eval_env) left None.
                        warnings.filterwarnings("ignore", message=r".*(is set to None|env_spec is None)", category=UserWarning)
                        ds = minari.create_dataset_from_buffers(
                            dataset_id=dataset_id, buffer=episodes, env=env, action_space=action_space,
                            observation_space=observation_space, **create_kwargs)
                        ds.storage.update_metadata(extra)

                # HDF5 may crash the process on a failed write (see call_in_child): write in a child.
                try:
                    child_stderr = call_in_child(write)
                except ChildFailed as e:
                    raise _minari_write_error(e, str(e), e.stderr, target) from None
                except OSError:
                    raise
                except Exception as e:  # noqa: BLE001 - HDF5's disk-full errors come as RuntimeError too
                    if _says_disk_full(f"{e}\n{getattr(e, 'child_stderr', '')}"):
                        raise _write_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), target) from None
                    raise
                if child_stderr:
                    sys.stderr.write(child_stderr)  # warnings the child printed
                namespace = parse_dataset_id(dataset_id)[0]
                if namespace is not None and namespace not in list_local_namespaces():
                    create_namespace(namespace)
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():  # aside into the temporary root: removed with it, even after a kill
                    os.replace(target, tmp_root / ".replaced")
                os.replace(tmp_root / dataset_id, target)
        except OSError as e:
            raise _write_error(e, target) from None
    return target


def _says_disk_full(text: str) -> bool:
    """Whether HDF5's error text (an exception, or the error stack it printed) reports a full disk."""
    return any(f"errno = {n}" in text or f"[Errno {n}]" in text for n in DISK_FULL) or os.strerror(errno.ENOSPC) in text


def _minari_write_error(e: Exception, what: str, stderr: str, target: Path) -> DatasetError:
    if _says_disk_full(f"{what}\n{stderr}"):
        return _write_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), target)
    last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
    return DatasetError(f"writing the Minari dataset {target} failed: {what}" + (f" ({last.strip()})" if last else ""))


def load_minari(dataset_id: str, *, root: str | os.PathLike[str] | None = None) -> ReplayBuffer:
    """Read the local Minari dataset ``dataset_id`` into a :class:`ReplayBuffer` (no download)."""
    import minari

    with minari_root(root) as r:
        data = Path(r) / dataset_id / "data"
        data_file = data / "main_data.hdf5" if (data / "main_data.hdf5").exists() else data
        try:
            ds = minari.load_dataset(dataset_id, download=False)
        except FileNotFoundError:
            known = sorted(minari.list_local_datasets())
            raise DatasetError(f"Minari dataset {dataset_id!r} not found under {r}; local datasets: "
                               f"{known or 'none'} (orl never downloads)") from None
        except Exception as e:  # corrupt metadata or HDF5 inside the dataset directory
            raise CorruptFileError(f"Minari dataset {dataset_id!r} under {r} cannot be read: {e}", data) from None
        meta = ds.storage.metadata
        cols: dict[str, list[np.ndarray]] = {k: [] for k in
                                             ("observations", "next_observations", "actions", "rewards", "terminals", "timeouts", "ends")}
        digest = _MinariHash()
        try:
            for ep in ds.iterate_episodes():
                obs = np.asarray(ep.observations, np.float32)
                if obs.ndim == 1:
                    obs = obs[:, None]
                n = len(ep.rewards)
                if obs.shape[0] != n + 1:
                    raise DatasetError(f"episode {ep.id} has {obs.shape[0]} observations for {n} steps (expected {n + 1})")
                digest.update(obs, ep.actions, ep.rewards, ep.terminations, ep.truncations)
                cols["observations"].append(obs[:-1])
                cols["next_observations"].append(obs[1:])
                act = np.asarray(ep.actions, np.float32)
                cols["actions"].append(act.reshape(n, -1))
                cols["rewards"].append(np.asarray(ep.rewards, np.float32))
                cols["terminals"].append(np.asarray(ep.terminations, bool))
                cols["timeouts"].append(np.asarray(ep.truncations, bool))
                ends = np.zeros(n, bool)
                ends[-1] = True
                cols["ends"].append(ends)
        except DatasetError as e:
            raise DatasetError(f"Minari dataset {dataset_id!r}: {e}") from None
        except _READ_ERRORS as e:  # h5py on a truncated, emptied or overwritten file
            raise CorruptFileError(f"Minari dataset {dataset_id!r}: {data_file} cannot be read, the file is truncated "
                                   f"or corrupt ({e})", data_file) from None
        if meta.get(CHECKSUM_KEY) is not None and meta[CHECKSUM_KEY] != digest.hexdigest():
            raise CorruptFileError(f"Minari dataset {dataset_id!r}: the data in {data_file} differ from what was "
                                   f"written (checksum {CHECKSUM_KEY} does not match); the file is corrupt", data_file)
    if not cols["rewards"]:
        raise DatasetError(f"Minari dataset {dataset_id!r} has no episodes")
    metadata = json.loads(meta["orl"]) if "orl" in meta else {}
    metadata.setdefault("env_id", (meta.get("env_spec") and json.loads(meta["env_spec"]).get("id")) or None)
    for key in ("ref_min_score", "ref_max_score"):
        if meta.get(key) is not None:
            metadata.setdefault(key, float(meta[key]))
    metadata["minari_id"] = dataset_id
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    buf = ReplayBuffer.from_arrays(cat["observations"], cat["actions"], cat["rewards"], cat["terminals"],
                                   timeouts=cat["timeouts"], next_observations=cat["next_observations"],
                                   episode_ends=cat["ends"], metadata=metadata)
    missing = meta.get(MISSING_NEXT_KEY) or []
    if len(missing):
        starts, lengths = buf.episode_bounds()
        buf._has_next[starts[np.asarray(missing)] + lengths[np.asarray(missing)] - 1] = False
        buf._version += 1
    return buf
