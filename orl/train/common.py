"""What every training loop shares: CSV metric logs that survive a resume, atomic checkpoints, the device."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from orl.utils.atomic import atomic_path, write_csv

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(out: Path, state: dict[str, Any]) -> None:
    """Write ``out/checkpoint.pt`` atomically (temp file + rename: a kill never leaves half a file)."""
    with atomic_path(Path(out) / CHECKPOINT, suffix=".pt") as tmp:
        torch.save(state, tmp)


def load_checkpoint(out: Path, map_location: str | None = None) -> dict[str, Any]:
    """Read ``out/checkpoint.pt``; a clear error when there is none."""
    path = Path(out) / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(f"resume: no {CHECKPOINT} in {out}")
    return torch.load(path, weights_only=False, map_location=map_location)


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
