"""Active fine-grained recognition's policy (AFGR, Du et al. arXiv 2206.01153; MAFR, ICCV 2023), as their code does it.

MAFR's ``train.py`` / ``network.py`` (``PRIS-CV/MAFR``): a feature extractor per view, a GRU that aggregates
the views seen so far (``Full_layer``, hidden 1024) and classifies after every view, and a PPO actor-critic
that reads the GRU state and picks the next view (``overlap_mask`` forbids views already seen). The reward is
``--reward simple``: the increase of the true class's softmax probability under the classifier. PPO runs with
``gamma = 0.7``, ``clip = 0.2``, ``K_epochs = 1``, Adam, returns standardised, entropy coefficient ``1e-4``.
Three stages: (1) the classifier on random view orders (cross-entropy at every step), (2) the PPO view selector
with the classifier frozen, (3) the classifier fine-tuned under the learned policy. The loop is
:func:`orl.train.multiview.train_afgr`.

The pieces here, kept small so a CPU trains them in minutes on the ``features`` mode of
``orl/MultiViewFeatures-v0``:

* :class:`Aggregator` — per-view embedding of (feature vector, view one-hot), a ``GRUCell``, a linear classifier;
  in the ``pixels`` mode the feature vector comes from :class:`ConvBackbone`, a small CNN trained with it;
* :class:`MaskedActorCritic` — the project's PPO actor-critic (:class:`orl.algos.online.ppo.ActorCritic`) whose
  observation is ``[GRU state, seen-mask]`` and whose categorical actor gives seen views probability 0;
* :class:`ViewSelectorPPO` — the project's :class:`~orl.algos.online.ppo.PPO` (its clipped loss and update,
  unchanged) on that actor-critic; :func:`standardised_returns` uses the project's :func:`~orl.algos.online.ppo.gae`
  with ``lambda = 1`` and zero values, i.e. plain discounted returns, then standardises them as MAFR does.

Differences from the code, on purpose: in the ``features`` mode the CNN is replaced by a one-layer embedding of the
given feature vector; in the ``pixels`` mode it is a three-layer CNN, frozen after stage 1 (stage 3 fine-tunes the
embedding, the GRU and the classifier on its features); the GRU is 64 wide instead of 1024; the actor and critic are the project's
64-64 tanh MLPs (MAFR: BatchNorm + Linear) with the seen-mask appended to their input; views are masked during
training too (MAFR masks at inference); the gradient norm is clipped at 0.5 (the project's PPO default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from orl.algos.online.ppo import PPO, ActorCritic, PPOConfig, gae


@dataclass
class AFGRConfig:
    """Hyperparameters of the three stages (MAFR's values where they transfer; sizes cut for a CPU)."""

    budget: int = 8  # T: views per episode, the start view included (MAFR --T 8)
    hidden: int = 64  # GRU width (MAFR: 1024)
    # stage 1: classifier on random view orders (MAFR: SGD Nesterov, lr backbone 0.01 / fc 0.1, batch 32)
    n_train: int = 20_000  # objects of the training split
    pretrain_epochs: int = 15
    pretrain_batch: int = 64
    lr_backbone: float = 0.01  # the per-view embedding (MAFR's CNN)
    lr_fc: float = 0.1  # GRU + classifier
    momentum: float = 0.9
    optimizer: str = "sgd"  # stages 1 and 3: "sgd" (MAFR's, for its ImageNet-pretrained ResNet) or "adam"
    adam_lr: float = 1e-3  # with optimizer="adam": the pixels mode's CNN is trained from scratch
    # stage 2: PPO view selector, classifier frozen (MAFR trains it on the validation split)
    n_val: int = 5_000
    ppo_iterations: int = 600
    ppo_episodes: int = 256  # episodes per PPO update
    gamma: float = 0.7
    clip_coef: float = 0.2
    ppo_lr: float = 5e-3  # MAFR's Adam learning rate
    ent_coef: float = 1e-4
    ppo_hidden: tuple[int, ...] = (64, 64)
    # stage 3: classifier fine-tuned under the learned (sampling) policy
    finetune_epochs: int = 5
    finetune_lr_scale: float = 0.1  # stage-1 learning rates times this
    seed: int = 0

    def __post_init__(self) -> None:
        if not 2 <= self.budget <= 8:
            raise ValueError(f"budget must be an integer in [2, 8], got {self.budget!r}")
        for name in ("hidden", "n_train", "pretrain_epochs", "pretrain_batch", "n_val", "ppo_episodes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("ppo_iterations", "finetune_epochs"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma!r}")

    def ppo_config(self) -> PPOConfig:
        """The project's PPO config with MAFR's settings: one epoch over the whole rollout (one minibatch),
        no advantage normalisation (the returns are standardised instead), unclipped value loss."""
        return PPOConfig(lr=self.ppo_lr, num_envs=self.ppo_episodes, num_steps=self.budget - 1, gamma=self.gamma,
                         gae_lambda=1.0, num_minibatches=1, update_epochs=1, clip_coef=self.clip_coef,
                         clip_vloss=False, norm_adv=False, ent_coef=self.ent_coef, vf_coef=0.5, anneal_lr=False,
                         hidden=tuple(self.ppo_hidden), normalize_obs=False, normalize_reward=False, se_every=0)


class ConvBackbone(nn.Module):
    """The ``pixels`` mode's in-house CNN (MAFR: ResNet-50): uint8 images ``(N, px, px, 3)`` -> features ``(N, out)``.

    Three strided convolutions (16, 32, 32 channels; 5x5 then 3x3, stride 2) with ReLU, then Linear + ReLU."""

    def __init__(self, image_size: int, out_dim: int = 64) -> None:
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(3, 16, 5, 2, 2), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                                   nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(), nn.Flatten())
        with torch.no_grad():
            n = self.convs(torch.zeros(1, 3, image_size, image_size)).shape[1]
        self.head = nn.Sequential(nn.Linear(n, out_dim), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(images.float().div(255.0).permute(0, 3, 1, 2)))


