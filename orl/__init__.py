"""orl: classical and offline reinforcement learning on Gymnasium.

The Python API (:mod:`orl.api`)::

    import orl
    agent = orl.fit("td3bc", "pendulum-scripted", steps=20_000)   # train (writes a run directory)
    agent.predict(obs); agent.save("agent.pt"); orl.load("agent.pt"); orl.resume(run_dir)

Subpackages: :mod:`orl.data` (the ReplayBuffer, dataset formats, samplers, diagnostics),
:mod:`orl.algos` (the algorithms), :mod:`orl.train` (the training loops), :mod:`orl.run` (the CLI).
"""

from typing import Any

__version__ = "0.1.0"

#: The Python API, imported on first use (``import orl`` stays light: no torch until needed).
_API = ("fit", "load", "resume", "Agent")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from orl import api

        return getattr(api, name)
    raise AttributeError(f"module 'orl' has no attribute {name!r}")
