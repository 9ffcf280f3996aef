"""Read and write TSPLIB (TSP, ATSP) and CVRPLIB (CVRP) instance files.

The format (Reinelt 1991, "TSPLIB -- A Traveling Salesman Problem Library", ORSA J. Computing;
the TSPLIB95 documentation; CVRPLIB, Uchoa et al. 2017, uses the same format) is a header of
``KEY : VALUE`` lines followed by data sections (``NODE_COORD_SECTION``, ``EDGE_WEIGHT_SECTION``,
``DEMAND_SECTION``, ...) and an optional ``EOF``. The parser here is our own and small.

Distances are always returned as an explicit float64 matrix, so the instance's objective is the
file's metric exactly:

* ``EUC_2D``: ``nint(sqrt(dx^2 + dy^2))`` with ``nint(x) = floor(x + 0.5)``; ``CEIL_2D``: rounded
  up; ``MAN_2D`` / ``MAX_2D``: Manhattan / maximum metric, rounded to nearest.
* ``ATT``: the pseudo-Euclidean distance of att48/att532:
  ``r = sqrt((dx^2 + dy^2) / 10)``, ``t = nint(r)``, ``d = t + 1 if t < r else t``.
* ``GEO``: coordinates are ``DDD.MM`` (degrees.minutes); ``lat = pi (deg + 5 min / 3) / 180``
  with ``deg`` the integer part *truncated* (as TSPLIB's FAQ, Concorde and LKH do: the
  documentation's ``nint`` gives other distances) and ``pi = 3.141592``; then
  ``d = int(RRR * acos(0.5 ((1 + q1) q2 - (1 - q1) q3)) + 1)`` with ``RRR = 6378.388``. The
  diagonal is set to 0 (the formula gives 1 there).
* ``EXPLICIT`` with ``EDGE_WEIGHT_FORMAT`` ``FULL_MATRIX``, ``UPPER_ROW``, ``LOWER_ROW``,
  ``UPPER_DIAG_ROW``, ``LOWER_DIAG_ROW`` and their column-wise twins ``*_COL`` (``UPPER_COL`` is
  ``LOWER_ROW`` read as a transposed matrix, and so on). ATSP files need ``FULL_MATRIX``.

Coordinates: ``NODE_COORD_SECTION`` when present, else ``DISPLAY_DATA_SECTION`` (TSPLIB's
drawing coordinates for explicit instances), else zeros -- an explicit instance without either
has no geometry, and zeros make that obvious rather than inventing an embedding. Coordinates are
then only used for observations and plots; the objective always uses ``distances``.

CVRPLIB: ``CAPACITY``, ``DEMAND_SECTION``, one depot in ``DEPOT_SECTION`` (moved to index 0
when it is not the first node; the other nodes keep their order). ``load_cvrplib`` rounds
``EUC_2D`` distances by default, as CVRPLIB's instances (e.g. Uchoa et al.'s X set) define them;
``round_distances=False`` gives the unrounded Euclidean distances some papers use instead.
Distance-constrained variants (``DISTANCE``, ``SERVICE_TIME``) and several depots are refused.

Solutions: ``load_tour`` / ``save_tour`` read and write TSPLIB ``TYPE : TOUR`` files (a
``TOUR_SECTION`` of 1-based node ids ended by ``-1``); ``load_cvrp_solution`` /
``save_cvrp_solution`` the CVRPLIB ``.sol`` format (``Route #k: c1 c2 ...`` lines, then
``Cost C``), whose customer ids are 1..n in the instance's order (the file's node ids minus one
when the depot is node 1, as in CVRPLIB's sets). In memory, tours are 0-based node indices starting
at node 0 and routes hold customer indices 1..n of the loaded instance (depot 0).

Writing (``save_tsplib`` / ``save_cvrplib``): always ``EDGE_WEIGHT_TYPE : EXPLICIT`` with a
``FULL_MATRIX`` of every float's shortest round-trip ``repr`` (integers without ``.0``) plus a
``NODE_COORD_SECTION``, so any instance -- rounded TSPLIB metric or float Euclidean -- loads back
bit for bit. Files are written atomically (a temporary file in the same directory, then
``os.replace``). Gzipped files (``.gz``) are read and written transparently.
"""

from __future__ import annotations

import gzip
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .instances import ATSPInstance, CVRPInstance, TSPInstance

