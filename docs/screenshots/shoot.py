"""Full-page screenshots of the PIM, HNSW and KV cache pages served from a checkout, at 1280 x 800,
every request off 127.0.0.1 refused; prints each page's laid-out width.

    .venv/bin/python docs/screenshots/shoot.py CHECKOUT OUTDIR
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

PAGES = (("pim", None), ("hnsw", None), ("kvcache", None), ("kvcache", "Eviction"), ("kvcache", "Memory vs quality"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(checkout: str, outdir: str) -> None:
    os.makedirs(outdir, exist_ok=True)
    port = free_port()
    with open(os.path.join(outdir, "server.log"), "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "serve", "--port", str(port)], cwd=checkout,
                                env={**os.environ, "PYTHONPATH": checkout}, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the dashboard did not start within 300 s") from None
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            for slug, tab in PAGES:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.route(lambda u: not u.startswith(("http://127.0.0.1", "data:", "blob:", "about:")),
                           lambda r: r.abort())
                page.goto(f"http://127.0.0.1:{port}/{slug}", timeout=300_000)
                page.wait_for_timeout(25_000 if slug == "kvcache" else 12_000)  # the KV page captures MiniLM first
                if tab:
                    page.locator(".bk-tab", has_text=tab).first.click()
                    page.wait_for_timeout(15_000)
                name = slug + ("-" + tab.split()[0].lower() if tab else "")
                page.screenshot(path=os.path.join(outdir, f"{name}.png"), full_page=True)
                print(name, page.evaluate("() => document.documentElement.scrollWidth"), flush=True)
                page.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main(*sys.argv[1:3])
