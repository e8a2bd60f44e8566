"""Browser-test policy and fixtures (pytest marker `ui`).

- No chromium: skip with how to install it — except under CI=true, where it is a failure.
- A failing ui test leaves a full-page screenshot in build/ui-failures/<test>.png, and the
  browser console errors it collected are part of the failure report.
"""

from __future__ import annotations

import os

import pytest
from ui_support import BUILD, CHROMIUM_ARGS, chromium_path

INSTALL_HINT = ("install it with `sudo apt-get install chromium` (Debian/Ubuntu), or run `make test` as root, "
                "which installs it")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def chromium():
    """A headless Debian chromium driven by Playwright (session-wide)."""
    path = chromium_path()
    if path is None:
        if _in_ci():
            pytest.fail(f"chromium missing under CI=true: browser tests must run, not skip; {INSTALL_HINT}")
        pytest.skip(f"chromium not found: browser tests skipped; {INSTALL_HINT}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request):
    """A fresh page; `page.console_errors` collects console errors and uncaught exceptions."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.console_errors = []
    pg.on("console", lambda m: pg.console_errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_errors.append(f"pageerror: {e}"))
    yield pg
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        shots = BUILD / "ui-failures"
        shots.mkdir(parents=True, exist_ok=True)
        name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
        try:
            pg.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            rep.sections.append(("screenshot", str(shots / f"{name}.png")))
        except Exception as e:  # the page may be gone
            rep.sections.append(("screenshot", f"could not be taken: {e}"))
        rep.sections.append(("browser console errors", "\n".join(pg.console_errors) or "(none)"))
    context.close()