__all__ = ["load_cvrp_solution", "load_cvrplib", "load_tour", "load_tsplib", "save_cvrp_solution", "save_cvrplib",
           "save_tour", "save_tsplib"]

#: EDGE_WEIGHT_TYPEs computed from 2-D coordinates.
COORD_WEIGHT_TYPES = ("EUC_2D", "CEIL_2D", "MAN_2D", "MAX_2D", "ATT", "GEO")
#: EDGE_WEIGHT_FORMATs of EXPLICIT weights.
EXPLICIT_FORMATS = (
    "FULL_MATRIX",
    "UPPER_ROW",
    "LOWER_ROW",
    "UPPER_DIAG_ROW",
    "LOWER_DIAG_ROW",
    "UPPER_COL",
    "LOWER_COL",
    "UPPER_DIAG_COL",
    "LOWER_DIAG_COL",
)
_SECTIONS = ("NODE_COORD_SECTION", "EDGE_WEIGHT_SECTION", "DISPLAY_DATA_SECTION", "DEMAND_SECTION", "DEPOT_SECTION")
# Header keys that carry no information we need; accepted and ignored.
_IGNORED_KEYS = ("COMMENT", "NODE_COORD_TYPE", "DISPLAY_DATA_TYPE", "EDGE_DATA_FORMAT", "VEHICLES")


@dataclass
class _Parsed:
    """The raw content of a TSPLIB-style file: header values and the lines of each section."""

    path: str
    header: dict[str, tuple[str, int]] = field(default_factory=dict)  # KEY -> (value, line number)
    sections: dict[str, list[tuple[int, list[str]]]] = field(default_factory=dict)  # -> [(line no, tokens)]

    def fail(self, msg: str, line: int | None = None) -> ValueError:
        where = f"{self.path}: line {line}: " if line is not None else f"{self.path}: "
        return ValueError(where + msg)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.header[key][0] if key in self.header else default

    def integer(self, key: str) -> int:
        if key not in self.header:
            raise self.fail(f"missing {key}")
        value, line = self.header[key]
        try:
            number = float(value)
        except ValueError:
            raise self.fail(f"{key} must be an integer, got {value!r}", line) from None
        if number != int(number):
            raise self.fail(f"{key} must be an integer, got {value!r}", line)
        return int(number)


def _open_text(path: Path, mode: str):
    return gzip.open(path, mode + "t", encoding="utf-8") if path.suffix == ".gz" else open(path, mode, encoding="utf-8")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _parse(path: str | os.PathLike) -> _Parsed:
    p = Path(path)
    out = _Parsed(str(p))
    try:
        with _open_text(p, "r") as f:
            lines = f.read().splitlines()
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as e:
        raise out.fail(f"not a readable text file ({e})") from None
    section: str | None = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        tokens = line.split()
        if _is_number(tokens[0]):
            if section is None:
                raise out.fail(f"numbers outside a data section: {line[:60]!r}", lineno)
            out.sections[section].append((lineno, tokens))
            continue
        # A keyword line: "KEY : VALUE" (also "KEY: VALUE", "KEY :VALUE"), a section name, or EOF.
        if ":" in line:
            key, value = line.split(":", 1)
        else:
            key, value = tokens[0], " ".join(tokens[1:])
        key, value = key.strip().upper(), value.strip()
        if key == "EOF":
            break
        if not key.replace("_", "").isalnum() or (":" not in line and not key.endswith("_SECTION")):
            raise out.fail(f"expected 'KEY : VALUE', a section name or numbers, got {line[:60]!r}", lineno)
        if key.endswith("_SECTION"):
            if key not in _SECTIONS:
                raise out.fail(f"unsupported section {key} (supported: {', '.join(_SECTIONS)})", lineno)
            if key in out.sections:
                raise out.fail(f"section {key} appears twice", lineno)
            section = key
            out.sections[key] = []
            if value:  # some writers put the first data on the keyword line ("DEPOT_SECTION : 1")
                out.sections[key].append((lineno, value.split()))
            continue
        if key in out.header:
            raise out.fail(f"keyword {key} appears twice", lineno)
        out.header[key] = (value, lineno)
        section = None
    return out


