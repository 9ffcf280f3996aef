"""On-policy algorithms, trained by ``orl.train.online`` (``family: online`` in their ``conf/algo`` file)."""

from orl.algos.online.ppo import PPO, PPOConfig, gae

__all__ = ["PPO", "PPOConfig", "gae"]
