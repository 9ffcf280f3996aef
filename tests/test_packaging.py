"""orl-envs stands alone: its dependencies are gymnasium, numpy and torch, and it never imports orl."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_orl_envs_dependencies_are_minimal():
    meta = tomllib.loads((ROOT / "envs" / "pyproject.toml").read_text())["project"]
    assert meta["name"] == "orl-envs"
    names = {re.split(r"[<>=\[ ;]", d, maxsplit=1)[0].lower() for d in meta["dependencies"]}
    assert names == {"gymnasium", "numpy", "torch"}


def test_orl_envs_never_imports_orl():
    for path in (ROOT / "envs" / "orl_envs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            assert not any(m == "orl" or m.startswith("orl.") for m in mods), f"{path} imports {mods}"


def test_orl_depends_on_orl_envs_and_both_import():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("orl-envs") for d in meta["dependencies"])
    import gymnasium as gym
    import orl_envs

    gym.register_envs(orl_envs)
    assert isinstance(orl_envs.ENV_IDS, tuple)


def test_import_orl_envs_is_light():
    """Registering the ids imports neither torch (the inventory simulator loads on first use) nor the
    optional routing solvers (imported by the solver that needs them)."""
    import subprocess
    import sys

    code = ("import sys, orl_envs, gymnasium as gym; gym.make('orl/TSP-v0', size=5).reset(seed=0); "
            "print(sorted(m for m in ('torch', 'elkai', 'pyvrp', 'ortools') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