class Aggregator(nn.Module):
    """GRU aggregator + classifier (MAFR's ``Full_layer``): ``z = backbone(x_v)``, ``h_t = GRU(h_{t-1},
    embed([z, onehot(v)]))``, logits ``fc(h_t)`` after every view. Without a backbone (``features`` mode) ``z`` is
    the view's feature vector; ``view_ndim`` is the number of dimensions of one view's input (1, or 3 for images)."""

    def __init__(self, feature_dim: int, n_views: int, n_classes: int, hidden: int,
                 backbone: nn.Module | None = None, view_ndim: int = 1) -> None:
        super().__init__()
        self.n_views, self.hidden, self.view_ndim = n_views, hidden, view_ndim
        self.backbone = backbone if backbone is not None else nn.Identity()
        self.embed = nn.Sequential(nn.Linear(feature_dim + n_views, hidden), nn.ReLU())
        self.gru = nn.GRUCell(hidden, hidden)
        self.fc = nn.Linear(hidden, n_classes)

    def initial(self, batch: int) -> torch.Tensor:
        return torch.zeros(batch, self.hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone on inputs ``(..., *view)`` -> ``(..., feature_dim)``."""
        lead = x.shape[:x.dim() - self.view_ndim]
        z = self.backbone(x.reshape(-1, *x.shape[x.dim() - self.view_ndim:]))
        return z.reshape(*lead, z.shape[-1])

    def step(self, h: torch.Tensor, z: torch.Tensor, views: torch.Tensor) -> torch.Tensor:
        """One encoded view per object: ``z`` ``(B, F)`` of views ``views`` ``(B,)`` -> the next state ``(B, H)``."""
        x = torch.cat([z, nn.functional.one_hot(views, self.n_views).float()], -1)
        return self.gru(self.embed(x), h)

    def forward(self, x: torch.Tensor, views: torch.Tensor, encoded: bool = False) -> torch.Tensor:
        """Logits after each view of sequences ``x`` ``(B, T, *view)`` (or their encodings ``(B, T, F)`` when
        ``encoded``), ``views`` ``(B, T)`` -> ``(B, T, C)``."""
        z = x if encoded else self.encode(x)
        h = self.initial(z.shape[0])
        out = []
        for t in range(z.shape[1]):
            h = self.step(h, z[:, t], views[:, t])
            out.append(self.fc(h))
        return torch.stack(out, 1)


class MaskedActorCritic(ActorCritic):
    """The project's categorical actor-critic on ``obs = [state, seen]`` (the last ``n_views`` entries are the
    0/1 seen-mask); the actor's logits of seen views are set to the lowest float, so they are never drawn."""

    def __init__(self, state_dim: int, n_views: int, hidden: tuple[int, ...]) -> None:
        super().__init__(state_dim + n_views, n_views, True, hidden)
        self.n_views = n_views

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Categorical:
        logits = self.actor(obs)
        seen = obs[:, -self.n_views:] > 0.5
        return torch.distributions.Categorical(logits=logits.masked_fill(seen, torch.finfo(logits.dtype).min))


class ViewSelectorPPO(PPO):
    """The project's PPO (loss and update unchanged) on :class:`MaskedActorCritic`."""

    name = "afgr_ppo"

    def __init__(self, state_dim: int, n_views: int, config: PPOConfig) -> None:
        super().__init__(state_dim + n_views, n_views, True, config)
        self.net = MaskedActorCritic(state_dim, n_views, tuple(config.hidden))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr, eps=1e-5)


def standardised_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted returns of fixed-length episodes, standardised over the batch (MAFR's PPO memory).

    ``rewards`` ``(T, B)`` (time first, every episode ends at ``T - 1``). The returns are the project's GAE with
    ``lambda = 1`` and zero values (``A_t = sum_k gamma^k r_{t+k}``), then ``(G - mean) / (std + 1e-5)``.
    """
    steps = rewards.shape[0]
    zeros = np.zeros_like(rewards)
    ends = np.zeros((steps, 1))
    ends[-1] = 1.0
    terminals = ends.copy()
    returns = gae(rewards, zeros, zeros, terminals, ends, gamma, 1.0)
    return (returns - returns.mean()) / (returns.std() + 1e-5)
