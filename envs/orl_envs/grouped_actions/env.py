"""Large-action tabular MDPs with a known action-grouping ground truth.

Reconstruction of the "action-wise similar MDP" setting of Li, Ju & Shroff, "Achieving Sample and Computational
Efficient Reinforcement Learning by Action Space Reduction via Grouping" (ICLR 2024, arXiv 2306.12981). The paper's
body was not retrievable, so the generator is our own design following the abstract's model: actions in group ``k``
share a base kernel ``Pbar_k(.|s)`` and base reward ``rbar_k(s)``, plus a member-specific perturbation of size
``epsilon`` (the grouping error):

    P(.|s, a) = (1 - epsilon) Pbar_{g(a)}(.|s) + epsilon D_a(.|s),     r(s, a) = rbar_{g(a)}(s) + epsilon u_a(s)

with ``Pbar_k``, ``D_a`` drawn Dirichlet(1) and ``rbar_k``, ``u_a`` uniform on [0, 1] (rewards clipped to [0, 1]).
Reconstruction choices: the mixture form (instead of the paper's linear decomposition with coefficients), Dirichlet(1)
rows, equal-size contiguous groups, and a discount ``gamma`` (the env itself is a continuing MDP truncated at
``max_episode_steps``).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium import spaces


@dataclass(frozen=True)
class GroupedMDP:
    """A tabular MDP: ``P[s, a, s']``, ``R[s, a]`` in [0, 1], the ground-truth ``groups[a]`` and ``epsilon``."""

    P: np.ndarray
    R: np.ndarray
    groups: np.ndarray
    epsilon: float


def generate_grouped_mdp(num_states: int = 5, num_actions: int = 40, num_groups: int = 4, epsilon: float = 0.02,
                         seed: int = 0) -> GroupedMDP:
    """Draw a grouped MDP (see the module docstring); exact given ``seed``."""
    if num_states < 1:
        raise ValueError(f"num_states must be >= 1, got {num_states}")
    if not 1 <= num_groups <= num_actions:
        raise ValueError(f"num_groups must be in [1, num_actions={num_actions}], got {num_groups}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    rng = np.random.default_rng(seed)
    S, A, G = num_states, num_actions, num_groups
    groups = (np.arange(A) * G) // A  # contiguous, equal-size (up to one) groups
    Pbar = rng.dirichlet(np.ones(S), size=(S, G))
    rbar = rng.uniform(size=(S, G))
    D = rng.dirichlet(np.ones(S), size=(S, A))
    u = rng.uniform(size=(S, A))
    P = (1 - epsilon) * Pbar[:, groups] + epsilon * D
    R = np.clip(rbar[:, groups] + epsilon * (u - 0.5), 0.0, 1.0)
    return GroupedMDP(P=P, R=R, groups=groups, epsilon=float(epsilon))


class GroupedActionsEnv(gym.Env):
    """Tabular MDP with many actions that fall into a few groups of near-identical actions.

    ## Description
    A random ``num_states`` x ``num_actions`` MDP from :func:`generate_grouped_mdp` (Li, Ju & Shroff, ICLR 2024,
    arXiv 2306.12981, reconstruction). The instance is fixed by ``instance_seed``; ``reset(seed=...)`` seeds only the
    start state and transitions.

    ## Spaces
    Observation: ``Discrete(num_states)``. Action: ``Discrete(num_actions)``.

    ## Rewards
    ``R[s, a]`` in [0, 1].

    ## Episode end
    Never terminates; truncate with ``max_episode_steps`` (registered: 100).

    ## Rendering
    ``render_mode="rgb_array"``: the states as a row of cells, the current one highlighted.

    ## Attributes
    ``P``, ``R`` (true model), ``groups`` (ground-truth grouping), ``gamma`` (discount used for evaluation).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, num_states: int = 5, num_actions: int = 40, num_groups: int = 4, epsilon: float = 0.02,
                 gamma: float = 0.9, instance_seed: int = 0, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        mdp = generate_grouped_mdp(num_states, num_actions, num_groups, epsilon, instance_seed)
        self.P, self.R, self.groups, self.epsilon = mdp.P, mdp.R, mdp.groups, mdp.epsilon
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"gamma must be in [0, 1), got {gamma}")
        self.gamma = float(gamma)
        self.observation_space = spaces.Discrete(num_states)
        self.action_space = spaces.Discrete(num_actions)
        self._state = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._state = int(self.np_random.integers(self.observation_space.n))
        return self._state, {}

    def step(self, action):
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action must be in [0, {self.action_space.n}), got {action}")
        r = float(self.R[self._state, a])
        self._state = int(self.np_random.choice(self.observation_space.n, p=self.P[self._state, a]))
        return self._state, r, False, False, {}

    def render(self) -> np.ndarray | None:
        """``rgb_array``: a row of ``num_states`` grey cells, the current state white (16 x 16 pixels each)."""
        if self.render_mode != "rgb_array":
            return None
        img = np.full((16, 16 * self.observation_space.n, 3), 64, dtype=np.uint8)
        img[:, 16 * self._state:16 * (self._state + 1)] = 255
        return img
