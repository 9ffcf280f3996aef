"""Issue 18's speed benchmark: a critic ensemble as one batched network against separate critics, and the cost of
one EXPO environment step at UTD 20 — measured in the same run, reported as ratios.

    python experiments/bench_diffusion.py                      # Hopper shapes, 10 critics (256x3, LayerNorm)
    python experiments/bench_diffusion.py --critics 10 --seconds 5 --out results.json

1. **Ensemble**: gradient updates/s of ``n`` critics trained on one batch (batch 256, Hopper's 11 + 3 inputs,
   TD regression) as one batched network (``orl.nets.population.member_mlp``, one forward and backward for all)
   and as ``n`` separate ``nn.Sequential`` critics each with its own forward/backward, one thread each.
2. **EXPO step**: wall time of one environment step of EXPO with its code's settings (UTD 20 critic updates,
   on-the-fly selection over 8 base + 8 edited candidates with a T = 10 diffusion base, one base/edit/temperature
   step), against one SAC environment step (UTD 1, two critics) in the same process: the ratio is what EXPO's
   expressiveness and UTD cost per environment step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OBS, ACT, BATCH = 11, 3, 256


def _rate(step, seconds: float) -> float:
    step()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    return n / (time.perf_counter() - t0)


def ensemble(n: int, seconds: float) -> dict:
    from orl.nets.population import member_mlp

    gens = [torch.Generator().manual_seed(i) for i in range(n)]
    batched = member_mlp(OBS + ACT, (256, 256, 256), 1, gens, layer_norm=True)
    separate = [nn.Sequential(nn.Linear(OBS + ACT, 256), nn.LayerNorm(256), nn.ReLU(), nn.Linear(256, 256),
                              nn.LayerNorm(256), nn.ReLU(), nn.Linear(256, 256), nn.LayerNorm(256), nn.ReLU(),
                              nn.Linear(256, 1)) for _ in range(n)]
    opt_b = torch.optim.Adam(batched.parameters(), lr=3e-4)
    opt_s = torch.optim.Adam([p for m in separate for p in m.parameters()], lr=3e-4)
    x, y = torch.randn(BATCH, OBS + ACT), torch.randn(BATCH)

    def step_batched() -> None:
        q = batched(x.unsqueeze(0).expand(n, -1, -1)).squeeze(-1)
        loss = ((q - y) ** 2).mean(1).sum()
        opt_b.zero_grad()
        loss.backward()
        opt_b.step()

    def step_separate() -> None:
        loss = sum(((m(x).squeeze(-1) - y) ** 2).mean() for m in separate)
        opt_s.zero_grad()
        loss.backward()
        opt_s.step()

    b, s = _rate(step_batched, seconds), _rate(step_separate, seconds)
    return {"critics": n, "batched_updates_per_s": b, "separate_updates_per_s": s, "ratio": b / s}


def expo_step(seconds: float) -> dict:
    from orl.algos.online.expo import EXPO, EXPOConfig
    from orl.algos.online.sac import SAC, SACConfig

    expo = EXPO(OBS, ACT, EXPOConfig(utd=20))
    sac = SAC(OBS, ACT, SACConfig())
    rng = np.random.default_rng(0)
    batch = [torch.as_tensor(v, dtype=torch.float32) for v in
             (rng.normal(size=(BATCH, OBS)), rng.uniform(-1, 1, (BATCH, ACT)), rng.normal(size=BATCH),
              rng.normal(size=(BATCH, OBS)), np.zeros(BATCH))]
    obs = rng.normal(size=OBS).astype(np.float32)

    def expo_env_step() -> None:
        expo.act(obs)
        for _ in range(20):
            expo.update(*batch)

    def sac_env_step() -> None:
        sac.act(obs)
        sac.update(*batch)

    e, s = _rate(expo_env_step, seconds), _rate(sac_env_step, seconds)
    return {"expo_env_steps_per_s": e, "sac_env_steps_per_s": s, "sac_over_expo": s / e}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--critics", type=int, default=10)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    torch.set_num_threads(1)
    ens = ensemble(args.critics, args.seconds)
    step = expo_step(args.seconds)
    print(f"| critics | batched updates/s | separate updates/s | batched / separate |\n|---|---|---|---|\n"
          f"| {ens['critics']} | {ens['batched_updates_per_s']:.1f} | {ens['separate_updates_per_s']:.1f} | "
          f"{ens['ratio']:.2f}x |")
    print(f"\nEXPO env step (UTD 20, 8+8 candidates, T=10): {step['expo_env_steps_per_s']:.2f} steps/s; "
          f"SAC (UTD 1, 2 critics): {step['sac_env_steps_per_s']:.1f} steps/s; SAC / EXPO = {step['sac_over_expo']:.0f}x")
    if args.out:
        args.out.write_text(json.dumps({"ensemble": ens, "expo_step": step}, indent=1))


if __name__ == "__main__":
    main()
