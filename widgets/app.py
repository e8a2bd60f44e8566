"""The dashboard served by `labkit serve`: a welcome page and one page per registered mechanism."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import weakref

import panel as pn

import widgets
import widgets.workers
from labkit import __version__

WELCOME = """
# labkit {version}

A research workbench for **memory in AI systems**: small, fast reference implementations of memory
mechanisms, each with an inspector that shows what is inside.

* the science lives in `labkit` (no UI code), the views in `widgets`;
* tutorials in `notebooks/` are executed by papermill as tests, with parameters;
* every inspector here also works in JupyterLab: `widgets.inspect(obj)`.
"""


def _nav(current: str) -> pn.pane.HTML:
    links = [("welcome", "Welcome")] + [(p.slug, p.title) for p in widgets.pages()]
    html = " · ".join(f"<b>{t}</b>" if s == current else f'<a href="/{s}">{t}</a>' for s, t in links)
    return pn.pane.HTML(f"<nav class='labkit-nav'>{html}</nav>", sizing_mode="stretch_width")


def welcome_page():
    rows = [f"* [{p.title}](/{p.slug}): {p.description}" for p in widgets.pages()]
    from labkit import data as lkdata
    return pn.Column(WELCOME.format(version=__version__), "### Pages", "\n".join(rows) or "*(none yet)*",
                     "### A first look: the digits dataset",
                     widgets.inspect(lkdata.digits()))


def _serve_styles_locally() -> None:
    """Point this session's stylesheets at the server's /static before any view is built.

    Panel writes each component's stylesheet URL on its CDN and rewrites it to the local copy when
    the page's HTML is rendered (server_html_page_for_session sets the document's `dist_url`). A
    session built another way (on its websocket: a reused first page, or a session that expired
    while a loaded server was busy) never passes there, and its browser fetched Panel's CSS from the
    CDN: offline, unstyled. Setting `dist_url` first makes every URL local from the start."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        return  # not served (a notebook, a test building the page): nothing to point anywhere
    from panel.io.resources import LOCAL_DIST
    rel = pn.state.rel_path
    doc.template_variables.setdefault("dist_url", f"{rel}/{LOCAL_DIST}" if rel else LOCAL_DIST)


def _with_nav(slug, factory):
    def build():
        _serve_styles_locally()
        return pn.Column(_nav(slug), factory(), sizing_mode="stretch_width")
    return build


def routes() -> dict:
    """{url path: page factory} for every page (the welcome page at '/' and '/welcome')."""
    r = {"/": _with_nav("welcome", welcome_page), "/welcome": _with_nav("welcome", welcome_page)}
    for p in widgets.pages():
        r[f"/{p.slug}"] = _with_nav(p.slug, p.factory)
    return r


#: Host names that reach this machine only; accepted when the dashboard listens on loopback or on
#: every interface (0.0.0.0 / ::), where a browser on this machine uses them. (Not [::1]: Panel
#: 1.9 cannot parse an IPv6 Host header, and the dashboard listens on IPv4 by default.)
LOOPBACK_NAMES = ("localhost", "127.0.0.1")
_WILDCARD = ("", "0.0.0.0", "::")


