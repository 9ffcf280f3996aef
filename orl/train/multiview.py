"""The three-stage training of the active view selector of AFGR / MAFR on ``orl/MultiViewFeatures-v0`` and
``orl/MultiViewPixels-v0``.

:func:`train_afgr` runs MAFR's pipeline (see :mod:`orl.algos.structured.afgr`) on objects drawn from the
environment's world (:class:`orl_envs.multiview.MultiViewModel`, or in the ``pixels`` mode
:class:`orl_envs.multiview.pixels.PixelWorld`, whose renderings are cached under ``$ORL_DATA_DIR/multiview``),
the way the code runs it on a dataset of 8 images per object: a training split for the classifier (stages 1 and 3), a validation split for
the PPO selector (stage 2, as in MAFR), and a test split for :func:`evaluate`. Episodes are batched torch
rollouts over those objects (the environment is a batch-of-one view of the same model; stepping it one object
at a time would only be slower). :func:`evaluate` looks at every test object from each of the 8 start views, as
MAFR's validation does, and reports after ``t = 1..T`` views both the trained classifier's accuracy and the exact
Bayes accuracy of the views the policy chose (the latter compares the selector with the exact baselines of
:mod:`orl_envs.multiview.baselines` independently of the classifier; in the ``pixels`` mode it is the ideal
observer's accuracy, a tie among k consistent classes counting 1/k).

In the ``pixels`` mode the CNN backbone is trained in stage 1 only; stages 2 and 3 and the evaluation run on its
features, computed once per split (the features mode's backbone is the identity, so nothing changes there).
"""

from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from orl.algos.structured.afgr import AFGRConfig, Aggregator, ConvBackbone, ViewSelectorPPO, standardised_returns
from orl_envs.multiview import N_VIEWS, MultiViewModel
from orl_envs.multiview.baselines import every_start


@dataclass
class AFGRResult:
    """What :func:`train_afgr` returns: the world, the trained parts, the splits and a log of the stages."""

    model: Any  # MultiViewModel (features) or PixelWorld (pixels)
    aggregator: Aggregator
    selector: ViewSelectorPPO
    splits: dict[str, tuple[np.ndarray, np.ndarray]]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    mode: str = "features"
    cache_dir: Path | None = None
    _encoded: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def inputs(self, split: str, labels: np.ndarray | None = None, objects: np.ndarray | None = None) -> torch.Tensor:
        """The views of a split's objects (``(n, 8, D)`` float features or ``(n, 8, px, px, 3)`` uint8 images)."""
        if labels is None:
            labels, objects = self.splits[split]
        return _inputs(self.model, labels, objects, self.cache_dir)

    def encoded(self, split: str) -> torch.Tensor:
        """The backbone's features of a split's views (computed once; the backbone is frozen after stage 1)."""
        if split not in self._encoded:
            x = self.inputs(split)
            with torch.no_grad():
                self._encoded[split] = torch.cat([self.aggregator.encode(x[i:i + 512]) for i in range(0, len(x), 512)])
        return self._encoded[split]


def _inputs(world: Any, labels: np.ndarray, objects: np.ndarray, cache_dir: Path | None) -> torch.Tensor:
    if isinstance(world, MultiViewModel):
        return torch.as_tensor(world.observe(objects))  # (n, 8, D)
    return torch.as_tensor(world.observe(labels, objects, cache_dir=cache_dir))  # (n, 8, px, px, 3) uint8


