"""What is random per episode: demand traces and initial inventories (the paper's ``Scenario``).

Alvo, Russo & Kanoria (arXiv 2306.11246) pre-sample each episode's whole demand trace and its initial
store inventories; warehouses and echelons start empty. All sampling here goes through an explicit
``torch.Generator`` (in float64, cast afterwards), so a seed reproduces an episode exactly on any dtype.

A user demand history can replace the synthetic demand: :func:`load_demand_csv` reads a CSV with one column
per store and one row per period, and :func:`sample_demands` then cuts each episode from a random window.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from ._torch import torch  # torch is the [inventory] extra: a clear ImportError without it
from .settings import DemandModel, InventorySetting
from .simulator import InventoryState

Tensor = torch.Tensor

#: One generator for the whole batch, or one per batch row (row ``i`` then reproduces a batch-of-one draw
#: from ``generators[i]``: how the vector env matches single envs seed by seed).
Generators = torch.Generator | Sequence[torch.Generator]


def _draw(generator: Generators, batch: int, draw: Callable[[int, torch.Generator], Tensor]) -> Tensor:
    """``draw(rows, generator)`` for ``batch`` rows: in one call, or row by row from per-row generators."""
    if isinstance(generator, torch.Generator):
        return draw(batch, generator)
    if len(generator) != batch:
        raise ValueError(f"got {len(generator)} generators for a batch of {batch}")
    return torch.cat([draw(1, g) for g in generator], dim=0)


@functools.lru_cache(maxsize=32)
def _cholesky(demand: DemandModel) -> Tensor:
    """Cholesky factor of the equicorrelated covariance (cached: the vector env samples every reset)."""
    n = len(demand.mean)
    std = torch.tensor(demand.std, dtype=torch.float64)
    corr = torch.full((n, n), demand.correlation, dtype=torch.float64).fill_diagonal_(1.0)
    # The jitter only matters for a zero std (a degenerate store); it keeps the factorisation defined.
    return torch.linalg.cholesky(corr * std[:, None] * std[None, :] + 1e-12 * torch.eye(n, dtype=torch.float64))


#: Largest demand per store and period a CSV may hold: far above any real history, far below where costs
#: (``p * demand`` summed over an episode) or float32 observations would overflow to inf.
MAX_DEMAND = 1e12


def load_demand_csv(path: str | Path, n_stores: int) -> Tensor:
    """Read a demand history ``[periods, n_stores]`` (float64) from a CSV file, with clear errors.

    One column per store, one row per period; an optional first row of column names (any non-numeric
    cell there) is skipped. The file must be UTF-8 text (a byte-order mark is allowed). Every other cell
    must be a finite number in ``[0, MAX_DEMAND]``, and every store needs some demand (a column of zeros
    would make its action bound, ``ACTION_BOUND_PERIODS`` times the mean demand, zero). Every error is a
    ``ValueError`` naming the file and the bad cell.
    """
    path = Path(path)
    name = f"demand_csv {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"demand_csv: no such file {str(path)!r}")
    data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ValueError(f"{name}: not a text CSV file (a NUL byte at offset {nul}: a binary file?)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{name}: not a UTF-8 text CSV file (byte 0x{data[e.start]:02x} at offset {e.start} is not UTF-8)"
        ) from None
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    if rows and not all(_is_number(c) for c in rows[0]):
        rows = rows[1:]  # header
    if not rows:
        raise ValueError(f"{name}: no data rows")
    values = []
    for r, row in enumerate(rows, start=1):
        if len(row) != n_stores:
            raise ValueError(f"{name}: data row {r} has {len(row)} columns, expected one per store ({n_stores})")
        for c, cell in enumerate(row):
            if not _is_number(cell):
                raise ValueError(f"{name}: data row {r}, column {c}: {cell!r} is not a number")
            if not math.isfinite(float(cell)) or not 0 <= float(cell) <= MAX_DEMAND:
                raise ValueError(
                    f"{name}: data row {r}, column {c}: demand must be finite and in [0, {MAX_DEMAND:g}], "
                    f"got {cell.strip()}"
                )
        values.append([float(c) for c in row])
    history = torch.tensor(values, dtype=torch.float64)
    empty = (history == 0).all(dim=0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"{name}: column {empty[0]} (store {empty[0]}) is 0 in every row; every store needs some demand "
            "(a store's orders are bounded by 20 periods of its mean demand, which would be 0)"
        )
    return history


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def demand_means(setting: InventorySetting, history: Tensor | None = None) -> Tensor:
    """Mean demand per store (float64): the history's column means, else the distribution's nominal means."""
    if history is not None:
        return history.mean(dim=0)
    return torch.tensor(setting.demand.mean, dtype=torch.float64)


def sample_demands(
    setting: InventorySetting, batch_size: int, periods: int, generator: Generators, history: Tensor | None = None
) -> Tensor:
    """Demand traces ``[batch, n_stores, periods]`` (float64).

    Synthetic: Poisson, or (multivariate, equicorrelated) normal clipped at 0 when the setting says so.
    With a ``history`` ``[T, n_stores]``: each episode is the window of ``periods`` rows starting at a
    uniformly drawn row (needs ``T >= periods``). ``generator``: one for the batch, or one per row.
    """
    n, d = setting.n_stores, setting.demand
    if history is not None:
        if history.shape[0] < periods:
            raise ValueError(f"demand history has {history.shape[0]} periods, fewer than the episode's {periods}")
        last = history.shape[0] - periods
        starts = _draw(generator, batch_size, lambda b, g: torch.randint(0, last + 1, (b,), generator=g))
        index = starts[:, None] + torch.arange(periods)[None, :]  # [B, periods]
        return history[index].transpose(1, 2).contiguous()
    mean = torch.tensor(d.mean, dtype=torch.float64)
    if d.distribution == "poisson":
        rates = lambda b: mean[None, :, None].expand(b, n, periods).contiguous()  # noqa: E731
        return _draw(generator, batch_size, lambda b, g: torch.poisson(rates(b), generator=g))
    z = _draw(generator, batch_size, lambda b, g: torch.randn(b, periods, n, generator=g, dtype=torch.float64))
    demand = (mean + z @ _cholesky(d).T).transpose(1, 2)
    return (demand.clamp(min=0.0) if d.clip else demand).contiguous()


def initial_state(
    setting: InventorySetting,
    batch_size: int,
    generator: Generators,
    history: Tensor | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> InventoryState:
    """The paper's starting state: store slots ``U[lo, hi] * mean demand``, upstream locations empty.

    Only the slots a store's lead time can fill (columns ``0 .. L-1``) are stocked: a store with a shorter
    lead time than the widest one cannot have stock further out (the paper stocks every column). The mean
    is the distribution's nominal mean or the history's column mean (the paper averages its sampled traces).
    """
    lo, hi = setting.initial_inventory_range
    width = max(setting.lead_times)
    shape = (setting.n_stores, width)
    u = _draw(generator, batch_size, lambda b, g: torch.rand(b, *shape, generator=g, dtype=torch.float64))
    reachable = torch.arange(width)[None, :] < torch.tensor(setting.lead_times)[:, None]  # [n_stores, width]
    stores = (lo + (hi - lo) * u) * demand_means(setting, history)[None, :, None] * reachable
    zeros = lambda n, w: torch.zeros(batch_size, n, w, dtype=dtype, device=device)  # noqa: E731
    return InventoryState(
        stores=stores.to(dtype=dtype, device=device),
        warehouse=zeros(1, setting.warehouse.lead_time) if setting.warehouse else None,
        echelons=zeros(len(setting.echelons), max(e.lead_time for e in setting.echelons)) if setting.echelons else None,
    )
