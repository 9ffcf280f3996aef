"""Imitation training of the BQ policy on solved routing instances (``algo=bq``).

``python -m orl.run algo=bq env=tsp-50``: solve ``train_instances`` generated instances with the
problem's reference solver (cached, resumable; :mod:`orl.data.routing`), train
:class:`~orl.algos.structured.bq.BQPolicy` by cross-entropy on random expert suffixes, evaluate
the greedy optimality gap on a validation set every ``eval_every`` steps (checkpoint + best
weights), and finally report greedy (and beam) gaps on the seeded test set against the same
solver. Metrics go to ``metrics.csv``/``eval.csv`` and TensorBoard; ``resume=<run dir>``
continues a killed run exactly (model, optimiser, RNG and step).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from orl.algos.structured.bq import (MAXIMISE, BQConfig, BQPolicy, beam_search, config_from_dict, expert_batch, greedy,
                                     imitation_loss, shuffle_solutions)
from orl.data.routing import SolvedSet, solved_set
from orl.train.common import CSVLog, DurationEstimate, check_device, load_checkpoint, load_torch, save_checkpoint, save_torch
from orl.utils.config import build_config
from orl.utils.atomic import write_json


def gap(objective: np.ndarray, reference: np.ndarray, maximise: bool) -> float:
    """Mean relative optimality gap in percent (positive = worse than the reference)."""
    rel = (reference - objective) / reference if maximise else (objective - reference) / reference
    return float(100.0 * rel.mean())


def evaluate(policy: BQPolicy, data: SolvedSet, beam: int = 0) -> dict[str, float]:
    """Greedy (and beam) objective and gap of ``policy`` on a solved set."""
    was = policy.training
    policy.eval()
    inst = data.instances()
    g = greedy(policy, inst)
    out = {"greedy_objective": float(g.mean()), "reference_objective": float(data.objective.mean()),
           "greedy_gap_pct": gap(g, data.objective, MAXIMISE[data.problem])}
    if beam > 1:
        b = beam_search(policy, inst, beam)
        out.update(beam_objective=float(b.mean()), beam_gap_pct=gap(b, data.objective, MAXIMISE[data.problem]))
    policy.train(was)
    return out


def sample_step(data: SolvedSet, rng: np.random.Generator, batch_size: int,
                skip_last: bool | None = None) -> tuple[np.ndarray, int]:
    """A minibatch of (instance, step k) with one k for the whole batch, as the official code
    draws one sub-problem size per batch. ``skip_last`` (default: the TSP only) never draws a
    solution's last step: for the TSP it is forced (one node left); for the OP with the return
    masked while a node is feasible (``op_early_end=False``) it is the return, which the official
    code never trains on (its sub-problems end before the last node)."""
    if skip_last is None:
        skip_last = data.problem == "tsp"
    lengths = data.lengths - (1 if skip_last else 0)
    k = int(rng.integers(0, int(lengths.max())))
    eligible = np.flatnonzero(lengths > k)
    return rng.choice(eligible, size=batch_size, replace=True), k


_WORKER_DATA: SolvedSet | None = None


def _init_worker(data: SolvedSet) -> None:
    global _WORKER_DATA
    from orl.utils.parallel import one_thread

    one_thread()
    _WORKER_DATA = data


def _worker_batch(idx: np.ndarray, actions: np.ndarray, k: int, op_early_end: bool,
                  soft: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    assert _WORKER_DATA is not None
    return expert_batch(_WORKER_DATA.instances(idx), actions, k, op_early_end, soft)


class ExpertBatches:
    """Imitation minibatches in step order, drawn from ``rng`` exactly as :func:`sample_step`.

    Building one means replaying ``k`` expert steps in numpy (~66 ms for 256 TSP50 states here),
    which bounds a GPU run; with ``workers > 0`` the next ``2 * workers`` batches are built ahead
    in worker processes. The batches, and :meth:`rng_state` (the generator as it was before the
    first batch not yet returned, for checkpoints), do not depend on ``workers``."""

    def __init__(self, data: SolvedSet, rng: np.random.Generator, batch_size: int, workers: int = 0,
                 config: BQConfig | None = None):
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.data, self.rng, self.batch_size = data, rng, batch_size
        c = config or BQConfig()
        self.op_early_end = c.op_early_end
        self.soft = data.problem == "kp" and c.kp_targets == "soft"
        # OP under the code's rule: the expert's return is never a target (see sample_step).
        self.skip_last = data.problem == "tsp" or (data.problem == "op" and not c.op_early_end)
        self.pool = None
        self.pending: deque = deque()  # (rng state before the draw, future)
        if workers > 0:  # workers that die with this process and ignore Ctrl-C (orl.utils.parallel's rules)
            from orl.utils.parallel import process_pool

            self.pool = process_pool(workers, initializer=_init_worker, initargs=(data,))
            self.ahead = 2 * workers

    def _draw(self) -> tuple[np.ndarray, np.ndarray, int]:
        idx, k = sample_step(self.data, self.rng, self.batch_size, self.skip_last)
        actions = self.data.actions[idx]
        if self.soft:
            actions = shuffle_solutions(actions, self.rng)
        return idx, actions, k

    def next(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if self.pool is None:
            idx, actions, k = self._draw()
            return expert_batch(self.data.instances(idx), actions, k, self.op_early_end, self.soft)
        while len(self.pending) < self.ahead:
            state = self.rng.bit_generator.state
            idx, actions, k = self._draw()
            self.pending.append((state, self.pool.submit(_worker_batch, idx, actions, k, self.op_early_end, self.soft)))
        return self.pending.popleft()[1].result()

    def rng_state(self) -> dict:
        return self.pending[0][0] if self.pending else self.rng.bit_generator.state

    def close(self) -> None:
        """Stop the workers at once: the batches they build ahead are not needed (and after Ctrl-C or an
        error nothing may wait for them)."""
        if self.pool is not None:
            from orl.utils.parallel import terminate_pool

            terminate_pool(self.pool)
            self.pool = None
            self.pending.clear()


def train_bq(problem: str, size: int, out_dir: str | Path, config: BQConfig | None = None, steps: int = 10000,
             eval_every: int = 500, seed: int = 0, data_seed: int = 0, log_every: int = 50, resume: bool = False,
             threads: int = 1, progress: bool = True, train_data: SolvedSet | None = None,
             val_data: SolvedSet | None = None, test_data: SolvedSet | None = None,
             time_budget_s: float | None = None, device: str = "cpu", test: bool = True,
             workers: int = 0, init_policy: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """Train a BQ policy; returns the test result (greedy/beam gaps) and the policy.

    ``time_budget_s`` stops training (after a validation and checkpoint) once this much training
    wall time has been spent, counted across resumptions; expert solving is not counted.
    ``device`` ("cpu", "cuda") holds the model; the environments' rules stay in numpy on the CPU.
    ``test=False`` skips the final test evaluation (for callers that evaluate on their own test sets).
    ``workers`` solves the expert sets and builds the minibatches ahead in that many processes
    (:func:`solved_set`, :class:`ExpertBatches`); the result does not depend on it.
    ``init_policy`` (a fresh run only) starts from these weights instead of a random initialisation, e.g. a
    model trained on smaller instances (the network does not depend on the instance size)."""
    c = config or BQConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    device = check_device(device)
    solve_kw = dict(method=c.expert, time_limit=c.expert_time_limit, progress=progress, workers=workers)
    train = train_data or solved_set(problem, size, c.train_instances, seed=data_seed, split="train", **solve_kw)
    val = val_data or solved_set(problem, size, c.val_instances, seed=data_seed, split="val", **solve_kw)
    policy = BQPolicy(problem, c).to(device)
    if init_policy is not None and not resume:
        policy.load_state_dict(init_policy)
    opt = torch.optim.Adam(policy.parameters(), lr=c.lr)
    steps_per_epoch = max(1, len(train) // c.batch_size)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=c.decay_epochs * steps_per_epoch, gamma=c.lr_decay)
    rng = np.random.default_rng([seed, 7])
    start, best, best_state, elapsed = 0, float("inf"), None, 0.0
    if resume:
        state = load_checkpoint(out, map_location=device)
        policy.load_state_dict(state["policy"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        start, best, best_state = state["step"], state["best"], state["best_policy"]
        elapsed = state.get("elapsed_s", 0.0)
    metrics_csv = CSVLog(out / "metrics.csv", start if resume else None)
    eval_csv = CSVLog(out / "eval.csv", start if resume else None)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(out / "tb"), purge_step=start + 1 if resume else None)
    bar = eta = None
    if progress:
        from tqdm.auto import tqdm

        # A wall-time budget with an effectively unbounded step cap: show a counter, not a meaningless bar.
        total = None if time_budget_s is not None and steps >= 10**8 else steps
        bar = tqdm(total=total, initial=start, desc=f"bq {problem}{size}", unit="step", dynamic_ncols=True)
        if time_budget_s is None:  # a time budget already bounds the run
            eta = DurationEstimate(start, steps, unit="steps", write=tqdm.write)
    t0, losses, accs = time.time(), [], []
    step = start
    batches = ExpertBatches(train, rng, c.batch_size, workers, c)
    try:
        for step in range(start + 1, steps + 1):
            loss, acc = imitation_loss(policy, *batches.next())
            opt.zero_grad()
            loss.backward()
            if c.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(policy.parameters(), c.grad_clip)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
            accs.append(acc)
            if bar is not None:
                bar.update(1)
            if eta is not None:
                eta(step)
            if step % log_every == 0 or step == steps:
                row = {"step": step, "loss": float(np.mean(losses)), "accuracy": float(np.mean(accs)),
                       "lr": opt.param_groups[0]["lr"], "steps_per_s": (step - start) / (time.time() - t0)}
                metrics_csv.append(row)
                for key in ("loss", "accuracy", "lr"):
                    tb.add_scalar(f"train/{key}", row[key], step)
                losses, accs = [], []
            out_of_time = time_budget_s is not None and elapsed + time.time() - t0 >= time_budget_s
            if step % eval_every == 0 or step == steps or out_of_time:
                ev = evaluate(policy, val)
                if ev["greedy_gap_pct"] < best:
                    best, best_state = ev["greedy_gap_pct"], {k: v.clone() for k, v in policy.state_dict().items()}
                eval_csv.append({"step": step, "val_greedy_gap_pct": ev["greedy_gap_pct"], "best_val_gap_pct": best})
                tb.add_scalar("eval/val_greedy_gap_pct", ev["greedy_gap_pct"], step)
                if bar is not None:
                    bar.set_postfix(val_gap=f"{ev['greedy_gap_pct']:.2f}%")
                save_checkpoint(out, {"policy": policy.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                                      "rng": batches.rng_state(), "torch_rng": torch.get_rng_state(), "step": step,
                                      "best": best, "best_policy": best_state, "problem": problem, "size": size,
                                      "config": asdict(c), "elapsed_s": elapsed + time.time() - t0})
                if out_of_time:
                    break
    finally:  # the bar ends its line before any message (an error, Ctrl-C) is printed
        batches.close()
        if bar is not None:
            bar.close()
        tb.close()
    train_time = elapsed + time.time() - t0
    if best_state is not None:
        policy.load_state_dict(best_state)
    save_torch(out / "policy.pt", {"policy": {k: v.cpu() for k, v in policy.state_dict().items()}, "problem": problem,
                                   "size": size, "config": asdict(c)})
    result = {"problem": problem, "size": size, "steps": step, "best_val_gap_pct": best, "train_time_s": train_time,
              "expert": train.method}
    if test:
        test_set = test_data or solved_set(problem, size, c.test_instances, seed=data_seed, split="test", **solve_kw)
        result.update(test_instances=len(test_set), **evaluate(policy, test_set, c.beam_size))
    write_json(out / "result.json", result)
    result.update(policy=policy, out_dir=str(out))
    return result


def load_policy(path: str | Path, device: str = "cpu") -> BQPolicy:
    """A trained policy from a run's ``policy.pt``."""
    state = load_torch(path, map_location=device, required=("policy", "problem", "config"))
    policy = BQPolicy(state["problem"], config_from_dict(state["config"]))
    policy.load_state_dict(state["policy"])
    return policy.to(device).eval()


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=bq env=tsp-50``: train and return the final line."""
    from omegaconf import OmegaConf

    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items() if k not in ("name", "family")}
    config = build_config(BQConfig, params, "bq", prefix="algo.")
    workers = cfg.get("workers", 0)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"workers must be a non-negative integer, got {workers!r}")
    if "problem" not in cfg.env:
        raise ValueError(f"algo=bq needs a routing env (env=tsp-50, cvrp-50, ...), not {cfg.env.name!r}")
    result = train_bq(cfg.env.problem, int(cfg.env.size), out_dir, config, steps=cfg.steps,
                      eval_every=cfg.eval_every, seed=cfg.seed, log_every=cfg.log_every, resume=resume,
                      threads=cfg.threads, device=cfg.get("device", "cpu"),
                      workers=workers)
    line = (f"test greedy gap: {result['greedy_gap_pct']:+.2f}% vs {result['expert']} on {result['test_instances']} "
            f"{cfg.env.problem}{cfg.env.size} instances (mean objective {result['greedy_objective']:.4f} vs "
            f"{result['reference_objective']:.4f})")
    if "beam_gap_pct" in result:
        line += f"; beam {cfg.algo.beam_size}: {result['beam_gap_pct']:+.2f}%"
    return line
