"""Training of UNICORN and the flat DQN on the conversational recommendation environments (``algo=unicorn``,
``algo=crs_dqn``; :mod:`orl.algos.crs.unicorn`).

``python -m orl.run algo=unicorn env=crs-lastfm steps=2000``: ``steps`` counts training **dialogues**
(episodes), as the authors' loop counts ``max_steps x sample_times`` episodes. Each dialogue is drawn from the
validation pairs (``split="valid"``, interactions the ranking embeddings never saw, as the code trains on
``review_dict_valid``; dialogues on the embeddings' own training interactions are almost solved by the ranking
alone and teach the policy to recommend at once) (reset seed :func:`dialogue_seed`, so a resumed run sees the same dialogues), the agent acts
epsilon-greedily over the legal slots, every environment step stores a transition and (every
``update_every`` steps, after ``warmup`` transitions) runs one prioritised double-DQN update. Every
``eval_every`` dialogues the greedy policy (with the code's test-time rule) is evaluated on ``eval_dialogues``
held-out test dialogues (reset seeds from 1,000,000: not the final test's), logged to ``eval.csv``, and a
checkpoint is written atomically (networks, optimiser, replay, RNGs, counters). The final test runs
``test_dialogues`` held-out dialogues with reset seeds ``0..n-1`` (the same dialogues
:func:`orl_envs.crs.evaluate` gives the rule baselines) on the last policy (no selection on test results) and
writes ``result.json``. ``resume=<run dir>`` continues exactly.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from orl.algos.crs.unicorn import UnicornAgent, UnicornConfig, agent_policy
from orl.train.common import CSVLog, load_checkpoint, save_checkpoint
from orl.utils.atomic import write_json
from orl_envs.crs import ConversationalRecEnv, evaluate, generate_graph

#: ``env=`` names -> (graph kind, question mode, registered Gymnasium id).
CRS_ENVS: dict[str, tuple[str, str, str]] = {
    "crs-lastfm": ("lastfm", "binary", "orl/CRS-LastFM-v0"),
    "crs-yelp": ("yelp", "enumerated", "orl/CRS-Yelp-v0"),
    "crs-yelpstar": ("yelp", "binary", "orl/CRS-YelpStar-v0"),
}
#: Reset seeds of the periodic evaluations start here (the final test uses 0..n-1).
EVAL_SEED = 1_000_000


def dialogue_seed(seed: int, episode: int) -> int:
    """The reset seed of training dialogue ``episode`` of run ``seed`` (independent of where a run resumed)."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0])


def make_envs(kind: str, mode: str, graph_seed: int = 0, graph: dict[str, Any] | None = None,
              **env_kwargs: Any) -> tuple[ConversationalRecEnv, ConversationalRecEnv]:
    """The training environment (``split="valid"``: held-out validation pairs, on which the code trains its RL
    policy) and the test environment (``split="test"``) on one generated graph (``graph``: statistics overrides;
    ``env_kwargs``: further :class:`~orl_envs.crs.ConversationalRecEnv` arguments, e.g. the slot counts)."""
    g = generate_graph(kind, seed=graph_seed, **(graph or {}))
    return (ConversationalRecEnv(g, mode=mode, split="valid", **env_kwargs),
            ConversationalRecEnv(g, mode=mode, split="test", **env_kwargs))


