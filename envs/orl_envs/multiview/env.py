"""Gymnasium environment of multi-view active fine-grained recognition (AFGR / MAFR), ``features`` mode."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .. import _raster as R
from ..routing.env import MaskedDiscrete
from .model import N_VIEWS, MultiViewModel, _int_in, predict


class MultiViewFeaturesEnv(gym.Env):
    """Active view selection for fine-grained recognition, on feature vectors with an exact Bayes posterior.

    ## Description
    A stand-in for the multi-view vehicle recognition of Du et al., "Learning Active Fine-Grained
    Recognition" (AFGR, arXiv 2206.01153) and its ICCV 2023 version "Multi-View Active Fine-Grained Visual
    Recognition" (MAFR, code ``PRIS-CV/MAFR``), whose images are not available. Each episode is one object of
    an unknown fine class (``n_coarse`` body shapes x ``n_fine`` models each) with ``V = 8`` views on a ring;
    the agent starts with one view and chooses which unseen view to look at next, up to ``budget`` views.
    The world is the generative model of :class:`orl_envs.multiview.model.MultiViewModel` (drawn once from
    ``model_seed``): every fine class has 1-2 *key views* where its distinguishing part shows; elsewhere
    siblings look alike. Its likelihoods are known, so ``info["posterior"]`` is the exact Bayes posterior
    and :meth:`information_gain` the exact expected information gain of each view.

    ## Action space
    ``Discrete(8)`` (``Discrete(9)`` with ``allow_exit=True``; action 8 is MAFR's dynamic exit): the next
    view. Seen views are masked (``obs["action_mask"]``, :meth:`action_masks`; ``action_space.sample()``
    draws a legal action); an illegal action raises ``ValueError`` naming it and the legal ones.

    ## Observation space
    ``Dict``: ``features`` Box(-1, 1, (8, feature_dim), float32) — the feature vector of each seen view
    (row ``v`` = view ``v``; zeros for unseen views); ``seen`` MultiBinary(8); ``action_mask``
    MultiBinary(8 or 9).

    ## Rewards
    As the code (``--reward simple``): the increase of the true class's probability,
    ``r_t = p_t(y*) - p_{t-1}(y*)``, here under the exact Bayes posterior (MAFR uses its jointly trained
    classifier's softmax), minus ``view_cost`` per view taken. The exit action pays 0. The return is
    ``p_last(y*) - p_1(y*) - view_cost * (views taken)``.

    ## Starting state
    ``reset`` draws the object (fine class uniform, the codes of all 8 views) and a start view uniformly
    (MAFR's training; its evaluation averages over the 8 start views: ``options={"start_view": v}``). The
    start view is seen at reset, so an episode has at most ``budget - 1`` steps.
    ``options={"object": (label, codes)}`` replays a given object (``codes``: 8 integers, see the model).

    ## Episode end
    Terminates when ``budget`` views have been seen or on exit. No truncation.

    ## Info
    ``view`` (the view just seen), ``num_views``, ``posterior`` (exact, over the ``n_coarse * n_fine`` fine
    classes), ``coarse_posterior``, ``prediction`` (its most probable class), and for evaluation only
    ``label``, ``coarse_label`` and ``correct``.

    ## Arguments
    ``gymnasium.make("orl/MultiViewFeatures-v0", n_coarse=4, n_fine=4, budget=8, feature_dim=16,
    max_key_views=2, coarse_reliability=(0.3, 0.8), key_reliability=0.85, detail_noise=0.3, model_seed=0,
    allow_exit=False, view_cost=0.0, render_mode=None)``. ``budget`` in 2..8; the model arguments are
    documented in :mod:`orl_envs.multiview.model`. ``render_mode="rgb_array"`` draws the ring of views
    (seen ones green, the last one red, key views of the true class ringed) and the posterior as bars.

    ## Version history
    * v0: initial version.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, n_coarse: int = 4, n_fine: int = 4, budget: int = 8, feature_dim: int = 16,
                 max_key_views: int = 2, coarse_reliability: tuple[float, float] = (0.3, 0.8),
                 key_reliability: float = 0.85, detail_noise: float = 0.3, model_seed: int = 0,
                 allow_exit: bool = False, view_cost: float = 0.0, render_mode: str | None = None) -> None:
        what = type(self).__name__
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"{what}: render_mode must be one of {self.metadata['render_modes']} or None, "
                             f"got {render_mode!r}")
        if not isinstance(allow_exit, (bool, np.bool_)):
            raise ValueError(f"{what}: allow_exit must be True or False, got {allow_exit!r}")
        if isinstance(view_cost, bool) or not isinstance(view_cost, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(float(view_cost)) and 0.0 <= float(view_cost) <= 1.0):
            raise ValueError(f"{what}: view_cost must be a finite number in [0, 1], got {view_cost!r}")
        self.budget = _int_in(budget, "budget", 2, N_VIEWS, what)
        self.model = MultiViewModel.generate(n_coarse, n_fine, feature_dim, max_key_views, coarse_reliability,
                                             key_reliability, detail_noise, model_seed, what=what)
        self.allow_exit = bool(allow_exit)
        self.view_cost = float(view_cost)
        self.render_mode = render_mode
        n_actions = N_VIEWS + int(self.allow_exit)
        self.action_space = MaskedDiscrete(n_actions)
        self.observation_space = spaces.Dict({
            "features": spaces.Box(-1.0, 1.0, shape=(N_VIEWS, self.model.feature_dim), dtype=np.float32),
            "seen": spaces.MultiBinary(N_VIEWS),
            "action_mask": spaces.MultiBinary(n_actions),
        })
        self.label: int | None = None
        self.codes: np.ndarray | None = None
        self.seen = np.zeros(N_VIEWS, dtype=bool)
        self.order: list[int] = []
        self._posterior: np.ndarray | None = None
        self._done = True

    # -- Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        what = type(self).__name__
        unknown = set(options) - {"start_view", "object"}
        if unknown:
            raise ValueError(f"{what}: unknown reset option(s) {sorted(unknown)}; allowed: 'start_view', 'object'")
        if options.get("object") is not None:
            label, codes = self._check_object(options["object"])
        else:
            labels, codes = self.model.sample(self.np_random, 1)
            label, codes = int(labels[0]), codes[0]
        if options.get("start_view") is not None:
            start = _int_in(options["start_view"], "options['start_view']", 0, N_VIEWS - 1, what)
        else:
            start = int(self.np_random.integers(N_VIEWS))
        self.label, self.codes = label, codes
        self.seen = np.zeros(N_VIEWS, dtype=bool)
        self.seen[start] = True
        self.order = [start]
        self._posterior = self.model.posterior(codes[None], self.seen[None])[0]
        self._done = False
        self.action_space.legal = self.action_masks()
        return self._obs(), self._info(start)

    def step(self, action):
        what = type(self).__name__
        if self.label is None:
            raise RuntimeError(f"{what}: call reset() before step()")
        if self._done:
            raise RuntimeError(f"{what}: the episode has ended; call reset()")
        n = int(self.action_space.n)
        if np.ndim(action) != 0 or not float(action).is_integer() or not 0 <= int(action) < n:
            raise ValueError(f"{what}: action must be one integer in [0, {n - 1}], got {action!r}")
        a = int(action)
        legal = self.action_masks()
        if not legal[a]:
            raise ValueError(f"{what}: action {a} is not allowed: view {a} was already seen "
                             f"(legal actions: {np.flatnonzero(legal).tolist()})")
        if a == N_VIEWS:  # exit
            self._done = True
            self.action_space.legal = None
            return self._obs(), 0.0, True, False, self._info(self.order[-1])
        before = float(self._posterior[self.label])
        self.seen[a] = True
        self.order.append(a)
        self._posterior = self.model.posterior(self.codes[None], self.seen[None])[0]
        reward = float(self._posterior[self.label]) - before - self.view_cost
        self._done = len(self.order) >= self.budget
        self.action_space.legal = None if self._done else self.action_masks()
        return self._obs(), reward, self._done, False, self._info(a)

    def action_masks(self) -> np.ndarray:
        """Legal actions as a bool vector: unseen views (none after the episode's end), and exit if allowed."""
        mask = ~self.seen
        if self._done:
            mask = np.zeros_like(mask)
        if self.allow_exit:
            mask = np.append(mask, not self._done)
        return mask

    def information_gain(self) -> np.ndarray:
        """Exact expected information gain (nats) of looking at each view next, under the current posterior
        (``(8,)``; seen views get ``-inf``). Its argmax is the greedy-information-gain policy."""
        if self._posterior is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() first")
        gain = self.model.information_gain(self._posterior[None])[0]
        return np.where(self.seen, -np.inf, gain)

    def _check_object(self, obj) -> tuple[int, np.ndarray]:
        what = type(self).__name__
        try:
            label, codes = obj
        except (TypeError, ValueError):
            raise ValueError(f"{what}: options['object'] must be a pair (label, codes), got {obj!r}") from None
        label = _int_in(label, "the object's label", 0, self.model.n_classes - 1, what)
        codes = np.asarray(codes)
        if codes.shape != (N_VIEWS,) or not np.issubdtype(codes.dtype, np.integer) \
                or codes.min() < 0 or codes.max() >= self.model.n_codes:
            raise ValueError(f"{what}: the object's codes must be {N_VIEWS} integers in [0, {self.model.n_codes - 1}], "
                             f"got {codes!r}")
        return label, codes.astype(np.int64)

    def _obs(self) -> dict[str, np.ndarray]:
        feats = self.model.observe(self.codes) * self.seen[:, None]
        mask = self.action_masks()
        return {"features": feats.astype(np.float32), "seen": self.seen.astype(np.int8),
                "action_mask": mask.astype(np.int8)}

    def _info(self, view: int) -> dict[str, Any]:
        p = self._posterior
        pred = int(predict(np.log(np.maximum(p, 1e-300))))
        return {"view": int(view), "num_views": len(self.order), "posterior": p.copy(),
                "coarse_posterior": self.model.coarse_posterior(p), "prediction": pred, "label": self.label,
                "coarse_label": self.label // self.model.n_fine, "correct": pred == self.label}

    # -- rendering
    def render(self) -> np.ndarray | None:
        """``render_mode="rgb_array"``: a 256 x 256 RGB picture (numpy only). Top: the ring of 8 views (grey
        unseen, green seen, red the last one; the true class's key views ringed in orange). Bottom: the
        posterior over the fine classes as bars (the true class's bar red), grouped by coarse class."""
        if self.render_mode != "rgb_array" or self.codes is None:
            return None
        canvas = R.Canvas()
        centre, radius = np.array([128.0, 78.0]), 58.0
        for v in range(N_VIEWS):
            angle = 2 * np.pi * v / N_VIEWS
            p = centre + radius * np.array([np.cos(angle), -np.sin(angle)])
            canvas.line(centre, p, R.LIGHT)
            if self.model.key_views[self.label, v]:
                canvas.disc(p, 14, R.ORANGE)
            colour = R.RED if v == self.order[-1] else R.GREEN if self.seen[v] else R.GREY
            canvas.disc(p, 10, colour)
        canvas.disc(centre, 6, R.BLACK)
        y0, y1 = 150, 244
        n = self.model.n_classes
        width = (256 - 2 * canvas.margin) / (n + self.model.n_coarse - 1)
        for y in range(n):
            x = canvas.margin + (y + y // self.model.n_fine) * width
            canvas.rect(x, y0, x + width - 2, y1, R.LIGHT)
            top = y1 - self._posterior[y] * (y1 - y0)
            canvas.rect(x, top, x + width - 2, y1, R.RED if y == self.label else R.BLUE)
        return canvas.image