def _numbers(parsed: _Parsed, name: str) -> list[tuple[int, list[float]]]:
    rows = []
    for lineno, tokens in parsed.sections.get(name, []):
        try:
            row = [float(t) for t in tokens]
        except ValueError:
            raise parsed.fail(f"{name}: non-numeric entry in {' '.join(tokens)!r}", lineno) from None
        if not all(math.isfinite(v) for v in row):
            raise parsed.fail(f"{name}: non-finite entry in {' '.join(tokens)!r}", lineno)
        rows.append((lineno, row))
    return rows


def _node_table(parsed: _Parsed, name: str, n: int, width: int) -> np.ndarray | None:
    """Rows "id v1 .. v_width" of a section for nodes 1..n, as an (n, width) array by node id."""
    if name not in parsed.sections:
        return None
    table = np.full((n, width), np.nan)
    for lineno, row in _numbers(parsed, name):
        if len(row) != width + 1:
            hint = " (3-D coordinates are not supported)" if name != "DEMAND_SECTION" and len(row) == 4 else ""
            raise parsed.fail(f"{name}: expected a node id and {width} values, got {len(row) - 1}{hint}", lineno)
        node = row[0]
        if node != int(node) or not 1 <= node <= n:
            raise parsed.fail(f"{name}: node id {row[0]:g} outside 1..{n} (DIMENSION)", lineno)
        if not np.isnan(table[int(node) - 1, 0]):
            raise parsed.fail(f"{name}: node {int(node)} listed twice", lineno)
        table[int(node) - 1] = row[1:]
    missing = np.flatnonzero(np.isnan(table[:, 0]))
    if len(missing):
        raise parsed.fail(f"{name}: no entry for node(s) {(missing[:10] + 1).tolist()}")
    return table


def _nint(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5)


def _geo_radians(x: np.ndarray) -> np.ndarray:
    deg = np.trunc(x)
    return 3.141592 * (deg + 5.0 * (x - deg) / 3.0) / 180.0


def _coord_distances(kind: str, c: np.ndarray, round_euclid: bool = True) -> np.ndarray:
    dx = c[:, None, 0] - c[None, :, 0]
    dy = c[:, None, 1] - c[None, :, 1]
    if kind == "EUC_2D":
        d = np.sqrt(dx * dx + dy * dy)
        return _nint(d) if round_euclid else d
    if kind == "CEIL_2D":
        return np.ceil(np.sqrt(dx * dx + dy * dy))
    if kind == "MAN_2D":
        return _nint(np.abs(dx) + np.abs(dy))
    if kind == "MAX_2D":
        return np.maximum(_nint(np.abs(dx)), _nint(np.abs(dy)))
    if kind == "ATT":
        r = np.sqrt((dx * dx + dy * dy) / 10.0)
        t = _nint(r)
        return np.where(t < r, t + 1, t)
    if kind == "GEO":
        lat, lon = _geo_radians(c[:, 0]), _geo_radians(c[:, 1])
        q1 = np.cos(lon[:, None] - lon[None, :])
        q2 = np.cos(lat[:, None] - lat[None, :])
        q3 = np.cos(lat[:, None] + lat[None, :])
        # clip: rounding can push the argument a hair outside [-1, 1], where acos is undefined
        arc = np.arccos(np.clip(0.5 * ((1.0 + q1) * q2 - (1.0 - q1) * q3), -1.0, 1.0))
        d = np.trunc(6378.388 * arc + 1.0)
        np.fill_diagonal(d, 0.0)
        return d
    raise AssertionError(kind)