def train_crs(train_env: ConversationalRecEnv, test_env: ConversationalRecEnv, out_dir: str | Path | None,
              config: UnicornConfig | None = None, episodes: int = 1000, eval_every: int = 250, seed: int = 0,
              resume: bool = False, threads: int = 1, progress: bool = True, test: bool = True,
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train on ``train_env``'s dialogues for ``episodes`` dialogues; returns the final test metrics (SR@5/10/15,
    AT, hDCG, return), the agent and counters. ``out_dir=None`` writes nothing (tests, experiments)."""
    c = config or UnicornConfig()
    if episodes < 1 or eval_every < 1:
        raise ValueError(f"episodes and eval_every must be >= 1, got {episodes}, {eval_every}")
    torch.set_num_threads(threads)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    agent = UnicornAgent(train_env, c, seed=seed)
    rng = np.random.default_rng([seed, 1])
    start, env_steps, elapsed = 0, 0, 0.0
    if resume:
        if out is None:
            raise ValueError("resume needs out_dir")
        state = load_checkpoint(out)
        agent.load_state_dict(state["agent"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        start, env_steps, elapsed = int(state["step"]), int(state["env_steps"]), float(state.get("elapsed_s", 0.0))
    metrics = CSVLog(out / "metrics.csv", start if resume else None) if out is not None else None
    evals = CSVLog(out / "eval.csv", start if resume else None) if out is not None else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=episodes, initial=start, desc=f"{c.policy} crs", unit="dialogue", dynamic_ncols=True)
    say = log or (bar.write if bar is not None else (lambda _m: None))
    t0 = time.time()
    returns, successes, losses = [], [], []
    episode = start
    try:
        for episode in range(start + 1, episodes + 1):
            obs, _ = train_env.reset(seed=dialogue_seed(seed, episode))
            state, done, total, info = agent.states(obs), False, 0.0, {}
            while not done:
                a = agent.act(state, c.epsilon(env_steps), rng)
                obs, r, done, trunc, info = train_env.step(a)
                done = done or trunc
                nxt = agent.states(obs)
                agent.replay.add((state, a, float(r), nxt, bool(done)))
                state, total, env_steps = nxt, total + r, env_steps + 1
                if len(agent.replay) >= c.warmup and env_steps % c.update_every == 0:
                    beta = c.per_beta + (1.0 - c.per_beta) * min(1.0, episode / episodes)
                    losses.append(agent.update(beta, rng))
            returns.append(total)
            successes.append(bool(info.get("success", False)))
            if bar is not None:
                bar.update(1)
            if episode % eval_every == 0 or episode == episodes:
                row = {"step": episode, "env_steps": env_steps, "updates": agent.updates,
                       "train_return": float(np.mean(returns)), "train_success": float(np.mean(successes)),
                       "loss": float(np.mean(losses)) if losses else float("nan"),
                       "seconds": elapsed + time.time() - t0}
                returns, successes, losses = [], [], []
                ev = evaluate(test_env, agent_policy(agent), c.eval_dialogues, seed=EVAL_SEED)
                erow = {"step": episode, **{k: round(v, 4) for k, v in ev.items()}}
                if metrics is not None:
                    metrics.append(row)
                    evals.append(erow)
                    save_checkpoint(out, {"agent": agent.state_dict(), "rng": rng.bit_generator.state,
                                          "torch_rng": torch.get_rng_state(), "step": episode, "env_steps": env_steps,
                                          "config": asdict(c), "elapsed_s": elapsed + time.time() - t0})
                if bar is not None:
                    bar.set_postfix(sr15=f"{ev['SR@15']:.3f}", train_ret=f"{row['train_return']:.2f}")
                say(f"dialogue {episode}/{episodes}: held-out SR@15 {ev['SR@15']:.3f}, AT {ev['AT']:.2f}, "
                    f"hDCG {ev['hDCG']:.3f} ({c.eval_dialogues} dialogues); train return {row['train_return']:.3f}")
    finally:
        if bar is not None:
            bar.close()
    result: dict[str, Any] = {"policy": c.policy, "episodes": episode, "env_steps": env_steps,
                              "updates": agent.updates, "train_time_s": elapsed + time.time() - t0}
    if test:
        result.update(test_dialogues=c.test_dialogues, **evaluate(test_env, agent_policy(agent), c.test_dialogues))
    if out is not None:
        write_json(out / "result.json", result)
    result["agent"] = agent
    return result


def run_config(cfg, out_dir: Path, resume: bool, tuned: list[str]) -> str:
    """``python -m orl.run algo=unicorn env=crs-lastfm``: train and return the final line."""
    from omegaconf import OmegaConf

    from orl.utils.config import build_config

    params = {k: v for k, v in OmegaConf.to_container(cfg.algo, resolve=True).items() if k not in ("name", "family")}
    config = build_config(UnicornConfig, params, cfg.algo.name, prefix="algo.")
    if cfg.env.name not in CRS_ENVS:
        raise ValueError(f"algo={cfg.algo.name} needs a conversational recommendation env "
                         f"({', '.join(CRS_ENVS)}), not {cfg.env.name!r}")
    kind, mode, _ = CRS_ENVS[cfg.env.name]
    graph = OmegaConf.to_container(cfg.env.graph, resolve=True) if cfg.env.get("graph") else None
    train_env, test_env = make_envs(kind, mode, int(cfg.env.get("graph_seed", 0)), graph)
    r = train_crs(train_env, test_env, out_dir, config, episodes=int(cfg.steps), eval_every=int(cfg.eval_every),
                  seed=int(cfg.seed), resume=resume, threads=int(cfg.threads))
    return (f"test on {r['test_dialogues']} held-out dialogues ({cfg.env.name}, graph seed "
            f"{cfg.env.get('graph_seed', 0)}): SR@5 {r['SR@5']:.3f}, SR@10 {r['SR@10']:.3f}, SR@15 {r['SR@15']:.3f}, "
            f"AT {r['AT']:.2f}, hDCG {r['hDCG']:.3f} after {r['episodes']} training dialogues")
