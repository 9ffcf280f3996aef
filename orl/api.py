"""orl from Python: one call from a dataset (or a Gymnasium environment) to a trained agent.

::

    import orl

    agent = orl.fit("iql", "pendulum-scripted", steps=20_000, expectile=0.8)   # any algorithm, any dataset
    agent.predict(obs)                          # actions for raw observations, like SB3's predict
    agent.save("iql-pendulum.pt")               # one self-describing file
    agent = orl.load("iql-pendulum.pt")         # ... or a run directory; in any process
    agent = orl.resume("runs/iql/pendulum-scripted/0-20261128-101500")  # continue a killed run

``fit`` is the command line's twin: it takes the names ``python -m orl.run`` takes (``algo``, ``env``: a
registered dataset, ``minari:<id>``, a D4RL-layout ``.hdf5`` path, or a Gymnasium id for online
algorithms), applies the same tuned settings, writes the same run directory
(``<out_root>/<algo>/<env>/<seed>-<time>/`` with ``config.yaml``, ``metrics.csv``, ``eval.csv``,
TensorBoard logs, ``checkpoint.pt``) through the same code (``orl.run.execute``), and resumes the same
way. Keyword settings are either loop settings (``steps``, ``batch_size``, ``eval_every``, ``device``,
``sampler``, ... — the keys of ``orl/conf/config.yaml``) or the algorithm's hyperparameters (the fields of
its config dataclass, e.g. ``IQLConfig``); a typed ``config=IQLConfig(...)`` works too. ``seeds=[0, 1, 2]``
and ``sweep={"expectile": [0.7, 0.9]}`` train a population in one process (offline algorithms; see
``orl.train.offline``).

An :class:`Agent` file holds the algorithm's name and family, the run's resolved configuration, the
trained state (networks, normalisation statistics, action bounds, optimisers), the observation
normaliser of online runs, and the versions of orl, Python, torch, numpy and gymnasium that wrote it.
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The kind and version of an agent file (``Agent.save``); a newer version is refused by name.
AGENT_FORMAT, AGENT_FORMAT_VERSION = "orl-agent", 1
#: Families whose agents act on observations (``predict``); the others (hdpo, bq) train through ``fit``
#: and keep their own solvers (``orl.train.hdpo``, ``orl.train.bq``).
ACTING_FAMILIES = ("offline", "online", "offpolicy")


def _hydra_value(value: Any) -> str:
    """A Python value as a Hydra override's right-hand side."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_hydra_value(v) for v in value) + "]"
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _algo_fields(algo: str) -> tuple[type | None, set[str]]:
    """The config dataclass of ``algo`` (if it has a Python class) and the fields ``algo.<field>=`` accepts."""
    from orl.run import _group_keys

    fields = {k for k in _group_keys("algo", algo) if k not in ("name", "family")}
    return _config_class(algo), fields


def _config_class(algo: str) -> type | None:
    import orl.algos as algos

    if algo in algos.ALGORITHMS:
        return algos.ALGORITHMS[algo].Config
    from orl.train.online import ONLINE_ALGORITHMS

    if algo in ONLINE_ALGORITHMS:
        return ONLINE_ALGORITHMS[algo].Config
    return None


