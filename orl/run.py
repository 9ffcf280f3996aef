"""``python -m orl.run algo=<name> env=<dataset> [key=value ...]``: orl's one front door.

Examples::

    python -m orl.run algo=a2pr env=hopper-medium
    python -m orl.run algo=td3bc env=pendulum-scripted steps=20000 sampler=aw
    python -m orl.run algo=iql env=minari:orl/pendulum-scripted-v1      # any local Minari dataset
    python -m orl.run algo=bc env=data/my.hdf5 env.eval_env=Hopper-v5   # any D4RL-layout file
    python -m orl.run resume=runs/a2pr/hopper-medium/0-20261125-101500  # continue a killed run
    python -m orl.run -m seed=0,1,2 algo=td3bc,a2pr                     # a local parallel sweep

Config groups live in ``orl/conf``: ``algo/<name>.yaml`` (a config dataclass's fields),
``env/<dataset>.yaml`` and ``tuned/<algo>/<dataset>.yaml`` (the papers' per-dataset settings,
applied automatically; command-line ``algo.<field>=`` overrides still win). A run writes
``runs/<algo>/<env>/<seed>-<time>/`` with ``config.yaml`` (resolved), metrics (CSV and
TensorBoard) and ``checkpoint.pt``, and ends with the line
``normalized score: last X, best Y over N episodes``.

``resume=<run dir>`` continues that run from its ``checkpoint.pt`` with the configuration saved in its
``config.yaml``; only ``device=``, ``threads=`` and ``compile=`` may be changed on resume (they change
where and how the run computes, not what it learns), anything else is refused. Bad input of any kind (unknown keys, mistyped
values, an unknown evaluation environment, an unwritable ``out_root``, a damaged checkpoint) stops with
exit code 2 and one line naming it, before anything is written; Ctrl-C (or SIGTERM) stops with exit code
130 and says where the last checkpoint is.

Adding an algorithm family means a training module with a ``run_config`` function, its entry in
``orl.train.FAMILIES`` and ``algo/``/``env/`` config entries (``family: <name>``); this file does
not change.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
import yaml
from omegaconf import DictConfig, OmegaConf

CONF = Path(__file__).parent / "conf"
#: What ``resume=<dir>`` may change: where the run computes, not what it learns.
RESUME_MAY_CHANGE = ("device", "threads", "compile")
#: Arguments that belong to Hydra itself, passed through unchecked.
_HYDRA_FLAGS = ("-", "+", "~", "hydra.", "hydra/")


class UsageError(ValueError):
    """Bad input (a command-line argument or an ``orl.fit`` keyword): one ``error:`` line and exit code 2
    from the CLI, a ``ValueError`` naming the bad value from Python."""


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def algo_family(name: str) -> str:
    """The family of ``algo=<name>`` (its ``conf/algo/<name>.yaml``, under ``algo:`` in a global-package file)."""
    data = _yaml(CONF / "algo" / f"{name}.yaml")
    return data.get("algo", data).get("family", "offline")


def top_level_keys() -> list[str]:
    """The settings ``key=value`` may set: config.yaml's and those of the global-package algorithm files."""
    keys = {k for k in _yaml(CONF / "config.yaml") if k not in ("defaults", "hydra")}
    for path in (CONF / "algo").glob("*.yaml"):
        if path.read_text().startswith("# @package _global_"):
            keys |= {k for k in _yaml(path) if k != "algo"}
    return sorted(keys | {"algo", "env"})


def _group_keys(group: str, name: str) -> set[str]:
    """The keys ``<group>.<key>=`` may set when ``<group>=<name>`` is chosen."""
    data = _yaml(CONF / group / f"{name}.yaml")
    return set(data.get(group, data) if group == "algo" and "algo" in data else data)


