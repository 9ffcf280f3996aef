"""Do orl's and d3rlpy's TD3+BC compute the same update? Same weights, same batches, same target noise.

    PYTHONPATH=. /work/venv-d3rlpy/bin/python experiments/peer_d3rlpy_same_update.py \\
        --data /work/peer-data/hopper-medium.hdf5 --updates 2000

Runs in d3rlpy's venv (d3rlpy 2.8.1) with orl's source on ``PYTHONPATH`` (orl's ``TD3BC`` needs only torch
and numpy there). d3rlpy's ``TD3PlusBC`` is built as in ``peer_d3rlpy_worker.py`` (states standardised);
orl's ``TD3BC`` gets d3rlpy's initial networks (actor, twin critics and both targets, parameter by parameter),
d3rlpy's state mean and standard deviation, and, at every update, the batch d3rlpy drew and the same torch
seed for the target-policy noise (both libraries draw one ``randn`` of the action batch's shape and nothing
else). d3rlpy's update counter starts at 1 so that both update the actor on the same (even) steps.

Prints the largest absolute difference between the two libraries' actor outputs and Q-values on 4096
dataset states every 100 updates, beside a control: orl against itself with the same weights and batches but
Adam's for-each kernel in place of the fused one (the same update up to float32 rounding). If the
orl-d3rlpy differences start at rounding level and then grow like the control's, the two implementations
compute the same algorithm and only rounding, amplified by training, separates them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_d3rlpy_worker import load_mdp_dataset, settings  # noqa: E402


def copy_params(src: torch.nn.Module, dst: torch.nn.Module) -> None:
    s, d = list(src.parameters()), list(dst.parameters())
    assert len(s) == len(d), (len(s), len(d))
    with torch.no_grad():
        for p, q in zip(s, d):
            assert p.shape == q.shape, (p.shape, q.shape)
            q.copy_(p)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--updates", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    import d3rlpy

    from orl.algos.offline.td3bc import TD3BC, TD3BCConfig
    from orl.data.buffer import Batch

    torch.set_num_threads(1)
    dataset, _ = load_mdp_dataset(a.data)
    d3rlpy.seed(a.seed)
    peer = d3rlpy.algos.TD3PlusBCConfig(**settings("td3bc", {}, a.updates)).create(device="cpu:0")
    d3rlpy.algos.utility.build_scalers_with_transition_picker(peer, dataset)
    peer.create_impl(dataset.sample_transition().observation_signature.shape[0], dataset.dataset_info.action_size)
    peer._grad_step = 1
    scaler = peer.config.observation_scaler
    mean, std = np.asarray(scaler.mean, np.float32), np.asarray(scaler.std, np.float32)

    ours = TD3BC(mean.size, -np.ones(3, np.float32), np.ones(3, np.float32), TD3BCConfig(normalize_eps=scaler.eps),
                 obs_mean=mean, obs_std=std)
    m = peer._impl._modules
    copy_params(m.policy, ours.actor)
    copy_params(m.targ_policy, ours.actor_target)
    for i, q in enumerate((ours.critic.q1, ours.critic.q2)):
        copy_params(m.q_funcs[i], q)
    for i, q in enumerate((ours.critic_target.q1, ours.critic_target.q2)):
        copy_params(m.targ_q_funcs[i], q)

    probe = peer.config.observation_scaler  # 4096 dataset states, and actions, to compare the networks on
    rng = np.random.default_rng(1)
    obs = np.concatenate([e.observations for e in dataset.episodes])
    acts = np.concatenate([e.actions for e in dataset.episodes])
    idx = rng.choice(len(obs), 4096, replace=False)
    s_raw, a_probe = torch.as_tensor(obs[idx]), torch.as_tensor(acts[idx])
    s_norm = probe.transform(s_raw)

    # the control: orl against itself, the same weights and batches, Adam's for-each kernel instead of the
    # fused one: the two compute the same update up to float32 rounding, nothing else
    control = TD3BC(mean.size, -np.ones(3, np.float32), np.ones(3, np.float32), TD3BCConfig(normalize_eps=scaler.eps),
                    obs_mean=mean, obs_std=std)
    for src, dst in ((ours.actor, control.actor), (ours.actor_target, control.actor_target),
                     (ours.critic, control.critic), (ours.critic_target, control.critic_target)):
        copy_params(src, dst)
    control.actor_opt = torch.optim.Adam(control.actor.parameters(), lr=3e-4, foreach=True)
    control.critic_opt = torch.optim.Adam(control.critic.parameters(), lr=3e-4, foreach=True)

    def diff() -> tuple[float, float, float, float]:
        with torch.no_grad():
            s = ours.normalize(s_raw)
            pa, oa, ca = m.policy(s_norm).squashed_mu, ours.actor(s), control.actor(s)
            pq, oq, cq = m.q_funcs[0](s_norm, a_probe).q_value, ours.critic.Q1(s, a_probe), control.critic.Q1(s, a_probe)
            scale = oq.abs().mean()
        return (float((pa - oa).abs().max()), float((pq - oq).abs().max() / scale),
                float((ca - oa).abs().max()), float((cq - oq).abs().max() / scale))

    print("max |actor difference| and max |Q1 difference| / mean |Q1| on 4096 dataset states:")
    print("| updates | d3rlpy vs orl: actor | d3rlpy vs orl: Q1 | control (orl, other Adam kernel): actor | control: Q1 |")
    print("|---|---|---|---|---|")
    print("| 0 | " + " | ".join(f"{x:.1e}" for x in diff()) + " |")
    report = {1, 10} | set(range(100, a.updates + 1, 100))
    for k in range(1, a.updates + 1):
        tb = dataset.sample_transition_batch(256)
        batch = Batch(observations=torch.as_tensor(tb.observations), actions=torch.as_tensor(tb.actions),
                      rewards=torch.as_tensor(tb.rewards[:, 0]), next_observations=torch.as_tensor(tb.next_observations),
                      terminals=torch.as_tensor(tb.terminals[:, 0]), timeouts=torch.zeros(len(tb.rewards)),
                      indices=np.arange(len(tb.rewards)))
        for algo in (peer, ours, control):
            torch.manual_seed(10_000 + k)
            algo.update(tb if algo is peer else batch)
        if k in report:
            print(f"| {k} | " + " | ".join(f"{x:.1e}" for x in diff()) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
