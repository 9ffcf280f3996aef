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

Where orl follows the official code rather than the paper's text (each a :class:`BQConfig` flag
whose default is the code's behaviour, except where an A/B found orl's earlier choice no worse):

* CVRP expert solutions are replayed route by route, the fullest route (least capacity left)
  first, as the code's data preparation sorts the sub-tours
  (:func:`orl.data.routing.cvrp_actions_sorted`; always on, there is no flag);
* OP: the return to the depot is masked while a node is still feasible and is never a training
  target (``op_early_end=False``; the code masks the destination token and samples sub-problems
  that end before the last node); ``True`` is orl's earlier rule, trained on the expert's return;
* attention logits are the raw query-key dot products, not divided by sqrt(d_head)
  (``scale_attention=False``, the code's ``scale_dot_att`` default);
* gradient clipping: the code's training loop does not clip; orl keeps clipping the gradient norm
  at 1.0 (``grad_clip=1.0``) because an A/B on CVRP50 at a small budget found clipping better
  on both seeds (``experiments/bq_code_ab.py --change grad_clip``); ``grad_clip=0`` is the
  code's behaviour;
* KP: the state is the instance minus a random subset of the solution's items and the target is
  uniform over the solution items that remain (``kp_targets="soft"``, the code's soft
  cross-entropy); ``"expert"`` is orl's earlier rule, a prefix of the solver's item order and its
  next item as the one target.

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
    grad_clip: float = 1.0  # gradient-norm clipping; the official code has none (0); kept at 1.0 after an A/B (see above)
    scale_attention: bool = False  # divide attention logits by sqrt(d_head); the code does not
    op_early_end: bool = False  # OP: allow the return to the depot while a node is feasible; the code does not
    kp_targets: str = "soft"  # KP: "soft" = uniform over the remaining solution items (code), "expert" = next item
    train_instances: int = 10000  # paper 1M
    expert: str = "auto"  # solver method (orl_envs.routing.solvers.METHODS), "auto" = the problem's reference
    expert_time_limit: float | None = None  # seconds per instance for the expert (None = solver default)
    val_instances: int = 200
    test_instances: int = 1000
    beam_size: int = 0  # 0: greedy only at test time; >1 also reports beam search

    def __post_init__(self) -> None:
        if self.kp_targets not in KP_TARGETS:
            raise ValueError(f"BQConfig: kp_targets must be one of {KP_TARGETS}, got {self.kp_targets!r}")
        if not self.grad_clip >= 0:
            raise ValueError(f"BQConfig: grad_clip must be >= 0 (0 = no clipping), got {self.grad_clip!r}")


KP_TARGETS = ("soft", "expert")

#: Values of the flags for configurations saved before they existed (orl's earlier behaviour), so
#: that an older checkpoint loads with the architecture and rules it was trained with.
LEGACY_CONFIG = {"grad_clip": 1.0, "scale_attention": True, "op_early_end": True, "kp_targets": "expert"}


def config_from_dict(d: dict) -> BQConfig:
    """A :class:`BQConfig` from a saved dict; flags missing from older saves take :data:`LEGACY_CONFIG`."""
    return BQConfig(**{**LEGACY_CONFIG, **d})


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
        self.encoder = SetEncoder(c.dim, c.layers, c.heads, c.ff_dim, scale_attention=c.scale_attention)
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


def expert_states(instances: list, actions: np.ndarray, k: int, op_early_end: bool = False):
    """The BQ-MDP states reached by following each expert solution for ``k`` steps."""
    from orl_envs.routing import make_batch

    batch = make_batch(instances, op_early_end=op_early_end)
    for t in range(k):
        batch.step(actions[:, t])
    return batch


def expert_batch(instances: list, actions: np.ndarray, k: int, op_early_end: bool = False,
                 soft: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One imitation minibatch in numpy: the observation after the expert's first ``k`` actions
    and the target (plain arrays, so worker processes can build it).

    The target is the expert's action ``k`` (B,), or with ``soft=True`` (KP) a (B, A)
    distribution uniform over the expert's actions not yet taken — every remaining item of an
    optimal knapsack is an optimal next item (BQ-NCO's code trains on exactly this target). For
    ``soft`` the caller passes each solution in a random order (:func:`shuffle_solutions`), so
    the state is the instance minus a random subset of the solution, as the code samples it."""
    state = expert_states(instances, actions, k, op_early_end)
    if state.done.any():
        raise ValueError(f"some expert solutions end before step {k}")
    if not soft:
        return state.observation(), np.ascontiguousarray(actions[:, k])
    target = np.zeros((len(actions), state.num_actions), dtype=np.float32)
    rows, cols = np.nonzero(actions[:, k:] >= 0)
    target[rows, actions[:, k:][rows, cols]] = 1.0
    return state.observation(), target / target.sum(axis=1, keepdims=True)


def shuffle_solutions(actions: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row's actions (padded with -1) in a random order, the padding kept at the end: for
    the KP, whose solution is a set, a prefix of the result is a random subset of the solution."""
    keys = rng.random(actions.shape)
    keys[actions < 0] = np.inf
    return np.take_along_axis(actions, np.argsort(keys, axis=1, kind="stable"), axis=1)


def imitation_loss(policy: BQPolicy, obs: dict[str, np.ndarray], target: np.ndarray) -> tuple[torch.Tensor, float]:
    """Cross-entropy of the target in the states ``obs`` (see :func:`expert_batch`): of the
    expert's action (a (B,) int target), or against a (B, A) target distribution; the accuracy
    is the share of states whose highest-scored action is a target action."""
    logits = policy(obs)
    target_t = torch.from_numpy(target).to(logits.device)
    if target_t.ndim == 1:
        loss = F.cross_entropy(logits, target_t)
        acc = float((logits.argmax(1) == target_t).float().mean())
        return loss, acc
    logp = torch.log_softmax(logits, dim=1)
    # Masked actions have log-probability -inf and target 0: leave them out rather than 0 * inf.
    loss = -torch.where(target_t > 0, target_t * logp, torch.zeros_like(logp)).sum(1).mean()
    acc = float((target_t.gather(1, logits.argmax(1, keepdim=True)) > 0).float().mean())
    return loss, acc


# ---------------------------------------------------------------------- decoding


def _pad_actions(parts: list[np.ndarray]) -> np.ndarray:
    width = max(p.shape[1] for p in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=-1) for p in parts])


@torch.no_grad()
def greedy(policy: BQPolicy, instances: list, chunk: int = 256, return_actions: bool = False):
    """Greedy rollouts; returns each instance's objective (tour length, or prize/value), and with
    ``return_actions`` also the environment actions taken, (M, T) padded with -1."""
    from orl_envs.routing import make_batch

    out, acts = [], []
    for s in range(0, len(instances), chunk):
        batch = make_batch(instances[s : s + chunk], op_early_end=policy.config.op_early_end)
        hist = []
        while not batch.done.all():
            live = ~batch.done
            obs = {k: v[live] for k, v in batch.observation().items()}
            a = np.full(batch.batch_size, -1, dtype=np.int64)
            a[live] = policy(obs).argmax(1).cpu().numpy()
            hist.append(a.copy())
            batch.step(np.maximum(a, 0))  # finished instances ignore their action
        out.append(batch.objective.copy())
        acts.append(np.stack(hist, axis=1) if hist else np.full((batch.batch_size, 0), -1, dtype=np.int64))
    objective = np.concatenate(out)
    return (objective, _pad_actions(acts)) if return_actions else objective


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
def beam_search(policy: BQPolicy, instances: list, beam: int, chunk: int = 32, return_actions: bool = False):
    """Beam search on the policy's log-probabilities; returns the best objective among the final
    beams of each instance (the official code's choice), and with ``return_actions`` also that
    beam's environment actions, (M, T) padded with -1."""
    from orl_envs.routing import make_batch

    if beam < 1:
        raise ValueError(f"beam size must be >= 1, got {beam}")
    best, best_acts = [], []
    for s in range(0, len(instances), chunk):
        part = instances[s : s + chunk]
        n_inst = len(part)
        batch = _take_rows(make_batch(part, op_early_end=policy.config.op_early_end), np.repeat(np.arange(n_inst), beam))
        hist = np.full((n_inst * beam, 0), -1, dtype=np.int64)
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
            hist = np.concatenate([hist[rows], np.where(batch.done, -1, act)[:, None]], axis=1)
            batch.step(act)
        obj = batch.objective.reshape(n_inst, beam)
        obj = np.where(np.isfinite(logp), obj, -np.inf if MAXIMISE[policy.problem] else np.inf)
        pick = obj.argmax(1) if MAXIMISE[policy.problem] else obj.argmin(1)
        best.append(obj[np.arange(n_inst), pick])
        best_acts.append(hist.reshape(n_inst, beam, -1)[np.arange(n_inst), pick])
    objective = np.concatenate(best)
    return (objective, _pad_actions(best_acts)) if return_actions else objective
