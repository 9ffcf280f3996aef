"""Sampling error of on-policy data (Zhong et al. 2022; Corrado & Hanna, arXiv 2311.08290).

How far the empirical distribution of the actions in a buffer is from the target policy that should have
produced them: fit an "empirical" policy pi_D to the buffer by maximum likelihood, starting from the
target pi_theta with its hidden (feature) layers frozen so that only the output layer (and the log-std)
move, as ROS and PROPS's code (``PPOROS``, ``compute_se``) do; the sampling error is

    mean over the buffer of  log pi_D(a|s) - log pi_theta(a|s)   (~ KL(pi_D || pi_theta)).

PPOROS's continuous-action version weights each term by the normalised |advantage|; the authors'
CleanRL rewrite (``NicholasCorrado/PROPS``, ``compute_se``) does not, and neither does orl: the
metric then depends on the buffer and the target alone, so it can be computed for any buffer.
The fit follows PPOROS: Adam (lr 1e-3), ``epochs`` passes of minibatches of 512, gradient-norm clip 1.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from orl.algos.online.ppo import ActorCritic


def sampling_error(target: ActorCritic, obs: torch.Tensor, actions: torch.Tensor, epochs: int = 250,
                   lr: float = 1e-3, minibatch: int = 512, generator: torch.Generator | None = None) -> float:
    """KL estimate between the maximum-likelihood policy of ``(obs, actions)`` and ``target`` (>= 0 up to noise).

    The frozen hidden layers give the same features in every epoch, so they are computed once for the whole
    buffer and the fit runs on them: the same objective, gradients and Adam steps as fitting the whole network
    with those layers frozen (PPOROS's formulation), without recomputing them 250 times."""
    mle = copy.deepcopy(target)
    head = mle.actor[-1]  # the output layer: fitted, with the log-std; every layer before it is frozen
    with torch.no_grad():
        features = mle.actor[:-1](obs)
    # the order of ``mle.parameters()`` minus the frozen ones (it fixes the summation order of the grad norm)
    params = [head.weight, head.bias] + ([] if mle.discrete else [mle.log_std])
    opt = torch.optim.Adam(params, lr=lr)

    def log_prob(h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        out = head(h)
        if mle.discrete:
            return torch.distributions.Categorical(logits=out, validate_args=False).log_prob(a.reshape(-1).long())
        std = mle.log_std.expand_as(out).exp()
        return torch.distributions.Normal(out, std, validate_args=False).log_prob(a).sum(-1)

    n = len(obs)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=generator)
        for start in range(0, n, minibatch):
            idx = perm[start:start + minibatch]
            loss = -log_prob(features[idx], actions[idx]).mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
    with torch.no_grad():
        return float((log_prob(features, actions) - target.log_prob_entropy(obs, actions)[0]).mean())
