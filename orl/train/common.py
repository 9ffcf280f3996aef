"""What every training loop shares: CSV metric logs that survive a resume, atomic checkpoints, the device."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import torch

from orl.utils.atomic import atomic_path, write_csv

CHECKPOINT = "checkpoint.pt"


class CheckpointError(ValueError):
    """A checkpoint or saved policy exists but cannot be read: truncated, corrupt, or not orl's."""


def save_torch(path: str | Path, obj: Any) -> None:
    """``torch.save`` atomically (temp file + rename: a kill never leaves half a file)."""
    # Serialised in memory first: torch's own file writer turns a full disk into a cryptic RuntimeError
    # ("unexpected pos"), a plain write raises the OSError (ENOSPC) that callers report by name.
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    try:
        with atomic_path(Path(path), suffix=".pt") as tmp:
            tmp.write_bytes(buffer.getbuffer())
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None


def load_torch(path: str | Path, map_location: str | torch.device | None = None,
               required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a file written by :func:`save_torch`, refusing a damaged one with a :class:`CheckpointError`
    that names the file (instead of the unpickler's traceback); the file itself is never changed.

    ``required``: keys the stored dictionary must have (what makes it the kind of file expected).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found" if not path.exists() else f"{path} is not a file")
    try:
        state = torch.load(path, weights_only=False, map_location=map_location)
    except Exception as e:  # the unpickler and zip reader raise many types; all mean "unreadable"
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise CheckpointError(f"{path} cannot be read: it is truncated or corrupt ({type(e).__name__}: {reason}). "
                              "It was left unchanged; restore it from a copy or start a new run") from None
    missing = [k for k in required if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path} is not the file expected here: it lacks {', '.join(map(repr, missing))}")
    return state


def save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    """Write ``out/checkpoint.pt`` atomically."""
    save_torch(Path(out) / CHECKPOINT, state)


def load_checkpoint(out: Path, map_location: str | torch.device | None = None) -> dict[str, Any]:
    """Read ``out/checkpoint.pt``: a ``FileNotFoundError`` when there is none, a :class:`CheckpointError`
    naming the file when it is damaged."""
    path = Path(out) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"resume: no {CHECKPOINT} in {out}")
    return load_torch(path, map_location, required=("step",))


class CSVLog:
    """Append rows to a CSV file; on resume, rows past the checkpoint are dropped first.

    The file is rewritten (atomically) only when it is opened and when a row brings a new column;
    other rows are appended and flushed, so logging stays O(1) per row on long runs. A kill
    mid-append can at worst leave a partial last line, which a resume drops (its step is past
    the checkpoint, or it does not parse).
    """

    def __init__(self, path: Path, keep_until: int | None) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if keep_until is not None and path.exists():
            with open(path) as f:
                for r in csv.DictReader(f):
                    try:
                        if int(float(r["step"])) <= keep_until:
                            self.rows.append(r)
                    except (TypeError, ValueError):  # a line cut by a kill
                        continue
        self.fields: list[str] = []
        self._rewrite()

    def _rewrite(self) -> None:
        for r in self.rows:
            self.fields += [k for k in r if k not in self.fields]
        write_csv(self.path, self.rows, self.fields or ["step"])

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if not self.fields or any(k not in self.fields for k in row):
            self._rewrite()
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields).writerow(row)


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device``, refused with a clear message when it is unknown or absent."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r}, but torch sees no CUDA GPU here; use device=cpu")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {str(device)!r}")
    return device


def format_duration(seconds: float) -> str:
    """``4 h 12 min``, ``7 min 5 s``, ``12 s``."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min"
    return f"{m} min {s} s" if m else f"{s} s"


class DurationEstimate:
    """Says once, after ``after_s`` seconds of training, how long the rest of the run will take.

    A run's cost is easy to underestimate (a bare ``python -m orl.run`` is a million A2PR updates):
    this line tells the user within seconds, measured on their machine, while tqdm's ETA scrolls away.
    Call it after every step; it costs one clock read until it has spoken.
    """

    def __init__(self, start: int, total: int, unit: str = "updates", after_s: float = 5.0, write=print) -> None:
        self.start, self.total, self.unit, self.after_s, self.write = start, total, unit, after_s, write
        self.t0 = time.monotonic()
        self.done = start >= total

    def __call__(self, step: int) -> None:
        if self.done:
            return
        elapsed = time.monotonic() - self.t0
        if elapsed < self.after_s:
            self.done = step >= self.total  # a run shorter than after_s needs no estimate
            return
        self.done = True
        rate = (step - self.start) / max(elapsed, 1e-9)
        left = self.total - step
        self.write(f"speed: {rate:,.1f} {self.unit}/s over the first {step - self.start:,}: about "
                   f"{format_duration(left / rate)} for the remaining {left:,} (evaluations not included)")
