"""UNICORN: Deng, Li, Sun, Ding, Lam, "Unified Conversational Recommendation Policy Learning via Graph-based
Reinforcement Learning", SIGIR 2021 (arXiv 2105.09710), and a flat DQN without the graph, on ``orl/CRS-*``.

One policy decides both whether to ask or recommend and what: the state is the conversation's dynamic weighted
graph (user, candidate items, accepted and candidate attributes), encoded by a graph convolution and a
transformer over the accepted attributes; a dueling double DQN with prioritised replay scores the candidate
actions (the environment's top-K attributes or categories and top-K items, ranked by weighted entropy and by
preference; see :class:`orl_envs.crs.ConversationalRecEnv`).

As in the authors' code (``dengyang17/unicorn``, ``RL/RL_model.py``, ``gcn.py``):

* node features: one embedding table over users, items, attributes (and categories, enumerated mode),
  initialised from the environment's ranking embeddings and fine-tuned (the code starts from its TransE vectors);
* one GCN layer (64 -> 100, ``torch_geometric.nn.GCNConv`` with the edge weights) over the observation's graph
  (user-item edges weighted ``sigmoid(w_v)``, user-accepted-attribute and item-attribute edges weight 1);
* the GCN outputs of the user and the accepted attributes, in order, through one ``TransformerEncoder`` layer
  (d = 100, 4 heads, feed-forward 400), mean-pooled: the state vector;
* dueling head: ``V(s)`` from the state, ``A(s, a)`` from the state concatenated with the action's embedding
  (the same table), ``Q = V + A - mean A``; double DQN targets, soft target updates ``tau = 0.01`` per
  optimisation step, Adam (lr 1e-4, L2 1e-6), batch 128, ``gamma = 0.999``, prioritised replay (proportional,
  ``alpha = 0.6``), epsilon-greedy with the code's schedule;
* at test time, recommend directly when at most 10 candidates remain or at the last turn.

Choices and deviations (ours; also in ``docs/crs.md``):

* **graph size**: the GCN sees the user, the accepted attributes, the attributes in the action slots and the
  ``max_graph_items`` best-ranked candidate items (default 50) rather than every candidate (thousands on the
  generated graphs): a CPU reduction; the user node's neighbourhood is the top of the ranking;
* the code subtracts ``mean A`` only when choosing an action (not for the trained ``Q(s, a)``); here ``Q`` is
  the same dueling combination (mean over the legal slots) in both places;
* the code's sequence is its ``cur_node`` list (user + accepted attributes); an empty list cannot occur here
  because the opening attribute is always accepted;
* importance-sampling weights ``(N p_i)^-beta`` with ``beta`` annealed from 0.4 to 1 over the run (the usual
  prioritised-replay setting; the code's value is not in our notes);
* enumerated mode (Yelp): a category's action embedding is its own row, initialised with the mean of its
  attributes' vectors;
* budgets are reduced for the CPU (training dialogues, and in the runs of ``docs/crs.md`` batch size, learning
  rate and graph items); every run states its own.

:class:`FlatDQN` is the baseline without the graph: the same dueling double DQN and action embeddings, the state
an MLP of a flat vector (turn one-hot, accepted and rejected attribute indicators, the log of the number of
candidates, the user one-hot), a state like EAR's (Lei et al., WSDM 2020) rather than the environment's
n_items-sized candidate vector and graph arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from orl.algos.base import soft_update
from orl_envs.crs import ConversationalRecEnv, graph_arrays


@dataclass
class UnicornConfig:
    """UNICORN / flat-DQN hyperparameters (the code's values unless a docstring line says otherwise).

    ``policy``: ``"unicorn"`` (graph + transformer) or ``"flat"`` (MLP on a flat state; :class:`FlatDQN`).
    ``max_graph_items``: candidate items in the GCN's graph (CPU reduction, see the module docstring).
    ``update_every``: environment steps per optimisation step (the code: 1).
    ``warmup``: transitions stored before the first optimisation step (at least ``batch_size``).
    ``eval_dialogues``: held-out dialogues of each periodic evaluation; ``test_dialogues``: of the final one.
    """

    policy: str = "unicorn"
    embed_dim: int = 64
    hidden: int = 100
    heads: int = 4
    ff_dim: int = 400
    max_graph_items: int = 50
    lr: float = 1e-4
    weight_decay: float = 1e-6
    batch_size: int = 128
    gamma: float = 0.999
    tau: float = 0.01
    buffer_size: int = 50000
    per_alpha: float = 0.6
    per_beta: float = 0.4
    per_eps: float = 1e-6
    eps_start: float = 0.9
    eps_end: float = 0.1
    eps_decay: float = 1e-4
    update_every: int = 1
    warmup: int = 128
    eval_dialogues: int = 200
    test_dialogues: int = 1000

    def __post_init__(self) -> None:
        if self.policy not in ("unicorn", "flat"):
            raise ValueError(f"policy must be 'unicorn' or 'flat', got {self.policy!r}")
        for name in ("embed_dim", "hidden", "heads", "ff_dim", "max_graph_items", "batch_size", "buffer_size",
                     "update_every", "eval_dialogues", "test_dialogues"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        for name in ("gamma", "tau", "per_alpha", "per_beta"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.eps_end <= self.eps_start <= 1:
            raise ValueError(f"need 0 <= eps_end <= eps_start <= 1, got {self.eps_end}, {self.eps_start}")
        if self.eps_decay <= 0:
            raise ValueError(f"eps_decay must be > 0, got {self.eps_decay}")
        if self.warmup < self.batch_size:
            raise ValueError(f"warmup ({self.warmup}) must be >= batch_size ({self.batch_size})")

    def epsilon(self, steps_done: int) -> float:
        """The code's schedule ``end + (start - end) exp(-steps / decay)``: with ``decay = 1e-4`` it is ``end``
        from the first step on (the code's setting; we keep it)."""
        return self.eps_end + (self.eps_start - self.eps_end) * math.exp(-steps_done / self.eps_decay)


# ------------------------------------------------------------------------------------------------ states
class StateBuilder:
    """Compact, picklable states from the environment's observations (what the replay buffer stores).

    Embedding rows: users ``[0, n_u)``, items ``n_u + v``, attributes ``n_u + n_v + p``, categories
    ``n_u + n_v + n_p + c``. The environment's node ``0`` is the dialogue's user, node ``1 + v`` item ``v``,
    node ``1 + n_v + p`` attribute ``p``.
    """

    def __init__(self, env: ConversationalRecEnv, config: UnicornConfig) -> None:
        g = env.graph
        self.n_u, self.n_v, self.n_p, self.n_c = g.n_users, g.n_items, g.n_attributes, g.n_categories
        self.k_p, self.k_v = env.k_p, env.k_v
        self.edge_index = env.edge_index
        self.mode, self.max_turn, self.rec_size = env.mode, env.max_turn, env.rec_size
        self.max_items = config.max_graph_items
        self.flat = config.policy == "flat"
        self.n_rows = self.n_u + self.n_v + self.n_p + self.n_c
        self.flat_dim = (self.max_turn + 1) + 2 * self.n_p + 1 + self.n_u

    def action_rows(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        ids, mask = obs["action_ids"], obs["action_mask"].astype(bool)
        q_base = self.n_u + self.n_v + (self.n_p if self.mode == "enumerated" else 0)
        rows = np.concatenate([q_base + ids[: self.k_p], self.n_u + ids[self.k_p:]])
        return np.where(mask, rows, 0).astype(np.int64), mask

    def graph(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The observation's weighted graph (:func:`orl_envs.crs.graph_arrays`) cut to the user, the accepted
        attributes, the slot attributes and the ``max_graph_items`` best-ranked candidates (user-item weight
        ``sigmoid(w_v)`` orders the items), in local numbering, both edge directions."""
        nodes, edges, w = graph_arrays(obs, self.edge_index)
        n_v = self.n_v
        items = nodes[(nodes >= 1) & (nodes <= n_v)]
        if items.size > self.max_items:
            pref = obs["edge_weight"][items - 1]  # user-item edges come first in edge_index, one per item
            items = items[np.argsort(-pref, kind="stable")[: self.max_items]]
        attrs = nodes[nodes > n_v]
        keep = np.concatenate([[0], np.sort(items), attrs])
        local = np.full(1 + n_v + self.n_p, -1, dtype=np.int64)
        local[keep] = np.arange(keep.size)
        e = local[edges]
        ok = (e >= 0).all(axis=0)
        e, w = e[:, ok], w[ok]
        rows = np.where(keep == 0, int(obs["user"][0]), self.n_u + keep - 1)
        acc = np.flatnonzero(obs["accepted"])
        seq = np.concatenate([[0], local[1 + n_v + acc]])
        return {"x": rows.astype(np.int64), "edge_index": np.concatenate([e, e[::-1]], axis=1),
                "edge_weight": np.concatenate([w, w]).astype(np.float32), "seq": seq.astype(np.int64)}

    def flat_state(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        x = np.zeros(self.flat_dim, dtype=np.float32)
        x[min(int(obs["turn"][0]), self.max_turn)] = 1.0
        o = self.max_turn + 1
        x[o: o + self.n_p] = obs["accepted"]
        x[o + self.n_p: o + 2 * self.n_p] = obs["rejected"]
        x[o + 2 * self.n_p] = np.log1p(obs["candidate_items"].sum()) / np.log1p(self.n_v)
        x[o + 2 * self.n_p + 1 + int(obs["user"][0])] = 1.0
        return x

    def __call__(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, mask = self.action_rows(obs)
        state = {"actions": rows, "mask": mask}
        if self.flat:
            state["flat"] = self.flat_state(obs)
        else:
            state.update(self.graph(obs))
        return state


# ------------------------------------------------------------------------------------------------ networks
class DuelingHead(nn.Module):
    """The code's dueling DQN head: ``V(s)`` from the state, ``A(s, a)`` from [state, action embedding]."""

    def __init__(self, state_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(state_dim, hidden)
        self.value = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.advantage = nn.Sequential(nn.Linear(hidden + action_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, state: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``state (B, S)``, ``actions (B, A, D)``, ``mask (B, A)`` -> ``Q (B, A)`` (masked slots ``-inf``)."""
        h = torch.relu(self.fc1(state))
        v = self.value(h)
        a = self.advantage(torch.cat([h[:, None].expand(-1, actions.shape[1], -1), actions], -1)).squeeze(-1)
        m = mask.float()
        mean_a = (a * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1.0)
        return (v + a - mean_a).masked_fill(~mask, float("-inf"))


class UnicornNet(nn.Module):
    """Embedding table -> GCN layer -> transformer over [user, accepted attributes] -> mean pool -> dueling head."""

    def __init__(self, n_rows: int, config: UnicornConfig, init: np.ndarray | None = None) -> None:
        super().__init__()
        try:
            from torch_geometric.nn import GCNConv
        except ImportError as e:
            raise ImportError("UNICORN needs torch-geometric (pip install torch-geometric)") from e
        self.embedding = nn.Embedding(n_rows, config.embed_dim)
        if init is not None:
            with torch.no_grad():
                self.embedding.weight.copy_(torch.as_tensor(init, dtype=torch.float32))
        self.gcn = GCNConv(config.embed_dim, config.hidden)
        layer = nn.TransformerEncoderLayer(config.hidden, config.heads, config.ff_dim, dropout=0.0, batch_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.head = DuelingHead(config.hidden, config.embed_dim, config.hidden)

    def state(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.gcn(self.embedding(batch["x"]), batch["edge_index"], batch["edge_weight"])
        seq = h[batch["seq"]] * batch["seq_mask"][..., None]  # (B, L, H), padding rows zeroed
        seq = self.transformer(seq, src_key_padding_mask=~batch["seq_mask"])
        m = batch["seq_mask"].float()[..., None]
        return (seq * m).sum(1) / m.sum(1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.state(batch), self.embedding(batch["actions"]), batch["mask"])


class FlatDQN(nn.Module):
    """The flat baseline: the same dueling head and action embeddings, the state an MLP of the flat vector."""

    def __init__(self, n_rows: int, flat_dim: int, config: UnicornConfig, init: np.ndarray | None = None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(n_rows, config.embed_dim)
        if init is not None:
            with torch.no_grad():
                self.embedding.weight.copy_(torch.as_tensor(init, dtype=torch.float32))
        self.encoder = nn.Sequential(nn.Linear(flat_dim, config.hidden), nn.ReLU())
        self.head = DuelingHead(config.hidden, config.embed_dim, config.hidden)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.encoder(batch["flat"]), self.embedding(batch["actions"]), batch["mask"])


def collate(states: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack states into one batch: disjoint union of the graphs, padded accepted-attribute sequences."""
    out = {"actions": torch.as_tensor(np.stack([s["actions"] for s in states])),
           "mask": torch.as_tensor(np.stack([s["mask"] for s in states]))}
    if "flat" in states[0]:
        out["flat"] = torch.as_tensor(np.stack([s["flat"] for s in states]))
        return out
    sizes = np.array([s["x"].size for s in states])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    out["x"] = torch.as_tensor(np.concatenate([s["x"] for s in states]))
    out["edge_index"] = torch.as_tensor(np.concatenate([s["edge_index"] + o for s, o in zip(states, offsets)], 1))
    out["edge_weight"] = torch.as_tensor(np.concatenate([s["edge_weight"] for s in states]))
    lengths = [s["seq"].size for s in states]
    seq = np.zeros((len(states), max(lengths)), dtype=np.int64)
    seq_mask = np.zeros(seq.shape, dtype=bool)
    for i, (s, o) in enumerate(zip(states, offsets)):
        seq[i, : s["seq"].size] = s["seq"] + o
        seq_mask[i, : s["seq"].size] = True
    out["seq"], out["seq_mask"] = torch.as_tensor(seq), torch.as_tensor(seq_mask)
    return out


# ------------------------------------------------------------------------------------------------ replay
class PrioritizedReplay:
    """Proportional prioritised replay (Schaul et al., ICLR 2016) over arbitrary (picklable) states.

    orl's :class:`orl.data.buffer.ReplayBuffer` holds fixed-shape arrays without priorities; UNICORN's states
    are graphs of varying size, hence this small store. Sampling draws ``p_i^alpha / sum p^alpha`` with numpy
    (O(capacity) per batch: fine at the capacities used here); new transitions get the current maximum priority.
    """

    def __init__(self, capacity: int, alpha: float, eps: float = 1e-6) -> None:
        self.capacity, self.alpha, self.eps = capacity, alpha, eps
        self.data: list[tuple[Any, ...]] = []
        self.priority = np.zeros(capacity, dtype=np.float64)
        self.pos = 0

    def __len__(self) -> int:
        return len(self.data)

    def add(self, transition: tuple[Any, ...]) -> None:
        p = self.priority[: len(self.data)].max() if self.data else 1.0
        if len(self.data) < self.capacity:
            self.data.append(transition)
        else:
            self.data[self.pos] = transition
        self.priority[self.pos] = p
        self.pos = (self.pos + 1) % self.capacity

    def sample(self, n: int, beta: float, rng: np.random.Generator) -> tuple[np.ndarray, list, np.ndarray]:
        p = self.priority[: len(self.data)] ** self.alpha
        p /= p.sum()
        idx = rng.choice(len(self.data), size=n, p=p)
        w = (len(self.data) * p[idx]) ** -beta
        return idx, [self.data[i] for i in idx], (w / w.max()).astype(np.float32)

    def update(self, idx: np.ndarray, td_error: np.ndarray) -> None:
        self.priority[idx] = np.abs(td_error) + self.eps

    def state_dict(self) -> dict[str, Any]:
        return {"data": self.data, "priority": self.priority[: len(self.data)].copy(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.data = list(state["data"])
        self.priority[:] = 0.0
        self.priority[: len(self.data)] = state["priority"]
        self.pos = int(state["pos"])


# ------------------------------------------------------------------------------------------------ agent
def initial_embeddings(env: ConversationalRecEnv, dim: int) -> np.ndarray:
    """The embedding table's start: the environment's ranking vectors (users, items, attributes) and, in the
    enumerated mode, each category's mean attribute vector; padded/cut to ``dim`` columns."""
    g = env.graph
    parts = [env.e_user, env.e_item, env.e_attr]
    if g.n_categories:
        parts.append(np.stack([env.e_attr[g.attribute_category == c].mean(0) if (g.attribute_category == c).any()
                               else np.zeros(env.e_attr.shape[1], np.float32) for c in range(g.n_categories)]))
    table = np.concatenate(parts).astype(np.float32)
    out = np.zeros((table.shape[0], dim), dtype=np.float32)
    k = min(dim, table.shape[1])
    out[:, :k] = table[:, :k]
    return out


class UnicornAgent:
    """The online and target networks, the optimiser, the replay and the update of dueling double DQN."""

    def __init__(self, env: ConversationalRecEnv, config: UnicornConfig, seed: int = 0) -> None:
        self.config = config
        self.states = StateBuilder(env, config)
        torch.manual_seed(seed)
        init = initial_embeddings(env, config.embed_dim)
        if config.policy == "unicorn":
            make = lambda: UnicornNet(self.states.n_rows, config, init)  # noqa: E731
        else:
            make = lambda: FlatDQN(self.states.n_rows, self.states.flat_dim, config, init)  # noqa: E731
        self.net, self.target = make(), make()
        self.target.load_state_dict(self.net.state_dict())
        self.target.requires_grad_(False)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.replay = PrioritizedReplay(config.buffer_size, config.per_alpha, config.per_eps)
        self.updates = 0

    @torch.no_grad()
    def q_values(self, state: dict[str, np.ndarray]) -> np.ndarray:
        return self.net(collate([state]))[0].numpy()

    def act(self, state: dict[str, np.ndarray], epsilon: float, rng: np.random.Generator) -> int:
        legal = np.flatnonzero(state["mask"])
        if rng.random() < epsilon:
            return int(rng.choice(legal))
        return int(np.argmax(self.q_values(state)))

    def update(self, beta: float, rng: np.random.Generator) -> float:
        c = self.config
        idx, batch, weights = self.replay.sample(c.batch_size, beta, rng)
        s, a, r, s2, done = zip(*batch)
        a_t = torch.as_tensor(np.array(a))
        r_t = torch.as_tensor(np.array(r, dtype=np.float32))
        q = self.net(collate(list(s))).gather(1, a_t[:, None]).squeeze(1)
        with torch.no_grad():
            target = r_t.clone()
            live = np.flatnonzero(~np.array(done))
            if live.size:
                nxt = collate([s2[i] for i in live])
                best = self.net(nxt).argmax(1, keepdim=True)  # double DQN: the online net chooses ...
                q_next = self.target(nxt).gather(1, best).squeeze(1)  # ... the target net evaluates
                target[torch.as_tensor(live)] += c.gamma * q_next
        td = q - target
        loss = (torch.as_tensor(weights) * td.pow(2)).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.replay.update(idx, td.detach().numpy())
        soft_update(self.target, self.net, c.tau)
        self.updates += 1
        return float(loss.detach())

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "target": self.target.state_dict(), "opt": self.opt.state_dict(),
                "replay": self.replay.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.target.load_state_dict(state["target"])
        self.opt.load_state_dict(state["opt"])
        self.replay.load_state_dict(state["replay"])
        self.updates = int(state["updates"])


def recommend_rule(obs: dict[str, np.ndarray], env: ConversationalRecEnv) -> bool:
    """The code's test-time rule: recommend (the top-ranked list) when at most ``rec_size`` candidates remain or
    the next turn is the last."""
    return bool(obs["candidate_items"].sum() <= env.rec_size or obs["turn"][0] + 1 >= env.max_turn)


def agent_policy(agent: UnicornAgent, test_rule: bool = True):
    """A greedy :data:`orl_envs.crs.baselines.Policy` of the agent, with the code's test-time rule."""

    def policy(obs: dict[str, np.ndarray], env: ConversationalRecEnv) -> int:
        if test_rule and recommend_rule(obs, env) and obs["action_mask"][env.k_p]:
            return env.k_p
        return int(np.argmax(agent.q_values(agent.states(obs))))

    return policy