def make_splits(model: Any, config: AFGRConfig, n_test: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train / val / test objects, each split from its own stream of ``config.seed``."""
    streams = np.random.SeedSequence(config.seed).spawn(3)
    sizes = {"train": config.n_train, "val": config.n_val, "test": n_test}
    return {name: model.sample(np.random.default_rng(s), n) for (name, n), s in zip(sizes.items(), streams)}


def _ordered(x: torch.Tensor, orders: torch.Tensor) -> torch.Tensor:
    """The views of each object in the given orders: ``x`` ``(n, 8, ...)``, ``orders`` ``(n, t)`` -> ``(n, t, ...)``."""
    return x[torch.arange(len(x))[:, None], orders]


def rollout(agg: Aggregator, selector: ViewSelectorPPO, feats: torch.Tensor, labels: torch.Tensor,
            starts: torch.Tensor, budget: int, deterministic: bool, generator: torch.Generator | None = None
            ) -> dict[str, torch.Tensor]:
    """Episodes of ``budget`` views (no gradients) on encoded views ``feats`` ``(B, 8, F)``: the selector picks
    views, the aggregator's softmax gives the reward ``p_t(y*) - p_{t-1}(y*)`` (MAFR's ``simple`` reward). Returns per step ``obs`` ``(T-1, B, H+8)``,
    ``actions``, ``rewards`` ``(T-1, B)`` and the ``orders`` ``(B, T)``."""
    with torch.no_grad():
        n = len(labels)
        rows = torch.arange(n)
        h = agg.step(agg.initial(n), feats[rows, starts], starts)
        seen = torch.zeros(n, N_VIEWS)
        seen[rows, starts] = 1.0
        p_prev = agg.fc(h).softmax(-1)[rows, labels]
        obs, actions, rewards, orders = [], [], [], [starts]
        for _ in range(budget - 1):
            o = torch.cat([h, seen], -1)
            a = torch.as_tensor(selector.act(o.numpy(), deterministic=deterministic, generator=generator)).long()
            h = agg.step(h, feats[rows, a], a)
            seen[rows, a] = 1.0
            p = agg.fc(h).softmax(-1)[rows, labels]
            obs.append(o)
            actions.append(a)
            rewards.append(p - p_prev)
            orders.append(a)
            p_prev = p
    return {"obs": torch.stack(obs), "actions": torch.stack(actions), "rewards": torch.stack(rewards),
            "orders": torch.stack(orders, 1)}


def _classifier_epochs(agg: Aggregator, opt: torch.optim.Optimizer, feats: torch.Tensor, labels: torch.Tensor,
                       config: AFGRConfig, epochs: int, gen: torch.Generator,
                       orders_of: Callable[[torch.Tensor], torch.Tensor], encoded: bool = False) -> float:
    """Cross-entropy at every step over ``epochs`` passes; ``orders_of(idx)`` gives the view orders of a batch."""
    loss_value = float("nan")
    for _ in range(epochs):
        perm = torch.randperm(len(labels), generator=gen)
        for start in range(0, len(labels), config.pretrain_batch):
            idx = perm[start:start + config.pretrain_batch]
            orders = orders_of(idx)
            logits = agg(_ordered(feats[idx], orders), orders, encoded=encoded)
            target = labels[idx, None].expand(-1, orders.shape[1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_value = float(loss.detach())
    return loss_value


def _sgd(agg: Aggregator, config: AFGRConfig, scale: float = 1.0, backbone: bool = True) -> torch.optim.Optimizer:
    """Stage 1 / 3 optimiser: MAFR's SGD (Nesterov, two learning rates), or Adam (``config.optimizer``)."""
    fc = [*agg.gru.parameters(), *agg.fc.parameters()]
    low = [*(agg.backbone.parameters() if backbone else []), *agg.embed.parameters()]
    if config.optimizer == "adam":
        return torch.optim.Adam([*low, *fc], lr=config.adam_lr * scale)
    return torch.optim.SGD([{"params": low, "lr": config.lr_backbone * scale},
                            {"params": fc, "lr": config.lr_fc * scale}], momentum=config.momentum, nesterov=True)


