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

Adding an algorithm family means a training module with a ``run_config`` function, its entry in
``orl.train.FAMILIES`` and ``algo/``/``env/`` config entries (``family: <name>``); this file does
not change.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

CONF = Path(__file__).parent / "conf"

# ``hydra.run.dir`` is the resume directory when one is given, else a fresh timestamped one.
OmegaConf.register_new_resolver("orl_run_dir", lambda resume, fresh: resume if resume else fresh, replace=True)


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def check_argv(argv: list[str]) -> list[str]:
    """Validate ``algo=``/``env=`` before Hydra (exit 2 with the valid names) and map
    ``env=minari:<id>`` / ``env=<path>`` onto the ``custom`` env entry."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "algo" and value:
            bad = [v for v in value.split(",") if v not in group_options("algo")]
            if bad:
                raise SystemExit(_usage_error(f"unknown algo {bad[0]!r}; valid: {', '.join(group_options('algo'))}"))
        if key == "env" and value:
            if value.startswith("minari:") or value.endswith((".hdf5", ".h5")) or os.sep in value:
                out += ["env=custom", f"env.dataset={value}", f"env.name={_safe_name(value)}"]
                continue
            bad = [v for v in value.split(",") if v not in group_options("env")]
            if bad:
                raise SystemExit(_usage_error(
                    f"unknown env {bad[0]!r}; valid: {', '.join(group_options('env'))}, "
                    f"minari:<dataset_id>, or a path to a D4RL-layout .hdf5 file"))
        out.append(arg)
    return out


def _safe_name(spec: str) -> str:
    return spec.replace("minari:", "minari-").replace(os.sep, "_").removesuffix(".hdf5").removesuffix(".h5")


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def apply_tuned(cfg: DictConfig) -> list[str]:
    """Merge ``tuned/<algo>/<dataset>.yaml`` into ``cfg.algo``; command-line ``algo.*`` overrides win."""
    from hydra.core.hydra_config import HydraConfig

    path = CONF / "tuned" / cfg.algo.name / f"{cfg.env.name}.yaml"
    if not path.exists():
        return []
    tuned = OmegaConf.load(path)
    user = {}
    try:
        for o in HydraConfig.get().overrides.task:
            k, _, v = o.partition("=")
            if k.startswith("algo."):
                user[k.removeprefix("algo.")] = v
    except ValueError:
        pass
    applied = []
    for k, v in tuned.items():
        if k not in user:
            cfg.algo[k] = v
            applied.append(f"{k}={v}")
    return applied


def run(cfg: DictConfig) -> str:
    """Train one configuration (also the entry point of every multirun job); returns the final line.

    The algorithm's ``family`` (its ``algo/*.yaml``; default ``offline``) picks the training loop from
    ``orl.train.FAMILIES``."""
    from orl.data import DatasetError
    from orl.train import trainer_for

    out_dir = Path(cfg.resume) if cfg.resume else Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir)
    OmegaConf.set_struct(cfg, False)
    tuned = [] if cfg.resume else apply_tuned(cfg)
    if cfg.resume:  # the run's own configuration, not the command line's defaults
        saved = out_dir / "config.yaml"
        if not saved.exists():
            raise SystemExit(_usage_error(f"resume: {saved} not found (is {out_dir} an orl run directory?)"))
        cfg = OmegaConf.load(saved)
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        from orl.utils.atomic import atomic_path

        with atomic_path(out_dir / "config.yaml") as tmp:
            tmp.write_text(OmegaConf.to_yaml(cfg, resolve=True))
    try:
        if tuned:
            print(f"tuned settings for {cfg.algo.name} on {cfg.env.name}: {', '.join(tuned)}")
        line = trainer_for(cfg.algo.get("family", "offline"))(cfg, out_dir, bool(cfg.resume), tuned)
    except (DatasetError, ValueError, FileNotFoundError) as e:
        raise SystemExit(_usage_error(str(e))) from None
    print(f"run directory: {out_dir}")
    print(line)
    return line


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    run(cfg)


def main() -> None:
    sys.argv = [sys.argv[0], *check_argv(sys.argv[1:])]
    _hydra_main()


if __name__ == "__main__":
    main()
