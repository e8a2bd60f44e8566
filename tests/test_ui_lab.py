"""Notebooks in a real JupyterLab: run every cell, then the ipywidgets and the Panel/HoloViews/Bokeh
outputs must have rendered (offline: Panel is loaded inline) and no cell failed. The welcome notebook,
and 04_pim (fast at full size), whose timeline must re-aggregate when the browser zooms it.

Offline: the `page` fixture refuses and records every request that would leave the machine, and a test
whose page made one fails (tests/conftest.py). The server's own requests (news feed, update check, PyPI
search) are out of the browser's sight: the server runs with `labkit lab`'s configuration
(labkit.cli.LAB_ENV, LAB_CONFIG) and test_jupyterlab_runs_offline checks it took effect."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from ui_support import ROOT, free_port, screenshot_path, wait_for_url

from labkit.cli import LAB_ENV

pytestmark = pytest.mark.ui
NOTEBOOK = ROOT / "notebooks" / "00_welcome.ipynb"
PIM_NOTEBOOK = ROOT / "notebooks" / "04_pim.ipynb"

# JS: the notebook panel in front, and its kernel (null until the session has one).
_PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
_KERNEL = f"(() => {{ const w = {_PANEL}; return w && w.sessionContext && w.sessionContext.session " \
          "&& w.sessionContext.session.kernel; })()"


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving a *copy* of the notebook (autosave must not touch the repo),
    with its own config/runtime/workspace/settings/IPython dirs so the user's settings don't apply
    (the data path is kept: the venv's lab extensions and `python3` kernel live there)."""
    root = tmp_path_factory.mktemp("lab")
    for nb in (NOTEBOOK, PIM_NOTEBOOK):
        shutil.copy(nb, root / nb.name)
    home = tmp_path_factory.mktemp("lab-home")
    env = {**os.environ, **LAB_ENV, "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"), "IPYTHONDIR": str(home / "ipython")}
    # no "get notified about Jupyter news?" toast over the screenshot
    news = home / "settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True)
    news.write_text('{"fetchNews": "false", "checkForUpdates": false}')
    port = free_port()
    log_path = home / "server.log"
    jupyter = Path(sys.executable).parent / "jupyter"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([str(jupyter), "lab", "--config", str(ROOT / "tests" / "jupyter_test_config.py"),
                                 f"--ServerApp.root_dir={root}", f"--ServerApp.port={port}",
                                 "--ServerApp.ip=127.0.0.1", "--no-browser"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/api", timeout=90, proc=proc, log=log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


def test_jupyterlab_runs_offline(jupyterlab):
    """The server side of the offline rule, which no browser route sees: no news feed, no update check
    against PyPI, an extension manager that searches nothing (labkit.cli.LAB_CONFIG, as `labkit lab`)."""
    page = _get(f"{jupyterlab}/lab")
    m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.S)
    assert m, "no jupyter-config-data in the /lab page"
    config = json.loads(m.group(1))
    assert config["news"] == {"disabled": True}, config["news"]
    assert config["extensionManager"]["can_install"] is False, config["extensionManager"]
    assert config["extensionManager"]["name"] == "read-only", config["extensionManager"]
    assert json.loads(_get(f"{jupyterlab}/lab/api/update")) == {"notification": None}
    assert json.loads(_get(f"{jupyterlab}/lab/api/news")) == {"news": []}


def _stop(proc):
    """End the server and its kernels (they share its process group, which we created)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _error_outputs(page) -> list[str]:
    """'ename: evalue' + traceback of every error output in the notebook model (authoritative: in the
    DOM an error renders like stderr, as application/vnd.jupyter.stderr)."""
    errors = page.evaluate(f"""() => {{ const out = [];
        for (const [i, cell] of {_PANEL}.content.widgets.entries()) {{
            const outs = cell.model.outputs; if (!outs) continue;
            for (let j = 0; j < outs.length; j++) {{ const o = outs.get(j).toJSON();
                if (o.output_type === 'error')
                    out.push(`cell ${{i}}: ${{o.ename}}: ${{o.evalue}}\\n` + (o.traceback || []).join('\\n')); }} }}
        return out; }}""")
    return [re.sub(r"\x1b\[[0-9;]*m", "", e) for e in errors]   # drop IPython's ANSI colours


def _run_all(page, url: str) -> None:
    """Open the notebook, run every cell, and fail on any error output, pending cell or traceback."""
    page.goto(url, wait_until="domcontentloaded")
    # this notebook is in front (JupyterLab may restore another tab first), its kernel up and idle
    name = url.rsplit("/", 1)[1]
    front = f"() => {{ const w = {_PANEL}; return w && w.context && w.context.path.endsWith('{name}'); }}"
    page.wait_for_function(front, timeout=60_000)
    page.wait_for_function(f"() => {{ const k = {_KERNEL}; return k && k.status === 'idle'; }}", timeout=60_000)

    # Run all; JupyterLab's promise settles when every cell has run or one has failed.
    page.evaluate("""() => { window.__labkitRun = null;
        window.jupyterapp.commands.execute('notebook:run-all-cells').then(
            ok => { window.__labkitRun = {ok}; }, e => { window.__labkitRun = {error: String(e)}; }); }""")
    page.wait_for_function(f"() => window.__labkitRun !== null && {_KERNEL}.status === 'idle'", timeout=120_000)
    result = page.evaluate("() => window.__labkitRun")
    prompts = page.locator(".jp-Notebook .jp-InputArea-prompt").all_inner_texts()

    errors = _error_outputs(page)
    assert not errors, "a cell failed:\n" + "\n\n".join(errors)[:4000]
    assert result.get("ok") is True, f"run-all did not complete: {result}"
    assert not any("*" in p for p in prompts), f"cells still pending: {prompts}"
    # ...and nothing that looks like a traceback was printed either (warnings on stderr are fine)
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert not [t for t in stderr.all_inner_texts() if "Traceback (most recent call last)" in t]


def _kernel_print(page, code: str) -> str:
    """Run `code` in the notebook's kernel (not a cell) and return what it printed."""
    return page.evaluate("""async code => {
        const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
        const f = k.requestExecute({code, silent: false, store_history: false});
        let text = '';
        f.onIOPub = msg => { if (msg.header.msg_type === 'stream' && msg.content.name === 'stdout')
                                 text += msg.content.text; };
        await f.done;
        return text; }""", code)


@pytest.mark.timeout(150)
def test_welcome_notebook_runs_and_renders_in_jupyterlab(page, jupyterlab):
    _run_all(page, f"{jupyterlab}/lab/tree/{NOTEBOOK.name}")

    # ipywidgets rendered: the notebook's IntSlider
    page.locator(".jp-OutputArea .widget-slider").first.wait_for(state="visible", timeout=30_000)
    # Panel/HoloViews rendered: Bokeh canvases with a real size inside the output area
    canvases = page.locator(".jp-OutputArea canvas")
    canvases.first.wait_for(state="attached", timeout=30_000)
    boxes = [c.bounding_box() for c in canvases.all()]
    assert any(b and b["width"] > 100 and b["height"] > 100 for b in boxes), f"no sized canvas: {boxes}"
    assert not [e for e in page.console_errors if "Panel: ERROR" in e], "Panel's JS did not load (not inline?)"
    # the last cell ran to the end: its records are shown
    assert page.locator(".jp-OutputArea-output", has_text="labkit.record").count() > 0

    # README picture: file browser closed, the Panel explorer (the largest canvas) in view
    page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")
    largest = max(canvases.all(), key=lambda c: (lambda b: b["width"] * b["height"] if b else 0)(c.bounding_box()))
    largest.evaluate("c => c.scrollIntoView({block: 'center', inline: 'nearest'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(screenshot_path("screenshots", "jupyterlab")))


#: kernel side: {Bokeh figure id: title} of every rendering of every TimelineView (the title names the
#: step, the window and the bar count, so it changes exactly when a zoom re-aggregates the bars)
_TITLES = ("import gc, json\nfrom widgets.pim import TimelineView\n"
           "print(json.dumps({r.figure.id: r.figure.title.text for v in gc.get_objects()\n"
           "                  if isinstance(v, TimelineView) for r in v._views}))")


def _titles(page) -> dict[str, str]:
    import json
    return json.loads(_kernel_print(page, _TITLES) or "{}")


def _timeline_canvas(page):
    """The largest canvas of the first timeline, scrolled into view (the notebook scrolls by wheel
    events over its left margin); None if it never came into view."""
    area = (lambda b: b["width"] * b["height"] if b else 0)
    canvas = max(page.locator(".pim-timeline").first.locator("canvas").all(), key=lambda c: area(c.bounding_box()))
    for _ in range(60):
        box = canvas.bounding_box()
        if box and 100 < box["y"] + box["height"] / 2 < 800:
            return box
        page.mouse.move(300, 500)
        page.mouse.wheel(0, 300 if box is None or box["y"] > 400 else -300)
        page.wait_for_timeout(100)
    return None


@pytest.mark.timeout(210)
def test_pim_notebook_renders_and_its_timeline_zooms_in_jupyterlab(page, jupyterlab):
    _run_all(page, f"{jupyterlab}/lab/tree/{PIM_NOTEBOOK.name}")
    canvases = page.locator(".jp-OutputArea canvas")
    canvases.first.wait_for(state="attached", timeout=30_000)
    boxes = [c.bounding_box() for c in canvases.all()]
    assert sum(1 for b in boxes if b and b["width"] > 100 and b["height"] > 100) >= 5, f"plots missing: {boxes}"
    assert not [e for e in page.console_errors if "Panel: ERROR" in e], "Panel's JS did not load (not inline?)"
    assert page.locator(".jp-OutputArea-output", has_text="labkit.record").count() > 0
    # wheel-zoom into the first timeline: the kernel re-aggregates the visible window (fewer, finer bars).
    # Wait for that state itself: poll the kernel's figures (by Bokeh id, not by position) until one
    # shown before has a new title, zooming again every 5 s (a wheel event that reached Bokeh before
    # its view was ready is lost), for at most 60 s.
    before = _titles(page)
    assert before, "no TimelineView rendering in the kernel"
    changed, after = [], before
    deadline = time.monotonic() + 60
    while not changed and time.monotonic() < deadline:
        box = _timeline_canvas(page)
        assert box is not None, "the timeline never scrolled into view"
        page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.5)  # inside the frame, early
        for _ in range(8):
            page.mouse.wheel(0, -400)
            page.wait_for_timeout(100)
        zoomed = time.monotonic()
        while time.monotonic() < min(zoomed + 5, deadline):
            after = _titles(page)
            changed = [(before[k], after[k]) for k in before.keys() & after.keys() if after[k] != before[k]]
            if changed:
                break
            page.wait_for_timeout(250)
    page.screenshot(path=str(screenshot_path("screenshots", "jupyterlab-pim-zoom")))
    assert changed, f"no timeline re-aggregated within 60 s of wheel zooms: before {before}, after {after}"
