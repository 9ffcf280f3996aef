"""Errors raised by orl's data layer.

Every fault a user can cause (an unknown dataset name, a missing or corrupt file, a wrong
shape) surfaces as a :class:`DatasetError` whose message names the offending value and what
is allowed, instead of a bare ``KeyError`` or h5py traceback from deep inside a loader.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset could not be found, read, validated or written."""
