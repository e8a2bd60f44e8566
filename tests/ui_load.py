"""The dashboard under load, driven by `tests/test_ui_load.py` (behaviour) and
`benchmarks/serve_load.py` (the times): `labkit serve` in a subprocess on loopback and N browser
sessions opened at once, spread over the dashboard's pages.

`drive(base, server, n)` returns the figures: per session, seconds from its first request to its HTML
received, its page rendered (the navigation bar and a drawn Bokeh canvas) and its page live (websocket
open: the server has built the visitor's own session); the same for one more visitor on each page, one
at a time, while the N sessions stay open; N plain GETs of the pages at once; N visitors at once
without a browser (the server's share of a burst: each session built and its document sent); the server's
RSS idle, with one session, with N and after the browsers closed; every request to a host other than
127.0.0.1/localhost (aborted: Panel's CSS and JS must come inline or from /static); browser errors.
Everything waits boundedly: each render LOAD_WAIT_S, the memory settle SETTLE_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import psutil
import ui_support as ui

#: How long one session's render is waited for before it counts as failed (a bound, not a target).
LOAD_WAIT_S = float(os.environ.get("LABKIT_UI_LOAD_WAIT_S", "300"))
SETTLE_S = 150                        # how long the server's memory is given to come back
WORKERS = 2                           # `labkit serve --workers`: the two cores of the machine
OUT = ui.BUILD / "ui-load"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# The state a rendered page reaches: the dashboard's navigation bar and a drawn Bokeh canvas (both
# may sit inside shadow roots, which querySelector does not enter).
RENDERED = """() => { let nav = false, canvas = false;
    const walk = (root) => { for (const e of root.querySelectorAll('*')) {
        if (e.classList && e.classList.contains('labkit-nav')) nav = true;
        if (e.tagName === 'CANVAS' && e.width > 100 && e.height > 100) canvas = true;
        if (e.shadowRoot) walk(e.shadowRoot); } };
    walk(document); return nav && canvas; }"""


def _local(url: str) -> bool:
    p = urlparse(url)
    return p.scheme in ("data", "blob", "about") or (p.hostname or "") in LOCAL_HOSTS


def _paths() -> list[str]:
    from widgets.app import routes
    return [p for p in routes() if p != "/welcome"]  # "/" and "/welcome" are one page


@contextlib.contextmanager
def serving(out: Path = OUT, workers: int = WORKERS):
    """`labkit serve --workers N` in a subprocess on a free loopback port: (url, psutil.Process, log path)."""
    out.mkdir(parents=True, exist_ok=True)
    port = ui.free_port()
    log = out / "server.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "serve", "--port", str(port),
                                 "--workers", str(workers)],
                                stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ui.ROOT)
    try:
        ui.wait_for_url(f"http://127.0.0.1:{port}/liveness", timeout=300, proc=proc, log=log)
        yield f"http://127.0.0.1:{port}", psutil.Process(proc.pid), log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def _rss_mb(p: psutil.Process) -> float:
    """The server's resident memory: the process and its workers."""
    procs = [p, *p.children(recursive=True)]
    total = 0
    for q in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += q.memory_info().rss
    return total / 2**20


