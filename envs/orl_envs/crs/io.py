"""Loader for the SCPR / UNICORN data layout, so users with the real LastFM / Yelp files can run the same env.

SCPR (Lei et al., KDD 2020) released ``lastfm``, ``lastfm_star`` and ``yelp`` folders that UNICORN (Deng et al.,
SIGIR 2021) reuses. The files read here (JSON, ids are decimal strings):

* ``Graph_generate_data/user_item.json``: ``{user: [item, ...]}``, the interactions the graph and embeddings use;
* ``Graph_generate_data/item_dict.json`` (LastFM) or ``item_dict-original_tag.json`` (Yelp):
  ``{item: {"feature_index": [attribute, ...], ...}}``;
* Yelp only, for the enumerated mode: ``Graph_generate_data/2-layer taxonomy.json`` ``{category name: [attribute,
  ...]}`` and ``first-layer_merged_tag_map.json`` ``{category name: category id}``;
* optionally ``UI_Interaction_data/review_dict_test.json`` and ``review_dict_valid.json`` ``{user: [item, ...]}``:
  the test dialogues' and the validation dialogues' (user, target) pairs, kept as :attr:`CRSGraph.test_user_items`
  and :attr:`CRSGraph.valid_user_items`. The code trains its RL policy on the validation pairs (``split="valid"``
  here); ``split="train"`` draws dialogues from ``user_item.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .graph import CRSGraph


def _read(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"SCPR layout: expected {path} (see orl_envs.crs.io for the layout)") from None


def load_scpr(data_dir: str | Path, enumerated: bool | None = None) -> CRSGraph:
    """Read a SCPR/UNICORN data folder into a :class:`CRSGraph`.

    ``enumerated`` reads the Yelp two-layer taxonomy (attribute categories); ``None`` reads it when present.
    """
    root = Path(data_dir)
    g = root / "Graph_generate_data"
    if not g.is_dir():
        raise FileNotFoundError(f"{root} has no Graph_generate_data folder; expected the SCPR layout "
                                "(see orl_envs.crs.io)")
    ui = _read(g / "user_item.json")
    item_file = g / "item_dict.json"
    if not item_file.exists():
        item_file = g / "item_dict-original_tag.json"
    items = _read(item_file)
    n_users = max(int(u) for u in ui) + 1
    n_items = max([int(v) for v in items] + [int(v) for vs in ui.values() for v in vs]) + 1
    feats = [int(p) for d in items.values() for p in d["feature_index"]]
    taxonomy_file = g / "2-layer taxonomy.json"
    use_tax = taxonomy_file.exists() if enumerated is None else enumerated
    taxonomy = _read(taxonomy_file) if use_tax else None
    if taxonomy is not None:
        feats += [int(p) for ps in taxonomy.values() for p in ps]
    n_attr = max(feats) + 1
    item_attr = np.zeros((n_items, n_attr), dtype=bool)
    for v, d in items.items():
        item_attr[int(v), [int(p) for p in d["feature_index"]]] = True
    # The real files have items without attributes only if they are broken: name them rather than guess.
    user_items = [np.array([], dtype=np.int64)] * n_users
    for u, vs in ui.items():
        user_items[int(u)] = np.asarray(vs, dtype=np.int64)
    empty = [u for u, vs in enumerate(user_items) if vs.size == 0]
    if empty:
        raise ValueError(f"user_item.json has no items for users {empty[:5]} (ids must be 0..{n_users - 1})")
    category = None
    if taxonomy is not None:
        cat_ids = _read(g / "first-layer_merged_tag_map.json")
        category = np.full(n_attr, -1, dtype=np.int64)
        for name, ps in taxonomy.items():
            if name not in cat_ids:
                raise ValueError(f"category {name!r} of '2-layer taxonomy.json' is missing from "
                                 "first-layer_merged_tag_map.json")
            category[[int(p) for p in ps]] = int(cat_ids[name])
        if (category < 0).any():
            bad = np.flatnonzero(category < 0)[:5].tolist()
            raise ValueError(f"attributes {bad} belong to no category of '2-layer taxonomy.json'")
    held: dict[str, list[np.ndarray] | None] = {}
    for split in ("test", "valid"):
        held[split] = None
        path = root / "UI_Interaction_data" / f"review_dict_{split}.json"
        if path.exists():
            raw = _read(path)
            held[split] = [np.array([], dtype=np.int64)] * n_users
            for u, vs in raw.items():
                if int(u) >= n_users:
                    raise ValueError(f"{path.name} has user {u}, outside the graph's 0..{n_users - 1}")
                held[split][int(u)] = np.asarray(vs, dtype=np.int64)
    return CRSGraph(user_items, item_attr, category, name=f"scpr:{root.name}", test_user_items=held["test"],
                    valid_user_items=held["valid"])