def check_argv(argv: list[str]) -> list[str]:
    """Validate the command line before Hydra: ``algo=``/``env=`` names, setting names and ``out_root``
    (exit 2 naming the bad one and the valid ones), and map ``env=minari:<id>`` / ``env=<path>`` onto the
    ``custom`` env entry. Hydra's own arguments (``-m``, ``+key=``, ``hydra.*``) pass through."""
    out: list[str] = []
    multirun = any(a in ("-m", "--multirun") for a in argv)
    chosen = {"algo": ["a2pr"], "env": ["hopper-medium"]}  # config.yaml's defaults
    later: list[tuple[str, str]] = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if arg.startswith(_HYDRA_FLAGS) or not eq:
            out.append(arg)
            continue
        if key == "algo":
            bad = [v for v in value.split(",") if v not in group_options("algo")]
            if bad or not value:
                raise UsageError(f"unknown algo {(bad or [value])[0]!r}; valid: {', '.join(group_options('algo'))}")
            chosen["algo"] = value.split(",")
        elif key == "seeds":
            seeds = value.strip("[]").split(",")
            if not value or not all(v.strip().isdigit() for v in seeds):
                raise UsageError(f"seeds must be non-negative integers separated by commas (seeds=0,1,2), got {value!r}")
            if len(set(seeds)) != len(seeds):
                raise UsageError(f"seeds lists a seed twice: {value!r}")
            out.append(f"seeds=[{','.join(v.strip() for v in seeds)}]")
            continue
        elif key == "env":
            if "," in value and not multirun and all(v in group_options("env") for v in value.split(",")):
                names = value.split(",")
                if len(set(names)) != len(names):
                    raise UsageError(f"env lists a dataset twice: {value!r}")
                out += [f"env={names[0]}", f"envs=[{','.join(names)}]"]  # a population over datasets
                chosen["env"] = names
                continue
            if "," not in value and value not in group_options("env") and _is_gymnasium_id(value):
                out += ["env=gym", f"env.id={value}", f"env.name={_safe_name(value)}"]  # online algorithms
                chosen["env"] = ["gym"]
                continue
            if value.startswith("minari:") or value.endswith((".hdf5", ".h5")) or os.sep in value:
                out += ["env=custom", f"env.dataset={value}", f"env.name={_safe_name(value)}"]
                chosen["env"] = ["custom"]
                continue
            bad = [v for v in value.split(",") if v not in group_options("env")]
            if bad or not value:
                raise UsageError(f"unknown env {(bad or [value])[0]!r}; valid: {', '.join(group_options('env'))}, "
                                 f"minari:<dataset_id>, a path to a D4RL-layout .hdf5 file, or a registered "
                                 f"Gymnasium id (online algorithms, e.g. CartPole-v1)")
            chosen["env"] = value.split(",")
        elif "." in key and key.split(".", 1)[0] in ("algo", "env"):
            later.append((key, arg))
        elif key not in top_level_keys():
            raise UsageError(f"unknown setting {key!r}; valid: {', '.join(top_level_keys())} "
                             "(and algo.<field>=, env.<field>=)")
        out.append(arg)
    sweeps: dict[str, list[str]] = {}
    for key, arg in later:  # once algo= and env= are known, wherever they stood
        group, field = key.split(".", 1)
        for name in chosen[group]:
            known = _group_keys(group, name)
            if field.split(".", 1)[0] not in known:
                raise UsageError(f"unknown setting {key!r} for {group}={name}; valid: "
                                 f"{', '.join(f'{group}.{k}' for k in sorted(known) if k not in ('name', 'family'))}")
        value = arg.partition("=")[2]
        if group == "algo" and "," in value and not multirun and not value.startswith(("[", "{")):
            values = value.split(",")  # a sweep inside one population: one member per value
            if len(set(values)) != len(values):
                raise UsageError(f"{key} lists a value twice: {value!r}")
            sweeps[field] = values
            out[out.index(arg)] = f"{key}={values[0]}"  # the first value stands in the base config
    if sweeps:
        out.append("sweeps={" + ",".join(f"{k}:[{','.join(v)}]" for k, v in sweeps.items()) + "}")
    seeds_arg = next((a for a in out if a.startswith("seeds=")), None)
    envs_arg = next((a for a in out if a.startswith("envs=")), None)
    if (seeds_arg or envs_arg or sweeps) and not any(a.startswith("hydra.run.dir=") for a in out):
        # a population's directory names its datasets and seeds: runs/<algo>/<env>+<env>/seeds0-1-2-<time>
        env_part = "+".join(envs_arg.partition("=")[2].strip("[]").split(",")) if envs_arg else "${env.name}"
        seed_part = "seeds" + "-".join(seeds_arg.partition("=")[2].strip("[]").split(",")) if seeds_arg else "${seed}"
        out.append(f"hydra.run.dir=${{out_root}}/${{algo.name}}/{env_part}/{seed_part}-${{now:%Y%m%d-%H%M%S}}")
    out_root = next((a.partition("=")[2] for a in argv if a.startswith("out_root=")), None)
    out_root = out_root or _yaml(CONF / "config.yaml")["out_root"]
    check_writable_dir(out_root, "out_root")
    global _OUT_ROOT_IS_NEW
    _OUT_ROOT_IS_NEW = not Path(out_root).exists()
    return out


