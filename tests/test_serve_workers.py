"""`labkit serve --workers 2` (widgets/workers.py): forked processes that share the port and split a burst.

No browser: the visitors are tests/ui_load.py's clients that ask what a page's script asks (HTML, the
session's websocket, its document). Asserted: the server runs as two workers under one parent; a burst of
20 visitors gets every document and is built by both workers (each does a real share of the work: before
`accept_when_idle`, the first worker to wake took 17 of 20 visitors); stopping the parent stops the
workers; the busy signal that makes a worker stop listening; each page asked for once before the first
visitor (`keep_first_pages`).
"""

from __future__ import annotations

import time

import psutil
import pytest
import ui_load

from widgets import workers

N = 20
# each worker's share of the burst's CPU time: measured 0.45-0.55 (3 runs) with accept_when_idle; without
# it 0.19 in one run of two (the other came out even by chance: which worker wakes first is a race)
MIN_SHARE = 0.35


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


@pytest.mark.timeout(600)
def test_two_workers_share_a_burst_and_end_with_the_server(tmp_path):
    with ui_load.serving(tmp_path, workers=2) as (base, server, log):
        deadline = time.monotonic() + 120
        while len(server.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        kids = server.children()
        assert len(kids) == 2, f"expected 2 worker processes under the server, got {kids}"
        paths = ui_load._paths()
        # each worker's kept first page of each path (Panel's reuse_sessions) is built on its first GET
        ui_load.burst(base, paths, 2 * len(paths))
        before = {k.pid: _cpu(k) for k in kids}
        visits = ui_load.burst(base, paths, N)
        spent = {k.pid: _cpu(k) - before[k.pid] for k in kids}
        assert all(None not in v for v in visits), f"a visitor got no session or document: {visits}"
        shares = {pid: s / sum(spent.values()) for pid, s in spent.items()}
        assert min(shares.values()) >= MIN_SHARE, f"one worker built (nearly) the whole burst: CPU shares {shares}"
        assert ui_load.server_errors(log) == []
    # serving() terminated the parent only: its workers follow it (PR_SET_PDEATHSIG)
    gone, alive = psutil.wait_procs(kids, timeout=30)
    assert alive == [], f"workers left running after the server stopped: {alive}"


def test_a_worker_stops_listening_while_a_session_opens():
    seen = []
    workers._idle_hooks.append(seen.append)
    try:
        with workers.opening():
            with workers.opening():   # a second visitor in the same worker: still busy, no new signal
                pass
            assert seen == [False]
        assert seen == [False, True]
        with pytest.raises(RuntimeError), workers.opening():
            raise RuntimeError("a failed opening")
        assert seen == [False, True, False, True] and workers._opening == 0
    finally:
        workers._idle_hooks.remove(seen.append)


def test_keep_first_pages_asks_the_server_itself_for_each_page_while_taking_no_visitor():
    """Each path requested once through a socket pair (no port), with the served Host, while the process
    is marked busy (a worker then accepts no visitor): {path: status}."""
    import tornado.web
    from tornado.httpserver import HTTPServer
    seen = []

    class Page(tornado.web.RequestHandler):
        def get(self, path):
            seen.append((self.request.path, self.request.host, workers._opening))
            self.set_status(404 if path == "missing" else 200)
            self.finish("page")

    async def ask():
        server = HTTPServer(tornado.web.Application([(r"/(.*)", Page)]))
        return await workers.keep_first_pages(server, ["/", "/hnsw", "/missing"], "127.0.0.1:5006", timeout_s=30)

    status = ui_load.run_async(ask())
    assert status == {"/": 200, "/hnsw": 200, "/missing": 404}
    assert seen == [(p, "127.0.0.1:5006", 1) for p in ("/", "/hnsw", "/missing")]
    assert workers._opening == 0
