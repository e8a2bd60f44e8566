"""The "before" of the gallery index: labkit/gallery.py of commit 65f8bb5 builds its index.html from
notebooks executed already (none is run again), then the page is shot full-page at 1280 px wide with
every request off the local disk refused, colours reduced to 256.

    git worktree add /tmp/old 65f8bb5
    mkdir -p /tmp/oldgallery && cp build/gallery/*.ipynb build/gallery/*.html /tmp/oldgallery/
    (cd /tmp/old && /work/main/.venv/bin/python /work/main/docs/screenshots/old_gallery.py \\
        /tmp/oldgallery /work/main/docs/screenshots/before/gallery-index.png)
    git worktree remove --force /tmp/old

Run from the old checkout (its labkit is imported). The old build() executes each notebook and converts
it to HTML; here run_notebook is replaced by reading the executed notebook in the folder (its records,
papermill's status and duration) and _to_html by the HTML page already beside it. The rest of build(),
the index and the papers ledger, is the old code as it was.
"""

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, os.getcwd())
import labkit.gallery as gallery  # noqa: E402  (the old checkout's)
from labkit.execute import RunResult  # noqa: E402
from labkit.records import read_records  # noqa: E402


def read_run(notebook, output, parameters, timeout):
    meta = json.loads(Path(output).read_text())["metadata"].get("papermill", {})
    return RunResult(str(notebook), str(output), dict(parameters), "failed" if meta.get("exception") else "ok",
                     read_records(output), "", "", float(meta.get("duration") or 0.0))


def shoot(page_path: Path, png: str) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright
    refused = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.route(lambda u: not u.startswith(("file://", "data:", "blob:", "about:")), refuse)
        page.goto(page_path.resolve().as_uri())
        page.wait_for_timeout(2000)
        print("laid out", page.evaluate("() => document.documentElement.scrollWidth"), "px wide; refused:", refused)
        page.screenshot(path=png, full_page=True)
        browser.close()
    Image.open(png).convert("RGB").quantize(256).save(png, optimize=True)


def main(folder: str, png: str) -> int:
    assert gallery.__file__.startswith(os.getcwd()), f"run from the old checkout, not {gallery.__file__}"
    gallery.run_notebook = read_run
    gallery._to_html = lambda executed: executed.with_suffix(".html")
    out = Path(folder)
    notebooks = sorted(Path(p.name) for p in out.glob("[0-9][0-9]_*.ipynb"))
    status = gallery.build(out, notebooks, 0)
    shoot(out / "index.html", png)
    return status


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
