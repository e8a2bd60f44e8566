"""The welcome notebook in a real JupyterLab: run every cell, then the ipywidgets and the
Panel/HoloViews outputs must have rendered (offline: Panel is loaded inline) and no cell failed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ui_support import BUILD, ROOT, free_port, wait_for_url

pytestmark = pytest.mark.ui
NOTEBOOK = ROOT / "notebooks" / "00_welcome.ipynb"


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab on 127.0.0.1 serving a *copy* of the notebook (autosave must not touch the repo)."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    port = free_port()
    home = tmp_path_factory.mktemp("lab-home")
    env = {**os.environ, "PANEL_INLINE": "1", "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(home / "settings")}
    jupyter = Path(sys.executable).parent / "jupyter"
    log = open(home / "server.log", "w")
    proc = subprocess.Popen([str(jupyter), "lab", "--config", str(ROOT / "tests" / "jupyter_test_config.py"),
                             f"--ServerApp.root_dir={root}", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
                             "--no-browser"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/api", timeout=90, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(proc)
        log.close()


def _stop(proc):
    """End the server and its kernels (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.timeout(300)
def test_welcome_notebook_runs_and_renders_in_jupyterlab(page, jupyterlab):
    page.goto(f"{jupyterlab}/lab/tree/{NOTEBOOK.name}", wait_until="domcontentloaded")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=90_000)
    # the notebook's kernel is up and idle before we run anything
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
        return k && k.status === 'idle'; }""", timeout=90_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # done when the last code cell has an execution count and the kernel is idle again
    page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
        const cells = w.content.widgets.filter(c => c.model.type === 'code');
        const last = cells[cells.length - 1];
        return last.model.executionCount !== null && w.sessionContext.session.kernel.status === 'idle'; }""",
                           timeout=180_000)
    page.wait_for_timeout(2000)

    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
    assert not tracebacks, f"a cell failed:\n{tracebacks[0][:2000]}"
    # ipywidgets rendered (the query slider of the ipywidgets cell)
    slider = page.locator(".jp-OutputArea .widget-slider").first
    slider.wait_for(state="visible", timeout=30_000)
    # Panel/HoloViews rendered: Bokeh canvases with a real size inside the output area
    page.locator(".jp-OutputArea canvas").first.wait_for(state="visible", timeout=30_000)
    boxes = [c.bounding_box() for c in page.locator(".jp-OutputArea canvas").all()]
    assert any(b and b["width"] > 100 and b["height"] > 100 for b in boxes), boxes
    assert "Panel: ERROR" not in " ".join(page.console_errors), "Panel's JS did not load (not inline?)"
    # the last cell ran to the end: its records are shown
    assert page.locator("text=labkit.record knn1_accuracy").count() == 1
    shots = BUILD / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "jupyterlab.png"))
