"""Browser-test policy and fixtures (tests marked `ui`; the other tests use nothing from here).

- No chromium: the ui tests skip with how to install it, except under CI=true/1, where they fail.
  ($LABKIT_CHROMIUM overrides the browser path; tests/test_ui_policy.py points it at nothing.)
- A failing ui test leaves a full-page screenshot in build/ui-failures/<test>.png, and the
  browser console errors it collected are part of its failure report.
- Every Playwright action and wait on the `page` fixture times out after ui_support.WAIT_S (60 s), not
  Playwright's 30 s: a test waits for the state it asserts, generously but boundedly.
- Offline: the `page` fixture refuses every request (and websocket) whose host is not 127.0.0.1 /
  localhost and whose scheme is not data:/blob:/about: (ui_support.block_external_requests), and a test
  whose page asked for one FAILS, listing them ("requests left the machine: ..."): labkit's views, the
  dashboard and JupyterLab must load everything from this machine (DESIGN.md, "Offline").

Property tests (all tests): no hypothesis test fails on time. The "labkit" profile drops the per-example
deadline and the too_slow health check, which measure the machine's load rather than the code; under
CI=true it extends hypothesis's own "ci" profile (derandomized, no example database).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from ui_support import (
    CHROMIUM_ARGS,
    VIEWPORT,
    WAIT_MS,
    block_external_requests,
    chromium_path,
    external_report,
    free_port,
    save_failure_screenshot,
    wait_for_url,
)

INSTALL_HINT = "install it with `sudo apt-get install chromium`, or run `make test` as root, which installs it"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true")


settings.register_profile("labkit", settings.default, deadline=None,
                          suppress_health_check={*settings.default.suppress_health_check, HealthCheck.too_slow})
settings.load_profile("labkit")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (rep_setup/rep_call/rep_teardown) for the `page` fixture;
    fail a ui test whose page asked for anything off the machine (or add them to its failure), and add the
    browser console errors to the report of a failed ui test."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    page = item.funcargs.get("page") if hasattr(item, "funcargs") else None
    if page is None:
        return
    if rep.when == "call" and page.external_requests:
        page.external_reported = len(page.external_requests)
        if rep.passed:
            rep.outcome, rep.longrepr = "failed", external_report(page.external_requests)
        else:
            rep.sections.append(("requests left the machine", external_report(page.external_requests)))
    if rep.failed:
        rep.sections.append(("browser console errors", "\n".join(page.console_errors) or "(none)"))


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian chromium driven by Playwright, shared by the session."""
    path = chromium_path()
    if path is None:
        if _in_ci():
            pytest.fail("chromium missing under CI=true: install it with apt-get install chromium "
                        "(in CI the browser tests must run, never skip)", pytrace=False)
        pytest.skip(f"chromium not found, browser tests skipped: {INSTALL_HINT}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh page (own context, 1400x1000, actions and waits time out after WAIT_S). `page.console_errors`
    collects console errors and uncaught exceptions; on failure the page is screenshotted at teardown.
    Offline: every non-local request is refused and recorded in `page.external_requests`; the test fails
    on any (pytest_runtest_makereport), and one made after the test's body fails its teardown."""
    context = chromium.new_context(viewport=VIEWPORT, service_workers="block")
    context.set_default_timeout(WAIT_MS)
    refused = block_external_requests(context)
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    pg.console_errors = []
    pg.external_requests, pg.external_reported = refused, 0
    pg.on("console", lambda m: pg.console_errors.append(f"console.error: {m.text}  ({_where(m)})")
          if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(f"uncaught: {e}"))
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        rep.sections.append(("failure screenshot", save_failure_screenshot(pg, request.node.name)))
    context.close()
    if len(refused) > pg.external_reported:   # asked for after the body's report (or the body never ran)
        pytest.fail(external_report(refused[pg.external_reported:]), pytrace=False)


def _where(msg) -> str:
    loc = msg.location or {}
    return f"{loc.get('url', '?')}:{loc.get('lineNumber', '?')}"


@pytest.fixture(scope="module")
def dashboard():
    """`widgets.app.serve` in this process (a thread), on a free loopback port; its URL. torch runs on one
    thread meanwhile (its OpenMP pool spins on a shared 2-core machine; see tests/test_widgets_kvcache.py)."""
    import torch

    from widgets.app import serve
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    port = free_port()
    server = serve(address="127.0.0.1", port=port, threaded=True)
    try:
        wait_for_url(f"http://127.0.0.1:{port}/liveness", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        torch.set_num_threads(threads)