#: Whether this process's run will create ``out_root`` (then a rejected run removes it again, if empty).
_OUT_ROOT_IS_NEW = False


def check_writable_dir(path: str, what: str) -> None:
    """Refuse ``path`` by name unless it is, or could be created as, a directory that takes files.

    Nothing is created: the probe file goes into the nearest existing ancestor (``os.access`` alone
    says yes to root on a read-only mount, so a file is really written and removed)."""
    p = Path(path).absolute()
    existing = next(d for d in (p, *p.parents) if d.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file")
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".orl-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"{what}={path!r} is not a writable directory ({e.strerror or e})") from None


def _is_gymnasium_id(value: str) -> bool:
    """Whether ``value`` is a registered Gymnasium id (orl-envs' ``orl/...`` ids and the action-chunk ids
    ``orl-chunk/...`` of :mod:`orl.data.chunks` included)."""
    import gymnasium as gym

    import orl_envs
    from orl.data.chunks import ensure_registered

    gym.register_envs(orl_envs)
    try:
        ensure_registered(value)
    except ValueError:
        return False
    return value in gym.envs.registry


def _safe_name(spec: str) -> str:
    return spec.replace("minari:", "minari-").replace(os.sep, "_").removesuffix(".hdf5").removesuffix(".h5")


def _user_algo_keys() -> set[str]:
    """The ``algo.<field>=`` settings given on this command line (they win over tuned settings)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return {o.partition("=")[0].removeprefix("algo.") for o in HydraConfig.get().overrides.task
                if o.startswith("algo.")}
    except ValueError:  # no Hydra run (tests composing a config)
        return set()


def tuned_settings(algo: str, env: str, user: set[str]) -> dict[str, Any]:
    """``tuned/<algo>/<env>.yaml`` (the papers' per-dataset settings) without the fields in ``user``."""
    path = CONF / "tuned" / algo / f"{env}.yaml"
    return {k: v for k, v in (_yaml(path) if path.exists() else {}).items() if k not in user}


def apply_tuned(cfg: DictConfig, user: set[str] | None = None) -> list[str]:
    """Merge ``tuned/<algo>/<dataset>.yaml`` into ``cfg.algo``; the user's ``algo.*`` settings (``user``,
    default: this command line's) win. For a population (``seeds=``, ``env=a,b``) first write its members
    into ``cfg.members``, each with the tuned settings of its own dataset."""
    user = _user_algo_keys() if user is None else user
    if any(cfg.get(k) is not None for k in ("seeds", "envs", "sweeps")):
        cfg.members = population_members(cfg, user)
    applied = []
    for k, v in tuned_settings(cfg.algo.name, cfg.env.name, user).items():
        cfg.algo[k] = v
        applied.append(f"{k}={v}")
    return applied


def population_members(cfg: DictConfig, user: set[str]) -> list[dict[str, Any]]:
    """The members of a population run: one per (dataset, swept value(s), seed), named
    ``<env>/[<field>=<value>/]seed<k>``, each with its dataset, evaluation environment and
    hyperparameters (defaults, its dataset's tuned settings, the command line's ``algo.*``, then its
    point of the sweep)."""
    family = cfg.algo.get("family", "offline")
    if family != "offline":
        raise UsageError(f"seeds= and env=a,b train a population, which the offline algorithms support; "
                         f"algo={cfg.algo.name} is {family}: use -m seed=0,1,2 for separate runs")
    envs = list(cfg.envs) if cfg.get("envs") is not None else [cfg.env.name]
    seeds = [int(s) for s in cfg.seeds] if cfg.get("seeds") is not None else [int(cfg.seed)]
    base = OmegaConf.to_container(cfg.algo, resolve=True)
    sweeps = OmegaConf.to_container(cfg.sweeps, resolve=True) if cfg.get("sweeps") is not None else {}
    grid = [dict(zip(sweeps, values)) for values in itertools.product(*sweeps.values())] or [{}]
    members = []
    for env in envs:
        # the chosen env's own entry (also a minari:/file dataset); the other datasets' from conf/env
        env_cfg = OmegaConf.to_container(cfg.env) if env == cfg.env.name else _yaml(CONF / "env" / f"{env}.yaml")
        for point in grid:
            params = {**base, **tuned_settings(cfg.algo.name, env, user), **point}
            tag = "".join(f"{k}={v}/" for k, v in point.items())
            for seed in seeds:
                members.append({"name": f"{env}/{tag}seed{seed}", "env": env, "dataset": env_cfg.get("dataset"),
                                "eval_env": env_cfg.get("eval_env"), "seed": seed, "algo": params})
    return members


def check_config(cfg: DictConfig) -> None:
    """The loop settings and the family, refused by name (the family's trainer checks the rest)."""
    from orl.train import DEVICE_FAMILIES, FAMILY_SETTINGS, LOOP_SETTINGS, trainer_for
    from orl.train.offline import settings_from

    family = cfg.algo.get("family", "offline")
    trainer_for(family)
    # before the device itself is checked: this answer holds on every machine, with or without a GPU
    if str(cfg.get("device", "cpu")) != "cpu" and family not in DEVICE_FAMILIES:
        on_device = [name for name in group_options("algo") if algo_family(name) in DEVICE_FAMILIES]
        raise ValueError(f"algo={cfg.algo.name} ({family} family) trains on the CPU only, got "
                         f"device={cfg.get('device')!r}: use device=cpu (device=cuda applies to "
                         f"algo={', '.join(on_device)})")
    loop = settings_from(cfg)
    default, reads = type(loop)(), FAMILY_SETTINGS.get(family, ())
    for name in LOOP_SETTINGS:  # a setting this family's trainer does not read: refused, never silently ignored
        if name not in reads and getattr(loop, name) != getattr(default, name):
            instead = (f"set algo.{name}={getattr(loop, name)} instead" if name in cfg.algo
                       else f"it reads {', '.join(reads) or 'none of them'}")
            raise ValueError(f"{name}={getattr(loop, name)} is a loop setting that algo={cfg.algo.name} ({family} "
                             f"family) does not use; {instead}")
    if cfg.get("compile", False) and family not in ("offline", "online"):
        raise ValueError(f"compile=true applies to the offline algorithms' update step and the on-policy ones' "
                         f"minibatch losses; algo={cfg.algo.name} is {family}")
    if family != "offline" and cfg.get("matmul_precision", "highest") != "highest":
        raise ValueError(f"matmul_precision={cfg.get('matmul_precision')} applies to the offline algorithms; "
                         f"algo={cfg.algo.name} is {family}")



# ------------------------------------------------------------------------------------------ resume
def load_run_dir(path: str) -> tuple[Path, DictConfig, int | None]:
    """A run directory to resume: its saved configuration and its checkpoint's step (``None``: no
    checkpoint yet). Refused by name, before anything is written, when it is not one or is damaged."""
    from orl.train.common import CHECKPOINT, load_checkpoint

    if not path:
        raise UsageError("resume= needs a run directory (one holding config.yaml and checkpoint.pt)")
    out = Path(path)
    if not out.exists():
        raise UsageError(f"resume: {out} does not exist")
    if not out.is_dir():
        raise UsageError(f"resume: {out} is a file, not a run directory (one holding config.yaml and checkpoint.pt)")
    saved = out / "config.yaml"
    if not saved.is_file():
        raise UsageError(f"resume: {saved} not found (is {out} an orl run directory?)")
    try:
        cfg = OmegaConf.load(saved)
        missing = [k for k in ("algo.name", "env.name", "steps", "seed") if OmegaConf.select(cfg, k) is None]
    except Exception as e:  # a YAML syntax error, or not a mapping
        raise UsageError(f"resume: {saved} cannot be read ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if missing:
        raise UsageError(f"resume: {saved} is not an orl run configuration (it has no {missing[0]})")
    step = None
    if (out / CHECKPOINT).exists():
        try:
            step = int(load_checkpoint(out)["step"])
        except ValueError as e:  # CheckpointError
            raise UsageError(f"resume: {e}") from None
    return out, cfg, step


def resume_main(argv: list[str]) -> int:
    """``python -m orl.run resume=<dir> [device=...] [threads=...] [compile=...]``, without Hydra: nothing in the run
    directory is rewritten except what training itself continues (its logs past the checkpoint)."""
    if any(a in ("-m", "--multirun") for a in argv):
        raise UsageError("resume= continues one run directory; it does not combine with -m")
    values: dict[str, Any] = {}
    resume = ""
    refused = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if key == "resume" and eq:
            resume = value
        elif key in RESUME_MAY_CHANGE and eq:
            values[key] = yaml.safe_load(value)
        else:
            refused.append(arg)
    if refused:
        out, _, _ = load_run_dir(resume)
        raise UsageError(f"resume continues {out} as saved in its config.yaml; {refused[0]!r} would change it "
                         f"(only {', '.join(k + '=' for k in RESUME_MAY_CHANGE)} may change on resume): start a new run "
                         "to change it")
    print(resume_run(resume, values)[1])
    return 0


def resume_run(path: str | Path, changes: dict[str, Any] | None = None) -> tuple[Path, str]:
    """Continue the run directory ``path`` from its checkpoint with its saved configuration (only
    ``RESUME_MAY_CHANGE`` settings may be given in ``changes``); returns the directory and the final line.
    The CLI's ``resume=`` and ``orl.resume`` both end here."""
    changes = dict(changes or {})
    bad = sorted(set(changes) - set(RESUME_MAY_CHANGE))
    out, cfg, step = load_run_dir(str(path))
    if bad:
        raise UsageError(f"resume continues {out} as saved in its config.yaml; {bad[0]!r} would change it "
                         f"(only {', '.join(RESUME_MAY_CHANGE)} may change on resume): start a new run to change it")
    for key, value in changes.items():
        cfg[key] = value
    try:
        check_config(cfg)
    except ValueError as e:  # a bad device=/threads=/compile= value
        raise UsageError(str(e)) from None
    if changes:
        print(f"resume: {', '.join(f'{k}={v}' for k, v in changes.items())} (the saved config.yaml is unchanged)")
    if step is None:
        print(f"resume: {out} has no checkpoint yet (stopped before its first evaluation): training from step 0")
    elif step >= cfg.steps:
        print(f"resume: {out} finished at step {step:,} of {cfg.steps:,}; nothing left to train")
    else:
        print(f"resuming {out} at step {step:,} of {cfg.steps:,}")
    return out, _train(cfg, out, resume=step is not None, tuned=[], fresh=False)


# ------------------------------------------------------------------------------------------ training
def _train(cfg: DictConfig, out_dir: Path, resume: bool, tuned: list[str], fresh: bool) -> str:
    """Run the family's trainer; its expected failures become one ``error:`` line (exit 2) and Ctrl-C
    a note of the last checkpoint (exit 130). A fresh run that fails before its first checkpoint leaves
    no run directory behind."""
    from orl.data import DatasetError
    from orl.train import trainer_for
    from orl.train.common import CHECKPOINT

    try:
        return trainer_for(cfg.algo.get("family", "offline"))(cfg, out_dir, resume, tuned)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {_checkpoint_note(out_dir)}", file=sys.stderr)
        raise SystemExit(130) from None
    except (UsageError, DatasetError, ValueError, OSError) as e:
        if not (out_dir / CHECKPOINT).exists():
            if fresh:
                _discard_run_dir(out_dir, Path(cfg.out_root))
            raise UsageError(str(e)) from None
        raise UsageError(f"{e}; {_checkpoint_note(out_dir)}") from None


def _checkpoint_note(out_dir: Path) -> str:
    from orl.train.common import CHECKPOINT, load_checkpoint

    path = out_dir / CHECKPOINT
    if not path.exists():
        return f"no checkpoint was written yet (one is written at every evaluation); {out_dir} has nothing to resume"
    try:
        step = int(load_checkpoint(out_dir)["step"])
    except (ValueError, OSError):
        return f"the checkpoint {path} cannot be read"
    return f"the last checkpoint is {path} (step {step:,}); continue with: python -m orl.run resume={out_dir}"


#: What a run directory holds before its first checkpoint (Hydra's and orl's files).
_RUN_FILES = (".hydra", "config.yaml", "metrics.csv", "eval.csv", "tb", "run.log", "orl.run.log", "dataset.hdf5")


def _discard_run_dir(out_dir: Path, out_root: Path) -> None:
    """Remove what this run wrote into its fresh directory, then the directory and its parents while
    they are empty, up to (not including) ``out_root``; a file that is not a run's is never touched."""
    for name in _RUN_FILES:
        p = out_dir / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
    root = out_root.resolve()
    d = out_dir.resolve()
    while d != root and root in d.parents:
        try:
            d.rmdir()  # only when empty
        except OSError:
            break
        d = d.parent
    if d == root and _OUT_ROOT_IS_NEW:
        with contextlib.suppress(OSError):
            root.rmdir()


def run(cfg: DictConfig) -> str:
    """Train one configuration (also the entry point of every multirun job); returns the final line.

    The algorithm's ``family`` (its ``algo/*.yaml``; default ``offline``) picks the training loop from
    ``orl.train.FAMILIES``."""
    out_dir = Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    OmegaConf.set_struct(cfg, False)
    print(f"run directory: {out_dir}", flush=True)
    try:
        if cfg.get("resume"):
            raise UsageError("resume= is given alone: python -m orl.run resume=<run dir>")
        line = execute(cfg, out_dir, _user_algo_keys())
    except (UsageError, ValueError, OSError) as e:
        raise SystemExit(_usage_error(str(e))) from None
    print(f"run directory: {out_dir}")
    print(line)
    return line


def execute(cfg: DictConfig, out_dir: Path, user: set[str]) -> str:
    """A new run of the composed configuration ``cfg`` in ``out_dir``: the tuned settings (``user``: the
    ``algo.*`` fields the user set, which win), the checks, ``config.yaml``, then the family's trainer;
    returns the final line. ``orl.run`` and ``orl.fit`` both end here. Bad input raises a ``ValueError``
    (``UsageError``) before anything is written; a run that fails before its first checkpoint leaves no
    run directory behind."""
    OmegaConf.set_struct(cfg, False)
    try:
        tuned = apply_tuned(cfg, user)
        check_config(cfg)
        from orl.utils.atomic import atomic_path

        out_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(out_dir / "config.yaml") as tmp:
            tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
        if tuned:
            print(f"tuned settings for {cfg.algo.name} on {cfg.env.name}: {', '.join(tuned)}")
        return _train(cfg, out_dir, resume=False, tuned=tuned, fresh=True)
    except (UsageError, ValueError, OSError):
        if not (out_dir / "checkpoint.pt").exists():
            _discard_run_dir(out_dir, Path(cfg.out_root))
        raise


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (a scheduler's stop) ends a run like Ctrl-C: the note says how to resume


def show_job(argv: list[str]) -> str:
    """``--cfg job``: the configuration a run of ``argv`` would use, tuned settings applied (Hydra's own
    ``--cfg job`` prints it before they are), as YAML headed by a comment naming them."""
    from orl.api import compose

    cfg, out_dir = compose(argv)
    user = {a.partition("=")[0].removeprefix("algo.") for a in argv if a.startswith("algo.")}
    tuned = apply_tuned(cfg, user)
    head = f"# run directory: {out_dir}\n"
    head += (f"# tuned settings for {cfg.algo.name} on {cfg.env.name} (in algo below): {', '.join(tuned)}\n" if tuned
             else f"# no tuned settings for {cfg.algo.name} on {cfg.env.name}\n")
    return head + OmegaConf.to_yaml(cfg, resolve=True)


HELP_TAIL = """
Lists: python -m orl.list [datasets|algos|envs]   (names, families, papers; which datasets are built)
Show the settings a run will use (tuned ones applied):  python -m orl.run algo=iql env=hopper-medium --cfg job
Python: import orl; agent = orl.fit("iql", "pendulum-scripted", steps=20_000); agent.predict(obs)
Hydra's own options: python -m orl.run --hydra-help
"""


def main() -> None:
    argv = sys.argv[1:]
    multirun = any(a in ("-m", "--multirun") for a in argv)
    if not multirun:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if any(a in ("-h", "--help") for a in argv):
            print(__doc__.strip() + "\n" + HELP_TAIL)
            return
        for flag in ("--cfg", "-c"):
            if flag in argv and argv.index(flag) + 1 < len(argv) and argv[argv.index(flag) + 1] == "job":
                i = argv.index(flag)
                print(show_job(argv[:i] + argv[i + 2:]), end="")
                return
        if any(a.partition("=")[0] == "resume" for a in argv):
            raise SystemExit(resume_main(argv))
        sys.argv = [sys.argv[0], *check_argv(argv)]
        _hydra_main()
    except ValueError as e:  # UsageError; also when raised by ``orl.run`` imported under its own name
        raise SystemExit(_usage_error(str(e))) from None
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
