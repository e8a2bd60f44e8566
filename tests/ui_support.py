"""Helpers for the browser and widget tests: free ports, servers, Debian's chromium, Bokeh canvases and widgets.

Waiting: a test waits for the state it asserts, never a fixed time. Every wait here polls its condition
until it holds or WAIT_S (60 s: generous for a loaded machine, where a redraw can take 10 s, yet finite)
has passed, and a wait that runs out fails saying what it waited for and what it saw last. The `page`
fixture (tests/conftest.py) gives every Playwright action and `wait_for` the same WAIT_S default.
Speed is never asserted here: redraw times are measured in benchmarks/ (see benchmarks/README.md).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
# Debian chromium, possibly as root, offline: no sandbox, no GPU, no background calls to Google's hosts.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}
WAIT_S = float(os.environ.get("LABKIT_UI_WAIT_S", "60"))  # the bound of every wait for a state (seconds)
WAIT_MS = int(1000 * WAIT_S)                                # the same, for Playwright's timeout= arguments
TEST_TIMEOUT_S = int(5 * WAIT_S)                            # a whole browser test (pytest-timeout), a last resort
POLL_MS = 200                                               # how often a wait looks again

# Every <canvas> of the page, including those inside Bokeh's shadow roots (plain querySelectorAll
# does not enter them). Used by the JS snippets below.
_ALL_CANVASES = """() => { const out = [];
    const walk = (root) => { for (const e of root.querySelectorAll('*')) {
        if (e.tagName === 'CANVAS') out.push(e);
        if (e.shadowRoot) walk(e.shadowRoot); } };
    walk(document); return out; }"""


# Offline: a browser test may ask only this machine. Anything else is refused and recorded.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
LOCAL_SCHEMES = frozenset({"data", "blob", "about"})


def is_local_url(url: str) -> bool:
    """True for a URL that stays on the machine: loopback by name (127.0.0.1, localhost), or data:,
    blob:, about:. Everything else (another host, a CDN, file:) counts as leaving."""
    p = urlparse(url)
    return p.scheme in LOCAL_SCHEMES or (p.hostname or "") in LOCAL_HOSTS


def block_external_requests(context) -> list[str]:
    """Abort every request and websocket of a Playwright (sync) `context` whose URL is not local
    (`is_local_url`), and record it. Returns the list the refused URLs are appended to, in order.
    Local requests are not touched. The context should be made with service_workers="block": a
    service worker's own fetches would not pass through the routes (Playwright's route documentation)."""
    refused: list[str] = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort("blockedbyclient")

    def refuse_socket(ws):
        refused.append(ws.url)
        ws.close()

    context.route(lambda url: not is_local_url(url), refuse)
    context.route_web_socket(lambda url: not is_local_url(url), refuse_socket)
    return refused


def external_report(urls: list[str], limit: int = 40) -> str:
    """'requests left the machine: N (M distinct): url x count, ...' for a failure message."""
    counts: dict[str, int] = {}
    for u in urls:
        counts[u] = counts.get(u, 0) + 1
    shown = [u + (f" x{n}" if n > 1 else "") for u, n in list(counts.items())[:limit]]
    more = f"\n  ... and {len(counts) - limit} more" if len(counts) > limit else ""
    return (f"requests left the machine: {len(urls)} ({len(counts)} distinct), all refused:\n  "
            + "\n  ".join(shown) + more)


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

def wait_until(page, condition, what: str, timeout_s: float | None = None, seen=None):
    """Poll `condition()` every POLL_MS until it returns something truthy, and return that; after
    `timeout_s` (default WAIT_S) fail with "waited N s for <what>" and `seen()` (what was there instead).
    Between looks the page keeps running (page.wait_for_timeout), so its events are delivered."""
    timeout_s = WAIT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what}" + (f"; last seen: {seen()}" if seen else ""))
        page.wait_for_timeout(POLL_MS)


def open_bokeh_page(page, url: str, timeout_ms: int = WAIT_MS) -> None:
    """Load a Panel/Bokeh page and wait until its websocket is open and a plot has been drawn and settled."""
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


def _settle(page, read, what: str, timeout_s: float | None, interval_ms: int, reads: int):
    """Wait until `reads` consecutive non-empty reads, `interval_ms` apart, agree; return the last."""
    timeout_s = WAIT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    last, same = read(), 1
    while same < reads:
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout_s:g} s for {what} to stop changing "
                                 f"({'it kept changing' if last else 'nothing drawn'})")
        page.wait_for_timeout(interval_ms)
        now = read()
        same = same + 1 if now == last and now else 1
        last = now
    return last


def wait_until_plot_settles(page, timeout_s: float | None = None, interval_ms: int = 400, reads: int = 2) -> str:
    """Wait until `reads` consecutive reads of `plot_pixels` agree (the render or redraw finished); its pixels."""
    return _settle(page, lambda: plot_pixels(page), "the main plot", timeout_s, interval_ms, reads)


def wait_for_plot_change(page, before: str, timeout_s: float | None = None) -> bool:
    """Poll the main plot's pixels until they differ from `before`; False if they never do within
    `timeout_s` (default WAIT_S), so that the test's assertion says which plot did not change."""
    try:
        wait_until(page, lambda: plot_pixels(page) != before, "the main plot to change", timeout_s)
        return True
    except AssertionError:
        return False


# -- widgets on a served page --------------------------------------------------------------------

