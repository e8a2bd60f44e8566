"""Helpers for the browser tests: free ports, waiting for servers, Debian's chromium, Bokeh canvases."""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
# Debian chromium, possibly as root, offline: no sandbox, no GPU, no background calls to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}

# Every <canvas> of the page, including those inside Bokeh's shadow roots (plain querySelectorAll
# does not enter them). Used by the JS snippets below.
_ALL_CANVASES = """() => { const out = [];
    const walk = (root) => { for (const e of root.querySelectorAll('*')) {
        if (e.tagName === 'CANVAS') out.push(e);
        if (e.shadowRoot) walk(e.shadowRoot); } };
    walk(document); return out; }"""


def chromium_path() -> str | None:
    """The browser to drive: $LABKIT_CHROMIUM when set (the tests of the skip/fail policy point it at a
    missing file), else `chromium` on PATH; None when there is none."""
    override = os.environ.get("LABKIT_CHROMIUM")
    if override is not None:
        return override if Path(override).is_file() else shutil.which(override)
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_url(url: str, timeout: float = 60.0, proc=None, log: Path | None = None) -> None:
    """Poll `url` until it answers 200; fail early if the server process `proc` died (quoting `log`)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered"
                               + (f"\n--- server log ---\n{log_tail(log)}" if log else ""))
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            last = e
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s (last error: {last})"
                       + (f"\n--- server log ---\n{log_tail(log)}" if log else ""))


def log_tail(path: Path, n: int = 3000) -> str:
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError as e:
        return f"(no log: {e})"


def screenshot_path(kind: str, name: str) -> Path:
    """build/<kind>/<name>.png with a file-system-safe name (test ids hold '/', '[', ...)."""
    folder = BUILD / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") + ".png")


def save_failure_screenshot(page, test_name: str) -> str:
    """Full-page screenshot of a failed test's page; returns where it went (or why it could not)."""
    path = screenshot_path("ui-failures", test_name)
    try:
        page.screenshot(path=str(path), full_page=True, timeout=15_000)
        return str(path)
    except Exception as e:  # the page or browser may be gone
        return f"could not be taken: {e}"


# -- Bokeh pages ---------------------------------------------------------------------------------

def open_bokeh_page(page, url: str, timeout_ms: int = 60_000) -> None:
    """Load a Panel/Bokeh page and wait until its websocket is open and a plot has been drawn."""
    with page.expect_console_message(lambda m: "Websocket connection" in m.text and "is now open" in m.text,
                                     timeout=timeout_ms):
        page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    page.wait_for_function(f"() => ({_ALL_CANVASES})().some(c => c.width > 100 && c.height > 100)",
                           timeout=timeout_ms)
    wait_until_plot_settles(page)


def canvas_sizes(page) -> list[tuple[int, int]]:
    """(width, height) of every canvas that has a layout box, shadow roots included."""
    return [tuple(s) for s in page.evaluate(
        f"() => ({_ALL_CANVASES})().filter(c => c.getBoundingClientRect().width > 0)"
        ".map(c => [c.width, c.height])")]


def plot_pixels(page) -> str:
    """The pixels of the page's main plot: a PNG data URL of the largest Bokeh canvas layer.

    Only the canvas itself (glyphs, axes, title): not the widgets, and not Bokeh's DOM legend, whose
    label text changes with the query too, so a change here means the *plot* was redrawn."""
    return page.evaluate(f"""() => {{
        const cs = ({_ALL_CANVASES})().filter(c => c.width > 0 && c.height > 0);
        if (!cs.length) return '';
        cs.sort((a, b) => b.width * b.height - a.width * a.height);
        return cs[0].toDataURL('image/png'); }}""")


def wait_until_plot_settles(page, timeout_s: float = 15.0, interval_ms: int = 400) -> str:
    """Wait until two consecutive reads of `plot_pixels` agree (first render/redraw finished)."""
    deadline = time.monotonic() + timeout_s
    last = plot_pixels(page)
    while time.monotonic() < deadline:
        page.wait_for_timeout(interval_ms)
        now = plot_pixels(page)
        if now == last and now:
            return now
        last = now
    return last


def wait_for_plot_change(page, before: str, timeout_s: float = 10.0) -> bool:
    """Poll the main plot's pixels until they differ from `before`; False if they never do."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        if plot_pixels(page) != before:
            return True
    return False
