"""BQ-NCO: the bisimulation-quotiented policy for routing problems (Drakulic et al., NeurIPS 2023).

The BQ-MDP's state is the remaining sub-problem (see :mod:`orl_envs.routing.core`), so the
policy is a function of that sub-problem alone: an encoder-only transformer re-applied to the
whole remaining instance at every step — no autoregressive decoder, no memory of the partial
solution — followed by a linear head giving one score per remaining node (two for the CVRP:
go directly / go via the depot). It is trained by imitation (cross-entropy on the expert's next
action) of near-optimal solutions, on random *suffixes* of the expert solutions: the state
after following the expert for ``k`` steps, with ``k`` drawn per minibatch — the paper's free
data augmentation (every sub-path of an optimal solution is optimal for its sub-problem).

Tokens, as in the official code (``naver/bq-nco``; nothing copied):

* TSP: ``[origin, remaining nodes..., destination]`` with features (x, y); learned origin and
  destination embeddings are added to the first and last tokens.
* CVRP: the same with features (x, y, demand / capacity, remaining capacity / capacity), the
  last one repeated on every token as in the official code; the destination is the depot.
* OP: (x, y, prize, remaining length budget on every token); choosing the destination (the
  depot) ends the tour.
* KP: one token per remaining item, (weight, value, remaining capacity); no origin/destination.

Since every step removes one node, all unfinished instances of a batch have the same number of
remaining nodes, so tokens are gathered densely (no padding): the cost per solution is the
paper's O(N^3).

Paper model: 9 layers, 12 heads, dim 192, FF 512, trained on 1M solved instances of size 100 on
GPUs. orl's default (:class:`BQConfig`) is smaller so that it trains on a CPU; the experts are
elkai's LKH-3 (TSP; the paper used Concorde) and PyVRP's HGS (CVRP; the paper used LKH-3).
ATSP (BQ-NCO's separate MatNet-style encoder on the cost matrix, absent from its public code)
is not implemented.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from orl.nets.attention import SetEncoder

#: Per-token input features by problem.
FEATURES = {"tsp": 2, "cvrp": 4, "op": 4, "kp": 3}
MAXIMISE = {"tsp": False, "cvrp": False, "op": True, "kp": True}


@dataclass
class BQConfig:
    """BQ policy and imitation hyperparameters (paper values in the comments)."""

    dim: int = 128  # paper 192
    layers: int = 4  # paper 9
    heads: int = 8  # paper 12
    ff_dim: int = 512  # paper 512
    lr: float = 2.5e-4  # official code's default (paper: 7.5e-4 with batch 1024)
    lr_decay: float = 0.99  # multiplied every `decay_epochs` passes over the training instances
    decay_epochs: int = 50  # official code: 0.99 every 50 epochs
    batch_size: int = 256  # official code 512
    grad_clip: float = 1.0
    train_instances: int = 10000  # paper 1M
    expert: str = "auto"  # solver method (orl_envs.routing.solvers.METHODS), "auto" = the problem's reference
    expert_time_limit: float | None = None  # seconds per instance for the expert (None = solver default)
    val_instances: int = 200
    test_instances: int = 1000
    beam_size: int = 0  # 0: greedy only at test time; >1 also reports beam search


def _gather(a: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return np.take_along_axis(a, ids.reshape(ids.shape + (1,) * (a.ndim - 2)), axis=1)


def _remaining_ids(alive: np.ndarray) -> np.ndarray:
    """Indices of the True entries per row, all rows having the same count (B, r)."""
    counts = alive.sum(axis=1)
    if counts.size and not np.all(counts == counts[0]):
        raise ValueError(f"rows of a batch must have the same number of remaining nodes, got {np.unique(counts)}")
    return np.argsort(~alive, axis=1, kind="stable")[:, : int(counts[0]) if counts.size else 0]


class BQPolicy(nn.Module):
    """Scores the environment's actions from a (batched) observation of :mod:`orl_envs.routing.core`."""

    def __init__(self, problem: str, config: BQConfig | None = None) -> None:
        super().__init__()
        if problem not in FEATURES:
            raise ValueError(
                f"BQ policy: unknown problem {problem!r}; implemented: {', '.join(FEATURES)} (ATSP is not implemented)"
            )
        c = config or BQConfig()
        self.problem, self.config = problem, c
        self.embed = nn.Linear(FEATURES[problem], c.dim)
        self.origin = nn.Parameter(torch.randn(c.dim) / c.dim**0.5)
        self.destination = nn.Parameter(torch.randn(c.dim) / c.dim**0.5)
        self.encoder = SetEncoder(c.dim, c.layers, c.heads, c.ff_dim)
        self.head = nn.Linear(c.dim, 2 if problem == "cvrp" else 1)

    # ------------------------------------------------------------------ tokens
    def tokens(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(features (B, m, F), ids (B, r)): the sub-problem's tokens and the node id of each
        remaining-node token (tokens 1..r for routing problems, 0..r-1 for KP)."""
        p = self.problem
        rows = np.arange(len(obs["action_mask"]))[:, None]
        if p == "kp":
            ids = _remaining_ids(obs["remaining"].astype(bool))
            w, v = _gather(obs["weights"], ids), _gather(obs["item_values"], ids)
            cap = np.broadcast_to(obs["remaining_capacity"], w.shape)
            return np.stack([w, v, cap], axis=-1).astype(np.float32), ids
        coords = obs["coords"]
        origin, dest = obs["origin"][:, None], obs["destination"][:, None]
        if p == "tsp":
            ids = _remaining_ids(obs["unvisited"].astype(bool))
            feats = coords[rows, np.concatenate([origin, ids, dest], axis=1)]
            return feats.astype(np.float32), ids
        # CVRP / OP: node 0 (the depot) is the destination, customers/nodes 1..n can remain.
        alive = obs["unvisited"].astype(bool).copy()
        alive[:, 0] = False
        ids = _remaining_ids(alive)
        order = np.concatenate([origin, ids, dest], axis=1)
        xy = coords[rows, order]
        third = (obs["demands"] if p == "cvrp" else obs["prizes"])[rows, order]
        # The remaining capacity / budget is repeated on every token, as the official code does.
        scalar = np.broadcast_to((obs["remaining_capacity"] if p == "cvrp" else obs["remaining_length"]), third.shape)
        return np.concatenate([xy, third[..., None], scalar[..., None]], axis=-1).astype(np.float32), ids

    # ------------------------------------------------------------------ scores
    def forward(self, obs: dict[str, np.ndarray]) -> torch.Tensor:
        """Logits over the environment's actions (B, A); illegal actions get -inf."""
        feats, ids = self.tokens(obs)
        dev = self.embed.weight.device
        h = self.embed(torch.from_numpy(feats).to(dev))
        if self.problem != "kp":
            h = torch.cat([h[:, :1] + self.origin, h[:, 1:-1], h[:, -1:] + self.destination], dim=1)
        h = self.encoder(h, None)
        mask = torch.from_numpy(obs["action_mask"].astype(bool)).to(dev)
        b, a = mask.shape
        logits = torch.full((b, a), float("-inf"), device=dev)
        ids_t = torch.from_numpy(ids).to(dev)
        if self.problem == "kp":
            logits = logits.scatter(1, ids_t, self.head(h).squeeze(-1))
        elif self.problem == "tsp":
            logits = logits.scatter(1, ids_t, self.head(h[:, 1:-1]).squeeze(-1))
        elif self.problem == "cvrp":
            n = a // 2
            s = self.head(h[:, 1:-1])
            logits = logits.scatter(1, torch.cat([ids_t - 1, ids_t - 1 + n], dim=1), torch.cat([s[..., 0], s[..., 1]], 1))
        else:  # op: nodes, then "end" = the destination token's score
            s = self.head(h).squeeze(-1)
            logits = logits.scatter(1, torch.cat([ids_t - 1, torch.full((b, 1), a - 1, device=dev)], dim=1),
                                    torch.cat([s[:, 1:-1], s[:, -1:]], dim=1))
        return logits.masked_fill(~mask, float("-inf"))


# ---------------------------------------------------------------------- imitation


def expert_states(instances: list, actions: np.ndarray, k: int):
    """The BQ-MDP states reached by following each expert solution for ``k`` steps."""
    from orl_envs.routing import make_batch

    batch = make_batch(instances)
    for t in range(k):
        batch.step(actions[:, t])
    return batch


def expert_batch(instances: list, actions: np.ndarray, k: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One imitation minibatch in numpy: the observation after the expert's first ``k`` actions
    and the expert's action ``k`` (plain arrays, so worker processes can build it)."""
    state = expert_states(instances, actions, k)
    if state.done.any():
        raise ValueError(f"some expert solutions end before step {k}")
    return state.observation(), np.ascontiguousarray(actions[:, k])


def imitation_loss(policy: BQPolicy, obs: dict[str, np.ndarray], target: np.ndarray) -> tuple[torch.Tensor, float]:
    """Cross-entropy of the expert's action ``target`` in the states ``obs`` (see :func:`expert_batch`)."""
    logits = policy(obs)
    target_t = torch.from_numpy(target).to(logits.device)
    loss = F.cross_entropy(logits, target_t)
    acc = float((logits.argmax(1) == target_t).float().mean())
    return loss, acc


# ---------------------------------------------------------------------- decoding


@torch.no_grad()
def greedy(policy: BQPolicy, instances: list, chunk: int = 256) -> np.ndarray:
    """Greedy rollouts; returns each instance's objective (tour length, or prize/value)."""
    from orl_envs.routing import make_batch

    out = []
    for s in range(0, len(instances), chunk):
        batch = make_batch(instances[s : s + chunk])
        while not batch.done.all():
            live = ~batch.done
            obs = {k: v[live] for k, v in batch.observation().items()}
            a = np.zeros(batch.batch_size, dtype=np.int64)
            a[live] = policy(obs).argmax(1).cpu().numpy()
            batch.step(a)
        out.append(batch.objective.copy())
    return np.concatenate(out)


def _take_rows(batch, rows: np.ndarray):
    """A copy of a core batch keeping ``rows`` (beams are re-ordered this way)."""
    new = copy.copy(batch)
    b = batch.batch_size
    for key, val in vars(batch).items():
        if isinstance(val, np.ndarray) and val.ndim >= 1 and val.shape[0] == b:
            setattr(new, key, val[rows].copy())
    new.batch_size = len(rows)
    return new


@torch.no_grad()
def beam_search(policy: BQPolicy, instances: list, beam: int, chunk: int = 32) -> np.ndarray:
    """Beam search on the policy's log-probabilities; returns the best objective among the final
    beams of each instance (the official code's choice)."""
    from orl_envs.routing import make_batch

    if beam < 1:
        raise ValueError(f"beam size must be >= 1, got {beam}")
    best = []
    for s in range(0, len(instances), chunk):
        part = instances[s : s + chunk]
        n_inst = len(part)
        batch = _take_rows(make_batch(part), np.repeat(np.arange(n_inst), beam))
        logp = np.full((n_inst, beam), -np.inf)
        logp[:, 0] = 0.0  # one live beam per instance at the start
        while not batch.done.all():
            live = ~batch.done
            a_dim = batch.num_actions
            cand = np.full((n_inst * beam, a_dim), -np.inf)
            obs = {k: v[live] for k, v in batch.observation().items()}
            cand[live] = torch.log_softmax(policy(obs), dim=1).double().cpu().numpy()
            cand += logp.reshape(-1, 1)
            cand[batch.done, 1:] = -np.inf  # a finished beam survives as itself (action 0 is ignored)
            cand[batch.done, 0] = logp.reshape(-1)[batch.done]
            flat = cand.reshape(n_inst, beam * a_dim)
            top = np.argsort(-flat, axis=1, kind="stable")[:, :beam]
            logp = np.take_along_axis(flat, top, axis=1)
            # Fewer than `beam` finite candidates (early steps, few legal actions): fill the
            # empty slots with copies of the best one; their -inf log-probability keeps them out.
            top = np.where(np.isfinite(logp), top, top[:, :1])
            parent, action = top // a_dim, top % a_dim
            rows = (np.arange(n_inst)[:, None] * beam + parent).reshape(-1)
            batch = _take_rows(batch, rows)
            act = action.reshape(-1)
            act[batch.done] = 0  # finished beams ignore their action
            batch.step(act)
        obj = batch.objective.reshape(n_inst, beam)
        obj = np.where(np.isfinite(logp), obj, -np.inf if MAXIMISE[policy.problem] else np.inf)
        best.append(obj.max(1) if MAXIMISE[policy.problem] else obj.min(1))
    return np.concatenate(best)
