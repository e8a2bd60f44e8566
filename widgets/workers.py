"""`labkit serve --workers N`: the dashboard served from N processes that share one listening socket.

A session is built on one core (the page's Panel objects and Bokeh models: 0.2-0.9 s here), so a burst of
visitors on one process waits for one build after another. Bokeh's `num_procs` forks N workers after
binding the socket; this module makes each of them take a visitor only when it has none being built
(`accept_when_idle`), so a burst is shared between the cores instead of going to whichever worker woke
first, and gives each worker what one process had: its pages built once (`warm`), each page's kept first
session (`keep_first_pages`, one process alike), its compute on its own core (`one_thread_each`) and its
end with the process that forked it (`die_with_parent`)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

import panel as pn

__all__ = ["accept_when_idle", "die_with_parent", "keep_first_pages", "one_thread_each", "opening", "warm"]

#: After a worker accepts a connection it accepts no other for this long, so that the connection's first
#: request (a websocket opening a session, or a plain GET) is read and can mark the worker busy first.
SETTLE_S = 0.02

_idle_hooks: list = []   # called with True when this process has no session opening, False when it has
_opening = 0


@contextlib.contextmanager
def opening():
    """Around one session's opening (`widgets.app._open_sessions_in_order`): while any is open in this
    process, a worker accepts no new connection and leaves it to an idle one."""
    global _opening
    _opening += 1
    if _opening == 1:
        for hook in _idle_hooks:
            hook(False)
    try:
        yield
    finally:
        _opening -= 1
        if _opening == 0:
            for hook in _idle_hooks:
                hook(True)


def accept_when_idle(http_server, io_loop) -> None:
    """Replace Tornado's accept handlers of `http_server` (which accept every pending connection at once)
    with one that accepts a single connection while this worker has no session opening.

    Tornado accepts up to 128 pending connections per wake-up, so under a burst the first worker to wake
    took nearly all of them (17 of 20 in a measured burst) and built them one by one while the other
    worker idled. Here a worker with a session opening stops listening; a connection waits in the
    kernel's queue for the first worker that is free."""
    sockets = dict(http_server._sockets)
    for remove in list(http_server._handlers.values()):
        remove()
    http_server._handlers.clear()
    state = {"listening": False, "settling": False}

    def accept(fd, events):
        sock = sockets[fd if isinstance(fd, int) else fd.fileno()]
        try:
            connection, address = sock.accept()
        except (BlockingIOError, ConnectionAbortedError):  # another worker took it, or it was withdrawn
            return
        stop()
        state["settling"] = True
        io_loop.call_later(SETTLE_S, settled)
        http_server._handle_connection(connection, address)

    def settled():
        state["settling"] = False
        if _opening == 0:
            listen()

    def listen():
        if not state["listening"]:
            for fd in sockets:
                io_loop.add_handler(fd, accept, io_loop.READ)
            state["listening"] = True

    def stop():
        if state["listening"]:
            for fd in sockets:
                io_loop.remove_handler(fd)
            state["listening"] = False

    def on_idle(idle: bool):
        if idle and not state["settling"]:
            listen()
        elif not idle:
            stop()

    _idle_hooks.append(on_idle)
    listen()


def die_with_parent(parent: int) -> None:
    """In a forked worker: end when the process that forked it ends (Linux's PR_SET_PDEATHSIG), so a
    stopped `labkit serve` leaves no worker holding the port."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux (no prctl): workers end with their listening socket
        pass
    if os.getppid() != parent:  # the parent ended before the line above: follow it now
        os._exit(0)


async def keep_first_pages(http_server, paths, host: str, timeout_s: float = 120.0) -> dict:
    """Ask this process's own server for every page once, before it takes a visitor: {path: HTTP status}.

    The first request of a path builds the session whose page later visitors are shown at once (Panel's
    `reuse_sessions`); without this the first visitors of each path in each worker waited for that build
    too. The requests go through a socket pair handed straight to `http_server` (through the port they
    could reach another worker); meanwhile this worker accepts no visitor (`opening`)."""
    import asyncio
    import socket

    from tornado.iostream import IOStream
    status = {}
    with opening():
        for path in paths:
            ours, theirs = socket.socketpair()
            http_server._handle_connection(ours, ("127.0.0.1", 0))
            stream = IOStream(theirs)
            try:
                await stream.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                reply = await asyncio.wait_for(stream.read_until_close(), timeout_s)
                status[path] = int(reply.split(b" ", 2)[1])
            except (asyncio.TimeoutError, OSError, ValueError, IndexError):
                status[path] = None
            finally:
                stream.close()
    return status


def one_thread_each() -> None:
    """In a forked worker: its BLAS and numba run on one thread. N workers on N cores each with a thread
    pool of N oversubscribe the cores: a 1,797 x 64 SVD that takes 10 ms alone took 0.7-1 s with both
    workers busy (measured on 2 cores)."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
    import numba
    numba.set_num_threads(1)


def warm(server) -> None:
    """Build every page once in this worker before it answers: what `pn.serve(warm=True)` does before the
    server exists, done after the fork (Bokeh forks only while no page has run)."""
    from panel.io.document import _cleanup_doc
    from panel.io.server import generate_session
    from panel.io.state import set_curdoc
    for context in server._tornado.applications.values():
        session = generate_session(context.application)
        with set_curdoc(session.document):
            pn.state._on_load(None)
        _cleanup_doc(session.document, destroy=True)
