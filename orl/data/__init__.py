"""orl's data layer: the one :class:`ReplayBuffer`, dataset formats, samplers and diagnostics.

>>> from orl.data import load_dataset
>>> buffer = load_dataset("pendulum-scripted")       # registered name, built on first use
>>> buffer.set_sampler("aw", alpha=0.1)              # trajectory reweighting (Hong et al. 2023)
>>> batch = buffer.sample(256, np.random.default_rng(0))
"""

from orl.data.buffer import Batch, Episode, ReplayBuffer
from orl.data.errors import DatasetError
from orl.data.io import load_hdf5, load_minari, save_hdf5, save_minari
from orl.data.registry import (DatasetInfo, build_dataset, data_dir, dataset_info, dataset_names, load_dataset,
                               normalized_score, register_dataset)
from orl.data.samplers import SAMPLERS, make_sampler

__all__ = [
    "Batch", "Episode", "ReplayBuffer", "DatasetError", "load_hdf5", "save_hdf5", "load_minari", "save_minari",
    "DatasetInfo", "build_dataset", "data_dir", "dataset_info", "dataset_names", "load_dataset",
    "normalized_score", "register_dataset", "SAMPLERS", "make_sampler",
]
