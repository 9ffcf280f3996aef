"""Gymnasium environments of multi-view active fine-grained recognition (AFGR / MAFR): ``features`` and ``pixels`` modes."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .. import _raster as R
from ..routing.env import MaskedDiscrete
from .model import N_VIEWS, MultiViewModel, _int_in, predict


def _check_common(what: str, metadata: dict, render_mode, allow_exit, view_cost) -> None:
    if render_mode is not None and render_mode not in metadata["render_modes"]:
        raise ValueError(f"{what}: render_mode must be one of {metadata['render_modes']} or None, got {render_mode!r}")
    if not isinstance(allow_exit, (bool, np.bool_)):
        raise ValueError(f"{what}: allow_exit must be True or False, got {allow_exit!r}")
    if isinstance(view_cost, bool) or not isinstance(view_cost, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(float(view_cost)) and 0.0 <= float(view_cost) <= 1.0):
        raise ValueError(f"{what}: view_cost must be a finite number in [0, 1], got {view_cost!r}")


class _MultiViewEnv(gym.Env):
    """Reset / step / masks / info / render shared by the two observation modes; a subclass provides the world
    (``n_classes``, ``n_fine``, ``key_views``), how an object is drawn and checked, its posterior and its views."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def _setup(self, budget, allow_exit, view_cost, render_mode) -> None:
        self.budget = _int_in(budget, "budget", 2, N_VIEWS, type(self).__name__)
        self.allow_exit = bool(allow_exit)
        self.view_cost = float(view_cost)
        self.render_mode = render_mode
        self.action_space = MaskedDiscrete(N_VIEWS + int(self.allow_exit))
        self.label: int | None = None
        self.seen = np.zeros(N_VIEWS, dtype=bool)
        self.order: list[int] = []
        self._posterior: np.ndarray | None = None
        self._done = True

    # -- what subclasses provide
    def _draw(self) -> tuple[int, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_object(self, obj) -> tuple[int, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load(self, label: int, obj: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _posterior_of(self, seen: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _views(self) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- Gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        what = type(self).__name__
        unknown = set(options) - {"start_view", "object"}
        if unknown:
            raise ValueError(f"{what}: unknown reset option(s) {sorted(unknown)}; allowed: 'start_view', 'object'")
        if options.get("object") is not None:
            label, obj = self._check_object(options["object"])
        else:
            label, obj = self._draw()
        if options.get("start_view") is not None:
            start = _int_in(options["start_view"], "options['start_view']", 0, N_VIEWS - 1, what)
        else:
            start = int(self.np_random.integers(N_VIEWS))
        self.label = label
        self._load(label, obj)
        self.seen = np.zeros(N_VIEWS, dtype=bool)
        self.seen[start] = True
        self.order = [start]
        self._posterior = self._posterior_of(self.seen)
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
        self._posterior = self._posterior_of(self.seen)
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

    def _obs(self) -> dict[str, np.ndarray]:
        return {**self._views(), "seen": self.seen.astype(np.int8), "action_mask": self.action_masks().astype(np.int8)}

    def _info(self, view: int) -> dict[str, Any]:
        p = self._posterior
        pred = int(predict(np.log(np.maximum(p, 1e-300))))
        n_fine = self._world.n_fine
        return {"view": int(view), "num_views": len(self.order), "posterior": p.copy(),
                "coarse_posterior": p.reshape(-1, n_fine).sum(-1), "prediction": pred, "label": self.label,
                "coarse_label": self.label // n_fine, "correct": pred == self.label}

    # -- rendering
    def render(self) -> np.ndarray | None:
        """``render_mode="rgb_array"``: a 256 x 256 RGB picture (numpy only). Top: the ring of 8 views (grey
        unseen, green seen, red the last one; the true class's key views ringed in orange). Bottom: the
        posterior over the fine classes as bars (the true class's bar red), grouped by coarse class."""
        if self.render_mode != "rgb_array" or self.label is None:
            return None
        world = self._world
        canvas = R.Canvas()
        centre, radius = np.array([128.0, 78.0]), 58.0
        for v in range(N_VIEWS):
            angle = 2 * np.pi * v / N_VIEWS
            p = centre + radius * np.array([np.cos(angle), -np.sin(angle)])
            canvas.line(centre, p, R.LIGHT)
            if world.key_views[self.label, v]:
                canvas.disc(p, 14, R.ORANGE)
            colour = R.RED if v == self.order[-1] else R.GREEN if self.seen[v] else R.GREY
            canvas.disc(p, 10, colour)
        canvas.disc(centre, 6, R.BLACK)
        y0, y1 = 150, 244
        n = world.n_classes
        width = (256 - 2 * canvas.margin) / (n + world.n_coarse - 1)
        for y in range(n):
            x = canvas.margin + (y + y // world.n_fine) * width
            canvas.rect(x, y0, x + width - 2, y1, R.LIGHT)
            top = y1 - self._posterior[y] * (y1 - y0)
            canvas.rect(x, top, x + width - 2, y1, R.RED if y == self.label else R.BLUE)
        return canvas.image


class MultiViewFeaturesEnv(_MultiViewEnv):
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

    def __init__(self, n_coarse: int = 4, n_fine: int = 4, budget: int = 8, feature_dim: int = 16,
                 max_key_views: int = 2, coarse_reliability: tuple[float, float] = (0.3, 0.8),
                 key_reliability: float = 0.85, detail_noise: float = 0.3, model_seed: int = 0,
                 allow_exit: bool = False, view_cost: float = 0.0, render_mode: str | None = None) -> None:
        what = type(self).__name__
        _check_common(what, self.metadata, render_mode, allow_exit, view_cost)
        self._setup(budget, allow_exit, view_cost, render_mode)
        self.model = MultiViewModel.generate(n_coarse, n_fine, feature_dim, max_key_views, coarse_reliability,
                                             key_reliability, detail_noise, model_seed, what=what)
        self.observation_space = spaces.Dict({
            "features": spaces.Box(-1.0, 1.0, shape=(N_VIEWS, self.model.feature_dim), dtype=np.float32),
            "seen": spaces.MultiBinary(N_VIEWS),
            "action_mask": spaces.MultiBinary(int(self.action_space.n)),
        })
        self.codes: np.ndarray | None = None

    @property
    def _world(self) -> MultiViewModel:
        return self.model

    def _draw(self) -> tuple[int, np.ndarray]:
        labels, codes = self.model.sample(self.np_random, 1)
        return int(labels[0]), codes[0]

    def _load(self, label: int, codes: np.ndarray) -> None:
        self.codes = codes

    def _posterior_of(self, seen: np.ndarray) -> np.ndarray:
        return self.model.posterior(self.codes[None], seen[None])[0]

    def _views(self) -> dict[str, np.ndarray]:
        return {"features": (self.model.observe(self.codes) * self.seen[:, None]).astype(np.float32)}

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


class MultiViewPixelsEnv(_MultiViewEnv):
    """Active view selection for fine-grained recognition on rendered images of procedurally generated 3D objects.

    ## Description
    The ``pixels`` mode of the multi-view family (see :class:`MultiViewFeaturesEnv` for the task, after AFGR /
    MAFR). Each episode is one object: a body whose shape is the coarse class (box, cylinder, ellipsoid,
    capsule) with eight radial ribs, carrying a small part whose shape and colour are the fine class in the slot
    between two ribs, so that it shows only from the few viewpoints that face it (the class's key views, measured
    by rendering). MuJoCo
    renders the 8 views on a ring offscreen (:mod:`orl_envs.multiview.pixels`); needs
    ``pip install 'orl-envs[multiview]'`` and EGL or OSMesa (``MUJOCO_GL``; ``egl`` unless set).

    ## Action space
    As :class:`MultiViewFeaturesEnv`: ``Discrete(8)`` (``Discrete(9)`` with ``allow_exit=True``), seen views
    masked, an illegal action raises ``ValueError``.

    ## Observation space
    ``Dict``: ``images`` Box(0, 255, (8, image_size, image_size, 3), uint8) — the image of each seen view
    (zeros for unseen views); ``seen`` MultiBinary(8); ``action_mask``.

    ## Rewards
    The increase of the true class's probability under the *ideal observer's* posterior (a perfect reader of
    the images: uniform over the classes whose objects would look the same in every seen view; see
    :mod:`orl_envs.multiview.pixels`), minus ``view_cost`` per view; the exit action pays 0.

    ## Starting state, episode end, info
    As :class:`MultiViewFeaturesEnv`; ``options={"object": (label, colour)}`` replays an object (``colour`` =
    the body's r, g, b in [0, 1]).

    ## Arguments
    ``gymnasium.make("orl/MultiViewPixels-v0", n_coarse=4, n_fine=4, budget=8, image_size=32, model_seed=0,
    allow_exit=False, view_cost=0.0, render_mode=None)``; ``n_coarse`` in 2..4, ``n_fine`` in 2..8 (more than 4:
    siblings share part shapes and differ by where the part sits), ``image_size`` in 16..256.

    ## Version history
    * v0: initial version.
    """

    def __init__(self, n_coarse: int = 4, n_fine: int = 4, budget: int = 8, image_size: int = 32,
                 model_seed: int = 0, allow_exit: bool = False, view_cost: float = 0.0,
                 render_mode: str | None = None) -> None:
        from .pixels import PixelWorld

        what = type(self).__name__
        _check_common(what, self.metadata, render_mode, allow_exit, view_cost)
        self._setup(budget, allow_exit, view_cost, render_mode)
        self.world = PixelWorld(n_coarse, n_fine, image_size, model_seed, what=what)
        px = self.world.image_size
        self.observation_space = spaces.Dict({
            "images": spaces.Box(0, 255, shape=(N_VIEWS, px, px, 3), dtype=np.uint8),
            "seen": spaces.MultiBinary(N_VIEWS),
            "action_mask": spaces.MultiBinary(int(self.action_space.n)),
        })
        self.colour: np.ndarray | None = None
        self._images: np.ndarray | None = None

    @property
    def _world(self):
        return self.world

    def _draw(self) -> tuple[int, np.ndarray]:
        labels, colours = self.world.sample(self.np_random, 1)
        return int(labels[0]), colours[0]

    def _load(self, label: int, colour: np.ndarray) -> None:
        self.colour = colour
        self._images = self.world.render_object(label, colour)

    def _posterior_of(self, seen: np.ndarray) -> np.ndarray:
        return self.world.posterior(np.array([self.label]), seen[None])[0]

    def _views(self) -> dict[str, np.ndarray]:
        return {"images": self._images * self.seen[:, None, None, None].astype(np.uint8)}

    def _check_object(self, obj) -> tuple[int, np.ndarray]:
        what = type(self).__name__
        try:
            label, colour = obj
        except (TypeError, ValueError):
            raise ValueError(f"{what}: options['object'] must be a pair (label, colour), got {obj!r}") from None
        label = _int_in(label, "the object's label", 0, self.world.n_classes - 1, what)
        try:
            x = np.asarray(colour, dtype=np.float64)
        except (TypeError, ValueError):
            x = np.array([np.nan])
        if x.shape != (3,) or not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x > 1):
            raise ValueError(f"{what}: the object's colour must be (r, g, b) in [0, 1], got {colour!r}")
        return label, x

    def close(self) -> None:
        self.world.close()
        super().close()