def _explicit_distances(parsed: _Parsed, n: int, fmt: str) -> np.ndarray:
    if "EDGE_WEIGHT_SECTION" not in parsed.sections:
        raise parsed.fail("EDGE_WEIGHT_TYPE EXPLICIT needs an EDGE_WEIGHT_SECTION")
    values = np.array([v for _, row in _numbers(parsed, "EDGE_WEIGHT_SECTION") for v in row], dtype=np.float64)
    # Column-wise formats are the row-wise formats of the transposed matrix.
    transposed = fmt.endswith("_COL")
    row_fmt = {
        "UPPER_COL": "LOWER_ROW",
        "LOWER_COL": "UPPER_ROW",
        "UPPER_DIAG_COL": "LOWER_DIAG_ROW",
        "LOWER_DIAG_COL": "UPPER_DIAG_ROW",
    }.get(fmt, fmt)
    if row_fmt == "FULL_MATRIX":
        expected = n * n
    elif "DIAG" in row_fmt:
        expected = n * (n + 1) // 2
    else:
        expected = n * (n - 1) // 2
    if len(values) != expected:
        line = parsed.header.get("EDGE_WEIGHT_FORMAT", ("", None))[1]
        raise parsed.fail(
            f"EDGE_WEIGHT_SECTION has {len(values)} numbers, but EDGE_WEIGHT_FORMAT {fmt} with "
            f"DIMENSION {n} needs {expected}",
            line,
        )
    if row_fmt == "FULL_MATRIX":
        d = values.reshape(n, n)
    else:
        d = np.zeros((n, n))
        if row_fmt == "UPPER_ROW":
            rows, cols = np.triu_indices(n, 1)
        elif row_fmt == "UPPER_DIAG_ROW":
            rows, cols = np.triu_indices(n, 0)
        elif row_fmt == "LOWER_ROW":
            rows, cols = np.tril_indices(n, -1)
        else:  # LOWER_DIAG_ROW
            rows, cols = np.tril_indices(n, 0)
        # numpy's triu/tril indices enumerate row by row, the order TSPLIB lists the entries in.
        d[rows, cols] = values
        d[cols, rows] = values
    if transposed:
        d = d.T.copy()
    return d


def _header_checks(parsed: _Parsed, allowed_types: tuple[str, ...]) -> tuple[str, int, str]:
    known = ("NAME", "TYPE", "DIMENSION", "EDGE_WEIGHT_TYPE", "EDGE_WEIGHT_FORMAT", "CAPACITY", *_IGNORED_KEYS)
    for key, (value, line) in parsed.header.items():
        if key in ("DISTANCE", "SERVICE_TIME"):
            # Accepted only when it is zero, i.e. when it does not change the problem.
            if not _is_number(value or "0") or float(value or 0) != 0:
                raise parsed.fail(f"{key} (distance-constrained VRP) is not supported", line)
        elif key not in known:
            raise parsed.fail(f"unsupported keyword {key} (supported: {', '.join(known)})", line)
    ptype = (parsed.get("TYPE") or "").upper()
    if ptype not in allowed_types:
        line = parsed.header.get("TYPE", ("", None))[1]
        supported = ", ".join(allowed_types)
        raise parsed.fail(f"TYPE {ptype or '(missing)'} is not supported here (supported: {supported})", line)
    n = parsed.integer("DIMENSION")
    if n < 1:
        raise parsed.fail(f"DIMENSION must be positive, got {n}", parsed.header["DIMENSION"][1])
    kind = (parsed.get("EDGE_WEIGHT_TYPE") or "").upper()
    if kind not in (*COORD_WEIGHT_TYPES, "EXPLICIT"):
        line = parsed.header.get("EDGE_WEIGHT_TYPE", ("", None))[1]
        raise parsed.fail(
            f"EDGE_WEIGHT_TYPE {kind or '(missing)'} is not supported (supported: "
            f"{', '.join((*COORD_WEIGHT_TYPES, 'EXPLICIT'))})",
            line,
        )
    return ptype, n, kind


def _distances(parsed: _Parsed, n: int, kind: str, coords: np.ndarray | None, round_euclid: bool = True) -> np.ndarray:
    if kind == "EXPLICIT":
        fmt = (parsed.get("EDGE_WEIGHT_FORMAT") or "").upper()
        if fmt not in EXPLICIT_FORMATS:
            line = parsed.header.get("EDGE_WEIGHT_FORMAT", ("", None))[1]
            raise parsed.fail(
                f"EDGE_WEIGHT_FORMAT {fmt or '(missing)'} is not supported (supported: {', '.join(EXPLICIT_FORMATS)})",
                line,
            )
        return _explicit_distances(parsed, n, fmt)
    if coords is None:
        raise parsed.fail(f"EDGE_WEIGHT_TYPE {kind} needs a NODE_COORD_SECTION")
    return _coord_distances(kind, coords, round_euclid)


def _coords(parsed: _Parsed, n: int) -> tuple[np.ndarray | None, np.ndarray]:
    """(coordinates for the metric or None, coordinates to store on the instance)."""
    node = _node_table(parsed, "NODE_COORD_SECTION", n, 2)
    display = _node_table(parsed, "DISPLAY_DATA_SECTION", n, 2)
    shown = node if node is not None else display if display is not None else np.zeros((n, 2))
    return node, shown


