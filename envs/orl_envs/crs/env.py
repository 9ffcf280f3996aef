"""Multi-round conversational recommendation as a Gymnasium environment (the UNICORN/SCPR user simulator)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..routing.env import MaskedDiscrete
from .graph import CRSGraph, generate_graph

#: The simulator's rewards as coded in UNICORN's ``env_binary_question.py`` / ``env_enumerated_question.py``.
REWARDS: dict[str, float] = dict(ask_suc=0.01, ask_fail=-0.1, rec_suc=1.0, rec_fail=-0.1, until_T=-0.3)
MAX_TURN = 15
REC_SIZE = 10


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def hdcg(turn: int, rank: int, max_turn: int = MAX_TURN) -> float:
    """hDCG of one dialogue as coded in UNICORN: success at (1-based) ``turn`` with the target at ``rank`` in the list.

    ``1/log2(T+2) + (1/log2(T+1) - 1/log2(T+2)) / log2(k+1)``; a failure (``rank == 0``) scores 0.
    """
    if rank == 0:
        return 0.0
    if not 1 <= turn <= max_turn:
        raise ValueError(f"turn must be in [1, {max_turn}], got {turn}")
    if rank < 0:
        raise ValueError(f"rank must be >= 1 (or 0 for a failure), got {rank}")
    return 1 / np.log2(turn + 2) + (1 / np.log2(turn + 1) - 1 / np.log2(turn + 2)) / np.log2(rank + 1)


def summarize(turns: np.ndarray, ranks: np.ndarray, max_turn: int = MAX_TURN) -> dict[str, float]:
    """SR@5/10/15, AT and hDCG over dialogues: ``turns[i]`` is the turn the dialogue ended, ``ranks[i]`` the target's
    1-based rank in the successful list, 0 for a failure (whose turn counts as ``max_turn`` in AT)."""
    turns, ranks = np.asarray(turns), np.asarray(ranks)
    ok = ranks > 0
    t = np.where(ok, turns, max_turn)
    out = {f"SR@{k}": float(np.mean(ok & (t <= k))) for k in (5, 10, 15)}
    out["AT"] = float(t.mean())
    out["hDCG"] = float(np.mean([hdcg(int(a), int(b), max_turn) for a, b in zip(t, ranks)]))
    return out


class ConversationalRecEnv(gym.Env):
    """Multi-round conversational recommendation on a user-item-attribute graph (UNICORN's user simulator).

    Source: Deng, Li, Sun, Ding, Lam, "Unified Conversational Recommendation Policy Learning via Graph-based
    Reinforcement Learning", SIGIR 2021 (arXiv 2105.09710), simulator of the authors' code, itself SCPR's
    (Lei et al., KDD 2020).

    **Episode.** ``reset`` draws a user uniformly (among users with interactions in ``split``) and a target item
    uniformly among the user's ``split`` items (``"train"``: the interactions the embeddings were computed from;
    ``"valid"``: held-out ones on which the authors' code trains its RL policy; ``"test"``: held-out ones, for
    evaluation), or takes ``options={"user": u, "item": v}``. Turn 1: the user volunteers one uniformly drawn attribute of the target; it
    is accepted and the candidate items become the items having it. The agent then acts at turns 2..15.

    **Actions.** ``Discrete(K_p + K_v)`` (``K_p = K_v = 10``): slot ``i < K_p`` asks the ``i``-th candidate
    attribute (binary mode) or category (enumerated mode); slot ``K_p + j`` recommends a list of ``rec_size = 10`` items: the
    ``j``-th candidate item first, then the best-ranked other candidates (our choice of how an item action fills
    its list). ``observation["action_mask"]`` (and :meth:`action_masks`) marks the slots that hold a candidate;
    masked slots raise; ``action_space.sample()`` draws among the legal slots.

    * Ask attribute ``p`` (binary mode): accepted iff the target has ``p``: candidates are intersected with the
      items having ``p``, reward +0.01; otherwise ``p`` is rejected (no filtering, it lowers the score of items
      having it), reward -0.1.
    * Ask category ``c`` (enumerated mode, Yelp): accepted iff the target has some attribute of ``c``; then all
      the target's attributes in ``c`` are accepted and the candidates keep the items having at least one of them
      (our reading of the code's filter); otherwise all attributes of ``c`` are rejected.
    * Recommend: success iff the target is in the list (reward +1, episode ends, ``info["rank"]`` is its 1-based
      position); otherwise the 10 items leave the candidates, reward -0.1.
    * Turn 15 without success ends the episode with the quit reward -0.3. The code spends a 15th call returning
      only -0.3; here the last action's reward and -0.3 are added in one step (same undiscounted return).
      The code's ``cand_none`` reward (-0.1) is unreachable here: the target never leaves the candidates.

    **Ranking (re-done every turn).** Item preference ``w_v = e_u.e_v + sum_{p in accepted} e_p.e_v
    - sum_{p in rejected and attributes(v)} sigmoid(e_p.e_v)`` (the code's variant of the paper's formula); items
    are ranked by ``w_v``. Attributes are ranked by weighted entropy over the candidates, weights
    ``sigmoid(w_v)`` (the paper's rule, ``attribute_ranking="entropy"``); the authors' code instead ranks them by
    embedding preference (``attribute_ranking="preference"``, their deviation from the paper). Categories are
    ranked by the summed weighted entropy of their attributes. Embeddings come from :meth:`CRSGraph.embeddings`:
    ``embeddings="svd"`` (default) or ``"transe"`` (in-house TransE, the paper's kind of embedding).

    **Observation** (a dict of fixed-size arrays): ``user``, ``turn``, ``candidate_items`` / ``accepted`` /
    ``rejected`` (0/1 over items, attributes, attributes), ``action_ids`` (the attribute/category or item id in
    each slot, -1 if empty), ``action_mask``, and the dynamic graph: ``node_mask`` over the static node list
    (node 0 the user, ``1 + v`` item ``v``, ``1 + n_items + p`` attribute ``p``) and ``edge_weight`` over the
    static ``self.edge_index`` (user-item, user-attribute, item-attribute edges). Active nodes: the user, the
    candidate items, the accepted attributes and the attributes in the action slots; active edges: user-item
    weight ``sigmoid(w_v)``, user-accepted attribute weight 1, item-attribute weight 1 between active nodes for
    non-rejected attributes; inactive edges have weight 0. :func:`orl_envs.crs.to_pyg_data` builds the
    ``torch_geometric.data.Data`` of this graph.

    **Info** at the end: ``success``, ``rank`` (0 on failure), ``turn``, ``hdcg``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, graph: CRSGraph | None = None, kind: str = "lastfm", mode: str = "binary",
                 attribute_ranking: str = "entropy", n_attribute_slots: int = 10, n_item_slots: int = 10,
                 max_turn: int = MAX_TURN, rec_size: int = REC_SIZE, graph_seed: int = 0, embedding_dim: int = 64, split: str = "train", embeddings: str = "svd",
                 render_mode: str | None = None) -> None:
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        if mode not in ("binary", "enumerated"):
            raise ValueError(f"mode must be 'binary' or 'enumerated', got {mode!r}")
        if attribute_ranking not in ("entropy", "preference"):
            raise ValueError(f"attribute_ranking must be 'entropy' or 'preference', got {attribute_ranking!r}")
        if embeddings not in ("svd", "transe"):
            raise ValueError(f"embeddings must be 'svd' or 'transe', got {embeddings!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        if max_turn < 2:
            raise ValueError(f"max_turn must be >= 2 (turn 1 is the user's opening), got {max_turn}")
        for name, k in (("n_attribute_slots", n_attribute_slots), ("n_item_slots", n_item_slots),
                        ("rec_size", rec_size)):
            if k < 1:
                raise ValueError(f"{name} must be >= 1, got {k}")
        self.graph = graph if graph is not None else generate_graph(kind, seed=graph_seed)
        if mode == "enumerated" and self.graph.attribute_category is None:
            raise ValueError("mode='enumerated' needs a graph with attribute categories (e.g. kind='yelp')")
        self.mode, self.attribute_ranking, self.max_turn = mode, attribute_ranking, max_turn
        self.split, self.rec_size = split, rec_size
        pairs = self.graph.user_items if split == "train" else getattr(self.graph, f"{split}_user_items")
        if pairs is None:
            raise ValueError(f"split={split!r} needs a graph with {split}_user_items (held-out interactions)")
        self._pair_users = np.array([u for u, items in enumerate(pairs) if len(items)], dtype=np.int64)
        if self._pair_users.size == 0:
            raise ValueError(f"the graph has no {split} interactions to draw dialogues from")
        self._pairs = pairs
        self.k_p, self.k_v = n_attribute_slots, n_item_slots
        g = self.graph
        self.e_user, self.e_item, self.e_attr = g.embeddings(embedding_dim, embeddings)
        self._ia = g.item_attributes
        self._ia_f = g.item_attributes.astype(np.float64)
        n_u, n_v, n_p = g.n_users, g.n_items, g.n_attributes
        self.n_nodes = 1 + n_v + n_p
        iv, ip = np.nonzero(g.item_attributes)
        self._ia_edges = (iv, ip)
        src = np.concatenate([np.zeros(n_v + n_p, dtype=np.int64), 1 + iv])
        dst = np.concatenate([1 + np.arange(n_v), 1 + n_v + np.arange(n_p), 1 + n_v + ip])
        #: Static edge list of the node numbering above; the observation's ``edge_weight`` says which are active.
        self.edge_index = np.stack([src, dst]).astype(np.int64)
        n_actions = self.k_p + self.k_v
        n_questions = g.n_categories if mode == "enumerated" else n_p
        # Samples among the current legal slots (the routing envs' helper), so random policies and check_env are valid.
        self.action_space = MaskedDiscrete(n_actions)
        self.observation_space = spaces.Dict({
            "user": spaces.Box(0, n_u - 1, (1,), np.int64),
            "turn": spaces.Box(0, max_turn, (1,), np.int64),
            "candidate_items": spaces.MultiBinary(n_v),
            "accepted": spaces.MultiBinary(n_p),
            "rejected": spaces.MultiBinary(n_p),
            "action_ids": spaces.Box(-1, max(n_v, n_questions) - 1, (n_actions,), np.int64),
            "action_mask": spaces.MultiBinary(n_actions),
            "node_mask": spaces.MultiBinary(self.n_nodes),
            "edge_weight": spaces.Box(0.0, 1.0, (self.edge_index.shape[1],), np.float32),
        })
        self.user = self.target = -1

    # ----------------------------------------------------------------------------------------------- dynamics
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        g, options = self.graph, options or {}
        if "user" in options:
            self.user = int(options["user"])
            if not 0 <= self.user < g.n_users:
                raise ValueError(f"options['user'] must be in [0, {g.n_users}), got {self.user}")
        else:
            self.user = int(self.np_random.choice(self._pair_users))
        if "item" in options:
            self.target = int(options["item"])
            if not 0 <= self.target < g.n_items:
                raise ValueError(f"options['item'] must be in [0, {g.n_items}), got {self.target}")
        else:
            if len(self._pairs[self.user]) == 0:
                raise ValueError(f"user {self.user} has no {self.split} items; pass options['item']")
            self.target = int(self.np_random.choice(self._pairs[self.user]))
        target_attrs = np.flatnonzero(self._ia[self.target])
        if "opening" in options:
            opening = int(options["opening"])
            if opening not in target_attrs:
                raise ValueError(f"options['opening'] must be an attribute of the target {target_attrs.tolist()}, "
                                 f"got {opening}")
        else:
            opening = int(self.np_random.choice(target_attrs))
        self.accepted = np.zeros(g.n_attributes, dtype=bool)
        self.rejected = np.zeros(g.n_attributes, dtype=bool)
        self.asked_categories = np.zeros(max(g.n_categories, 1), dtype=bool)
        self.candidates = np.ones(g.n_items, dtype=bool)
        self._accept(np.array([opening]))
        self.turn = 1
        self._rerank()
        return self._obs(), {"turn": self.turn}

    def _accept(self, attrs: np.ndarray) -> None:
        self.accepted[attrs] = True
        self.candidates &= self._ia[:, attrs].any(axis=1)

    def step(self, action):
        a = int(action)
        if not 0 <= a < self.k_p + self.k_v:
            raise ValueError(f"action must be in [0, {self.k_p + self.k_v}), got {action!r}")
        if not self.action_mask[a]:
            raise ValueError(f"action {a} is masked (empty slot); valid actions: "
                             f"{np.flatnonzero(self.action_mask).tolist()}")
        if self.user < 0:
            raise RuntimeError("call reset() before step()")
        self.turn += 1
        terminated, rank = False, 0
        if a < self.k_p:
            q = int(self.action_ids[a])
            if self.mode == "binary":
                if self._ia[self.target, q]:
                    self._accept(np.array([q]))
                    reward = REWARDS["ask_suc"]
                else:
                    self.rejected[q] = True
                    reward = REWARDS["ask_fail"]
            else:
                members = np.flatnonzero(self.graph.attribute_category == q)
                self.asked_categories[q] = True
                hit = members[self._ia[self.target, members]]
                if hit.size:
                    self._accept(hit)
                    self.rejected[members[~self._ia[self.target, members]]] = True
                    reward = REWARDS["ask_suc"]
                else:
                    self.rejected[members] = True
                    reward = REWARDS["ask_fail"]
        else:
            first = int(self.action_ids[a])
            rest = [v for v in self.item_order if v != first][: self.rec_size - 1]
            rec = [first, *rest]
            if self.target in rec:
                rank, terminated, reward = rec.index(self.target) + 1, True, REWARDS["rec_suc"]
            else:
                self.candidates[rec] = False
                reward = REWARDS["rec_fail"]
        if not terminated and self.turn >= self.max_turn:
            terminated = True
            reward += REWARDS["until_T"]
        if not terminated:
            self._rerank()
        info: dict[str, Any] = {"turn": self.turn}
        if terminated:
            info.update(success=rank > 0, rank=rank, hdcg=hdcg(self.turn, rank, self.max_turn) if rank else 0.0)
            self.action_mask = np.zeros(self.k_p + self.k_v, dtype=np.int8)
            self.action_space.legal = None
        return self._obs(), float(reward), terminated, False, info

    # ------------------------------------------------------------------------------------------------ ranking
    def item_preference(self) -> np.ndarray:
        """``w_v`` for every item (the code's preference score; see the class docstring)."""
        pref = self.e_item @ self.e_user[self.user]
        acc = np.flatnonzero(self.accepted)
        if acc.size:
            pref = pref + self.e_item @ self.e_attr[acc].sum(axis=0)
        rej = np.flatnonzero(self.rejected)
        if rej.size:
            pref = pref - (_sigmoid(self.e_item @ self.e_attr[rej].T) * self._ia_f[:, rej]).sum(axis=1)
        return pref

    def attribute_entropy(self, pref: np.ndarray | None = None) -> np.ndarray:
        """Weighted entropy of each attribute over the candidate items (weights ``sigmoid(w_v)``)."""
        pref = self.item_preference() if pref is None else pref
        w = _sigmoid(pref) * self.candidates
        share = np.clip((w @ self._ia_f) / max(w.sum(), 1e-12), 1e-12, 1 - 1e-12)
        return -(share * np.log2(share) + (1 - share) * np.log2(1 - share))

    def _rerank(self) -> None:
        pref = self.item_preference()
        self.pref = pref
        cand = np.flatnonzero(self.candidates)
        self.item_order = cand[np.argsort(-pref[cand], kind="stable")]
        # An attribute is askable if some candidate item has it and it has not been asked.
        present = self._ia[cand].any(axis=0) & ~self.accepted & ~self.rejected
        if self.attribute_ranking == "entropy":
            score = self.attribute_entropy(pref)
        else:
            score = self.e_attr @ self.e_user[self.user] + self.e_attr @ self.e_item[cand].mean(axis=0)
        if self.mode == "binary":
            qs = np.flatnonzero(present)
            q_order = qs[np.argsort(-score[qs], kind="stable")]
        else:
            cat = self.graph.attribute_category
            n_c = self.graph.n_categories
            cat_score = np.bincount(cat, weights=np.where(present, score, 0.0), minlength=n_c)
            askable = (np.bincount(cat, weights=present, minlength=n_c) > 0) & ~self.asked_categories[:n_c]
            qs = np.flatnonzero(askable)
            q_order = qs[np.argsort(-cat_score[qs], kind="stable")]
        ids = np.full(self.k_p + self.k_v, -1, dtype=np.int64)
        q, v = q_order[: self.k_p], self.item_order[: self.k_v]
        ids[: q.size] = q
        ids[self.k_p: self.k_p + v.size] = v
        self.action_ids = ids
        self.action_mask = (ids >= 0).astype(np.int8)
        self.action_space.legal = self.action_mask.astype(bool)

    # ---------------------------------------------------------------------------------------------- observation
    def _obs(self) -> dict[str, np.ndarray]:
        g = self.graph
        slot_attrs = np.zeros(g.n_attributes, dtype=bool)
        if self.mode == "binary":
            q = self.action_ids[: self.k_p]
            slot_attrs[q[q >= 0]] = bool(self.action_mask.any())
        active_attr = self.accepted | slot_attrs
        node_mask = np.concatenate([[True], self.candidates, active_attr])
        iv, ip = self._ia_edges
        w_ui = np.where(self.candidates, _sigmoid(self.pref), 0.0)
        w_up = active_attr & self.accepted
        w_ia = self.candidates[iv] & active_attr[ip] & ~self.rejected[ip]
        edge_weight = np.concatenate([w_ui, w_up, w_ia]).astype(np.float32)
        return {
            "user": np.array([self.user], dtype=np.int64),
            "turn": np.array([self.turn], dtype=np.int64),
            "candidate_items": self.candidates.astype(np.int8),
            "accepted": self.accepted.astype(np.int8),
            "rejected": self.rejected.astype(np.int8),
            "action_ids": self.action_ids.copy(),
            "action_mask": self.action_mask.copy(),
            "node_mask": node_mask.astype(np.int8),
            "edge_weight": edge_weight,
        }

    def render(self) -> np.ndarray | None:
        """``render_mode="rgb_array"``: a 64 x 256 RGB strip (numpy only). Rows 0-15: candidate items (white = still a
        candidate, items binned over the width); rows 16-31: attributes (green accepted, red rejected); rows 32-47:
        the action slots (blue = valid); rows 48-63: the turn as a grey bar filling the width at turn 15."""
        if self.render_mode != "rgb_array" or self.user < 0:
            return None
        w = 256
        img = np.zeros((64, w, 3), dtype=np.uint8)

        def bins(values: np.ndarray) -> np.ndarray:
            idx = (np.arange(w) * len(values)) // w
            return values[idx]

        img[0:16] = (bins(self.candidates.astype(float)) * 255).astype(np.uint8)[None, :, None]
        img[16:32, :, 1] = (bins(self.accepted.astype(float)) * 255).astype(np.uint8)[None, :]
        img[16:32, :, 0] = (bins(self.rejected.astype(float)) * 255).astype(np.uint8)[None, :]
        img[32:48, :, 2] = (bins(self.action_mask.astype(float)) * 255).astype(np.uint8)[None, :]
        img[48:64, : int(w * self.turn / self.max_turn)] = 128
        return img

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the valid actions (the method sb3-contrib's MaskablePPO looks for)."""
        return self.action_mask.astype(bool)


def graph_arrays(obs: dict[str, np.ndarray], edge_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The observation's active graph as arrays: global node ids, ``(2, E)`` edges in global ids, edge weights."""
    keep = obs["edge_weight"] > 0
    return np.flatnonzero(obs["node_mask"]), edge_index[:, keep], obs["edge_weight"][keep]


def to_pyg_data(obs: dict[str, np.ndarray], edge_index: np.ndarray):
    """A ``torch_geometric.data.Data`` of the observation's graph.

    ``x`` holds the global node ids of the active nodes (so a model can look up its embeddings), ``edge_index``
    the active edges in local numbering, both directions (GCNs use undirected graphs), ``edge_weight`` their weights.
    """
    try:
        import torch
        from torch_geometric.data import Data
    except ImportError as e:
        raise ImportError("to_pyg_data needs torch and torch-geometric: pip install 'orl-envs[crs]'") from e

    nodes, edges, w = graph_arrays(obs, edge_index)
    local = np.full(len(obs["node_mask"]), -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    e = local[edges]
    if (e < 0).any():
        raise ValueError("an active edge touches an inactive node; the observation is inconsistent")
    both = np.concatenate([e, e[::-1]], axis=1)
    return Data(x=torch.from_numpy(nodes), edge_index=torch.from_numpy(both),
                edge_weight=torch.from_numpy(np.concatenate([w, w])), num_nodes=int(nodes.size))


class FlattenedCRS(gym.ObservationWrapper):
    """The environment with its dict observation flattened to one float vector (``gymnasium.spaces.flatten``), for
    libraries that take Box observations, and ``action_masks()`` forwarded, the method sb3-contrib's MaskablePPO
    calls (Gymnasium 1.x wrappers no longer forward unknown attributes). The environment itself is unchanged.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.observation_space = spaces.flatten_space(env.observation_space)

    def observation(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        return spaces.flatten(self.env.observation_space, observation).astype(self.observation_space.dtype)

    def action_masks(self) -> np.ndarray:
        return self.env.unwrapped.action_masks()