async def _open(browser, url: str, foreign: list, errors: list):
    """A fresh context on `url`: (context, then seconds from the request to: the page's HTML received,
    the page rendered in the browser, the page live (its websocket open: the server has built this
    visitor's own session)); None for a state not reached within LOAD_WAIT_S."""
    ctx = await browser.new_context(viewport=ui.VIEWPORT)

    async def refuse(route):
        foreign.append(route.request.url)
        await route.abort()

    await ctx.route(lambda u: not _local(u), refuse)
    page = await ctx.new_page()
    live = asyncio.get_running_loop().create_future()

    def console(m):
        if m.type == "error":
            errors.append(f"{url}: console.error: {m.text}")
        elif "Websocket connection" in m.text and "is now open" in m.text and not live.done():
            live.set_result(time.monotonic())

    page.on("pageerror", lambda e: errors.append(f"{url}: uncaught: {e}"))
    page.on("console", console)
    t0 = time.monotonic()
    left = lambda: max(1.0, LOAD_WAIT_S - (time.monotonic() - t0))  # noqa: E731
    rendered = None
    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=LOAD_WAIT_S * 1000)
        html = time.monotonic() - t0
        # polled once a second: a DOM walk in 20 tabs 4 times a second slows the very render it waits for
        await page.wait_for_function(RENDERED, timeout=left() * 1000, polling=1000)
        rendered = time.monotonic() - t0
        return ctx, html, rendered, await asyncio.wait_for(asyncio.shield(live), timeout=left()) - t0
    except Exception as e:  # a state never reached: reported, the other sessions still measured
        what = "rendered" if rendered is None else "live (websocket open)"
        errors.append(f"{url}: not {what} within {LOAD_WAIT_S:g} s ({type(e).__name__}: {str(e)[:200]})")
        return ctx, None, rendered, None


async def _one_at_a_time(browser, base: str, paths: list[str], foreign: list, errors: list) -> dict:
    """One visitor on each page in turn: {path: [html, rendered, live] seconds}."""
    times = {}
    for path in paths:
        ctx, *t = await _open(browser, base + path, foreign, errors)
        times[path] = [None if v is None else round(v, 2) for v in t]
        await ctx.close()
    return times


async def _drive(base: str, server: psutil.Process, n: int) -> dict:
    from playwright.async_api import async_playwright
    paths = _paths()
    foreign: list[str] = []
    errors: list[str] = []
    fig: dict = {"sessions": n, "paths": paths, "rss_mb": {"idle": round(_rss_mb(server))}}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=ui.chromium_path(), headless=True,
                                          args=ui.CHROMIUM_ARGS)
        try:
            # one session at a time on every page: the one-session level (shared data loaded once)
            fig["single_session_render_s"] = await _one_at_a_time(browser, base, paths, foreign, errors)
            fig["rss_mb"]["one_session"] = round(await _settled(server))
            fig["http_s"] = await asyncio.to_thread(_concurrent_gets, base, paths, n)
            fig["without_browser_s"] = await _burst_without_browser(base, paths, n)
            # n at once, spread over the pages
            urls = [base + paths[i % len(paths)] for i in range(n)]
            t0 = time.monotonic()
            opened = await asyncio.gather(*(_open(browser, u, foreign, errors) for u in urls))
            fig["wall_s"] = round(time.monotonic() - t0, 1)
            for i, key in enumerate(("html_s", "render_s", "live_s"), start=1):
                fig[key] = [None if o[i] is None else round(o[i], 2) for o in opened]
            fig["rss_mb"]["with_n"] = round(_rss_mb(server))
            # with the n sessions still open: one more visitor on each page, one at a time
            fig["with_n_open_render_s"] = await _one_at_a_time(browser, base, paths, foreign, errors)
            for ctx, *_ in opened:
                await ctx.close()
        finally:
            await browser.close()
    fig["rss_mb"]["after"] = round(await _settled(server))
    fig["foreign_requests"] = sorted(set(foreign))
    fig["browser_errors"] = errors
    return fig