def _host_name(host: str) -> str:
    """'Name:8080' -> 'name', '[::1]:5006' -> '[::1]', '::1' -> '[::1]' (the form of a Host header)."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    if host.count(":") > 1:  # a bare IPv6 address
        return f"[{host}]"
    return host.partition(":")[0]


def host_policy(address: str, port: int, allow_hosts=()) -> tuple[list[str], list[str]]:
    """(the host names an HTTP request's `Host` may carry, the `host:port` patterns a websocket's
    `Origin` may carry) for a dashboard served on `address:port`.

    Accepted: the served address itself; localhost and 127.0.0.1 when the address is
    loopback or every interface; each of `allow_hosts` (NAME or NAME:PORT; a NAME without port is
    accepted at any port as a websocket origin). Everything else is refused: a page on a foreign
    name that resolves to this machine (DNS rebinding) cannot load the dashboard or drive its
    websocket."""
    import ipaddress
    addr = _host_name(address)
    try:
        loopback = addr == "localhost" or ipaddress.ip_address(addr.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    names, origins = [], []
    if addr not in _WILDCARD and addr != "[::]":
        names.append(addr)
    if loopback or address.strip() in _WILDCARD:
        names += LOOPBACK_NAMES
    # Bokeh's allowlist cannot hold an IPv6 literal; a page at http://[::1]:PORT is same-origin
    # for Tornado (Origin equals Host), which never asks the allowlist then.
    origins = [f"{n}:{port}" for n in names if not n.startswith("[")]
    for h in allow_hosts:
        names.append(_host_name(h))
        if not h.strip().startswith("[") and h.count(":") <= 1:
            origins.append(h.strip().lower())
    return list(dict.fromkeys(names)), list(dict.fromkeys(origins))


def _guard_hosts(server, names) -> None:
    """Answer 403 to every request whose Host is not one of `names`, before any handler (page,
    websocket, static file) runs: a Tornado host rule, inserted ahead of Bokeh's catch-all one.
    Bokeh's Server offers no accessor for its Tornado application; without one, refuse to serve
    rather than serve unguarded."""
    import re

    from tornado.web import RequestHandler
    app = getattr(server, "_tornado", None)
    if app is None or not hasattr(app, "add_handlers"):
        raise RuntimeError("labkit serve: cannot install the Host check on this Bokeh version; not serving")
    allowed = sorted(names)

    class Refuse(RequestHandler):
        def prepare(self):
            self.set_status(403)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"403: this labkit dashboard answers requests addressed to {', '.join(allowed)} only "
                        f"(not {self.request.host!r}); serve with --allow-host NAME to add a name\n")

    others = "(?!(?:" + "|".join(re.escape(n) for n in allowed) + ")$).*"
    app.add_handlers(others, [(r".*", Refuse)])


# -- a browser that leaves is not an error ------------------------------------------------------------

#: The loggers through which a websocket closed by its browser mid-message surfaces (Bokeh's "Failed
#: sending message as connection was closed", tornado's StreamClosedError / WebSocketClosedError
#: tracebacks from pending writes and pings).
_CLOSE_LOGGERS = ("bokeh.server.views.ws", "bokeh.server.protocol_handler", "bokeh.server.connection",
                  "tornado.application", "tornado.general", "tornado.websocket", "asyncio")


class _ClosedConnectionFilter(logging.Filter):
    """Log a closed-connection record at INFO (not WARNING/ERROR): a browser tab that closes while the
    server writes to it is how sessions end, not a fault. Every other record passes unchanged."""

    def filter(self, record: logging.LogRecord) -> bool:
        from tornado.iostream import StreamClosedError
        from tornado.websocket import WebSocketClosedError
        exc = record.exc_info[1] if record.exc_info else None
        text = record.getMessage() if record.levelno >= logging.WARNING else ""
        if (isinstance(exc, (StreamClosedError, WebSocketClosedError))
                or "connection was closed" in text or "StreamClosedError" in text
                or "WebSocketClosedError" in text):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None  # the traceback says nothing here
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def _quiet_closed_connections() -> None:
    for name in _CLOSE_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, _ClosedConnectionFilter) for f in log.filters):
            log.addFilter(_ClosedConnectionFilter())


# -- a burst of visitors is served in the order it came ----------------------------------------------

#: How long one visitor keeps the next waiting: its session built and answered (ACK), then its browser's
#: request for the document (PULL-DOC, sent at once on the ACK) answered. Past these the next is served.
OPEN_SLOT_S, PULL_WAIT_S = 5.0, 1.0


_OPENING_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _opening_lock():
    """The running event loop's lock of `_open_sessions_in_order`: one per loop, as each server runs on a
    loop of its own (two dashboards in one process, as in the tests, never share one)."""
    import asyncio
    loop = asyncio.get_running_loop()
    if loop not in _OPENING_LOCKS:
        _OPENING_LOCKS[loop] = asyncio.Lock()
    return _OPENING_LOCKS[loop]


def _open_sessions_in_order() -> None:
    """Serve a burst of visitors one after another: each visitor's session built, answered and its
    document sent before the next session is built.

    Bokeh opens a websocket's session in a callback that builds the document (the page: 0.2-0.8 s here)
    and then awaits sending its ACK; the browser's PULL-DOC is then answered through more awaits. Each
    await let the next queued connection build its session first, so under a burst every visitor waited
    for every build: 20 visitors at once all got their documents together, 9-12 s in. With one visitor
    served at a time (FIFO: asyncio.Lock wakes waiters in order), visitor k has its document after about
    k builds. Installed on Panel's websocket handler (`panel.io.server.WSHandler`): its Bokeh base's
    `_async_open` and `send_message`; without them, sessions open as Bokeh opens them."""
    import asyncio

    from panel.io.server import WSHandler
    step, send = getattr(WSHandler, "_async_open", None), getattr(WSHandler, "send_message", None)
    if step is None or send is None or getattr(step, "_labkit_ordered", False):
        return

    async def opened_in_order(self, token):
        with widgets.workers.opening():  # a worker with a session opening takes no other
            async with _opening_lock():
                self._labkit_sent = asyncio.Event()
                task = asyncio.ensure_future(step(self, token))
                await asyncio.wait({task}, timeout=OPEN_SLOT_S)          # built and answered (ACK)
                if task.done() and task.exception() is None:
                    with contextlib.suppress(asyncio.TimeoutError):      # its document sent
                        await asyncio.wait_for(self._labkit_sent.wait(), PULL_WAIT_S)
        await task

    async def send_message(self, message):
        try:
            return await send(self, message)
        finally:
            if message.header.get("msgtype") == "PULL-DOC-REPLY" and getattr(self, "_labkit_sent", None):
                self._labkit_sent.set()

    opened_in_order._labkit_ordered = True
    WSHandler._async_open, WSHandler.send_message = opened_in_order, send_message


# -- memory comes back when sessions end --------------------------------------------------------------

_release_pending = threading.Lock()


def _release_memory(session_context) -> None:
    """After a session is destroyed: once per burst of closing sessions (1 s later, on the server's
    loop), collect garbage and hand the freed heap back to the system (glibc's malloc_trim), so the
    process's memory returns to its level before the sessions came."""
    if not _release_pending.acquire(blocking=False):
        return  # one is already scheduled

    def release():
        try:
            gc.collect()
            _malloc_trim()
        finally:
            _release_pending.release()

    try:
        from tornado.ioloop import IOLoop
        IOLoop.current().call_later(1.0, release)
    except Exception:
        release()


def _malloc_trim() -> None:
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the allocator keeps what it keeps
        pass


def serve(address: str = "127.0.0.1", port: int = 5006, show: bool = False, threaded: bool = False,
          allow_hosts=(), workers: int = 1, **kw):
    """Serve the dashboard on `address:port` (loopback by default). Returns the server
    (a thread when `threaded=True`, stopped with `.stop()`).

    Only requests addressed to the served host are answered (see `host_policy`): other `Host`
    headers get 403 and websockets from other origins are refused. `allow_hosts` adds names
    (`labkit serve --allow-host NAME`) for a dashboard served on a network on purpose.

    Under load: every page is built once before the server answers (`warm`: models, datasets and
    captures that views memoise are loaded once per process), and the first HTML of a page is
    rendered from one kept session per page (Panel's `reuse_sessions`: the pages do not depend on
    the query string), so a visitor sees the page at once while the server builds their own session
    behind it; a burst of visitors has its sessions built one after another, each live before the next
    is built (`_open_sessions_in_order`). With `workers` > 1 (`labkit serve --workers N`) N forked
    processes share the port, each taking a visitor only while it builds no other (`widgets.workers`), so
    a burst is built N at a time; this process then only waits on them. A closing browser logs at INFO;
    memory is handed back after sessions end."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers: expected an int >= 1, got {workers!r}")
    if workers > 1 and threaded:
        raise ValueError(f"workers: {workers} processes need threaded=False (a thread cannot fork a server)")
    pn.extension(inline=True)
    import holoviews as hv
    hv.extension("bokeh")
    pn.config.reuse_sessions = kw.pop("reuse_sessions", True)
    _quiet_closed_connections()
    _open_sessions_in_order()
    pn.state.on_session_destroyed(_release_memory)  # outside a session: for every session
    names, origins = host_policy(address, port, allow_hosts)
    opts = dict(address=address, port=port, show=show, title="labkit", websocket_origin=origins,
                liveness=True, warm=kw.pop("warm", True), **kw)
    if not threaded:
        warm = opts["warm"]
        if workers > 1:  # Bokeh's num_procs: the socket is bound here, then the workers are forked
            parent, show = os.getpid(), opts.pop("show")
            opts.update(num_procs=workers, warm=False, show=False)
        server = pn.serve(routes(), start=False, **opts)  # with workers: returns in each worker
        if workers > 1:
            from tornado.process import task_id
            widgets.workers.die_with_parent(parent)
            widgets.workers.one_thread_each()
            if warm:
                widgets.workers.warm(server)
            widgets.workers.accept_when_idle(server._http, server.io_loop)
            if show and task_id() == 0:
                server.io_loop.add_callback(server.show, "/")
        # What the warm pages left (modules, datasets, caches: ~0.8 M objects) is kept for good: the
        # garbage collector stops re-scanning it during every session's build (7 % of a build here).
        gc.collect()
        gc.freeze()
        _guard_hosts(server, names)
        if warm:  # and each page's kept first session, before the first visitor
            paths = [p for p in server._tornado.applications if p != "/admin"]
            server.io_loop.add_callback(widgets.workers.keep_first_pages, server._http, paths,
                                        f"{names[0]}:{server.port}")
        server.start()
        server.io_loop.start()
        return server
    # Panel's own threaded mode starts its loop before the guard could be installed: the server is
    # built and guarded inside the thread, before its loop runs.
    from panel.io.server import get_server
    from panel.io.threads import StoppableThread
    from tornado.ioloop import IOLoop
    loop = IOLoop(make_current=False)
    built, failed = threading.Event(), []

    def run():
        try:
            server = get_server(routes(), loop=loop, start=False, **opts)
            _guard_hosts(server, names)
        except BaseException as e:  # handed to the caller below (a port in use, ...)
            failed.append(e)
            return None
        finally:
            built.set()
        server.start()
        server.io_loop.start()
        return server

    thread = StoppableThread(target=run, io_loop=loop, owns_loop=True, daemon=True)
    thread.start()
    if not built.wait(timeout=600):
        raise TimeoutError("labkit serve: the server was not built within 600 s")
    if failed:
        raise failed[0]
    return thread
