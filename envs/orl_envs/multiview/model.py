"""The generative model behind the ``features`` mode: hierarchical classes, 8 views, known likelihoods.

A stand-in for the multi-view fine-grained vehicle data of AFGR / MAFR (Du et al., arXiv 2206.01153;
ICCV 2023), whose images cannot be obtained here. It keeps what their pilot study found (different views
contribute differently, and different classes own different discriminative views) and makes every
quantity of interest exact: the Bayes posterior after any set of views, the all-views accuracy, and
the expected information gain of every view.

The world (drawn once from ``model_seed``):

* ``n_coarse`` coarse classes (body shapes), each with ``n_fine`` fine classes (models); the fine class
  ``y`` has coarse class ``y // n_fine``; the prior over fine classes is uniform.
* ``V = 8`` views on a ring. Looking at view ``v`` of an object of fine class ``y`` yields a discrete
  appearance code ``o = (a, b)`` with ``a`` the *shape* symbol in ``{0..n_coarse-1}`` and ``b`` the *detail*
  symbol in ``{0..n_fine}`` (``0`` = no distinctive detail), drawn independently given the class:

  - ``P(a = coarse(y) | y, v) = q[coarse(y), v]`` (the rest spread uniformly over the other shapes), where
    the shape reliability ``q`` of each coarse class and view is drawn uniform in ``coarse_reliability``:
    some views show a body shape well, others hardly (``q = 1 / n_coarse``: not at all);
  - every fine class has ``1..max_key_views`` *key views* (drawn at random); at a key view the detail symbol
    of its own part, ``b = j + 1`` (``j`` = its index among its siblings), shows with probability
    ``key_reliability``, the rest spread uniformly over the other ``n_fine`` symbols; at any other view the
    detail is ``b = 0`` with probability ``1 - detail_noise``, the rest uniform over ``1..n_fine``.

  Fine classes of one coarse class therefore differ only at their key views, so which view to look at next
  depends on which classes are still in the running.
* The observed feature vector of a view is a fixed embedding ``W[v, o]`` in ``[-1, 1]^feature_dim`` of the
  view and its code (drawn once, distinct almost surely), standing in for a CNN's feature of the image:
  the posterior given the features equals the posterior given the codes.

Everything is numpy and batched: :meth:`MultiViewModel.sample` draws objects (all 8 codes of each, as a
dataset of 8 images per object would hold them), :meth:`MultiViewModel.posterior` is the exact Bayes
posterior after any subset of views, :meth:`MultiViewModel.information_gain` the exact expected information
gain ``I(Y; O_v | seen)`` of every view. The Gymnasium environment (:mod:`.env`) is a batch-of-one view of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

#: Views per object (a ring of viewpoints), as in MvCars (``--view_num 8``).
N_VIEWS = 8


def _int_in(x, name: str, lo: int, hi: int, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) and not (
            isinstance(x, (float, np.floating)) and math.isfinite(x) and float(x).is_integer()):
        raise ValueError(f"{what}: {name} must be an integer in [{lo}, {hi}], got {x!r}")
    if not lo <= int(x) <= hi:
        raise ValueError(f"{what}: {name} must be an integer in [{lo}, {hi}], got {x!r}")
    return int(x)


def _prob_in(x, name: str, lo: float, hi: float, what: str, lo_open: bool = False) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)) or not math.isfinite(float(x)):
        raise ValueError(f"{what}: {name} must be a finite number in {'(' if lo_open else '['}{lo}, {hi}], got {x!r}")
    if not (lo < float(x) <= hi if lo_open else lo <= float(x) <= hi):
        raise ValueError(f"{what}: {name} must be a finite number in {'(' if lo_open else '['}{lo}, {hi}], got {x!r}")
    return float(x)


@dataclass(frozen=True, eq=False)
class MultiViewModel:
    """The world of the ``features`` mode (see the module docstring); build it with :meth:`generate`.

    Attributes: ``likelihood[y, v, o] = P(o | y, v)`` (``(n_classes, 8, n_codes)``, rows sum to 1),
    ``key_views[y, v]`` (bool), ``shape_reliability[c, v]``, ``features[v, o]`` (``(8, n_codes,
    feature_dim)`` float32), ``coarse_of[y]``. Codes are ``o = a * (n_fine + 1) + b``.
    """

    n_coarse: int
    n_fine: int
    feature_dim: int
    likelihood: np.ndarray
    key_views: np.ndarray
    shape_reliability: np.ndarray
    features: np.ndarray
    settings: dict = field(default_factory=dict)

    @classmethod
    def generate(cls, n_coarse: int = 4, n_fine: int = 4, feature_dim: int = 16, max_key_views: int = 2,
                 coarse_reliability: tuple[float, float] = (0.3, 0.8), key_reliability: float = 0.85,
                 detail_noise: float = 0.3, model_seed: int = 0, what: str = "MultiViewModel") -> MultiViewModel:
        """Draw the world from ``model_seed`` (every argument is checked; errors name it and the allowed range)."""
        n_coarse = _int_in(n_coarse, "n_coarse", 2, 32, what)
        n_fine = _int_in(n_fine, "n_fine", 2, 32, what)
        feature_dim = _int_in(feature_dim, "feature_dim", 1, 1024, what)
        max_key_views = _int_in(max_key_views, "max_key_views", 1, N_VIEWS, what)
        try:
            lo, hi = (float(v) for v in coarse_reliability)
        except (TypeError, ValueError):
            raise ValueError(f"{what}: coarse_reliability must be a pair (low, high) with 0 <= low <= high <= 1, "
                             f"got {coarse_reliability!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi <= 1.0):
            raise ValueError(f"{what}: coarse_reliability must be a pair (low, high) with 0 <= low <= high <= 1, "
                             f"got {coarse_reliability!r}")
        key_reliability = _prob_in(key_reliability, "key_reliability", 1.0 / (n_fine + 1), 1.0, what)
        detail_noise = _prob_in(detail_noise, "detail_noise", 0.0, 1.0 - 1.0 / (n_fine + 1), what)
        model_seed = _int_in(model_seed, "model_seed", 0, 2**63 - 1, what)

        rng = np.random.default_rng(model_seed)
        n_classes, n_b = n_coarse * n_fine, n_fine + 1
        q = rng.uniform(lo, hi, size=(n_coarse, N_VIEWS))
        n_keys = rng.integers(1, max_key_views + 1, size=n_classes)
        keys = np.zeros((n_classes, N_VIEWS), dtype=bool)
        for y in range(n_classes):
            keys[y, rng.choice(N_VIEWS, size=n_keys[y], replace=False)] = True
        features = rng.uniform(-1.0, 1.0, size=(N_VIEWS, n_coarse * n_b, feature_dim)).astype(np.float32)

        # P(a | y, v): shape symbol
        pa = np.empty((n_classes, N_VIEWS, n_coarse))
        # P(b | y, v): detail symbol
        pb = np.empty((n_classes, N_VIEWS, n_b))
        for y in range(n_classes):
            c, j = divmod(y, n_fine)
            pa[y] = ((1.0 - q[c]) / (n_coarse - 1))[:, None]
            pa[y, :, c] = q[c]
            for v in range(N_VIEWS):
                if keys[y, v]:
                    pb[y, v] = (1.0 - key_reliability) / n_fine
                    pb[y, v, j + 1] = key_reliability
                else:
                    pb[y, v] = detail_noise / n_fine
                    pb[y, v, 0] = 1.0 - detail_noise
        likelihood = (pa[:, :, :, None] * pb[:, :, None, :]).reshape(n_classes, N_VIEWS, n_coarse * n_b)
        settings = dict(n_coarse=n_coarse, n_fine=n_fine, feature_dim=feature_dim, max_key_views=max_key_views,
                        coarse_reliability=(lo, hi), key_reliability=key_reliability, detail_noise=detail_noise,
                        model_seed=model_seed)
        return cls(n_coarse, n_fine, feature_dim, likelihood, keys, q, features, settings)

    # -- sizes
    @property
    def n_classes(self) -> int:
        return self.n_coarse * self.n_fine

    @property
    def n_views(self) -> int:
        return N_VIEWS

    @property
    def n_codes(self) -> int:
        return self.likelihood.shape[2]

    @property
    def coarse_of(self) -> np.ndarray:
        return np.arange(self.n_classes) // self.n_fine

    # -- sampling
    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` objects: fine labels ``(n,)`` (uniform prior) and the codes of all 8 views ``(n, 8)``."""
        labels = rng.integers(self.n_classes, size=n)
        cdf = np.cumsum(self.likelihood[labels], axis=-1)  # (n, V, K)
        u = rng.random((n, N_VIEWS, 1))
        codes = np.minimum((u > cdf).sum(-1), self.n_codes - 1)
        return labels.astype(np.int64), codes.astype(np.int64)

    def observe(self, codes: np.ndarray) -> np.ndarray:
        """Feature vectors of codes ``(..., 8)`` -> ``(..., 8, feature_dim)`` float32 (view ``v`` is column ``v``)."""
        codes = np.asarray(codes)
        return self.features[np.arange(N_VIEWS), codes]

    # -- exact inference
    def log_likelihoods(self, codes: np.ndarray) -> np.ndarray:
        """``log P(o_v | y, v)`` of every view: codes ``(n, 8)`` -> ``(n, 8, n_classes)``."""
        codes = np.asarray(codes)
        return np.log(self.likelihood[:, np.arange(N_VIEWS), codes]).transpose(1, 2, 0)

    def posterior(self, codes: np.ndarray, seen: np.ndarray) -> np.ndarray:
        """Exact Bayes posterior ``P(y | o_v, v seen)``: codes ``(n, 8)``, seen ``(n, 8)`` bool -> ``(n, n_classes)``.

        Uniform prior, views conditionally independent given the class: ``log P(y | .) = sum_v seen_v log
        P(o_v | y, v) + const``. With nothing seen it is the prior.
        """
        ll = self.log_likelihoods(codes) * np.asarray(seen, dtype=np.float64)[..., None]
        return _softmax(ll.sum(1))

    def coarse_posterior(self, posterior: np.ndarray) -> np.ndarray:
        """Fine posterior ``(..., n_classes)`` -> coarse posterior ``(..., n_coarse)``."""
        p = np.asarray(posterior)
        return p.reshape(*p.shape[:-1], self.n_coarse, self.n_fine).sum(-1)

    def information_gain(self, posterior: np.ndarray) -> np.ndarray:
        """Exact expected information gain (nats) of each view, ``I(Y; O_v)`` under ``posterior`` ``(n, n_classes)``.

        ``EIG_v = H(sum_y p(y) P(. | y, v)) - sum_y p(y) H(P(. | y, v))`` — the expected drop of the posterior's
        entropy when view ``v`` is looked at next (summed over the finite set of codes, so exact). A view already
        seen has EIG 0 (its code is known; the views are conditionally independent), but callers mask it anyway.
        Returns ``(n, 8)``.
        """
        p = np.asarray(posterior, dtype=np.float64)
        lik = self.likelihood
        pred = np.einsum("ny,yvk->nvk", p, lik)
        h_pred = -np.sum(_xlogx(pred), axis=-1)
        h_cond = -np.sum(_xlogx(lik), axis=-1)  # (n_classes, V)
        return h_pred - p @ h_cond

    # -- evaluation helpers (exact posterior along given view orders)
    def accuracy_along(self, labels: np.ndarray, codes: np.ndarray, orders: np.ndarray) -> np.ndarray:
        """Bayes accuracy after ``t = 1..len`` views when object ``i`` is looked at in the order ``orders[i]``.

        ``orders`` ``(n, t_max)`` view indices (a permutation prefix per row) -> accuracy ``(t_max,)``: the share
        of objects whose posterior's most probable class (ties: the lowest index) is the true one.
        """
        ll = self.log_likelihoods(codes)
        taken = np.take_along_axis(ll, np.asarray(orders)[..., None], axis=1)  # (n, t, Y)
        pred = predict(np.cumsum(taken, axis=1))
        return (pred == np.asarray(labels)[:, None]).mean(0)

    def subset_accuracies(self, labels: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Bayes accuracy of each of the ``2^8`` view subsets (bit ``v`` of the index = view ``v``) on a sample."""
        ll = self.log_likelihoods(codes)
        labels = np.asarray(labels)
        acc = np.empty(2**N_VIEWS)
        for s in range(2**N_VIEWS):
            views = [v for v in range(N_VIEWS) if s >> v & 1]
            score = ll[:, views].sum(1) if views else np.zeros((len(labels), self.n_classes))
            acc[s] = float((predict(score) == labels).mean())
        return acc

    # -- pickling / equality by settings
    def __reduce__(self):
        return (_rebuild, (self.settings,))


def _rebuild(settings: dict) -> MultiViewModel:
    return MultiViewModel.generate(**settings)


def predict(scores: np.ndarray) -> np.ndarray:
    """The most probable class of log-posterior scores ``(..., n_classes)``; exact ties (which floating-point sums in
    different orders would break differently) go to the lowest class index."""
    return np.round(np.asarray(scores), 8).argmax(-1)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _xlogx(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)
