"""The docs site (issue 23): ``mkdocs build --strict`` passes, and the built pages render in headless Chromium
with every image loaded, math typeset by the locally shipped MathJax, and no table wider than the content.

Chromium is Debian's package (``.ci/run`` installs it when missing); it is driven over the Chrome DevTools
protocol with ``websocket-client``, and the site is served by ``python -m http.server`` on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("", "benchmarks/", "training/", "data/", "results/")  # landing, benchmarks, one algorithm page, math, all results
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "envs")])}
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_site_builds_strict_and_ships_mathjax(site):
    assert (site / "javascripts" / "mathjax" / "tex-svg.js").stat().st_size > 100_000
    html = (site / "index.html").read_text()
    assert "javascripts/mathjax/tex-svg.js" in html
    assert not re.search(r"<script[^>]+src=\"https?://", html), "the site must not load scripts from the internet"


def test_every_results_csv_is_on_a_page_with_a_figure(site):
    from orl.plot.results import RESULTS

    described = {r.file for r in RESULTS}
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    for csv_path in sorted((ROOT / "experiments" / "results").glob("*.csv")):
        assert csv_path.name in described, f"{csv_path.name} has no entry in orl.plot.results.RESULTS"
        assert f"experiments/results/{csv_path.name}" in pages, f"{csv_path.name} is on no docs page"
        fig = f"figures/{csv_path.stem}.png"
        assert fig in pages, f"{csv_path.name}: no page shows {fig}"
        assert (site / fig).stat().st_size > 5_000, f"{fig} is missing or empty in the built site"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _CDP:
    """A minimal Chrome DevTools protocol client: one page target, synchronous calls."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.n = 0

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def eval(self, expr: str):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        return r["result"].get("value")


CHECK_JS = r"""
(async () => {
  for (let i = 0; i < 100 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 100));
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  await Promise.all([...document.images].map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  const content = document.querySelector('.md-content__inner').getBoundingClientRect();
  const tables = [...document.querySelectorAll('.md-content table')].filter(t => t.offsetParent !== null);
  return {
    broken: [...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src),
    images: document.images.length,
    arithmatex: document.querySelectorAll('.arithmatex').length,
    typeset: document.querySelectorAll('mjx-container').length,
    raw: document.querySelector('.md-content').innerText.includes('\\('),
    // A wide table may scroll: what must fit is the box the reader sees, the scrolling wrapper if any.
    wide: tables.filter(t => {
      const box = t.closest('.md-typeset__scrollwrap') || t;
      const scrolls = ['auto', 'scroll'].includes(getComputedStyle(box).overflowX);
      return box.getBoundingClientRect().right > content.right + 1 || (box !== t && !scrolls && t.scrollWidth > box.clientWidth);
    }).map(t => t.innerText.slice(0, 60)),
    tables: tables.length,
  };
})()
"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs Debian's chromium)")
def test_pages_render_in_headless_chromium(site, tmp_path):
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install -e '.[dev]')")
    http_port, cdp_port = _free_port(), _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(http_port), "--bind", "127.0.0.1", "-d", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                f"--user-data-dir={tmp_path / 'profile'}", f"--remote-debugging-port={cdp_port}",
                                "--remote-allow-origins=*", "--window-size=1280,900", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        targets = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{cdp_port}/json") as r:
                    targets = [t for t in json.load(r) if t["type"] == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert targets, "chromium did not open its DevTools port"
        cdp = _CDP(targets[0]["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        results = {}
        for page in PAGES:
            cdp.call("Page.navigate", url=f"http://127.0.0.1:{http_port}/{page}")
            for _ in range(100):
                if cdp.eval("document.readyState") == "complete" and cdp.eval("location.pathname") == f"/{page}":
                    break
                time.sleep(0.1)
            results[page] = res = cdp.eval(CHECK_JS)
            assert res["broken"] == [], f"/{page}: broken images {res['broken']}"
            assert res["wide"] == [], f"/{page}: tables wider than the content: {res['wide']}"
            assert not res["raw"], f"/{page}: raw \\( left in the text: math not typeset"
            assert res["typeset"] >= res["arithmatex"], f"/{page}: {res}"
        assert results[""]["images"] >= 1, "the landing page has no picture"
        assert results["data/"]["arithmatex"] > 0 and results["data/"]["typeset"] > 0, results["data/"]
        assert results["benchmarks/"]["images"] >= 1 and results["benchmarks/"]["tables"] >= 1, results["benchmarks/"]
        cdp.ws.close()
    finally:
        browser.terminate()
        server.terminate()
        browser.wait(10)
        server.wait(10)
