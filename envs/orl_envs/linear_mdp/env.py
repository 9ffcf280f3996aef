"""Gymnasium environment of a d-rectangular linear MDP (default: the 5-state instance) with a test-time shift."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .. import _raster as R
from .model import DRectangularLinearMDP, _number_in, five_state_model


class DRLinearMDPEnv(gym.Env):
    """An episodic d-rectangular linear MDP: the testbed of distributionally robust RL with linear features.

    ## Description
    The model class of Ma et al. (arXiv 2209.06620) and Liu & Xu (AISTATS 2024, arXiv 2402.15399): features
    ``phi(s, a)`` in the simplex of dimension ``d``, a nominal kernel ``P0(s'|s, a) = sum_i phi_i(s, a)
    mu_i(s')`` mixing ``d`` factor distributions, rewards ``r(s, a) = phi(s, a) @ theta``. Training happens
    on the nominal kernel (``q = 0``); a test-time shift ``q`` in ``[0, 1]`` replaces every factor by ``(1 - q)
    mu_i + q delta_sink`` (mass moved to the worst state), which lies in the TV d-rectangular set of radius
    ``q`` — the "off-dynamics" target domain.

    The default model is the 5-state instance of :func:`orl_envs.linear_mdp.model.five_state_model`,
    modelled on the 5-state example of Liu & Xu 2024 (our reconstruction; their constants were not
    available): states ``start, transit, safe, fail, goal``; actions ``{-1, +1}^3``; from ``start`` the first
    action bit picks the safe route (reward ``r_safe`` per step, ``safe`` absorbing) or the risky one
    (``transit``, then ``goal`` with a probability set by the alignment of the other two bits with a hidden
    ``xi``; ``goal`` pays 1 per step). Nominally the risky route is better; under a shift ``q`` above about
    0.22 (horizon 5) the safe route is.

    ## Action space
    ``Discrete(A)``; action ``k`` is row ``k`` of :func:`orl_envs.linear_mdp.model.action_bits` for the
    5-state model (``A = 2^n_bits``).

    ## Observation space
    ``Discrete(S)``: the state. The step index is ``info["step"]``; the features of every action in the
    current state are ``info["features"]`` ``(A, d)``; the whole model is :attr:`model`.

    ## Rewards
    ``r(s, a) = phi(s, a) @ theta`` in ``[0, 1]``, deterministic and not shifted (only transitions are).

    ## Starting state
    ``model.initial_state`` (``start``).

    ## Episode end
    Terminates after ``horizon`` steps (the horizon is part of the episodic MDP). No truncation.

    ## Exact quantities
    :attr:`kernel` (the ``q``-shifted ``P[s, a, s']``), :attr:`nominal_kernel`, :attr:`reward_table`
    (``R[s, a]``), :attr:`features` (``phi`` ``(S, A, d)``), :attr:`model` (factors, ``theta``) — what the
    exact solvers of ``orl.algos.provable`` need to measure regret and robust values.

    ## Arguments
    ``gymnasium.make("orl/DRLinearMDP5-v0", q=0.0, horizon=5, n_bits=3, r_safe=0.6, leak=0.05,
    goal_spread=0.4, xi=None, model=None, render_mode=None)``; ``model`` (a :class:`DRectangularLinearMDP`)
    replaces the 5-state instance and its arguments. ``render_mode="rgb_array"`` draws the states on a ring
    (the current one red, the others blue, disc size by reward), the transitions of the shifted kernel as
    grey lines, and the step as a bar.

    ## Version history
    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, q: float = 0.0, horizon: int = 5, n_bits: int = 3, r_safe: float = 0.6, leak: float = 0.05,
                 goal_spread: float = 0.4, xi: tuple[float, ...] | None = None,
                 model: DRectangularLinearMDP | None = None, render_mode: str | None = None) -> None:
        what = type(self).__name__
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"{what}: render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got {render_mode!r}")
        if model is None:
            model = five_state_model(horizon=horizon, n_bits=n_bits, r_safe=r_safe, leak=leak,
                                     goal_spread=goal_spread, xi=xi)
        elif not isinstance(model, DRectangularLinearMDP):
            raise ValueError(f"{what}: model must be a DRectangularLinearMDP or None, got {type(model).__name__}")
        self.q = _number_in(q, "q", 0.0, 1.0, what)
        self.model = model
        self.render_mode = render_mode
        self.kernel = model.kernel(self.q)
        self.nominal_kernel = model.kernel(0.0)
        self.reward_table = model.reward()
        self.features = model.phi
        self.horizon = model.horizon
        self.observation_space = spaces.Discrete(model.num_states)
        self.action_space = spaces.Discrete(model.num_actions)
        self.state: int | None = None
        self.step_index = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options:
            raise ValueError(f"{type(self).__name__}: reset takes no options, got {sorted(options)}")
        self.state = self.model.initial_state
        self.step_index = 0
        return self.state, self._info()

    def step(self, action):
        what = type(self).__name__
        if self.state is None:
            raise RuntimeError(f"{what}: call reset() before step()")
        if self.step_index >= self.horizon:
            raise RuntimeError(f"{what}: the episode has ended after {self.horizon} steps; call reset()")
        n = self.model.num_actions
        if np.ndim(action) != 0 or not float(action).is_integer() or not 0 <= int(action) < n:
            raise ValueError(f"{what}: action must be one integer in [0, {n - 1}], got {action!r}")
        a = int(action)
        reward = float(self.reward_table[self.state, a])
        self.state = int(self.np_random.choice(self.model.num_states, p=self.kernel[self.state, a]))
        self.step_index += 1
        return self.state, reward, self.step_index >= self.horizon, False, self._info()

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        canvas = R.Canvas(200, 200)
        S = self.model.num_states
        angles = np.pi / 2 - 2 * np.pi * np.arange(S) / S
        centres = canvas.unit_to_px(0.5 + 0.38 * np.stack([np.cos(angles), np.sin(angles)], -1))
        reachable = self.kernel.max(1) > 1e-9                 # s -> s' under some action
        for s, t in zip(*np.nonzero(reachable)):
            if s != t:
                canvas.line(centres[s], centres[t], R.GREY)
        best = self.reward_table.max(1)
        for s in range(S):
            canvas.disc(centres[s], 6 + 6 * best[s], R.RED if s == self.state else R.BLUE)
        canvas.bar(self.step_index / self.horizon, 200 - 10)
        return canvas.image

    def _info(self) -> dict[str, Any]:
        return {"step": self.step_index, "features": self.features[self.state].copy()}