async def _visit_without_browser(base: str, path: str, arrived: asyncio.Event, release: asyncio.Event) -> list:
    """What a page's script asks of the server, without drawing anything: the HTML, the websocket with
    the session token the HTML carries (the server builds this visitor's own session, then answers ACK)
    and the document (PULL-DOC, as Bokeh's client asks). Seconds to [HTML, session built, document
    received] (None from a step not reached within LOAD_WAIT_S); `arrived` is set when it is over, and
    the session is held open until `release` is set, as a visitor's tab would be."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect
    times: list = [None, None, None]
    t0 = time.monotonic()
    conn = None
    try:
        page = await AsyncHTTPClient().fetch(base + path, request_timeout=LOAD_WAIT_S)
        times[0] = time.monotonic() - t0
        token = re.search(r'"token":\s*"([^"]+)"', page.body.decode()).group(1)
        request = HTTPRequest("ws" + base[len("http"):] + path.rstrip("/") + "/ws", headers={"Origin": base},
                              connect_timeout=LOAD_WAIT_S, request_timeout=LOAD_WAIT_S)
        conn = await websocket_connect(request, subprotocols=["bokeh", token])

        async def message() -> dict:   # a Bokeh message: header, metadata, content, then its buffers
            frames = [await asyncio.wait_for(conn.read_message(), LOAD_WAIT_S) for _ in range(3)]
            header = json.loads(frames[0])
            for _ in range(2 * header.get("num_buffers", 0)):
                await asyncio.wait_for(conn.read_message(), LOAD_WAIT_S)
            return header

        if (await message())["msgtype"] == "ACK":
            times[1] = time.monotonic() - t0
        for frame in ({"msgid": "pull", "msgtype": "PULL-DOC-REQ"}, {}, {}):
            await conn.write_message(json.dumps(frame))
        while (await message())["msgtype"] != "PULL-DOC-REPLY":
            pass
        times[2] = time.monotonic() - t0
        arrived.set()
        await asyncio.wait_for(release.wait(), LOAD_WAIT_S)
    except Exception:   # a step not reached: its time stays None (the caller reports it)
        pass
    finally:
        arrived.set()
        if conn is not None:
            conn.close()
    return [None if v is None else round(v, 2) for v in times]


async def _burst_without_browser(base: str, paths: list[str], n: int) -> list[list]:
    """n visitors without a browser at once, spread over the pages, all held open until the last has its
    document: [HTML, built, document] seconds each."""
    release, arrived = asyncio.Event(), [asyncio.Event() for _ in range(n)]
    visits = [asyncio.ensure_future(_visit_without_browser(base, paths[i % len(paths)], arrived[i], release))
              for i in range(n)]
    try:
        await asyncio.wait_for(asyncio.gather(*(a.wait() for a in arrived)), LOAD_WAIT_S)
    except asyncio.TimeoutError:   # reported as None times
        pass
    release.set()
    return [await v for v in visits]


def _concurrent_gets(base: str, paths: list[str], n: int) -> list[float]:
    """n plain HTTP GETs of the pages at once (no browser): seconds until each HTML arrived."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    port = urlparse(base).port

    def get(path):
        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=LOAD_WAIT_S)
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            assert r.status == 200, (path, r.status)
        finally:
            c.close()
        return round(time.monotonic() - t0, 2)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(get, [paths[i % len(paths)] for i in range(n)]))


async def _settled(server: psutil.Process) -> float:
    """The server's RSS once closed sessions are discarded (Bokeh drops a session 15-35 s after its
    browser left): polled every 2 s until it has not fallen for 40 s, within SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    low, still = _rss_mb(server), 0
    while time.monotonic() < deadline and still < 20:
        await asyncio.sleep(2)
        now = _rss_mb(server)
        still = still + 1 if now >= low - 1 else 0
        low = min(low, now)
    return low


def run_async(coro):
    """asyncio.run(coro) in a thread of its own: a Playwright sync page (the other browser tests' fixture)
    keeps an event loop running in the calling thread, and asyncio.run refuses to start a second one there."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def burst(base: str, paths: list[str], n: int) -> list[list]:
    """n visitors at once without a browser (`_burst_without_browser`), from any thread."""
    return run_async(_burst_without_browser(base, paths, n))


def drive(base: str, server: psutil.Process, n: int) -> dict:
    """The figures of n sessions at once on the server at `base` (see the module's docstring)."""
    return run_async(_drive(base, server, n))


def spread(values) -> str:
    v = sorted(x for x in values if x is not None)
    return f"min {v[0]:.1f} median {v[len(v) // 2]:.1f} max {v[-1]:.1f}" if v else "none"


def server_errors(log: Path) -> list[str]:
    """The server log's ERROR and Traceback lines."""
    return [ln for ln in log.read_text(errors="replace").splitlines() if "ERROR" in ln or "Traceback" in ln]