def slider(page, name: str, timeout_s: float | None = None):
    """The one visible Bokeh slider whose title starts with `name:` (not "Max steps" for "Step"), once
    there is exactly one (a tab's widgets appear some time after the click: waited for, up to WAIT_S)."""
    title = page.locator(".bk-slider-title", has_text=re.compile(rf"^\s*{name}:"))
    s = page.locator(".bk-Slider").filter(has=title).filter(visible=True)
    wait_until(page, lambda: s.count() == 1, f"one visible {name!r} slider", timeout_s,
               seen=lambda: f"{s.count()} visible {name!r} sliders")
    return s


def slider_value(s) -> int:
    """The integer at the end of a slider's title ("Bits: 4")."""
    text = s.locator(".bk-slider-title").inner_text()
    m = re.search(r"(-?\d+)\s*$", text)
    assert m, f"no value in slider title {text!r}"
    return int(m.group(1))


def wait_for_slider_value(page, s, value: int, timeout_s: float | None = None) -> None:
    """Wait until the slider's title ends in `value` (the handle moved and Bokeh updated the title)."""
    wait_until(page, lambda: slider_value(s) == value, f"the slider to read {value}", timeout_s,
               seen=lambda: repr(s.locator(".bk-slider-title").inner_text()))


def wait_for_text_change(page, locator, old: str, what: str, timeout_s: float | None = None) -> str:
    """Wait until the element's innerText differs from `old`; the new text."""
    wait_until(page, lambda: locator.inner_text() != old, f"{what} to change from {old!r}", timeout_s)
    return locator.inner_text()


def press(s, page, key: str, times: int) -> None:
    """Focus the slider's handle and press `key` `times` times (each press is one step)."""
    s.locator(".noUi-handle").focus()
    for _ in range(times):
        page.keyboard.press(key)
    page.wait_for_function("() => true")  # let the key events be dispatched


def css_pixels(page, css: str) -> list[str]:
    """PNG data URLs of the canvases inside the element with class `css` (Playwright's CSS pierces the
    shadow roots Bokeh draws in)."""
    return page.locator(f".{css} canvas").evaluate_all("cs => cs.map(c => c.toDataURL('image/png'))")


def css_canvas_sizes(page, css: str) -> list[tuple[int, int]]:
    return [tuple(s) for s in page.locator(f".{css} canvas").evaluate_all("cs => cs.map(c => [c.width, c.height])")]


def wait_for_css_change(page, css: str, before: list[str], timeout_s: float | None = None) -> bool:
    """Poll `css_pixels(page, css)` until it differs from `before`; False if it never does within
    `timeout_s` (default WAIT_S), so that the test's assertion says which plot did not change."""
    try:
        wait_until(page, lambda: css_pixels(page, css) != before, f"the .{css} plot to change", timeout_s)
        return True
    except AssertionError:
        return False


def wait_until_css_settles(page, css: str, timeout_s: float | None = None, interval_ms: int = 400,
                           reads: int = 3) -> list[str]:
    """Wait until `reads` consecutive reads of `css_pixels(page, css)` agree; those pixels."""
    return _settle(page, lambda: css_pixels(page, css), f"the .{css} plot", timeout_s, interval_ms, reads)


def save_page_screenshot(page, name: str) -> None:
    """build/screenshots/<name>.png of the whole page; LABKIT_UPDATE_SCREENSHOTS=1 also refreshes docs/<name>.png."""
    shot = screenshot_path("screenshots", name)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "suspiciously small screenshot"
    if os.environ.get("LABKIT_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, ROOT / "docs" / f"{name}.png")


# -- work done by a view (the widget tests count work, never seconds) ---------------------------------

def count_calls(monkeypatch, owner, name: str) -> list:
    """Wrap `owner.name` (a module function or a class's method) so each call is recorded; the list of
    calls' (args, kwargs), which grows as the wrapped function is called."""
    real, calls = getattr(owner, name), []

    def counted(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _sources(root) -> dict:
    from bokeh.models import ColumnDataSource
    return {m.id: m for m in root.select({"type": ColumnDataSource})}


def _renderers(root) -> set:
    from bokeh.models import GlyphRenderer
    return {m.id for m in root.select({"type": GlyphRenderer})}


def _copy(v):
    """A detached copy of a Bokeh column (an array, or a list of arrays / values, as Image glyphs hold)."""
    import numpy as np
    if isinstance(v, (list, tuple)):
        return [_copy(x) for x in v]
    return np.array(v, copy=True)


def _same(a, b) -> bool:
    import numpy as np
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def redrawn_in_place(root, move) -> int:
    """Run `move()` (a parameter change of a view whose Bokeh model `root` was built) and check that the
    update patched the existing Bokeh models: the same data sources and glyph renderers before and after,
    none added or replaced. The number of sources whose data changed."""
    sources, renderers = _sources(root), _renderers(root)
    before = {k: {c: _copy(v) for c, v in s.data.items()} for k, s in sources.items()}
    move()
    after = _sources(root)
    assert set(after) == set(sources), "the update replaced Bokeh data sources instead of patching them"
    assert _renderers(root) == renderers, "the update replaced Bokeh glyph renderers instead of patching them"
    return sum(before[k].keys() != after[k].data.keys()
               or not all(_same(v, _copy(after[k].data[c])) for c, v in before[k].items()) for k in after)


def outside_running_loop(test):
    """Run `test` in a thread of its own. A button's async on_click runs to completion at the click only
    where no asyncio loop is running; the browser tests' Playwright sync API keeps one running in pytest's
    thread for the rest of the session, where the click would only schedule it (seen in full runs only)."""
    import functools
    from concurrent.futures import ThreadPoolExecutor

    @functools.wraps(test)
    def run(*args, **kwargs):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(test, *args, **kwargs).result()
    return run