def train_afgr(env_kwargs: dict[str, Any] | None = None, config: AFGRConfig | None = None, n_test: int = 2000,
               log: Callable[[str], None] | None = print, eval_every: int = 50, mode: str = "features",
               cache_dir: str | Path | None = "default") -> AFGRResult:
    """MAFR's three stages on the world of ``gymnasium.make("orl/MultiView<Mode>-v0", **env_kwargs)``.

    ``env_kwargs`` are the environment's world arguments (features: ``n_coarse``, ``n_fine``, ``feature_dim``,
    ``max_key_views``, ``coarse_reliability``, ``key_reliability``, ``detail_noise``, ``model_seed``; pixels:
    ``n_coarse``, ``n_fine``, ``image_size``, ``model_seed``). ``mode="pixels"`` renders the splits with MuJoCo
    (cached under ``cache_dir``, default ``$ORL_DATA_DIR/multiview``; None: no cache) and trains a CNN backbone in
    stage 1. Every random choice comes from ``config.seed``; the caller sets the torch threads.
    """
    config = config or AFGRConfig()
    kwargs = dict(env_kwargs or {})
    if mode == "features":
        model = MultiViewModel.generate(**kwargs, what="train_afgr")
        backbone, feature_dim, view_ndim = None, model.feature_dim, 1
    elif mode == "pixels":
        from orl_envs.multiview.pixels import PixelWorld

        model = PixelWorld(**kwargs, what="train_afgr")
        backbone, view_ndim = None, 3
    else:
        raise ValueError(f"train_afgr: mode must be 'features' or 'pixels', got {mode!r}")
    if cache_dir == "default":
        from orl.data.registry import data_dir

        cache_dir = data_dir() / "multiview" if mode == "pixels" else None
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    splits = make_splits(model, config, n_test)
    if mode == "pixels":
        backbone = ConvBackbone(model.image_size)
        feature_dim = backbone.out_dim
    agg = Aggregator(feature_dim, N_VIEWS, model.n_classes, config.hidden, backbone, view_ndim)
    selector = ViewSelectorPPO(config.hidden, N_VIEWS, config.ppo_config())
    result = AFGRResult(model, agg, selector, splits, mode=mode, cache_dir=None if cache_dir is None else Path(cache_dir))
    say = log or (lambda _msg: None)
    T = config.budget

    # stage 1: classifier (and CNN) on random view orders
    t0 = time.perf_counter()
    train_l, _ = splits["train"]
    feats, labels = result.inputs("train"), torch.as_tensor(train_l)
    result.seconds["render"] = time.perf_counter() - t0
    t0 = time.perf_counter()

    def random_orders(idx: torch.Tensor) -> torch.Tensor:
        return torch.argsort(torch.rand(len(idx), N_VIEWS, generator=gen), -1)[:, :T]

    loss = _classifier_epochs(agg, _sgd(agg, config), feats, labels, config, config.pretrain_epochs, gen,
                              random_orders)
    result.seconds["pretrain"] = time.perf_counter() - t0
    result.history.append({"stage": "pretrain", "loss": loss})
    say(f"stage 1 (classifier, random orders): {config.pretrain_epochs} epochs, loss {loss:.3f}, "
        f"{result.seconds['pretrain']:.0f}s")

    # stage 2: PPO view selector on the validation split, classifier frozen
    t0 = time.perf_counter()
    val_l, _ = splits["val"]
    vfeats, vlabels = result.encoded("val"), torch.as_tensor(val_l)
    ppo_gen = torch.Generator().manual_seed(config.seed + 1)
    before = evaluate(result, split="val", n_objects=500)["bayes_accuracy"]
    result.history.append({"stage": "ppo", "iteration": 0, "val_bayes_accuracy_mean": float(np.mean(before))})
    say(f"stage 2 (PPO) 0/{config.ppo_iterations}: untrained selector, val Bayes accuracy (mean over t) "
        f"{np.mean(before):.3f}")
    for it in range(config.ppo_iterations):
        idx = torch.randint(len(vlabels), (config.ppo_episodes,), generator=gen)
        starts = torch.randint(N_VIEWS, (config.ppo_episodes,), generator=gen)
        ro = rollout(agg, selector, vfeats[idx], vlabels[idx], starts, T, deterministic=False, generator=ppo_gen)
        returns = torch.as_tensor(standardised_returns(ro["rewards"].numpy().astype(np.float64), config.gamma),
                                  dtype=torch.float32)
        obs, actions = ro["obs"].reshape(-1, ro["obs"].shape[-1]), ro["actions"].reshape(-1)
        with torch.no_grad():
            values = selector.net.value(obs)
            old_logp, _ = selector.net.log_prob_entropy(obs, actions)
        ret = returns.reshape(-1)
        stats = selector.update(obs, actions.float(), ret - values, ret, values, old_logp, ppo_gen)
        if (it + 1) % eval_every == 0 or it + 1 == config.ppo_iterations:
            curve = evaluate(result, split="val", n_objects=500)["bayes_accuracy"]
            row = {"stage": "ppo", "iteration": it + 1, "reward": float(ro["rewards"].sum(0).mean()),
                   "val_bayes_accuracy_mean": float(np.mean(curve)), **stats}
            result.history.append(row)
            say(f"stage 2 (PPO) {it + 1}/{config.ppo_iterations}: episode reward {row['reward']:.3f}, "
                f"val Bayes accuracy (mean over t) {row['val_bayes_accuracy_mean']:.3f}")
    result.seconds["ppo"] = time.perf_counter() - t0

    # stage 3: classifier fine-tuned under the learned (sampling) policy, on the frozen backbone's features
    t0 = time.perf_counter()
    ft_gen = torch.Generator().manual_seed(config.seed + 2)
    zfeats = result.encoded("train")

    def policy_orders(idx: torch.Tensor) -> torch.Tensor:
        starts = torch.randint(N_VIEWS, (len(idx),), generator=gen)
        return rollout(agg, selector, zfeats[idx], labels[idx], starts, T, deterministic=False,
                       generator=ft_gen)["orders"]

    if config.finetune_epochs:
        loss = _classifier_epochs(agg, _sgd(agg, config, config.finetune_lr_scale, backbone=False), zfeats, labels,
                                  config, config.finetune_epochs, gen, policy_orders, encoded=True)
        result.history.append({"stage": "finetune", "loss": loss})
    result.seconds["finetune"] = time.perf_counter() - t0
    say(f"stage 3 (fine-tune under the policy): {config.finetune_epochs} epochs, {result.seconds['finetune']:.0f}s")
    return result


