"""Helpers for the browser tests: free ports, waiting for servers, launching Debian's chromium."""

from __future__ import annotations

import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
# Debian chromium, as root, offline: no sandbox, no GPU, and no background calls to Google's hosts
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


def chromium_path() -> str | None:
    """The browser to drive: $LABKIT_CHROMIUM if set (tests of the skip/fail policy use it), else `chromium`."""
    override = os.environ.get("LABKIT_CHROMIUM")
    if override is not None:
        return override if Path(override).is_file() else None
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_url(url: str, timeout: float = 60.0, proc=None) -> None:
    """Poll `url` until it answers 200; fail early if the server process `proc` died."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            last = e
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout} s (last error: {last})")


def canvas_size(page, selector: str = "canvas") -> list[tuple[float, float]]:
    """Sizes of the visible canvases (Playwright's CSS engine pierces Bokeh's shadow roots)."""
    sizes = []
    for c in page.locator(selector).all():
        box = c.bounding_box()
        if box:
            sizes.append((box["width"], box["height"]))
    return sizes
