"""User-item-attribute graphs for multi-round conversational recommendation.

The environment of UNICORN (Deng, Li, Sun, Ding, Lam, "Unified Conversational Recommendation Policy Learning via
Graph-based Reinforcement Learning", SIGIR 2021, arXiv 2105.09710) runs on the LastFM and Yelp graphs released
with SCPR (Lei et al., "Interactive Path Reasoning on Graph for Conversational Recommendation", KDD 2020). Those
files cannot be downloaded here, so :func:`generate_graph` builds graphs of the same *shape* with documented,
tunable statistics. They are not the real data: numbers measured on them are not comparable to the papers' tables.

Reconstruction choices (ours, not from the papers):

* attribute popularity is Zipf-like: attribute of popularity rank ``r`` (1-based) is drawn with weight
  ``r ** -skew``; each item draws ``1 + Poisson(attributes_per_item - 1)`` distinct attributes with these weights;
* users have taste: each user draws ``taste_size`` favourite attributes (same Zipf weights) and draws
  ``1 + Poisson(interactions_per_user - 1)`` distinct items with weight ``exp(taste_strength * overlap)`` where
  ``overlap`` counts the item's attributes among the favourites;
* ``test_share`` of each user's interactions (at least one) are held out as test (user, target) pairs and
  ``valid_share`` as validation pairs (the code trains its RL policy on validation dialogues); the ranking
  embeddings are computed from the rest, as the papers' embeddings never see those dialogues;
* Yelp-like graphs (enumerated mode) group attributes into ``n_categories`` coarse categories, contiguous blocks of
  attribute ids, as Yelp's 590 attributes sit under 29 categories in SCPR.

The default sizes are scaled down from SCPR's (LastFM: 1,801 users, 7,432 items, 33 attributes, about 42.6
interactions per user; Yelp: 27,675 users, 70,311 items, 590 attributes in 29 categories, about 49.5 interactions
per user) so that a CPU run takes minutes; the attribute counts match the papers' and every size is an argument.

**Difficulty.** The defaults were tuned (issue 21) so that the Max Entropy rule is far from perfect, as on the real
data (UNICORN's Table: SR@15 .283 on LastFM, .921 on Yelp, .398 on Yelp*): many items per attribute combination
(5,000 LastFM-like items over 33 attributes, about 2.5 attributes per item; 3,000 Yelp-like items with about 3 of
590 attributes), a steep attribute popularity (``skew`` 1.2 / 1.5, so many items share the same popular
attributes) and a weak user taste (``taste_strength`` 1.0, so the preference ranking is informative but not
decisive). Then a "no" answer (which filters nothing) is frequent and a handful of accepted attributes still leaves
far more than 10 candidates. The previous defaults (1,000 / 1,500 items, 4 / 8 attributes per item, skew 0.8 / 1.0,
taste strength 1.5) let Max Entropy reach SR@15 .98 / 1.0; pass them as overrides to get those easier graphs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Default statistics of the two graph kinds (see the module docstring for what is scaled down).
PRESETS: dict[str, dict[str, float | int]] = {
    "lastfm": dict(n_users=300, n_items=5000, n_attributes=33, n_categories=0, interactions_per_user=40,
                   attributes_per_item=2.5, skew=1.2, taste_size=4, taste_strength=1.0, test_share=0.2, valid_share=0.1),
    "yelp": dict(n_users=300, n_items=3000, n_attributes=590, n_categories=29, interactions_per_user=45,
                 attributes_per_item=3, skew=1.5, taste_size=6, taste_strength=1.0, test_share=0.2, valid_share=0.1),
}


@dataclass
class CRSGraph:
    """A user-item-attribute graph.

    ``user_items[u]`` are the items user ``u`` interacted with in training (sorted, distinct; the embeddings see
    only these); ``test_user_items[u]`` are held-out interactions, the (user, target) pairs of evaluation dialogues
    (SCPR/UNICORN likewise test on ``review_dict_test``, interactions the embeddings were not trained on; ``None``
    means no held-out pairs); ``item_attributes`` is a boolean ``(n_items, n_attributes)`` matrix;
    ``valid_user_items[u]`` are held-out validation interactions (also unseen by the embeddings): the code trains
    its RL policy on such pairs (``review_dict_valid``), so that training dialogues are as hard as test ones;
    ``attribute_category`` maps each attribute to its coarse category for the enumerated question mode, or is
    ``None`` (binary mode only).
    """

    user_items: list[np.ndarray]
    item_attributes: np.ndarray
    attribute_category: np.ndarray | None = None
    test_user_items: list[np.ndarray] | None = None
    name: str = "graph"
    valid_user_items: list[np.ndarray] | None = None
    _embeddings: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.item_attributes = np.asarray(self.item_attributes, dtype=bool)
        if self.item_attributes.ndim != 2:
            raise ValueError(f"item_attributes must be a 2-d (items, attributes) matrix, got shape "
                             f"{self.item_attributes.shape}")
        if not self.item_attributes.any(axis=1).all():
            bad = np.flatnonzero(~self.item_attributes.any(axis=1))[:5].tolist()
            raise ValueError(f"every item needs at least one attribute; items {bad} have none")
        self.user_items = [np.unique(np.asarray(items, dtype=np.int64)) for items in self.user_items]
        for u, items in enumerate(self.user_items):
            if items.size == 0:
                raise ValueError(f"user {u} has no items; every user needs at least one interaction")
            if items[0] < 0 or items[-1] >= self.n_items:
                raise ValueError(f"user {u} has item ids outside [0, {self.n_items}): {items.tolist()[:5]}...")
        for split in ("test", "valid"):
            held = getattr(self, f"{split}_user_items")
            if held is None:
                continue
            if len(held) != self.n_users:
                raise ValueError(f"{split}_user_items must have one entry per user ({self.n_users}), got {len(held)}")
            held = [np.unique(np.asarray(i, dtype=np.int64)) for i in held]
            for u, items in enumerate(held):
                if items.size and (items[0] < 0 or items[-1] >= self.n_items):
                    raise ValueError(f"user {u} has {split} item ids outside [0, {self.n_items})")
            setattr(self, f"{split}_user_items", held)
        if self.attribute_category is not None:
            self.attribute_category = np.asarray(self.attribute_category, dtype=np.int64)
            if self.attribute_category.shape != (self.n_attributes,):
                raise ValueError(f"attribute_category must have one entry per attribute ({self.n_attributes}), "
                                 f"got shape {self.attribute_category.shape}")
            if self.attribute_category.min() < 0:
                raise ValueError("attribute_category entries must be >= 0")

    @property
    def n_users(self) -> int:
        return len(self.user_items)

    @property
    def n_items(self) -> int:
        return int(self.item_attributes.shape[0])

    @property
    def n_attributes(self) -> int:
        return int(self.item_attributes.shape[1])

    @property
    def n_categories(self) -> int:
        return 0 if self.attribute_category is None else int(self.attribute_category.max()) + 1

    def statistics(self) -> dict[str, float]:
        """Counts comparable to SCPR's dataset table (interactions, attributes per item, ...)."""
        per_user = np.array([len(i) for i in self.user_items])
        for held in (self.test_user_items, self.valid_user_items):
            if held is not None:
                per_user = per_user + np.array([len(i) for i in held])
        per_item = self.item_attributes.sum(axis=1)
        return dict(users=self.n_users, items=self.n_items, attributes=self.n_attributes,
                    categories=self.n_categories, interactions=int(per_user.sum()),
                    interactions_per_user=float(per_user.mean()), attributes_per_item=float(per_item.mean()))

    def embeddings(self, dim: int = 64, method: str = "svd") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Deterministic user, item and attribute vectors used to rank candidates.

        UNICORN ranks with TransE embeddings pretrained on the graph (OpenKE). ``method="svd"`` (the default) is a
        truncated SVD of the item-incidence matrix stacked over users and attributes: rows are
        users and attributes, columns items; items get the right singular vectors scaled by the singular values'
        square roots, users and attributes the left ones. This is a reconstruction choice (ours): it gives
        ``e_u . e_v`` and ``e_p . e_v`` that approximate the incidence, which is what the preference score needs.
        ``method="transe"`` trains :func:`orl_envs.crs.train_transe` (numpy, 50 epochs, seed 0) on the training
        interactions instead, as the paper does; its vectors are trained for ``h + r ~ t``, not for the dot
        products of the preference score, so they rank held-out items less well here (see ``docs/crs.md``).
        """
        if method not in ("svd", "transe"):
            raise ValueError(f"method must be 'svd' or 'transe', got {method!r}")
        if (dim, method) in self._embeddings:
            return self._embeddings[(dim, method)]
        if method == "transe":
            from .transe import train_transe

            e_user, e_item, e_attr, _ = train_transe(self, dim=dim, seed=0)
            self._embeddings[(dim, method)] = (e_user, e_item, e_attr)
            return self._embeddings[(dim, method)]
        m = np.zeros((self.n_users + self.n_attributes, self.n_items))
        for u, items in enumerate(self.user_items):
            m[u, items] = 1.0 / np.sqrt(len(items))
        m[self.n_users:] = self.item_attributes.T / np.sqrt(np.maximum(self.item_attributes.sum(0), 1))[:, None]
        k = min(dim, min(m.shape))
        left, s, right = np.linalg.svd(m, full_matrices=False)
        root = np.sqrt(s[:k])
        rows = left[:, :k] * root
        items = right[:k].T * root
        # Fix the SVD's sign ambiguity so that results do not depend on the LAPACK build.
        sign = np.sign(items.sum(axis=0) + 1e-12)
        rows, items = rows * sign, items * sign
        out = (rows[: self.n_users].astype(np.float32), items.astype(np.float32),
               rows[self.n_users:].astype(np.float32))
        self._embeddings[(dim, method)] = out
        return out


def _zipf_weights(n: int, skew: float) -> np.ndarray:
    w = np.arange(1, n + 1, dtype=float) ** -skew
    return w / w.sum()


def generate_graph(kind: str = "lastfm", seed: int = 0, **overrides: float | int) -> CRSGraph:
    """A LastFM-like (``kind="lastfm"``) or Yelp-like (``kind="yelp"``) graph; see the module docstring.

    ``overrides`` replace entries of :data:`PRESETS` (``n_users``, ``n_items``, ``n_attributes``, ``n_categories``,
    ``interactions_per_user``, ``attributes_per_item``, ``skew``, ``taste_size``, ``taste_strength``,
    ``test_share``, ``valid_share``).
    """
    if kind not in PRESETS:
        raise ValueError(f"kind must be one of {sorted(PRESETS)}, got {kind!r}")
    unknown = set(overrides) - set(PRESETS[kind])
    if unknown:
        raise ValueError(f"unknown graph statistics {sorted(unknown)}; allowed: {sorted(PRESETS[kind])}")
    p = {**PRESETS[kind], **overrides}
    n_users, n_items, n_attr = int(p["n_users"]), int(p["n_items"]), int(p["n_attributes"])
    n_cat = int(p["n_categories"])
    for name in ("n_users", "n_items", "n_attributes"):
        if int(p[name]) < 1:
            raise ValueError(f"{name} must be >= 1, got {p[name]}")
    if not 1 <= p["attributes_per_item"] <= n_attr:
        raise ValueError(f"attributes_per_item must be in [1, n_attributes={n_attr}], got {p['attributes_per_item']}")
    if not 1 <= p["interactions_per_user"] <= n_items:
        raise ValueError(f"interactions_per_user must be in [1, n_items={n_items}], got {p['interactions_per_user']}")
    if n_cat < 0 or n_cat > n_attr:
        raise ValueError(f"n_categories must be in [0, n_attributes={n_attr}], got {n_cat}")
    rng = np.random.default_rng(seed)
    popularity = _zipf_weights(n_attr, float(p["skew"]))
    # Popularity rank is independent of the attribute id (so categories mix popular and rare attributes).
    popularity = popularity[rng.permutation(n_attr)]
    item_attr = np.zeros((n_items, n_attr), dtype=bool)
    for v in range(n_items):
        k = min(n_attr, 1 + rng.poisson(float(p["attributes_per_item"]) - 1))
        item_attr[v, rng.choice(n_attr, size=k, replace=False, p=popularity)] = True
    user_items = []
    for _ in range(n_users):
        taste = rng.choice(n_attr, size=min(n_attr, int(p["taste_size"])), replace=False, p=popularity)
        overlap = item_attr[:, taste].sum(axis=1)
        w = np.exp(float(p["taste_strength"]) * overlap)
        k = min(n_items, 1 + rng.poisson(float(p["interactions_per_user"]) - 1))
        user_items.append(np.sort(rng.choice(n_items, size=k, replace=False, p=w / w.sum())))
    category = None
    if n_cat > 0:
        category = (np.arange(n_attr) * n_cat) // n_attr
    # Hold out a share of every user's interactions (at least one when the user has two or more) as test pairs,
    # then a share as validation pairs (the dialogues the code trains its RL policy on); the rest is training.
    test_share, valid_share = float(p["test_share"]), float(p["valid_share"])
    if not 0 <= test_share < 1:
        raise ValueError(f"test_share must be in [0, 1), got {test_share}")
    if not 0 <= valid_share < 1 or test_share + valid_share >= 1:
        raise ValueError(f"valid_share must be in [0, 1 - test_share={1 - test_share:g}), got {valid_share}")
    train, test, valid = [], [], []
    for items in user_items:
        n_test = min(len(items) - 1, int(round(test_share * len(items)))) if test_share > 0 else 0
        n_test = max(n_test, 1) if test_share > 0 and len(items) > 1 else n_test
        n_valid = min(len(items) - 1 - n_test, int(round(valid_share * len(items)))) if valid_share > 0 else 0
        n_valid = max(n_valid, 0)
        perm = rng.permutation(items)
        test.append(np.sort(perm[:n_test]))
        valid.append(np.sort(perm[n_test:n_test + n_valid]))
        train.append(np.sort(perm[n_test + n_valid:]))
    return CRSGraph(train, item_attr, category, name=f"{kind}-like(seed={seed})", test_user_items=test,
                    valid_user_items=valid)
