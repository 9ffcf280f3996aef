"""Rule-based conversational recommendation policies and their evaluation (SR@k, AT, hDCG).

The two rules are the baselines of SCPR and UNICORN (Lei et al., KDD 2020; Deng et al., SIGIR 2021):

* **Max Entropy**: ask the attribute (category) of highest weighted entropy, i.e. action slot 0 of the
  environment, whose attribute slots are ranked by weighted entropy; recommend when at most 10 candidate items
  remain or at the last turn (the same rule UNICORN's code applies at test time).
* **Absolute Greedy**: always recommend (the top-ranked candidate list).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .env import ConversationalRecEnv, summarize

Policy = Callable[[dict[str, np.ndarray], ConversationalRecEnv], int]


def max_entropy_policy(obs: dict[str, np.ndarray], env: ConversationalRecEnv) -> int:
    """Ask attribute slot 0 (highest weighted entropy) unless <= 10 candidates remain, the turn is the last or no
    attribute is askable; then recommend the top-ranked list."""
    mask = obs["action_mask"]
    if obs["candidate_items"].sum() <= env.rec_size or obs["turn"][0] + 1 >= env.max_turn or not mask[0]:
        return env.k_p
    return 0


def absolute_greedy_policy(obs: dict[str, np.ndarray], env: ConversationalRecEnv) -> int:
    """Always recommend the top-ranked list."""
    return env.k_p


def evaluate(env: ConversationalRecEnv, policy: Policy, n_episodes: int, seed: int = 0) -> dict[str, float]:
    """Run ``policy`` on ``n_episodes`` dialogues (reset seeds ``seed, seed+1, ...``) and return SR@5/10/15, AT,
    hDCG and the mean return."""
    turns, ranks, returns = [], [], []
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done, info = 0.0, False, {}
        while not done:
            obs, r, done, trunc, info = env.step(policy(obs, env))
            total += r
            done = done or trunc
        turns.append(info["turn"])
        ranks.append(info["rank"])
        returns.append(total)
    out = summarize(np.array(turns), np.array(ranks), env.max_turn)
    out["return"] = float(np.mean(returns))
    return out
