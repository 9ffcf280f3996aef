"""Algorithms, grouped by family; importing this package registers them all.

``orl.algos.ALGORITHMS`` maps a name (``orl.run algo=<name>``) to its class.
"""

from orl.algos import offline  # noqa: F401  (registers the offline algorithms)
from orl.algos.base import ALGORITHMS, OfflineAlgorithm, algorithm_class, register_algorithm

__all__ = ["ALGORITHMS", "OfflineAlgorithm", "algorithm_class", "register_algorithm"]
