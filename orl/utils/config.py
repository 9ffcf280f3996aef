"""Config dataclasses from user input: unknown keys and wrongly typed values refused by name.

Hydra and the Python API hand orl's config dataclasses whatever the user typed: ``algo.lr=abc``
arrives as the string ``'abc'`` and ``algo.hidden=abc`` would become the tuple ``('a', 'b', 'c')``
if nothing looked. :func:`build_config` is the one place that checks a config against its type
hints, so that such a value fails at once with a message naming the field, instead of as a
traceback deep inside a network constructor minutes later.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def _describe(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if tp is bool:
        return "true or false"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        args = typing.get_args(tp)
        inner = _describe(args[0]).removeprefix("an ").removeprefix("a ")
        return f"a list of {inner}s, e.g. [256,256]" if args else "a list"
    return getattr(tp, "__name__", str(tp))


def _matches(value: Any, tp: Any) -> bool:
    """Whether ``value`` is acceptable for the annotation ``tp`` (ints pass as floats, lists as tuples)."""
    if tp is Any:
        return True
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)  # inf is a valid bound (CQL clip_diff_min)
    if tp is str:
        return isinstance(value, str)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)) or not value:
            return False
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return all(_matches(v, args[0]) for v in value) if args else True
    return isinstance(value, tp) if isinstance(tp, type) else True


def check_fields(config: Any, prefix: str = "") -> None:
    """Raise ``ValueError`` naming the first field of dataclass ``config`` whose value does not fit
    its type hint, e.g. ``algo.lr must be a number, got 'abc'``."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        tp = hints.get(field.name, Any)
        if not _matches(value, tp):
            raise ValueError(f"{prefix}{field.name} must be {_describe(tp)}, got {value!r}")


def build_config(cls: type[T], values: dict[str, Any] | None, what: str, prefix: str = "") -> T:
    """``cls(**values)`` with unknown keys and mistyped values refused by name.

    ``what`` names the owner in the unknown-key message (``"td3bc"``), ``prefix`` the fields in the
    type message (``"algo."``). Lists become tuples where the field is a tuple (YAML has no tuples).
    """
    values = dict(values or {})
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{what}: unknown hyperparameter(s) {unknown}; known: {', '.join(sorted(known))}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    for k, v in values.items():  # checked before construction: a __post_init__ may already use them
        tp = typing.get_type_hints(cls).get(k, Any)
        if not _matches(v, tp):
            raise ValueError(f"{prefix}{k} must be {_describe(tp)}, got {v!r}")
    config = cls(**values)
    check_fields(config, prefix)
    return config