def _name(parsed: _Parsed) -> str:
    name = parsed.get("NAME")
    if name:
        return name
    base = Path(parsed.path).name
    for suffix in (".gz", ".tsp", ".atsp", ".vrp", ".txt"):
        base = base.removesuffix(suffix)
    return base


def load_tsplib(path: str | os.PathLike) -> TSPInstance | ATSPInstance:
    """Read a TSPLIB ``TYPE : TSP`` (-> :class:`TSPInstance`) or ``TYPE : ATSP`` file.

    The metric becomes the explicit ``distances`` matrix (see the module docstring); ``ValueError``
    names the file, line and keyword of anything corrupt or unsupported.
    """
    parsed = _parse(path)
    ptype, n, kind = _header_checks(parsed, ("TSP", "ATSP"))
    for sec in ("DEMAND_SECTION", "DEPOT_SECTION"):
        if sec in parsed.sections:
            raise parsed.fail(f"{sec} belongs to a CVRP file; use load_cvrplib")
    node, shown = _coords(parsed, n)
    if ptype == "ATSP" and kind == "EXPLICIT" and (parsed.get("EDGE_WEIGHT_FORMAT") or "").upper() != "FULL_MATRIX":
        raise parsed.fail("TYPE ATSP needs EDGE_WEIGHT_FORMAT FULL_MATRIX")
    d = _distances(parsed, n, kind, node)
    name = _name(parsed)
    try:
        if ptype == "ATSP":
            return ATSPInstance(distances=d, name=name)
        if not np.array_equal(d, d.T):
            raise parsed.fail("TYPE TSP but the weights are not symmetric (use TYPE ATSP)")
        return TSPInstance(coords=shown, distances=d, name=name)
    except ValueError as e:
        if str(e).startswith(parsed.path):
            raise
        raise parsed.fail(str(e)) from None


def load_cvrplib(path: str | os.PathLike, round_distances: bool | None = None) -> CVRPInstance:
    """Read a CVRPLIB (TSPLIB-format ``TYPE : CVRP``) file as a :class:`CVRPInstance`.

    ``round_distances``: ``None`` (default) or ``True`` use the file's metric as TSPLIB defines it
    (``EUC_2D`` rounded to the nearest integer, as in CVRPLIB's X instances); ``False`` gives
    unrounded Euclidean distances and is only allowed with ``EUC_2D``. The depot is moved to
    index 0.
    """
    parsed = _parse(path)
    _, n, kind = _header_checks(parsed, ("CVRP",))
    if round_distances is False and kind != "EUC_2D":
        raise parsed.fail(f"round_distances=False needs EDGE_WEIGHT_TYPE EUC_2D, not {kind}")
    capacity = parsed.integer("CAPACITY")
    node, shown = _coords(parsed, n)
    d = _distances(parsed, n, kind, node, round_euclid=round_distances is not False)
    demand = _node_table(parsed, "DEMAND_SECTION", n, 1)
    if demand is None:
        raise parsed.fail("missing DEMAND_SECTION")
    demand = demand[:, 0]
    depots = [int(v) for _, row in _numbers(parsed, "DEPOT_SECTION") for v in row]
    if -1 in depots:
        depots = depots[: depots.index(-1)]
    if len(depots) != 1:
        got = depots if depots else "none"
        raise parsed.fail(f"DEPOT_SECTION must list exactly one depot (terminated by -1), got {got}")
    depot = depots[0] - 1
    if not 0 <= depot < n:
        raise parsed.fail(f"DEPOT_SECTION: depot {depot + 1} outside 1..{n}")
    order = np.array([depot] + [i for i in range(n) if i != depot])
    if demand[depot] != 0:
        raise parsed.fail(f"the depot (node {depot + 1}) has demand {demand[depot]:g}; it must be 0")
    try:
        return CVRPInstance(
            coords=shown[order],
            demands=demand[order],
            capacity=capacity,
            distances=d[np.ix_(order, order)],
            name=_name(parsed),
        )
    except ValueError as e:
        raise parsed.fail(str(e)) from None


# ----------------------------------------------------------------------------- writing


