"""Conversational recommendation policies: UNICORN and the flat DQN baseline (:mod:`.unicorn`)."""

from orl.algos.crs.unicorn import FlatDQN, UnicornAgent, UnicornConfig, UnicornNet

__all__ = ["FlatDQN", "UnicornAgent", "UnicornConfig", "UnicornNet"]
