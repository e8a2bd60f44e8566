"""`labkit serve` answers only the names it serves: a page on a foreign name that resolves to this
machine (DNS rebinding) can neither load the dashboard nor drive its websocket. Also the lock by which
each server opens its sessions one at a time."""

from __future__ import annotations

import asyncio
import http.client
import re

import pytest
import ui_load
import ui_support as ui

from widgets.app import host_policy


def test_host_policy_of_loopback_and_networks():
    assert host_policy("127.0.0.1", 5006) == (["127.0.0.1", "localhost"], ["127.0.0.1:5006", "localhost:5006"])
    assert host_policy("localhost", 80)[0] == ["localhost", "127.0.0.1"]
    # every interface: this machine's loopback names only, until others are named on purpose
    assert host_policy("0.0.0.0", 5006) == (["localhost", "127.0.0.1"], ["localhost:5006", "127.0.0.1:5006"])
    names, origins = host_policy("0.0.0.0", 5006, ["Lab.Example", "10.0.0.5:8080"])
    assert names == ["localhost", "127.0.0.1", "lab.example", "10.0.0.5"]
    assert origins[-2:] == ["lab.example", "10.0.0.5:8080"]  # a name without port: any port
    assert host_policy("10.0.0.5", 5006) == (["10.0.0.5"], ["10.0.0.5:5006"])


HOST_OK = "lab.example"  # allowed on purpose (--allow-host)


@pytest.fixture(scope="module")
def server():
    """The dashboard on a free loopback port with one extra allowed name; its port."""
    from widgets.app import serve
    port = ui.free_port()
    thread = serve(address="127.0.0.1", port=port, threaded=True, allow_hosts=[HOST_OK])
    try:
        ui.wait_for_url(f"http://127.0.0.1:{port}/liveness", timeout=120)
        yield port
    finally:
        thread.stop()


def _get(port: int, path: str, host: str) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.putrequest("GET", path, skip_host=True)
        c.putheader("Host", host)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "localhost.evil.example", "[::1]:{port}", "0.0.0.0:{port}"])
def test_a_foreign_host_gets_403_everywhere(server, host):
    host = host.format(port=server)
    for path in ("/", "/hnsw", "/liveness", "/static/extensions/panel/panel.min.js", "/ws"):
        status, body = _get(server, path, host)
        assert status == 403, (path, host, status, body[:200])
    assert "--allow-host" in body


@pytest.mark.timeout(600)
@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", HOST_OK,
                                  f"{HOST_OK}:8443"])
def test_the_served_names_get_the_page(server, host):
    status, body = _get(server, "/liveness", host.format(port=server))
    assert status == 200, body[:200]


async def _ws(port: int, host: str, origin: str, token: str) -> str:
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.websocket import websocket_connect
    req = HTTPRequest(f"ws://127.0.0.1:{port}/ws", headers={"Host": host, "Origin": origin})
    try:
        conn = await websocket_connect(req, subprotocols=["bokeh", token])
    except HTTPClientError as e:
        return f"refused {e.code}"
    try:
        msg = await asyncio.wait_for(conn.read_message(), 60)
        return "accepted" if msg and "ACK" in msg else f"no ACK: {str(msg)[:100]}"
    finally:
        conn.close()


@pytest.mark.timeout(600)
def test_websockets_from_foreign_hosts_or_origins_are_refused(server):
    status, page = _get(server, "/pim", f"127.0.0.1:{server}")
    assert status == 200
    token = re.search(r'"token":\s*"([^"]+)"', page).group(1)
    here = f"127.0.0.1:{server}"
    cases = {  # (Host, Origin) -> expected
        (f"evil.example:{server}", f"http://evil.example:{server}"): "refused 403",   # DNS rebinding
        (here, f"http://evil.example:{server}"): "refused 403",                       # cross-site page
        (here, "http://localhost:8888"): "refused 403",                              # another local app
        (here, f"http://{here}"): "accepted",
    }
    for (host, origin), expected in cases.items():
        got = ui_load.run_async(_ws(server, host, origin, token))  # any thread: a browser test's loop may run here
        assert got == expected, (host, origin, got)


def test_each_event_loop_has_its_own_opening_lock():
    """Sessions open one at a time per server (widgets.app._open_sessions_in_order); a server per loop, so a
    lock per loop: one made on another loop would refuse to be waited on here."""
    import asyncio

    from widgets.app import _opening_lock

    async def twice():
        return _opening_lock(), _opening_lock()
    a, b = ui_load.run_async(twice())
    c, _ = ui_load.run_async(twice())
    assert a is b and a is not c

    async def contended():   # a waiter on the lock, as a second visitor of a burst
        lock = _opening_lock()
        order = []

        async def visit(i):
            async with lock:
                order.append(i)
                await asyncio.sleep(0.01)
        await asyncio.gather(*(visit(i) for i in range(3)))
        return order
    assert ui_load.run_async(contended()) == [0, 1, 2] and ui_load.run_async(contended()) == [0, 1, 2]
