"""TransE embeddings of a user-item-attribute graph, trained in-house with numpy.

UNICORN (Deng et al., SIGIR 2021) initialises users, items and attributes with 64-d TransE embeddings (Bordes et
al., "Translating Embeddings for Modeling Multi-relational Data", NeurIPS 2013) pretrained with OpenKE on the
SCPR graph. Here TransE is trained on the graph's training triples: ``(user, interact, item)`` and ``(item,
belong_to, attribute)``. The score of a triple is the squared distance ``||h + r - t||^2``; the loss is the margin
ranking loss ``max(0, margin + d(pos) - d(neg))`` with the tail replaced by a uniformly drawn entity of the same
type, minimised by minibatch SGD; entity vectors are renormalised to unit length after every step (as in the
TransE paper). Reconstruction choices (ours): squared distance (simpler gradient than OpenKE's L1/L2 norm), tail-only
corruption within the tail's type, numpy SGD instead of OpenKE's optimiser, and the hyperparameters below
(``lr=0.01``: on a 100-user, 300-item LastFM-like graph, 50 epochs reach a training-triple AUC of about 0.9 and a
held-out-interaction AUC of about 0.6; ``lr=0.05`` diverged in the same check).

:class:`~orl_envs.crs.env.ConversationalRecEnv` ranks with these vectors under ``embeddings="transe"``
(:meth:`CRSGraph.embeddings` with ``method="transe"``); by default it ranks with SVD embeddings, because its
preference score uses dot products, which TransE vectors (trained for ``h + r ~ t``) do not directly optimise.
"""

from __future__ import annotations

import numpy as np

from .graph import CRSGraph


def train_transe(graph: CRSGraph, dim: int = 64, epochs: int = 50, lr: float = 0.01, margin: float = 1.0,
                 batch_size: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """User, item and attribute embeddings (float32, ``(n, dim)``) and the two relation vectors (``interact``,
    ``belong_to``; ``(2, dim)``) trained with TransE on ``graph``'s training interactions and item attributes; see
    the module docstring."""
    for name, v in (("dim", dim), ("epochs", epochs + 1), ("batch_size", batch_size)):
        if v < 1:
            raise ValueError(f"{name} must be >= 1 (epochs >= 0), got {v if name != 'epochs' else epochs}")
    if lr <= 0 or margin <= 0:
        raise ValueError(f"lr and margin must be > 0, got lr={lr}, margin={margin}")
    rng = np.random.default_rng(seed)
    n_u, n_v, n_p = graph.n_users, graph.n_items, graph.n_attributes
    # Entity ids: users [0, n_u), items [n_u, n_u + n_v), attributes after.
    ui = np.array([(u, n_u + v) for u, items in enumerate(graph.user_items) for v in items], dtype=np.int64)
    iv, ip = np.nonzero(graph.item_attributes)
    ia = np.stack([n_u + iv, n_u + n_v + ip], axis=1)
    heads = np.concatenate([ui[:, 0], ia[:, 0]])
    tails = np.concatenate([ui[:, 1], ia[:, 1]])
    rels = np.concatenate([np.zeros(len(ui), np.int64), np.ones(len(ia), np.int64)])
    tail_lo = np.where(rels == 0, n_u, n_u + n_v)           # corrupt within the tail's entity type
    tail_n = np.where(rels == 0, n_v, n_p)
    ent = rng.normal(size=(n_u + n_v + n_p, dim)) / np.sqrt(dim)
    ent /= np.linalg.norm(ent, axis=1, keepdims=True)
    rel = rng.normal(size=(2, dim)) / np.sqrt(dim)
    n = len(heads)
    for _ in range(epochs):
        for b in np.array_split(rng.permutation(n), max(1, n // batch_size)):
            h, t, r = heads[b], tails[b], rels[b]
            t_neg = tail_lo[b] + rng.integers(0, tail_n[b])
            d_pos = ent[h] + rel[r] - ent[t]
            d_neg = ent[h] + rel[r] - ent[t_neg]
            active = (margin + (d_pos**2).sum(1) - (d_neg**2).sum(1)) > 0
            if not active.any():
                continue
            g_pos, g_neg = 2 * d_pos[active], 2 * d_neg[active]
            h, t, r, t_neg = h[active], t[active], r[active], t_neg[active]
            # d/dh = 2 d_pos - 2 d_neg, d/dr the same, d/dt = -2 d_pos, d/dt_neg = +2 d_neg (per triple, as plain SGD).
            scale = lr
            np.add.at(ent, h, -scale * (g_pos - g_neg))
            np.add.at(rel, r, -scale * (g_pos - g_neg))
            np.add.at(ent, t, scale * g_pos)
            np.add.at(ent, t_neg, -scale * g_neg)
            touched = np.unique(np.concatenate([h, t, t_neg]))
            ent[touched] /= np.linalg.norm(ent[touched], axis=1, keepdims=True)
    ent = ent.astype(np.float32)
    return ent[:n_u], ent[n_u:n_u + n_v], ent[n_u + n_v:], rel.astype(np.float32)