def _fmt(x: float) -> str:
    """Shortest text that reads back as exactly ``x`` (integers without a trailing '.0')."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot write non-finite value {x}")
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)


def _matrix_lines(d: np.ndarray) -> list[str]:
    return [" ".join(_fmt(v) for v in row) for row in d]


def _write_atomic(path: str | os.PathLike, lines: list[str]) -> None:
    p = Path(path)
    text = "\n".join(lines) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        # mkstemp creates mode 0600; give the file the mode an ordinary open() would.
        os.chmod(tmp, p.stat().st_mode & 0o777 if p.exists() else 0o644)
        with os.fdopen(fd, "wb") as raw:
            data = text.encode("utf-8")
            raw.write(gzip.compress(data, mtime=0) if p.suffix == ".gz" else data)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _check_name(name: str) -> str:
    if "\n" in name or "\r" in name:
        raise ValueError(f"instance name must be a single line, got {name!r}")
    return name.strip()


def save_tsplib(instance: TSPInstance | ATSPInstance, path: str | os.PathLike) -> None:
    """Write a TSP/ATSP instance as TSPLIB: EXPLICIT FULL_MATRIX weights (+ coordinates for TSP)."""
    if isinstance(instance, TSPInstance):
        ptype, n = "TSP", instance.num_nodes
    elif isinstance(instance, ATSPInstance):
        ptype, n = "ATSP", instance.num_nodes
    else:
        raise ValueError(f"save_tsplib: expected a TSPInstance or ATSPInstance, got {type(instance).__name__}")
    lines = [
        f"NAME : {_check_name(instance.name) or Path(path).name.split('.')[0]}",
        f"TYPE : {ptype}",
        f"DIMENSION : {n}",
        "EDGE_WEIGHT_TYPE : EXPLICIT",
        "EDGE_WEIGHT_FORMAT : FULL_MATRIX",
    ]
    if ptype == "TSP":
        lines += ["NODE_COORD_TYPE : TWOD_COORDS", "NODE_COORD_SECTION"]
        lines += [f"{i + 1} {_fmt(x)} {_fmt(y)}" for i, (x, y) in enumerate(instance.coords)]
    lines += ["EDGE_WEIGHT_SECTION", *_matrix_lines(instance.distances), "EOF"]
    _write_atomic(path, lines)


def save_cvrplib(instance: CVRPInstance, path: str | os.PathLike) -> None:
    """Write a CVRP instance in CVRPLIB format with EXPLICIT FULL_MATRIX weights; depot = node 1."""
    if not isinstance(instance, CVRPInstance):
        raise ValueError(f"save_cvrplib: expected a CVRPInstance, got {type(instance).__name__}")
    m = instance.num_customers + 1
    lines = [
        f"NAME : {_check_name(instance.name) or Path(path).name.split('.')[0]}",
        "TYPE : CVRP",
        f"DIMENSION : {m}",
        f"CAPACITY : {instance.capacity}",
        "EDGE_WEIGHT_TYPE : EXPLICIT",
        "EDGE_WEIGHT_FORMAT : FULL_MATRIX",
        "NODE_COORD_TYPE : TWOD_COORDS",
        "NODE_COORD_SECTION",
        *[f"{i + 1} {_fmt(x)} {_fmt(y)}" for i, (x, y) in enumerate(instance.coords)],
        "EDGE_WEIGHT_SECTION",
        *_matrix_lines(instance.distances),
        "DEMAND_SECTION",
        *[f"{i + 1} {int(q)}" for i, q in enumerate(instance.demands)],
        "DEPOT_SECTION",
        "1",
        "-1",
        "EOF",
    ]
    _write_atomic(path, lines)


# ----------------------------------------------------------------------------- solutions


def save_tour(tour: list[int], path: str | os.PathLike, name: str = "", comment: str = "") -> None:
    """Write a TSP tour (0-based node indices, each node once) as a TSPLIB ``TYPE : TOUR`` file."""
    t = [int(v) for v in tour]
    if sorted(t) != list(range(len(t))):
        raise ValueError(f"save_tour: a tour must visit nodes 0..{len(t) - 1} once each, got {t[:20]}")
    lines = [f"NAME : {_check_name(name) or Path(path).name.split('.')[0]}", "TYPE : TOUR"]
    if comment:
        lines.append(f"COMMENT : {_check_name(comment)}")
    lines += [f"DIMENSION : {len(t)}", "TOUR_SECTION", *[str(v + 1) for v in t], "-1", "EOF"]
    _write_atomic(path, lines)


def load_tour(path: str | os.PathLike) -> list[int]:
    """Read a TSPLIB ``TYPE : TOUR`` file; returns the tour as 0-based node indices."""
    p = Path(path)
    where = str(p)
    with _open_text(p, "r") as f:
        lines = f.read().splitlines()
    tour: list[int] = []
    dimension, ptype, in_tour, ended = None, None, False, False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or ended:
            continue
        if in_tour:
            for token in line.split():
                if token == "-1":
                    ended = True
                    break
                if not token.isdigit():
                    raise ValueError(f"{where}: line {lineno}: TOUR_SECTION: expected a node id or -1, got {token!r}")
                tour.append(int(token) - 1)
            if line.upper() == "EOF":
                ended = True
            continue
        key, _, value = line.partition(":")
        key, value = key.strip().upper(), value.strip()
        if key == "TOUR_SECTION":
            in_tour = True
        elif key == "TYPE":
            ptype = value.upper()
        elif key == "DIMENSION":
            if not value.isdigit():
                raise ValueError(f"{where}: line {lineno}: DIMENSION must be a positive integer, got {value!r}")
            dimension = int(value)
        elif key == "EOF":
            break
        elif key not in ("NAME", "COMMENT"):
            raise ValueError(f"{where}: line {lineno}: unsupported keyword {key} in a tour file "
                             "(supported: NAME, TYPE, COMMENT, DIMENSION, TOUR_SECTION)")
    if ptype != "TOUR":
        raise ValueError(f"{where}: TYPE {ptype or '(missing)'} is not supported here (supported: TOUR)")
    if not tour:
        raise ValueError(f"{where}: no TOUR_SECTION with node ids")
    n = dimension if dimension is not None else len(tour)
    if sorted(tour) != list(range(n)):
        raise ValueError(f"{where}: the tour must list nodes 1..{n} (DIMENSION) once each")
    return tour


def save_cvrp_solution(routes: list[list[int]], cost: float, path: str | os.PathLike) -> None:
    """Write CVRP routes (customer indices 1..n, depot 0 left out) in CVRPLIB's ``.sol`` format."""
    lines = []
    for k, route in enumerate(r for r in routes if len(r)):
        ids = [int(c) for c in route]
        if min(ids) < 1:
            raise ValueError(f"save_cvrp_solution: routes hold customers 1..n (the depot 0 is implicit), got {ids}")
        lines.append(f"Route #{k + 1}: " + " ".join(str(c) for c in ids))
    lines.append(f"Cost {_fmt(cost)}")
    _write_atomic(path, lines)


