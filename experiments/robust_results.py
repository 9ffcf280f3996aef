"""Issue 19's results: returns under observation attacks for PPO, SA-PPO and PROTECTED (best arm and EXP3),
and EXP3 under dynamic attacks.

Per environment and seed, every stage writes into ``--runs`` and is skipped (or resumed) when its output is
there, so the script continues across sessions and machines:

1. victims: PPO and SA-PPO (``--victim-steps`` env steps each, ``orl.fit``);
2. PROTECTED from the PPO victim (``--iterations`` x ``--train-steps`` alternations of ``--num-steps`` steps);
3. for every evaluated policy (PPO, SA-PPO, each arm of the PROTECTED set): an SA-RL and a PA-AD attacker trained
   against *that* policy (``--attacker-steps``), a robust-SARSA critic (``--sarsa-steps`` transitions), then
   returns under none / random / MAD / critic / SARSA / SA-RL / PA-AD (``--episodes`` episodes each);
4. PROTECTED's EXP3 over its set for ``--rounds`` rounds under each static attack (each arm attacked by its own
   attacker) and under the dynamic none<->PA-AD schedules (period 100 rounds, switch probability 0.1, forced
   first and third quarters), with its regret against the best fixed arm.

Outputs (rewritten after every stage): ``experiments/results/robust_returns.csv`` (env, seed, policy, attack,
mean, std, budget) and ``robust_exp3.csv`` (per round: reward, arm, cumulative regret); their figures:
``python -m orl.plot results`` (``docs/figures/robust_*.png``). The run ends by printing the returns table.

    python experiments/robust_results.py --envs Hopper-v5 --seeds 0 --victim-steps 200000   # CPU budget
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import orl  # noqa: E402
from orl.robust.attacks import budget  # noqa: E402
from orl.robust.evaluate import attack_suite  # noqa: E402
from orl.utils.atomic import atomic_path  # noqa: E402

RESULTS = ROOT / "experiments" / "results"


def trained(kind: str, env_id: str, out: Path, steps: int, seed: int, **settings) -> orl.Agent:
    """An online agent trained (or resumed, or loaded) in ``out``."""
    from orl.train.common import CHECKPOINT, load_checkpoint

    if (out / CHECKPOINT).exists():
        return orl.load(out) if int(load_checkpoint(out)["step"]) >= steps else orl.resume(out)
    return orl.fit(kind, env_id, steps=steps, seed=seed, out_dir=out, eval_every=max(steps // 10, 2048),
                   eval_episodes=5, se_every=0, **settings)


def evaluate_policy(name: str, agent: orl.Agent, env_id: str, seed: int, root: Path, args) -> dict:
    """Attackers against this policy, then its returns under every attack (cached in ``root/<name>/eval.json``)."""
    from orl.robust.adversary import train_attacker
    from orl.robust.sarsa import SarsaConfig, train_robust_sarsa
    from orl.train.common import CHECKPOINT, load_checkpoint

    d = root / name
    done = d / "eval.json"
    if done.exists():
        return json.loads(done.read_text())
    d.mkdir(parents=True, exist_ok=True)
    path = agent.save(d / "policy.pt")
    eps = budget(env_id)
    attackers = {}
    for kind in ("sa-rl", "pa-ad"):
        out = d / f"attacker-{kind}"
        if not ((out / CHECKPOINT).exists() and int(load_checkpoint(out)["step"]) >= args.attacker_steps):
            train_attacker(env_id, path, eps, kind, out, args.attacker_steps, seed=seed)
        attackers[kind] = out
    q_path = d / "sarsa.pt"
    if q_path.exists():
        q = torch.load(q_path, weights_only=False)
    else:
        q = train_robust_sarsa(agent, env_id, SarsaConfig(steps=args.sarsa_steps), seed=seed)
        torch.save(q, q_path)
    results = attack_suite(agent, env_id, eps, episodes=args.episodes, seed=seed + 500, sarsa=q, attackers=attackers)
    with atomic_path(done) as tmp:
        tmp.write_text(json.dumps(results))
    return results


def exp3_runs(policy_set, env_id: str, seed: int, root: Path, args, per_arm: list[dict]) -> list[dict]:
    """EXP3 under each static attack and the two dynamic schedules (cached in ``root/exp3.json``)."""
    from orl.robust.adversary import learned_attack
    from orl.robust.attacks import Victim, mad_attack, random_attack
    from orl.robust.exp3 import exp3_defence
    from orl.robust.schedules import attack_schedule

    done = root / "exp3.json"
    if done.exists():
        return json.loads(done.read_text())
    eps = policy_set.eps
    gen = torch.Generator().manual_seed(seed)
    victims = [Victim.from_agent(a) for a in policy_set.agents]
    arm_dirs = [root / ("ppo" if i == 0 else f"protected-arm{i}") for i in range(len(policy_set))]

    def attacks_for(name: str) -> list:
        if name == "random":
            return [lambda s: random_attack(s, eps, gen) for _ in victims]
        if name == "mad":
            return [lambda s, v=v: mad_attack(v, s, eps, generator=gen) for v in victims]
        return [learned_attack(dd / f"attacker-{name}", v, gen) for dd, v in zip(arm_dirs, victims)]

    rows = []
    T = args.rounds
    for name, kind in [("random", "always"), ("mad", "always"), ("sa-rl", "always"), ("pa-ad", "always"),
                       ("pa-ad", "period"), ("pa-ad", "prob")]:
        schedule = attack_schedule(T, kind, interval=max(T // 20, 1), prob=0.1, rng=np.random.default_rng(seed))
        clean = np.array([r["none"]["mean"] for r in per_arm])
        attacked = np.array([r[name]["mean"] for r in per_arm])
        run = exp3_defence(policy_set.agents, env_id, attacks_for(name), eps, schedule, seed=seed + 9000,
                           arm_means=(clean, attacked))
        regret = run.regret()
        for t in range(T):
            rows.append({"attack": name, "schedule": kind, "round": t, "attacked": bool(schedule[t]),
                         "arm": int(run.arms[t]), "reward": float(run.rewards[t]), "regret": float(regret[t])})
    with atomic_path(done) as tmp:
        tmp.write_text(json.dumps(rows))
    return rows


def write_results(rows: list[dict], exp3: list[dict], results: Path) -> None:
    """The CSVs, atomically; their figures come from ``python -m orl.plot results`` like every result's."""
    import pandas as pd

    results.mkdir(parents=True, exist_ok=True)
    for name, data in (("robust_returns.csv", rows), ("robust_exp3.csv", exp3)):
        if data:
            with atomic_path(results / name) as tmp:
                pd.DataFrame(data).to_csv(tmp, index=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", nargs="+", default=["Hopper-v5", "Walker2d-v5"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--runs", type=Path, default=Path.home() / ".orl" / "runs" / "robust")
    p.add_argument("--victim-steps", type=int, default=200_000)
    p.add_argument("--iterations", type=int, default=2)
    p.add_argument("--train-steps", type=int, default=10)
    p.add_argument("--num-steps", type=int, default=2048)
    p.add_argument("--attacker-steps", type=int, default=50_000)
    p.add_argument("--sarsa-steps", type=int, default=20_000)
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--rounds", type=int, default=200)
    p.add_argument("--results", type=Path, default=RESULTS, help="where the CSVs go (default experiments/results)")
    args = p.parse_args()
    torch.set_num_threads(1)
    from orl.robust.protected import PolicySet, ProtectedConfig, train_protected

    rows, exp3 = [], []
    budget_note = (f"victims {args.victim_steps} steps; PROTECTED {args.iterations}x{args.train_steps}x{args.num_steps}; "
                   f"attackers {args.attacker_steps}; SARSA {args.sarsa_steps}; {args.episodes} episodes; "
                   f"EXP3 {args.rounds} rounds")
    for seed in args.seeds:  # seed-major: every environment gets its first seed first
        for env_id in args.envs:
            t0 = time.time()
            root = args.runs / env_id / f"seed{seed}"
            ppo = trained("ppo", env_id, root / "ppo", args.victim_steps, seed)
            sa = trained("sa_ppo", env_id, root / "sa_ppo", args.victim_steps, seed, robust_eps=budget(env_id))
            set_path = root / "protected" / "policy_set.pt"
            cfg = ProtectedConfig(iterations=args.iterations, train_steps=args.train_steps, num_steps=args.num_steps)
            policy_set = PolicySet.load(set_path) if set_path.exists() else \
                train_protected(env_id, root / "protected", ppo, cfg, seed=seed)
            results = {"ppo": evaluate_policy("ppo", ppo, env_id, seed, root, args),
                       "sa_ppo": evaluate_policy("sa_ppo", sa, env_id, seed, root, args)}
            # arm 0 is the PPO victim itself (PROTECTED's reference): its evaluation is the PPO one
            arm_names = ["ppo"] + [f"protected-arm{i}" for i in range(1, len(policy_set))]
            per_arm = [evaluate_policy(n, a, env_id, seed, root, args) for n, a in zip(arm_names, policy_set.agents)]
            results["protected-best"] = {a: max((r[a] for r in per_arm), key=lambda x: x["mean"]) for a in per_arm[0]}
            runs = exp3_runs(policy_set, env_id, seed, root, args, per_arm)
            static = {r["attack"]: [] for r in runs if r["schedule"] == "always"}
            for r in runs:
                if r["schedule"] == "always":
                    static[r["attack"]].append(r["reward"])
            results["protected-exp3"] = {a: {"mean": float(np.mean(v)), "std": float(np.std(v))} for a, v in static.items()}
            for policy, res in results.items():
                for attack, stats in res.items():
                    rows.append({"env": env_id, "seed": seed, "policy": policy, "attack": attack, **stats,
                                 "budget": budget_note})
            exp3 += [{"env": env_id, "seed": seed, **r} for r in runs]
            write_results(rows, exp3, args.results)
            print(f"{env_id} seed {seed}: done in {time.time() - t0:.0f} s", flush=True)
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    """Returns under each attack per policy: mean over seeds of the per-seed mean (+- std over seeds)."""
    import pandas as pd

    if not rows:
        return
    d = pd.DataFrame(rows)
    attacks = list(dict.fromkeys(d.attack))
    for env_id, g in d.groupby("env", sort=False):
        print(f"\n{env_id} ({g.seed.nunique()} seed(s); mean +- std over seeds)")
        print(f"{'policy':16s}" + "".join(f"{a:>14s}" for a in attacks))
        for policy, h in g.groupby("policy", sort=False):
            cells = []
            for a in attacks:
                x = h[h.attack == a]["mean"]
                cells.append(f"{x.mean():7.0f} +-{x.std(ddof=0):4.0f}" if len(x) else " " * 14)
            print(f"{policy:16s}" + "".join(f"{c:>14s}" for c in cells))


if __name__ == "__main__":
    main()
