"""MkDocs hook: ship MathJax with the site, so math renders offline (CI and readers without internet).

MathJax 3 comes from the PyPI package ``django-static-mathjax`` (MathJax's own ``es5`` build as
package data; it has no dependencies, Django is not needed to read the files). We copy the
single-file ``tex-svg.js`` component (TeX input, SVG output: needs no web fonts) and the TeX
extensions it may autoload into ``<site>/javascripts/mathjax/``. Nothing is fetched at build or
view time. Chosen over KaTeX because no PyPI/Debian package ships KaTeX's browser build, and over
a CDN because the site must work without one.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any


def mathjax_es5_dir() -> Path:
    """The ``es5`` directory of the installed MathJax; a clear error if the docs extra is missing."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is not installed: pip install -e '.[dev]' (it brings django-static-mathjax)")
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (es5 / "tex-svg.js").is_file():
        raise RuntimeError(f"{es5} has no tex-svg.js: the installed django-static-mathjax is not MathJax 3")
    return es5


def on_post_build(config: Any, **kwargs: Any) -> None:
    es5 = mathjax_es5_dir()
    dest = Path(config["site_dir"]) / "javascripts" / "mathjax"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(es5 / "tex-svg.js", dest / "tex-svg.js")
    shutil.copytree(es5 / "input" / "tex" / "extensions", dest / "input" / "tex" / "extensions", dirs_exist_ok=True)