def load_cvrp_solution(path: str | os.PathLike) -> tuple[list[list[int]], float | None]:
    """Read a CVRPLIB ``.sol`` file: (routes of customer ids 1..n, the stated cost or None)."""
    p = Path(path)
    with _open_text(p, "r") as f:
        lines = f.read().splitlines()
    routes: list[list[int]] = []
    cost = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.lower().startswith("route"):
            head, sep, body = line.partition(":")
            if not sep:
                raise ValueError(f"{p}: line {lineno}: expected 'Route #k: c1 c2 ...', got {line[:60]!r}")
            try:
                route = [int(t) for t in body.split()]
            except ValueError:
                raise ValueError(f"{p}: line {lineno}: non-integer customer id in {line[:60]!r}") from None
            if any(c < 1 for c in route):
                raise ValueError(f"{p}: line {lineno}: customer ids are 1..n (the depot is implicit), got {route}")
            routes.append(route)
        elif line.lower().startswith("cost"):
            value = line[4:].strip()
            if not _is_number(value):
                raise ValueError(f"{p}: line {lineno}: Cost must be a number, got {value!r}")
            cost = float(value)
        else:
            raise ValueError(f"{p}: line {lineno}: expected 'Route #k: ...' or 'Cost ...', got {line[:60]!r}")
    if not routes:
        raise ValueError(f"{p}: no 'Route #k:' lines")
    seen = [c for r in routes for c in r]
    if len(set(seen)) != len(seen):
        raise ValueError(f"{p}: a customer appears in more than one route or twice in one")
    return routes, cost
