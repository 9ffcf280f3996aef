"""orl-envs: Gymnasium environments of the orl project, usable without orl.

Importing the package registers its environment ids under the ``orl/`` namespace; with
Gymnasium 1.x write ``gymnasium.register_envs(orl_envs)`` so linters keep the import.
No family is registered yet: :data:`ENV_IDS` lists what is.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Gymnasium ids registered by this package (filled as environment families land).
ENV_IDS: tuple[str, ...] = ()
