"""The robust-SARSA critic of the RS attack (Zhang et al., "Robust Deep Reinforcement Learning against
Adversarial Perturbations on State Observations", NeurIPS 2020; PROTECTED's ``sarsa`` attack).

The attacker knows nothing of the victim's critic: it learns ``Q^pi(s, a)`` of the fixed victim by SARSA on the
victim's own clean trajectories, with a robustness term that keeps ``Q`` smooth in the action (the attack then
evaluates ``Q`` at actions the victim takes on *perturbed* observations, off the data):

    L(Q) = E[(Q(s, a) - (r + gamma (1 - d) Q(s', a')))^2] + kappa * E[max_{||a~ - a||_inf <= eps_a} (Q(s, a~) - Q(s, a))^2]

The attack (:func:`~orl.robust.attacks.critic_attack`) then minimises ``Q(s, mu(s'))`` over the eps-ball of
``s'`` by 10 PGD sign steps, with ``s`` the true (unperturbed) observation, as the code does.

Reconstruction choices, named: the code bounds the action-smoothness term with a convex relaxation
(auto_LiRPA); orl approximates the inner max by 5 PGD sign steps (a lower bound of the same quantity). The
SARSA target uses a slowly updated copy of ``Q`` (Polyak 0.005) for stability; the victim acts with its
deterministic action, as in evaluation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from orl.robust.attacks import Victim


@dataclass
class SarsaConfig:
    steps: int = 50_000  # victim transitions collected
    epochs: int = 20
    batch_size: int = 256
    lr: float = 3e-4
    gamma: float = 0.99
    hidden: tuple[int, ...] = (64, 64)
    reg: float = 0.1  # kappa
    action_eps: float = 0.05  # eps_a, in the victim's action units (after clipping to its bounds)
    tau: float = 0.005


class QNet(nn.Module):
    """``Q(s, a)`` on the victim's normalised observations and its actions."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for a, b in zip((obs_dim + action_dim, *hidden[:-1]), hidden):
            layers += [nn.Linear(a, b), nn.Tanh()]
        layers.append(nn.Linear(hidden[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([s, a], -1)).squeeze(-1)


def collect(agent, env_id: str, steps: int, seed: int) -> dict[str, np.ndarray]:
    """``steps`` transitions of the victim's deterministic policy in ``env_id`` with the next action a'."""
    env = gym.make(env_id)
    obs, _ = env.reset(seed=seed)
    rows: dict[str, list] = {k: [] for k in ("s", "a", "r", "s2", "a2", "done")}
    a = agent.predict(obs)
    episode = 0
    for _ in range(steps):
        obs2, r, term, trunc, _ = env.step(a)
        a2 = agent.predict(obs2)
        for k, v in zip(rows, (obs, a, r, obs2, a2, float(term))):
            rows[k].append(v)
        if term or trunc:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
            a = agent.predict(obs)
        else:
            obs, a = obs2, a2
    env.close()
    return {k: np.asarray(v, np.float32) for k, v in rows.items()}


def action_smoothness(q: QNet, s: torch.Tensor, a: torch.Tensor, eps: float, steps: int = 5,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """``max_{||a~ - a|| <= eps} (Q(s, a~) - Q(s, a))^2`` approximated by PGD sign steps from a uniform random
    start in the ball (at ``a~ = a`` the gradient is zero); differentiable in Q's weights."""
    q0 = q(s, a)
    x = a.detach() + (torch.rand(a.shape, generator=generator) * 2 - 1) * eps
    for _ in range(steps):
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(((q(s, x) - q0.detach()) ** 2).sum(), x)
        x = torch.max(torch.min(x.detach() + g.sign() * (eps / steps * 2), a + eps), a - eps)
    return ((q(s, x.detach()) - q0) ** 2).mean()


def train_robust_sarsa(agent, env_id: str, config: SarsaConfig | None = None, seed: int = 0) -> QNet:
    """Learn the victim's robust ``Q`` (see the module docstring); returns the network on normalised inputs."""
    c = config or SarsaConfig()
    if agent.spaces.get("discrete"):
        raise ValueError("the robust-SARSA attack needs a continuous-action victim (Q(s, mu(s')) with the mean "
                         "action); this victim acts in a discrete space")
    torch.manual_seed(seed)
    victim = Victim.from_agent(agent)
    data = collect(agent, env_id, c.steps, seed)
    s = torch.as_tensor(victim.normalize(data["s"]), dtype=torch.float32)
    s2 = torch.as_tensor(victim.normalize(data["s2"]), dtype=torch.float32)
    a, a2 = torch.as_tensor(data["a"]).reshape(len(s), -1), torch.as_tensor(data["a2"]).reshape(len(s), -1)
    r, done = torch.as_tensor(data["r"]), torch.as_tensor(data["done"])
    q = QNet(s.shape[1], a.shape[1], c.hidden)
    target = copy.deepcopy(q).requires_grad_(False)
    opt = torch.optim.Adam(q.parameters(), lr=c.lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(c.epochs):
        for idx in torch.randperm(len(s), generator=gen).split(c.batch_size):
            with torch.no_grad():
                y = r[idx] + c.gamma * (1 - done[idx]) * target(s2[idx], a2[idx])
            loss = ((q(s[idx], a[idx]) - y) ** 2).mean()
            if c.reg > 0:
                loss = loss + c.reg * action_smoothness(q, s[idx], a[idx], c.action_eps, generator=gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for t, p in zip(target.parameters(), q.parameters()):
                    t.lerp_(p, c.tau)
    return q


def sarsa_attack(q: QNet, victim: Victim, eps: float, generator: torch.Generator | None = None):
    """The RS attack: minimise ``Q(s, mu(s'))`` over the ball around the true observation ``s``."""
    from orl.robust.attacks import critic_attack

    def attack(s: torch.Tensor) -> torch.Tensor:
        return critic_attack(lambda x: q(s, victim.action_mean(x)[0]), s, eps, generator=generator)

    return attack
