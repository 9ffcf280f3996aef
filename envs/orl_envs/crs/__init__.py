"""Multi-round conversational recommendation on user-item-attribute graphs (UNICORN, Deng et al., SIGIR 2021,
arXiv 2105.09710; simulator from SCPR, Lei et al., KDD 2020).

* :mod:`.graph`: :class:`CRSGraph` and the LastFM-like / Yelp-like generator :func:`generate_graph`;
* :mod:`.env`: the Gymnasium environment, the metrics (:func:`hdcg`, :func:`summarize`) and the graph helpers
  (:func:`graph_arrays`, :func:`to_pyg_data`, which needs torch-geometric);
* :mod:`.transe`: :func:`train_transe`, TransE embeddings trained in-house (numpy);
* :mod:`.io`: :func:`load_scpr`, the SCPR/UNICORN file layout (the real LastFM / Yelp files, if you have them);
* :mod:`.baselines`: the Max Entropy and Absolute Greedy rules and :func:`evaluate`.
"""

from __future__ import annotations

import gymnasium as gym

from .baselines import absolute_greedy_policy, evaluate, max_entropy_policy
from .env import MAX_TURN, REWARDS, ConversationalRecEnv, FlattenedCRS, graph_arrays, hdcg, summarize, to_pyg_data
from .graph import PRESETS, CRSGraph, generate_graph
from .io import load_scpr
from .transe import train_transe

#: Gymnasium id -> (entry point, kwargs): LastFM-like graphs in binary mode (LastFM, 33 attributes), Yelp-like
#: graphs in enumerated mode (29 categories, as SCPR's Yelp) and in binary mode (as Yelp*).
CRS_IDS: dict[str, tuple[str, dict]] = {
    # Training dialogues by default; pass split="test" to gym.make for the held-out evaluation pairs.
    "orl/CRS-LastFM-v0": ("orl_envs.crs.env:ConversationalRecEnv", dict(kind="lastfm", mode="binary")),
    "orl/CRS-Yelp-v0": ("orl_envs.crs.env:ConversationalRecEnv", dict(kind="yelp", mode="enumerated")),
    "orl/CRS-YelpStar-v0": ("orl_envs.crs.env:ConversationalRecEnv", dict(kind="yelp", mode="binary")),
}


def register() -> None:
    """Register the conversational recommendation ids (idempotent)."""
    for env_id, (entry_point, kwargs) in CRS_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)


__all__ = [
    "CRSGraph",
    "CRS_IDS",
    "ConversationalRecEnv",
    "FlattenedCRS",
    "MAX_TURN",
    "PRESETS",
    "REWARDS",
    "absolute_greedy_policy",
    "evaluate",
    "generate_graph",
    "graph_arrays",
    "hdcg",
    "load_scpr",
    "max_entropy_policy",
    "register",
    "summarize",
    "to_pyg_data",
    "train_transe",
]
