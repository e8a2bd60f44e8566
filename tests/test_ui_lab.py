"""The welcome notebook in a real JupyterLab: run every cell, then the ipywidgets and the
Panel/HoloViews outputs must have rendered (offline: Panel is loaded inline) and no cell failed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ui_support import ROOT, free_port, screenshot_path, wait_for_url

pytestmark = pytest.mark.ui
NOTEBOOK = ROOT / "notebooks" / "00_welcome.ipynb"

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
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    home = tmp_path_factory.mktemp("lab-home")
    env = {**os.environ, "PANEL_INLINE": "1", "JUPYTER_CONFIG_DIR": str(home / "config"),
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


@pytest.mark.timeout(150)
def test_welcome_notebook_runs_and_renders_in_jupyterlab(page, jupyterlab):
    page.goto(f"{jupyterlab}/lab/tree/{NOTEBOOK.name}", wait_until="domcontentloaded")
    # the notebook is open and its kernel is up and idle before we run anything
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