def overrides_for(algo: str, env: str | Path, *, config: Any = None, sweep: Mapping[str, Sequence[Any]] | None = None,
                  seeds: Sequence[int] | None = None, out_dir: str | Path | None = None,
                  **settings: Any) -> tuple[list[str], set[str]]:
    """The command line ``python -m orl.run`` would take for these arguments, and the algorithm fields the
    user set (they win over tuned settings). Unknown names are refused with the valid ones listed."""
    from orl.run import UsageError, algo_family, group_options, top_level_keys
    from orl.train import FAMILY_SETTINGS, LOOP_SETTINGS

    if algo not in group_options("algo"):
        raise UsageError(f"unknown algo {algo!r}; valid: {', '.join(group_options('algo'))}")
    config_cls, fields = _algo_fields(algo)
    argv = [f"algo={algo}", f"env={env}"]
    user: set[str] = set()
    if config is not None:
        if config_cls is None or not isinstance(config, config_cls):
            want = config_cls.__name__ if config_cls else "keyword settings (this algorithm has no config class)"
            raise UsageError(f"config= for algo={algo} must be a {want}, got {type(config).__name__}")
        default = config_cls()
        for f in dataclasses.fields(config):
            value = getattr(config, f.name)
            if value != getattr(default, f.name) and f.name in fields:
                argv.append(f"algo.{f.name}={_hydra_value(value)}")
                user.add(f.name)
    top = set(top_level_keys()) - {"algo", "env", "resume", "seeds", "envs", "sweeps", "members"}
    # a loop setting its family's trainer does not read, which the algorithm has a field of (SAC's batch_size): its own
    top -= (set(LOOP_SETTINGS) - set(FAMILY_SETTINGS.get(algo_family(algo), ()))) & set(fields)
    for key, value in settings.items():
        if key in top:
            argv.append(f"{key}={_hydra_value(value)}")
        elif key == "eval_env":
            argv.append(f"env.eval_env={value}")
        elif key in fields:
            if key in user:
                raise UsageError(f"{key} is given both in config= and as a keyword")
            argv.append(f"algo.{key}={_hydra_value(value)}")
            user.add(key)
        else:
            raise UsageError(f"unknown setting {key!r} for algo={algo}; loop settings: {', '.join(sorted(top))}; "
                             f"{algo}'s hyperparameters: {', '.join(sorted(fields))}; and eval_env")
    if seeds is not None:
        seeds = list(seeds)
        if not seeds:
            raise UsageError("seeds= needs at least one seed")
        argv.append("seeds=" + ",".join(str(s) for s in seeds))
    for key, values in (sweep or {}).items():
        if key not in fields:
            raise UsageError(f"sweep over unknown hyperparameter {key!r} of algo={algo}; known: {', '.join(sorted(fields))}")
        values = list(values)
        if len(values) < 2:
            raise UsageError(f"sweep {key!r} needs at least two values, got {values}")
        argv = [a for a in argv if not a.startswith(f"algo.{key}=")]
        argv.append(f"algo.{key}=" + ",".join(_hydra_value(v) for v in values))
        user.add(key)
    if out_dir is not None:
        argv.append(f"hydra.run.dir={out_dir}")
    return argv, user