def evaluate(result: AFGRResult, split: str = "test", n_objects: int | None = None,
             deterministic: bool = True) -> dict[str, np.ndarray]:
    """Accuracy after ``t = 1..T`` views, every object looked at from each of the 8 start views (MAFR's
    validation), the selector acting greedily: ``classifier_accuracy`` (the trained GRU classifier, as the paper
    reports) and ``bayes_accuracy`` (the exact posterior of the views chosen); also the ``orders``."""
    labels, codes = result.splits[split]
    z = result.encoded(split)
    if n_objects is not None:
        labels, codes, z = labels[:n_objects], codes[:n_objects], z[:n_objects]
    lab8, codes8, starts = every_start(labels, codes)
    feats = z.repeat(N_VIEWS, 1, 1)  # the layout of every_start: the split once per start view
    T = result.selector.config.num_steps + 1
    was = result.aggregator.training
    result.aggregator.eval()
    ro = rollout(result.aggregator, result.selector, feats, torch.as_tensor(lab8), torch.as_tensor(starts), T,
                 deterministic=deterministic, generator=torch.Generator().manual_seed(0))
    orders = ro["orders"]
    with torch.no_grad():
        logits = result.aggregator(_ordered(feats, orders), orders, encoded=True)
    result.aggregator.train(was)
    clf = (logits.argmax(-1).numpy() == lab8[:, None]).mean(0)
    bayes = result.model.accuracy_along(lab8, codes8, orders.numpy())
    return {"classifier_accuracy": clf, "bayes_accuracy": bayes, "orders": orders.numpy()}


def classifier_accuracy_along(result: AFGRResult, orders: np.ndarray, split: str = "test") -> np.ndarray:
    """The trained classifier's accuracy along given orders ``(8 n, t)`` of the split's objects repeated per start
    view (as :func:`orl_envs.multiview.baselines.every_start` lays them out), e.g. the greedy baseline's."""
    labels, _ = result.splits[split]
    lab8 = np.tile(labels, N_VIEWS)
    feats = result.encoded(split).repeat(N_VIEWS, 1, 1)
    o = torch.as_tensor(orders).long()
    with torch.no_grad():
        logits = result.aggregator(_ordered(feats, o), o, encoded=True)
    return (logits.argmax(-1).numpy() == lab8[:, None]).mean(0)
