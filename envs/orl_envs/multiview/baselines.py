"""Reference view-selection policies of the ``features`` mode, evaluated with the exact Bayes posterior.

All functions work on a sample of objects ``(labels, codes)`` from :meth:`MultiViewModel.sample` and return
accuracies after ``t = 1..8`` views. As in MAFR's evaluation, every object is looked at from each of the 8
start views and the accuracies are averaged over the start views.

* :func:`random_accuracy_curve` — uniformly random order after the start view. Exact expectation over the
  orders: after ``t`` views the seen set is a uniform ``t``-subset containing the start view, so the curve is
  the mean Bayes accuracy of those subsets (no sampling of orders).
* :func:`best_fixed_orders` — per start view, the fixed order maximising the area under the accuracy curve,
  ``sum_t acc(S_t)``, on a (training) sample: exact, by dynamic programming over the 128 view subsets that
  contain the start view.
* :func:`greedy_orders` — greedy expected information gain: the next view maximises ``I(Y; O_v | seen)``
  under the exact posterior (ties: the lowest view index). Adaptive: it depends on the codes seen so far.
* :func:`all_views_accuracy` — the Bayes accuracy with all 8 views (the ceiling of every policy).

The same functions serve the ``pixels`` mode's :class:`~orl_envs.multiview.pixels.PixelWorld` (its ideal
observer's posterior and information gain, which are exact too); there, pass the labels where the features mode
takes codes (what a view shows is fixed by the class), and the objects (body colours) for ``codes`` elsewhere.
"""

from __future__ import annotations

import numpy as np

from .model import N_VIEWS, MultiViewModel, predict


def _popcount(s: int) -> int:
    return bin(s).count("1")


def random_accuracy_curve(model: MultiViewModel, labels: np.ndarray, codes: np.ndarray,
                          subset_acc: np.ndarray | None = None) -> np.ndarray:
    """Expected Bayes accuracy after ``t = 1..8`` views of a uniformly random order, averaged over start views."""
    acc = model.subset_accuracies(labels, codes) if subset_acc is None else subset_acc
    curve = np.zeros(N_VIEWS)
    for start in range(N_VIEWS):
        for t in range(1, N_VIEWS + 1):
            subsets = [s for s in range(2**N_VIEWS) if s >> start & 1 and _popcount(s) == t]
            curve[t - 1] += acc[subsets].mean() / N_VIEWS
    return curve


def best_fixed_orders(model: MultiViewModel, labels: np.ndarray, codes: np.ndarray,
                      subset_acc: np.ndarray | None = None) -> np.ndarray:
    """``(8, 8)``: row ``s`` is the order (starting with view ``s``) maximising ``sum_t acc(S_t)`` on the sample.

    ``best[S] = acc(S) + max_{v in S, v != s} best[S - {v}]`` with ``best[{s}] = acc({s})``, over the subsets
    ``S`` that contain ``s``; the order is read back from the arg-maxima (ties: the lowest view index).
    """
    acc = model.subset_accuracies(labels, codes) if subset_acc is None else subset_acc
    orders = np.zeros((N_VIEWS, N_VIEWS), dtype=np.int64)
    for start in range(N_VIEWS):
        best = np.full(2**N_VIEWS, -np.inf)
        last = np.full(2**N_VIEWS, -1)
        best[1 << start] = acc[1 << start]
        for s in sorted((s for s in range(2**N_VIEWS) if s >> start & 1), key=_popcount):
            if s == 1 << start:
                continue
            for v in range(N_VIEWS):
                if v != start and s >> v & 1 and best[s ^ (1 << v)] + acc[s] > best[s]:
                    best[s], last[s] = best[s ^ (1 << v)] + acc[s], v
        s, order = 2**N_VIEWS - 1, []
        while s != 1 << start:
            order.append(last[s])
            s ^= 1 << last[s]
        orders[start] = [start, *reversed(order)]
    return orders


def fixed_orders(table: np.ndarray, start_views: np.ndarray) -> np.ndarray:
    """Per-object orders ``(n, 8)`` from a per-start-view table ``(8, 8)`` (e.g. :func:`best_fixed_orders`)."""
    return np.asarray(table)[np.asarray(start_views)]


def greedy_orders(model: MultiViewModel, codes: np.ndarray, start_views: np.ndarray,
                  budget: int = N_VIEWS) -> np.ndarray:
    """Greedy expected-information-gain orders ``(n, budget)`` for objects ``codes`` ``(n, 8)`` from ``start_views``."""
    codes = np.asarray(codes)
    n = len(codes)
    rows = np.arange(n)
    seen = np.zeros((n, N_VIEWS), dtype=bool)
    seen[rows, start_views] = True
    orders = [np.asarray(start_views, dtype=np.int64)]
    for _ in range(budget - 1):
        gain = model.information_gain(model.posterior(codes, seen))
        gain[seen] = -np.inf
        nxt = gain.argmax(1)
        seen[rows, nxt] = True
        orders.append(nxt)
    return np.stack(orders, 1)


def every_start(labels: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sample repeated once per start view: ``(labels, codes, start_views)``, each ``8 n`` long."""
    n = len(labels)
    starts = np.repeat(np.arange(N_VIEWS), n)
    return np.tile(labels, N_VIEWS), np.tile(codes, (N_VIEWS, 1)), starts


def accuracy_curve(model: MultiViewModel, labels: np.ndarray, codes: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Bayes accuracy after ``t = 1..len(orders[0])`` views along the given per-object orders."""
    return model.accuracy_along(labels, codes, orders)


def all_views_accuracy(model: MultiViewModel, labels: np.ndarray, codes: np.ndarray) -> float:
    """Bayes accuracy with all 8 views seen."""
    if not isinstance(model, MultiViewModel):  # the pixels mode's ideal observer
        return float(model.accuracy_along(labels, codes, np.tile(np.arange(N_VIEWS), (len(labels), 1)))[-1])
    scores = model.log_likelihoods(codes).sum(1)
    return float((predict(scores) == np.asarray(labels)).mean())
