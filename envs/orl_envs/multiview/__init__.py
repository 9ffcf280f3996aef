"""Multi-view active fine-grained recognition (AFGR, Du et al. arXiv 2206.01153; MAFR, ICCV 2023).

* :mod:`.model`: the generative model of the ``features`` mode (coarse/fine classes, 8 views, class-dependent
  key views, known likelihoods) with its exact Bayes posterior and expected information gain, batched;
* :mod:`.env`: the Gymnasium environments — ``features`` mode (a batch-of-one view of the model) and ``pixels``
  mode (MuJoCo renderings of procedurally generated 3D objects, :mod:`.pixels`; needs ``orl-envs[multiview]``);
* :mod:`.baselines`: exact evaluation of view orders — random, best fixed order, greedy information gain,
  all views.
"""

from __future__ import annotations

import gymnasium as gym

from .baselines import (
    accuracy_curve,
    all_views_accuracy,
    best_fixed_orders,
    fixed_orders,
    greedy_orders,
    random_accuracy_curve,
)
from .env import MultiViewFeaturesEnv, MultiViewPixelsEnv
from .model import N_VIEWS, MultiViewModel

#: Gymnasium id -> entry point.
MULTIVIEW_IDS: dict[str, str] = {
    "orl/MultiViewFeatures-v0": "orl_envs.multiview.env:MultiViewFeaturesEnv",
    "orl/MultiViewPixels-v0": "orl_envs.multiview.env:MultiViewPixelsEnv",  # needs orl-envs[multiview] (MuJoCo)
}


def register() -> None:
    """Register the multi-view ids (idempotent)."""
    for env_id, entry_point in MULTIVIEW_IDS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)


__all__ = [
    "MULTIVIEW_IDS",
    "N_VIEWS",
    "MultiViewFeaturesEnv",
    "MultiViewPixelsEnv",
    "MultiViewModel",
    "accuracy_curve",
    "all_views_accuracy",
    "best_fixed_orders",
    "fixed_orders",
    "greedy_orders",
    "random_accuracy_curve",
    "register",
]