def compose(argv: list[str]):
    """The run configuration ``python -m orl.run <argv>`` would compose (checked as the CLI checks it) and
    its run directory; the tuned settings are not applied yet (``orl.run.apply_tuned``)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import setup_globals
    from omegaconf import OmegaConf, open_dict

    from orl.run import CONF, check_argv

    overrides = check_argv(argv)
    setup_globals()  # Hydra's ${now:...} resolver of the run-directory pattern
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3", job_name="orl"):
        cfg = hydra_compose("config", overrides=overrides, return_hydra_config=True)
    out_dir = Path(OmegaConf.select(cfg, "hydra.run.dir"))
    with open_dict(cfg):
        del cfg["hydra"]
    OmegaConf.set_struct(cfg, False)
    return cfg, out_dir


def fit(algo: str, env: str | Path, *, steps: int | None = None, seed: int | None = None,
        seeds: Sequence[int] | None = None, config: Any = None, sweep: Mapping[str, Sequence[Any]] | None = None,
        out_dir: str | Path | None = None, **settings: Any) -> Agent:
    """Train ``algo`` on ``env`` and return the trained :class:`Agent` (its files in ``agent.run_dir``).

    Args:
        algo: an algorithm name (``orl.list algos``): ``bc``, ``td3bc``, ``iql``, ``cql``, ``a2pr`` (on a
            dataset), ``ppo``, ``props`` (online, in a Gymnasium environment), ``hdpo``, ``bq``.
        env: a registered dataset (``orl.list datasets``), ``minari:<id>``, a D4RL-layout ``.hdf5`` path,
            an in-memory :class:`~orl.data.ReplayBuffer` (written to ``<run dir>/dataset.hdf5``; give
            ``eval_env=`` unless its metadata names ``env_id``), a Gymnasium id (online algorithms), or an
            inventory/routing entry (hdpo, bq).
        steps: gradient updates (offline) or environment steps (online); default the CLI's.
        seed: the run's seed; ``seeds=[...]`` instead trains one member per seed in one process.
        config: the algorithm's typed config (e.g. ``IQLConfig(expectile=0.8)``); its non-default fields
            are applied like keyword hyperparameters.
        sweep: ``{field: [values]}``: one member per value (fields the algorithm lets members differ in).
        out_dir: the run directory (default ``<out_root>/<algo>/<env>/<seed>-<time>``); must not hold a run.
        **settings: loop settings (``batch_size``, ``eval_every``, ``eval_episodes``, ``log_every``,
            ``sampler``, ``device``, ``threads``, ``out_root``, ...), ``eval_env``, or hyperparameters
            (``batch_size`` is the algorithm's own where it has one, e.g. SAC's; the offline loop's otherwise).

    Bad names and values raise a ``ValueError`` naming them (with the valid ones) before anything is
    written or any dataset is built.
    """
    from orl.data.buffer import ReplayBuffer
    from orl.run import UsageError, execute

    if seed is not None:
        settings["seed"] = seed
    if steps is not None:
        settings["steps"] = steps
    buffer = None
    if isinstance(env, ReplayBuffer):  # an in-memory dataset: written into the run directory, then used by path
        buffer, env = env, "in-memory.hdf5"
        settings.setdefault("eval_env", buffer.metadata.get("env_id"))
        if not settings["eval_env"]:
            raise UsageError("an in-memory dataset needs eval_env= (its metadata names no env_id)")
    argv, user = overrides_for(algo, env, config=config, sweep=sweep, seeds=seeds, out_dir=out_dir, **settings)
    cfg, run_dir = compose(argv)
    if (run_dir / "config.yaml").exists() or (run_dir / "checkpoint.pt").exists():
        raise UsageError(f"{run_dir} already holds a run; continue it with orl.resume({str(run_dir)!r}) "
                         "or choose another out_dir")
    if buffer is not None:
        from orl.data import save_hdf5

        path = (run_dir / "dataset.hdf5").absolute()
        run_dir.mkdir(parents=True, exist_ok=True)
        save_hdf5(buffer, path)
        cfg.env.dataset = str(path)  # the run (and its resume) reads the copy in its own directory
    print(f"run directory: {run_dir}", flush=True)
    line = execute(cfg, run_dir, user)
    print(line, flush=True)
    return Agent.from_run_dir(run_dir, summary=line)


def resume(run_dir: str | Path, device: str | None = None, threads: int | None = None) -> Agent:
    """Continue the run in ``run_dir`` (written by ``fit`` or ``python -m orl.run``) from its checkpoint,
    with its saved configuration; only where it computes (``device``, ``threads``) may change."""
    from orl.run import resume_run

    changes = {k: v for k, v in (("device", device), ("threads", threads)) if v is not None}
    out, line = resume_run(run_dir, changes)
    print(line, flush=True)
    return Agent.from_run_dir(out, summary=line)


def load(path: str | Path, device: str = "cpu") -> Agent:
    """An agent from a file written by :meth:`Agent.save` or from a run directory (its checkpoint)."""
    path = Path(path)
    if path.is_dir():
        return Agent.from_run_dir(path, device=device)
    return Agent.from_file(path, device=device)


class Agent:
    """A trained orl agent: the algorithm (``algorithm``), its name and family, the run's configuration,
    and what acting needs (normalisation, action bounds). Made by :func:`fit`, :func:`resume`, :func:`load`.

    A population (``fit(..., seeds=[0, 1, 2])``) is one agent with ``len(agent.members)`` members; pick one
    with :meth:`member` to act or save it alone.
    """

    def __init__(self, algo_name: str, family: str, config: dict[str, Any], algorithm: Any = None,
                 members: Sequence[str] = ("",), run_dir: Path | None = None, spaces: dict[str, Any] | None = None,
                 normalizer: dict[str, Any] | None = None, summary: str | None = None) -> None:
        self.algo_name, self.family, self.config = algo_name, family, config
        self.algorithm = algorithm
        self.members = list(members)
        self.run_dir = run_dir
        self.spaces = dict(spaces or {})
        self.normalizer = normalizer
        self.summary = summary

    def __repr__(self) -> str:
        env = self.config.get("env", {}).get("name", "?")
        pop = f", {len(self.members)} members" if len(self.members) > 1 else ""
        where = f", run_dir={str(self.run_dir)!r}" if self.run_dir else ""
        return f"Agent({self.algo_name!r} on {env!r}{pop}{where})"

    # ------------------------------------------------------------------ building
    @classmethod
    def from_run_dir(cls, run_dir: str | Path, device: str = "cpu", summary: str | None = None) -> Agent:
        """The agent of a run directory: its ``config.yaml`` and the state in ``checkpoint.pt``."""
        from omegaconf import OmegaConf

        from orl.run import load_run_dir
        from orl.train.common import load_checkpoint

        out, cfg, step = load_run_dir(str(run_dir))
        config = OmegaConf.to_container(cfg, resolve=True)
        algo_name, family = cfg.algo.name, cfg.algo.get("family", "offline")
        if step is None:
            raise ValueError(f"{out} has no checkpoint yet (it is written at every evaluation): nothing to load")
        if family not in ACTING_FAMILIES:
            return cls(algo_name, family, config, None, run_dir=out, summary=summary)
        state = load_checkpoint(out, map_location="cpu")
        if family == "offline":
            algo_state = state["algo"]
            if "action_low" not in algo_state:  # written before agents carried their bounds
                low, high = _offline_bounds_from_config(cfg)
                algo_state = {**algo_state, "action_low": low, "action_high": high,
                              "obs_dim": int(algo_state["obs_mean"].shape[-1])}
            return cls._offline(algo_name, config, algo_state, list(state.get("member_names", [""])), out,
                                device, summary)
        if family == "offpolicy":
            return cls._offpolicy(algo_name, config, state["algo"], _online_spaces(cfg.env.id), out, summary, device)
        return cls._online(algo_name, config, state["algo"], _online_spaces(cfg.env.id), state["obs_rms"], out,
                           summary)

    @classmethod
    def _offpolicy(cls, algo_name: str, config: dict[str, Any], algo_state: dict[str, Any], spaces: dict[str, Any],
                   run_dir: Path | None, summary: str | None, device: str = "cpu") -> Agent:
        from orl.train.common import check_device
        from orl.train.offpolicy import OFFPOLICY_ALGORITHMS
        from orl.utils.config import build_config

        algo_cls = OFFPOLICY_ALGORITHMS[algo_name]
        params = {k: v for k, v in config["algo"].items() if k not in ("name", "family")}
        algorithm = algo_cls(spaces["obs_dim"], spaces["action_dim"], build_config(algo_cls.Config, params, algo_name,
                                                                                 prefix="algo."),
                             int(config.get("seed") or 0)).to(check_device(device))
        algorithm.load_state_dict(algo_state)
        return cls(algo_name, "offpolicy", config, algorithm, [""], run_dir, spaces, None, summary)

    @classmethod
    def _offline(cls, algo_name: str, config: dict[str, Any], algo_state: dict[str, Any], members: list[str],
                 run_dir: Path | None, device: str, summary: str | None) -> Agent:
        from orl.algos import algorithm_class

        algorithm = algorithm_class(algo_name).from_state_dict(algo_state).to(device)
        spaces = {"obs_dim": algorithm.obs_dim, "action_low": np.asarray(algo_state["action_low"]),
                  "action_high": np.asarray(algo_state["action_high"])}
        return cls(algo_name, "offline", config, algorithm, members, run_dir, spaces, None, summary)

    @classmethod
    def _online(cls, algo_name: str, config: dict[str, Any], algo_state: dict[str, Any], spaces: dict[str, Any],
                obs_rms: Any, run_dir: Path | None, summary: str | None) -> Agent:
        from orl.train.online import ONLINE_ALGORITHMS
        from orl.utils.config import build_config

        algo_cls = ONLINE_ALGORITHMS[algo_name]
        params = {k: v for k, v in config["algo"].items() if k not in ("name", "family")}
        c = build_config(algo_cls.Config, params, algo_name, prefix="algo.")
        algorithm = algo_cls(spaces["obs_dim"], spaces["action_dim"], spaces["discrete"], c)
        algorithm.load_state_dict(algo_state)
        normalizer = None
        if c.normalize_obs:
            normalizer = {"mean": np.asarray(obs_rms.mean), "var": np.asarray(obs_rms.var), "clip": float(c.clip_obs)}
        return cls(algo_name, "online", config, algorithm, [""], run_dir, spaces, normalizer, summary)

    @classmethod
    def from_file(cls, path: str | Path, device: str = "cpu") -> Agent:
        """An agent saved with :meth:`save`; a file that is not one, or is damaged, is refused by name."""
        from orl.train.common import load_torch

        return cls.from_blob(load_torch(path, map_location="cpu"), str(path), device)

    @classmethod
    def from_blob(cls, blob: Any, where: str = "the data", device: str = "cpu") -> Agent:
        """An agent from the dictionary :meth:`to_blob` made (checked as a file is)."""
        from orl.train.common import CheckpointError

        if not isinstance(blob, dict) or blob.get("format") != AGENT_FORMAT:
            raise CheckpointError(f"{where} is not an orl agent file (Agent.save writes them); for a run's "
                                  "checkpoint pass its run directory to orl.load")
        if int(blob.get("format_version", 0)) > AGENT_FORMAT_VERSION:
            raise CheckpointError(f"{where} was written by a newer orl (agent format {blob['format_version']}, "
                                  f"this orl reads up to {AGENT_FORMAT_VERSION}; written by orl "
                                  f"{blob.get('versions', {}).get('orl')}): upgrade orl to load it")
        if blob.get("base_agent") is not None:  # the pretrained agent it started from (DSRL, EXPO, IQL fine-tuning)
            from orl.algos.base import embedded_base

            base = cls.from_blob(blob["base_agent"], f"{where} (its base agent)", device)
            with embedded_base(blob["config"]["algo"]["base"], base):
                return cls.from_blob({**blob, "base_agent": None}, where, device)
        family = blob["family"]
        if family == "offline":
            return cls._offline(blob["algo"], blob["config"], blob["state"], blob["members"], None, device, None)
        if family == "online":
            norm = blob["normalizer"]
            rms = None if norm is None else _Stats(norm["mean"], norm["var"])
            return cls._online(blob["algo"], blob["config"], blob["state"], blob["spaces"], rms, None, None)
        if family == "offpolicy":
            return cls._offpolicy(blob["algo"], blob["config"], blob["state"], blob["spaces"], None, None, device)
        raise CheckpointError(f"{where}: agents of family {family!r} cannot be loaded here")

    # ------------------------------------------------------------------ using
    def _require_policy(self) -> None:
        if self.algorithm is None:
            raise NotImplementedError(
                f"{self.algo_name} ({self.family} family) trains through orl.fit, but its agents do not act on "
                f"observations through predict/save here; use its own solver on the run directory {self.run_dir} "
                f"(families that predict: {', '.join(ACTING_FAMILIES)})")

    def member(self, index: int | str) -> Agent:
        """Member ``index`` (a position or a name from ``members``) of a population, as a single agent."""
        self._require_policy()
        if isinstance(index, str):
            if index not in self.members:
                raise KeyError(f"no member {index!r}; members: {self.members}")
            index = self.members.index(index)
        if not 0 <= index < len(self.members):
            raise IndexError(f"member {index} out of range for {len(self.members)} members")
        if len(self.members) == 1:
            return self
        one = self.algorithm.member(index)
        return Agent(self.algo_name, self.family, self.config, one, [self.members[index]], self.run_dir,
                     self.spaces, self.normalizer, self.summary)

    def predict(self, observation: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for raw environment observations: one observation ``(obs_dim,)`` gives one action, a batch
        ``(N, obs_dim)`` gives ``(N, ...)``. Continuous actions lie within the environment's bounds
        (online policies' Gaussian means are clipped to them, as the environment would); discrete actions
        are integers. ``deterministic=False`` samples from the policy. A population's agent needs
        :meth:`member` first."""
        self._require_policy()
        if len(self.members) > 1:
            raise ValueError(f"this agent is a population of {len(self.members)} members ({', '.join(self.members)}); "
                             "pick one with agent.member(i) before predict")
        obs = np.asarray(observation, dtype=np.float32)
        obs_dim = int(self.spaces["obs_dim"])
        if obs.ndim not in (1, 2) or obs.shape[-1] != obs_dim:
            raise ValueError(f"predict expects an observation of shape ({obs_dim},) or a batch (N, {obs_dim}), "
                             f"got shape {obs.shape}")
        if self.family == "offline":
            return self.algorithm.act(obs, deterministic=deterministic)
        single = obs.ndim == 1
        x = obs.reshape(-1, obs_dim)
        if self.normalizer is not None:
            n = self.normalizer
            x = np.clip((x - n["mean"]) / np.sqrt(n["var"] + 1e-8), -n["clip"], n["clip"]).astype(np.float32)
        a = self.algorithm.act(x, deterministic=deterministic)
        if self.family == "offpolicy":  # SAC acts in [-1, 1]: the environment's bounds
            low, high = np.asarray(self.spaces["action_low"]), np.asarray(self.spaces["action_high"])
            a = (high + low) / 2 + (high - low) / 2 * a
        if not self.spaces["discrete"]:
            a = np.clip(a, self.spaces["action_low"], self.spaces["action_high"])
        if hasattr(self.algorithm, "decode_noise"):  # DSRL-SAC chose noises: the base turns them into actions
            a = self.algorithm.decode_noise(obs.reshape(-1, obs_dim), a)
        return a[0] if single else a

    def to_blob(self) -> dict[str, Any]:
        """The agent as the dictionary :meth:`save` writes (``Agent.from_blob`` reads it back)."""
        import gymnasium
        import torch

        import orl

        self._require_policy()
        base = getattr(self.algorithm, "base_agent", None)  # carried, so the file loads where algo.base is absent
        return {"format": AGENT_FORMAT, "format_version": AGENT_FORMAT_VERSION, "algo": self.algo_name,
                "family": self.family, "config": self.config, "members": self.members,
                "state": self.algorithm.state_dict(), "spaces": self.spaces, "normalizer": self.normalizer,
                "base_agent": None if base is None else base.to_blob(),
                "versions": {"orl": orl.__version__, "python": platform.python_version(), "torch": torch.__version__,
                             "numpy": np.__version__, "gymnasium": gymnasium.__version__}}

    def save(self, path: str | Path) -> Path:
        """Write the agent to ``path`` atomically as one self-describing file (see :func:`load`)."""
        from orl.train.common import save_torch

        blob = self.to_blob()
        path = Path(path)
        if path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        save_torch(path, blob)
        return path

    @classmethod
    def from_learner(cls, learner: Any, algo_name: str, config: dict[str, Any] | None = None) -> Agent:
        """A snapshot (deep copy) of an on-policy learner's current policy (``orl.train.online.OnPolicyLearner``)
        as an agent: what PROTECTED appends to its policy set."""
        import copy

        c = learner.config
        space = learner.envs[0].action_space
        spaces = {"obs_dim": learner.obs_dim, "discrete": learner.discrete,
                  "action_dim": int(space.n) if learner.discrete else int(np.prod(space.shape)),
                  "action_low": None if learner.discrete else np.asarray(space.low),
                  "action_high": None if learner.discrete else np.asarray(space.high)}
        normalizer = ({"mean": np.array(learner.obs_rms.mean), "var": np.array(learner.obs_rms.var),
                       "clip": float(c.clip_obs)} if c.normalize_obs else None)
        config = config or {"algo": {"name": algo_name, "family": "online", **dataclasses.asdict(c)},
                            "env": {"name": learner.env_id, "id": learner.env_id}}
        return cls(algo_name, "online", config, copy.deepcopy(learner.algo), [""], None, spaces, normalizer)


class _Stats:
    """The mean and variance of a saved observation normaliser (``RunningMeanStd``'s fields)."""

    def __init__(self, mean: np.ndarray, var: np.ndarray) -> None:
        self.mean, self.var = np.asarray(mean), np.asarray(var)


def _online_spaces(env_id: str) -> dict[str, Any]:
    import gymnasium as gym

    from orl.train.online import make_env

    env = make_env(env_id)
    space, obs_space = env.action_space, env.observation_space
    env.close()
    discrete = isinstance(space, gym.spaces.Discrete)
    return {"obs_dim": int(np.prod(obs_space.shape)), "discrete": discrete,
            "action_dim": int(space.n) if discrete else int(np.prod(space.shape)),
            "action_low": None if discrete else np.asarray(space.low), "action_high": None if discrete else np.asarray(space.high)}


def _offline_bounds_from_config(cfg: Any) -> tuple[np.ndarray, np.ndarray]:
    """Action bounds of a run whose checkpoint predates stored bounds: from its evaluation environment."""
    from orl.train.offline import eval_action_space

    env_id = cfg.env.get("eval_env")
    if not env_id:
        raise ValueError("this run's checkpoint predates stored action bounds and its config names no "
                         "env.eval_env; resume it once with the current orl to rewrite the checkpoint")
    space = eval_action_space(env_id)
    return np.asarray(space.low), np.asarray(space.high)
