"""Behaviour policies as plain numpy: dataset generation needs no torch.

orl's locomotion behaviour policies are stable-baselines3 SAC actors (see
``experiments/train_behaviour.py``) stored as small ``.npz`` weight files. The actor is an MLP
``obs -> 256 -> 256`` (ReLU) with two linear heads, the mean ``mu`` and ``log_std`` (clipped
to ``[-20, 2]`` as in SB3), and the action is the tanh-squashed Gaussian sample

    a = tanh(mu(s) + exp(log_std(s)) * eps),  eps ~ N(0, I),

rescaled from ``[-1, 1]`` to the action space's bounds. D4RL collected its medium and expert
datasets with such stochastic samples (``collect_data.py`` without ``--deterministic``);
``deterministic=True`` gives ``tanh(mu(s))`` instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from orl.data.errors import DatasetError

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
WEIGHT_KEYS = ("latent_pi_0_weight", "latent_pi_0_bias", "latent_pi_2_weight", "latent_pi_2_bias",
               "mu_weight", "mu_bias", "log_std_weight", "log_std_bias")


class TanhGaussianPolicy:
    """A SAC actor evaluated in numpy, batched over observations.

    Args:
        weights: the arrays named in :data:`WEIGHT_KEYS` (torch ``Linear`` layout: ``(out, in)``).
        low, high: action bounds (default ``[-1, 1]``).
    """

    def __init__(self, weights: dict[str, np.ndarray], low: np.ndarray | float = -1.0,
                 high: np.ndarray | float = 1.0) -> None:
        missing = [k for k in WEIGHT_KEYS if k not in weights]
        if missing:
            raise DatasetError(f"policy weights miss {missing}; expected {list(WEIGHT_KEYS)}")
        # Stored transposed, so a batch is ``x @ W + b`` without a per-call transpose.
        self.W1, self.b1 = weights["latent_pi_0_weight"].T.astype(np.float32), weights["latent_pi_0_bias"].astype(np.float32)
        self.W2, self.b2 = weights["latent_pi_2_weight"].T.astype(np.float32), weights["latent_pi_2_bias"].astype(np.float32)
        # Both heads in one matrix: one matmul gives mean and log-std.
        self.Wh = np.concatenate([weights["mu_weight"], weights["log_std_weight"]]).T.astype(np.float32)
        self.bh = np.concatenate([weights["mu_bias"], weights["log_std_bias"]]).astype(np.float32)
        self.obs_dim, self.action_dim = self.W1.shape[0], weights["mu_bias"].shape[0]
        self.low = np.broadcast_to(np.asarray(low, np.float32), (self.action_dim,))
        self.high = np.broadcast_to(np.asarray(high, np.float32), (self.action_dim,))

    @classmethod
    def load(cls, path: str | os.PathLike[str], low: np.ndarray | float = -1.0,
             high: np.ndarray | float = 1.0) -> "TanhGaussianPolicy":
        path = Path(path)
        if not path.exists():
            raise DatasetError(f"{path}: policy file not found")
        try:
            with np.load(path) as f:
                weights = {k: f[k] for k in f.files}
        except (OSError, ValueError) as e:
            raise DatasetError(f"{path}: not a readable .npz policy file ({e})") from None
        return cls(weights, low, high)

    def __call__(self, observations: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Stochastic actions: the :data:`orl.data.collect.BatchPolicy` interface."""
        return self.act(observations, rng)

    def act(self, observations: np.ndarray, rng: np.random.Generator | None = None,
            deterministic: bool = False) -> np.ndarray:
        """Actions for a batch ``(B, obs_dim)`` of observations (a 1-D observation gives one action)."""
        obs = np.asarray(observations, np.float32)
        single = obs.ndim == 1
        x = obs[None] if single else obs
        if x.shape[-1] != self.obs_dim:
            raise ValueError(f"observations: expected last dimension {self.obs_dim}, got shape {obs.shape}")
        h = np.maximum(x @ self.W1 + self.b1, 0.0)
        h = np.maximum(h @ self.W2 + self.b2, 0.0)
        out = h @ self.Wh + self.bh
        mu = out[:, : self.action_dim]
        if deterministic:
            u = mu
        else:
            if rng is None:
                raise ValueError("a stochastic action needs rng (a numpy Generator)")
            log_std = np.clip(out[:, self.action_dim :], LOG_STD_MIN, LOG_STD_MAX)
            u = mu + np.exp(log_std) * rng.standard_normal(mu.shape, dtype=np.float32)
        a = np.tanh(u)
        a = self.low + (a + 1.0) * 0.5 * (self.high - self.low)
        return a[0] if single else a


def sb3_actor_arrays(model) -> dict[str, np.ndarray]:
    """The actor of a stable-baselines3 SAC ``model`` as the float32 arrays this module reads."""
    sd = model.actor.state_dict()
    return {k: sd[k.replace("_weight", ".weight").replace("_bias", ".bias").replace("latent_pi_", "latent_pi.")]
            .detach().cpu().numpy().astype(np.float32) for k in WEIGHT_KEYS}
