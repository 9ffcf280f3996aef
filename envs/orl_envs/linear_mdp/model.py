"""d-rectangular linear MDPs: features, factor distributions, rewards and test-time perturbations.

The model class of distributionally robust RL with linear function approximation (Ma, Liang, Blanchet et al.,
"Distributionally robust offline RL with linear function approximation", arXiv 2209.06620; Liu & Xu,
"Distributionally robust off-dynamics RL: provable efficiency with linear function approximation", AISTATS
2024, arXiv 2402.15399): features ``phi(s, a)`` in the probability simplex of dimension ``d``, a nominal kernel
that is a mixture of ``d`` factor distributions,

    P0(s' | s, a) = sum_i phi_i(s, a) mu_i(s'),

and rewards linear in the same features, ``r(s, a) = phi(s, a) @ theta``. A d-rectangular uncertainty set lets
an adversary move every factor ``mu_i`` within a divergence ball of radius ``rho`` independently;
:mod:`orl.algos.provable.robust_sets` solves the robust Bellman backup over it exactly.

A test-time shift of strength ``q`` (:meth:`DRectangularLinearMDP.perturbed_factors`) mixes every factor with
a point mass on the model's ``sink`` state, ``mu_i^q = (1 - q) mu_i + q delta_sink``: its total-variation
distance to ``mu_i`` is ``q (1 - mu_i(sink)) <= q``, so the shifted kernel lies in the TV set of radius ``q``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..multiview.model import _int_in  # the package's one integer-range check


def _number_in(value, name: str, low: float, high: float, what: str, *, open_low: bool = False,
               open_high: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(value)):
        raise ValueError(f"{what}: {name} must be a finite number, got {value!r}")
    v = float(value)
    if v < low or v > high or (open_low and v == low) or (open_high and v == high):
        lo, hi = ("(" if open_low else "["), (")" if open_high else "]")
        raise ValueError(f"{what}: {name} must be in {lo}{low}, {high}{hi}, got {value!r}")
    return v


@dataclass(frozen=True)
class DRectangularLinearMDP:
    """A finite episodic d-rectangular linear MDP.

    ``phi`` ``(S, A, d)``: features, every ``phi[s, a]`` a probability vector; ``factors`` ``(d, S)``: the
    nominal factor distributions ``mu_i``; ``theta`` ``(d,)``: reward weights in ``[0, 1]``; ``horizon``;
    ``initial_state``; ``sink``: the state test-time shifts push mass to (the worst state).
    """

    phi: np.ndarray
    factors: np.ndarray
    theta: np.ndarray
    horizon: int
    initial_state: int = 0
    sink: int = 0

    def __post_init__(self) -> None:
        what = type(self).__name__
        phi, mu, theta = (np.asarray(x, dtype=float) for x in (self.phi, self.factors, self.theta))
        if phi.ndim != 3:
            raise ValueError(f"{what}: phi must have shape (S, A, d), got {phi.shape}")
        S, A, d = phi.shape
        if mu.shape != (d, S):
            raise ValueError(f"{what}: factors must have shape (d, S) = ({d}, {S}), got {mu.shape}")
        if theta.shape != (d,):
            raise ValueError(f"{what}: theta must have shape (d,) = ({d},), got {theta.shape}")
        for name, x in (("phi[s, a]", phi), ("every factor", mu)):
            if np.any(x < -1e-12) or not np.allclose(x.sum(-1), 1.0, atol=1e-9):
                raise ValueError(f"{what}: {name} must be a probability vector (d-rectangular linear MDPs "
                                 f"take simplex features and distributions)")
        if np.any(theta < 0) or np.any(theta > 1):
            raise ValueError(f"{what}: theta must lie in [0, 1]^d so rewards lie in [0, 1], got {theta}")
        _int_in(self.horizon, "horizon", 1, 10_000, what)
        _int_in(self.initial_state, "initial_state", 0, S - 1, what)
        _int_in(self.sink, "sink", 0, S - 1, what)
        for name, x in (("phi", phi), ("factors", mu), ("theta", theta)):
            x.setflags(write=False)
            object.__setattr__(self, name, x)

    @property
    def num_states(self) -> int:
        return self.phi.shape[0]

    @property
    def num_actions(self) -> int:
        return self.phi.shape[1]

    @property
    def dim(self) -> int:
        return self.phi.shape[2]

    def perturbed_factors(self, q: float = 0.0) -> np.ndarray:
        """``(1 - q) mu_i + q delta_sink`` for every factor: the test-time shift of strength ``q`` in [0, 1]."""
        q = _number_in(q, "q", 0.0, 1.0, type(self).__name__)
        sink = np.zeros(self.num_states)
        sink[self.sink] = 1.0
        return (1.0 - q) * self.factors + q * sink

    def kernel(self, q: float = 0.0, factors: np.ndarray | None = None) -> np.ndarray:
        """The tabular kernel ``P[s, a, s'] = sum_i phi_i(s, a) mu_i(s')`` of the ``q``-shifted model (``q = 0``:
        nominal), or of the given ``factors`` ``(d, S)`` (e.g. a worst case returned by the robust solvers)."""
        mu = self.perturbed_factors(q) if factors is None else np.asarray(factors, dtype=float)
        return np.einsum("sai,it->sat", self.phi, mu)

    def reward(self) -> np.ndarray:
        """``R[s, a] = phi(s, a) @ theta``; rewards are not perturbed (only transitions are uncertain)."""
        return self.phi @ self.theta


def action_bits(n_bits: int) -> np.ndarray:
    """All actions of ``{-1, +1}^n_bits`` as rows, in binary order (action ``k`` has bit ``j`` = ``+1`` when
    bit ``n_bits - 1 - j`` of ``k`` is set)."""
    return np.array(list(itertools.product((-1.0, 1.0), repeat=n_bits)))


def random_model(num_states: int = 6, num_actions: int = 4, dim: int = 3, horizon: int = 4, seed: int = 0,
                 concentration: float = 0.5, sink: int = 0) -> DRectangularLinearMDP:
    """A random member of the family: features ``phi(s, a) ~ Dirichlet(concentration)`` over ``dim``
    factors, factors ``mu_i ~ Dirichlet(concentration)`` over the states (full support, so KL balls are not
    trivial), ``theta ~ U[0, 1]^dim``; the test-time shift pushes mass to state ``sink``."""
    what = "random_model"
    S = _int_in(num_states, "num_states", 2, 10_000, what)
    A = _int_in(num_actions, "num_actions", 1, 10_000, what)
    d = _int_in(dim, "dim", 1, 1_000, what)
    concentration = _number_in(concentration, "concentration", 0.0, 1e6, what, open_low=True)
    rng = np.random.default_rng(_int_in(seed, "seed", 0, 2**63 - 1, what))
    return DRectangularLinearMDP(phi=rng.dirichlet(np.full(d, concentration), size=(S, A)),
                                 factors=rng.dirichlet(np.full(S, concentration), size=d),
                                 theta=rng.uniform(size=d), horizon=horizon, sink=sink)


#: State names of :func:`five_state_model`.
FIVE_STATE_NAMES = ("start", "transit", "safe", "fail", "goal")


def five_state_model(horizon: int = 5, n_bits: int = 3, r_safe: float = 0.6, leak: float = 0.05,
                     goal_spread: float = 0.4, xi: tuple[float, ...] | None = None) -> DRectangularLinearMDP:
    """The 5-state d-rectangular linear MDP of :class:`orl_envs.linear_mdp.env.DRLinearMDPEnv`.

    Modelled on the 5-state simulated example of Liu & Xu (AISTATS 2024, arXiv 2402.15399): a start state, a
    fail and a goal state, actions in ``{-1, +1}^n_bits`` whose alignment with a hidden vector ``xi`` sets the
    chance of reaching the goal, and a test-time shift toward the fail state. Their exact constants were not
    available to us, so this is a reconstruction with a safe detour added (state ``safe``) so that the
    nominal and the robust optimal policies differ. Factors: one per state, ``mu_i = (1 - leak) delta_i +
    leak delta_fail`` (``mu_fail = delta_fail``); the leak gives every factor support on ``fail`` so that KL
    balls are not trivial. Features:

    * ``start``: the first bit picks the route — ``-1``: toward ``safe``, ``+1``: toward ``transit``;
    * ``transit``: toward ``goal`` with weight ``g(a) = 0.5 + goal_spread * u(a)``, else ``fail``, where
      ``u(a) = <xi, a[1:]> / (n_bits - 1)`` in ``[-1, 1]`` (``u = 1`` for ``a[1:] = xi``);
    * ``safe``, ``fail``, ``goal``: toward themselves (absorbing up to the leak).

    Rewards ``theta_i``: 1 for the goal factor, ``r_safe`` for the safe factor, 0 otherwise — the reward of
    ``(s, a)`` is the reward of where the features point, paid on the step.
    """
    what = "five_state_model"
    horizon = _int_in(horizon, "horizon", 2, 1000, what)
    n_bits = _int_in(n_bits, "n_bits", 2, 8, what)
    r_safe = _number_in(r_safe, "r_safe", 0.0, 1.0, what)
    leak = _number_in(leak, "leak", 0.0, 1.0, what, open_high=True)
    goal_spread = _number_in(goal_spread, "goal_spread", 0.0, 0.5, what)
    if xi is None:
        xi_arr = np.ones(n_bits - 1)
    else:
        xi_arr = np.asarray(xi, dtype=float)
        if xi_arr.shape != (n_bits - 1,) or not np.all(np.isin(xi_arr, (-1.0, 1.0))):
            raise ValueError(f"{what}: xi must be {n_bits - 1} entries in {{-1, +1}} (n_bits - 1), got {xi!r}")
    start, transit, safe, fail, goal = range(5)
    S, d = 5, 5
    bits = action_bits(n_bits)
    A = len(bits)
    eye = np.eye(S)
    factors = (1.0 - leak) * eye + leak * eye[fail]
    factors[fail] = eye[fail]
    phi = np.zeros((S, A, d))
    phi[start] = np.where(bits[:, :1] > 0, eye[transit], eye[safe])
    g = 0.5 + goal_spread * (bits[:, 1:] @ xi_arr) / (n_bits - 1)
    phi[transit] = g[:, None] * eye[goal] + (1.0 - g)[:, None] * eye[fail]
    for s in (safe, fail, goal):
        phi[s] = eye[s]
    theta = np.zeros(d)
    theta[goal], theta[safe] = 1.0, r_safe
    return DRectangularLinearMDP(phi=phi, factors=factors, theta=theta, horizon=horizon, initial_state=start,
                                 sink=fail)
