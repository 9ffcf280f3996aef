"""orl: classical and offline reinforcement learning on Gymnasium.

Subpackages: :mod:`orl.data` (the ReplayBuffer, dataset formats, samplers, diagnostics).
"""

__version__ = "0.1.0"
