"""`make gallery`: every notebook at its full-size defaults, in parallel, published as offline HTML.

    python -m labkit.gallery --out build/gallery [--workers 2] [--force] [notebooks ...]

Writes into `--out`:
  <notebook>.ipynb      the executed notebook (its records feed the papers ledger and the index)
  <notebook>.html       its page, which asks no other host for anything (labkit.gallery_html)
  figures/<notebook>.png  its key figure: the gallery passes `figures=<out>/figures`, and the
                        notebook's export cell writes the PNG there (widgets.export)
  index.html            one card per notebook (labkit.gallery_page); papers.html and papers.md, the ledger
  manifest.json         per notebook: its cache key, status, run time and when it ran
  static/               MathJax and the Panel styles the pages load

The notebooks run on labkit's own sweep machinery (`labkit.sweeps.sweep`, each a sweep of one point)
sharing one Dask LocalCluster of `--workers` processes: each run is a papermill run in a child
process with a wall-clock bound, killed with its kernel when it passes it (labkit.execute).
Progress: a bar over the notebooks and a line per notebook as it starts and finishes.

Reuse: a notebook whose cache key matches its manifest entry, whose last run was ok and whose
outputs are all there is not run again. The key is the sha256 of its cells (type, source, tags),
the parameters the gallery passes and labkit's version. A change to the code of `labkit` or
`widgets` alone does not run it again (every edit anywhere in the library would run all of them),
but it is not hidden either: the manifest keeps a digest of that code per run, and a notebook
reused across a change says so, in the progress lines and on its card. `--force` runs every notebook.
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from labkit import gallery_html
from labkit.atomic import atomic_write
from labkit.execute import DEFAULT_TIMEOUT
from labkit.gallery_html import install_static, notebook_html
from labkit.gallery_page import Card, format_duration, index_html, notebook_summary, papers_html
from labkit.papers import cards as paper_cards
from labkit.papers import ledger, ledger_html, ledger_markdown
from labkit.records import read_records
from labkit.sweeps import local_cluster, notebook_parameters, sweep
from labkit.validate import check_bool, check_float, check_int, fail

REPO = Path(__file__).resolve().parent.parent
MANIFEST = "manifest.json"
FIGURES = "figures"
_RUNS = ".runs"          # each run's sweep folder, removed once its notebook is moved into place
_FORMAT = 1              # the manifest's layout version
#: modules that shape the gallery's pages but never a notebook's results: not part of the cache key
_OWN = ("gallery.py", "gallery_html.py", "gallery_page.py")


@dataclass
class Outcome:
    """One notebook of a gallery build."""

    notebook: Path
    status: str = "failed"         # "ok" | "failed"
    cached: bool = False
    duration_s: float | None = None
    finished: str = ""
    error: str = ""
    records: dict[str, Any] = field(default_factory=dict)
    older_code: bool = False       # reused, though labkit's or widgets' code changed since it ran


# -- the cache ----------------------------------------------------------------------------------

def library_digest(roots=(REPO / "labkit", REPO / "widgets")) -> str:
    """sha256 over the .py files of `roots` (path and content), the gallery's own modules excepted: which
    code a run used, kept in the manifest beside its cache key."""
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(Path(root).rglob("*.py")):
            if path.parent.name == "__pycache__" or (path.parent == REPO / "labkit" and path.name in _OWN):
                continue
            h.update(str(path.relative_to(Path(root).parent)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def page_digest() -> str:
    """sha256 of labkit/gallery_html.py, which makes the notebooks' pages: a reused notebook whose page
    was made by other code gets its page made again (nbconvert only, no run)."""
    return hashlib.sha256(Path(gallery_html.__file__).read_bytes()).hexdigest()


def cache_key(notebook: str | Path, parameters: dict[str, Any]) -> str:
    """sha256 of the notebook's cells (type, source, tags; not outputs), `parameters` and labkit's version."""
    from labkit import __version__
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = []
    for c in nb.get("cells", []):
        src = c.get("source", "")
        cells.append([c.get("cell_type"), "".join(src) if isinstance(src, list) else src,
                      sorted((c.get("metadata") or {}).get("tags") or [])])
    payload = {"cells": cells, "parameters": parameters, "labkit": __version__}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def read_manifest(out: Path) -> dict:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"format": _FORMAT, "notebooks": {}}
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("notebooks"), dict):
        return {"format": _FORMAT, "notebooks": {}}
    return data


def _write_manifest(out: Path, manifest: dict) -> None:
    with atomic_write(out / MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)


def reusable(entry: dict | None, key: str, out: Path, notebook: Path, figure: bool) -> bool:
    """Whether a manifest entry stands for an ok run with this key whose outputs are all still there."""
    return bool(entry and entry.get("key") == key and entry.get("status") == "ok"
                and (out / notebook.name).is_file()
                and (not figure or (out / FIGURES / f"{notebook.stem}.png").is_file()))


# -- running ------------------------------------------------------------------------------------

def figures_available() -> bool:
    """Whether the notebooks can export their key figures (headless chromium and Playwright here)."""
    import importlib.util
    return shutil.which("chromium") is not None and importlib.util.find_spec("playwright") is not None


def _running_notebooks() -> set[str]:
    """The notebooks a run is executing now below this process: the argument of each runner
    (`python -m labkit.execute NOTEBOOK OUTPUT ...`, labkit.execute's child side) among our descendants."""
    import psutil
    found = set()
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return found
    for p in children:
        try:
            cmd = p.cmdline()
        except psutil.Error:
            continue
        if "labkit.execute" in cmd and cmd.index("labkit.execute") + 1 < len(cmd):
            found.add(cmd[cmd.index("labkit.execute") + 1])
    return found


def _run_all(todo: list[tuple[Path, dict]], out: Path, workers: int, timeout: float, on_start, on_done) -> None:
    """Run each (notebook, parameters) as a one-point labkit.sweep on one shared LocalCluster; call
    on_start(notebook) when its runner process appears (a Dask worker took it up) and
    on_done(notebook, row) with its sweep row when it ends. Submitted in `todo`'s order."""
    from dask.distributed import Client

    runs = out / _RUNS
    with ThreadPoolExecutor(len(todo), thread_name_prefix="labkit-gallery") as pool, \
            local_cluster(workers) as cluster, \
            Client(cluster) as client:
        futures = {}
        for nb, params in todo:
            folder = runs / nb.stem
            shutil.rmtree(folder, ignore_errors=True)
            fut = pool.submit(sweep, nb, {k: [v] for k, v in params.items()}, out=folder, client=client,
                              timeout=timeout, progress=False)
            futures[fut] = (nb, folder)
            deadline = time.monotonic() + 30   # sweep makes its folder just before it submits: keep the order
            while not folder.exists() and not fut.done() and time.monotonic() < deadline:
                time.sleep(0.05)
        started: set[Path] = set()
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            running = _running_notebooks()
            for fut in pending:
                nb, _ = futures[fut]
                if nb not in started and str(nb) in running:
                    started.add(nb)
                    on_start(nb)
            for fut in done:
                nb, folder = futures[fut]
                try:
                    row = fut.result().iloc[0].to_dict()
                except Exception as e:  # sweep itself failed (bad notebook, cluster lost): still an outcome
                    row = {"status": "failed", "error": f"{type(e).__name__}: {e}", "duration_s": None, "output": ""}
                on_done(nb, row)
    shutil.rmtree(runs, ignore_errors=True)


def _finish(nb: Path, row: dict, out: Path) -> Outcome:
    """Move the executed notebook into place, make its page, read its records."""
    executed = Path(str(row.get("output") or ""))
    target = out / nb.name
    if executed.is_file():
        os.replace(executed, target)
    elif target.exists():
        target.unlink()   # an older run's notebook must not stand for this failed one
    try:
        duration = float(row.get("duration_s"))
    except (TypeError, ValueError):   # None or pandas' NA: a run that never reported
        duration = None
    ok = str(row.get("status")) == "ok"
    error = row.get("error")
    o = Outcome(nb, status="ok" if ok else "failed",
                duration_s=duration if duration is not None and duration == duration else None,
                finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                error="" if ok else (error if isinstance(error, str) and error else "failed"))
    if target.is_file():
        o.records = read_records(target)
        notebook_html(target, out)
    return o


def _cited_records(papers_dir: Path) -> dict[str, list[str]]:
    """{notebook file name: record keys the paper cards cite}."""
    try:
        found: dict[str, list[str]] = {}
        for card in paper_cards(papers_dir):
            for c in card.get("claims", []):
                found.setdefault(c["notebook"], []).append(c["record"])
        return found
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_papers(out: Path, papers_dir: Path) -> None:
    """papers.html (labkit.papers.ledger_html in the gallery's page) and papers.md, from the records in `out`."""
    if papers_dir.is_dir():
        table = ledger(papers_dir, out)
        fragment, markdown = ledger_html(table), ledger_markdown(table)
    else:
        fragment, markdown = f"<p>(no papers folder at {html.escape(str(papers_dir))})</p>", "(no papers folder)"
    with atomic_write(out / "papers.md", "w") as f:
        f.write(markdown + "\n")
    with atomic_write(out / "papers.html", "w") as f:
        f.write(papers_html(fragment))


def build(out: str | Path, notebooks: list[str | Path], *, workers: int = 2, timeout: float = DEFAULT_TIMEOUT,
          force: bool = False, papers_dir: str | Path = REPO / "papers", progress: bool = True) -> list[Outcome]:
    """Run (or reuse) every notebook, write its page, the index and the papers ledger; the outcomes.

    Every notebook must declare a `figures: str` parameter (its export cell writes
    `<figures>/<notebook>.png`); `timeout` bounds each cell in seconds.
    """
    from tqdm.auto import tqdm

    workers = check_int("workers", workers, low=1)
    timeout = check_float("timeout", timeout, 0, low_open=True)
    force, progress = check_bool("force", force), check_bool("progress", progress)
    notebooks = [Path(p).resolve() for p in notebooks]
    if not notebooks:
        raise fail("notebooks", "at least one notebook", "none", described=True)
    for nb in notebooks:
        if "figures" not in (notebook_parameters(nb) or []):
            raise fail("notebooks", "notebooks whose parameters cell declares `figures: str = \"\"` (the "
                       "folder its key figure is exported to)", nb.name)
    out = Path(out).resolve()
    (out / FIGURES).mkdir(parents=True, exist_ok=True)
    install_static(out)
    os.environ["PANEL_INLINE"] = "1"   # the kernels' Panel output inline (offline), as the Makefile sets it
    with_figures = figures_available()
    params = {"figures": str(out / FIGURES) if with_figures else ""}
    library = library_digest()
    manifest = read_manifest(out)
    t0 = time.perf_counter()
    say = (lambda msg: tqdm.write(msg, file=sys.stderr)) if progress else (lambda msg: None)
    if not with_figures:
        say("gallery: no thumbnails (headless chromium or playwright missing: apt-get install chromium)")

    page = page_digest()
    outcomes: dict[Path, Outcome] = {}
    todo = []
    for nb in notebooks:
        key = cache_key(nb, params)
        entry = manifest["notebooks"].get(nb.name)
        if not force and reusable(entry, key, out, nb, with_figures):
            outcomes[nb] = Outcome(nb, "ok", True, entry.get("duration_s"), entry.get("finished", ""),
                                   records=read_records(out / nb.name), older_code=entry.get("library") != library)
            if entry.get("page") != page or not (out / f"{nb.stem}.html").is_file():
                notebook_html(out / nb.name, out)
                entry["page"] = page
                _write_manifest(out, manifest)
        else:
            todo.append((nb, key))
            (out / FIGURES / f"{nb.stem}.png").unlink(missing_ok=True)   # no thumbnail of an older run
    # longest first (the last known run time), so the slowest notebook is not the last to start
    todo.sort(key=lambda t: -float((manifest["notebooks"].get(t[0].name) or {}).get("duration_s") or 0))
    bar = tqdm(total=len(notebooks), desc="gallery", unit="notebook", disable=not progress, file=sys.stderr)
    for nb, o in outcomes.items():
        say(f"{nb.name}: reused (cells and parameters unchanged; its run took {format_duration(o.duration_s)})"
            + ("; labkit's code has changed since: --force runs it again" if o.older_code else ""))
        bar.update(1)
    if todo:
        known = [(manifest["notebooks"].get(nb.name) or {}).get("duration_s") for nb, _ in todo]
        hint = (f"; their last runs took {format_duration(sum(k for k in known if k))} in all"
                if all(known) else "; at full size a notebook takes minutes")
        say(f"gallery: running {len(todo)} notebook(s) on {workers} worker(s){hint}")
        keys = dict(todo)
        running: dict[Path, None] = {}   # in the order they started

        def on_start(nb):
            running[nb] = None
            say(f"{nb.name}: started")
            bar.set_postfix_str("running " + ", ".join(p.stem for p in running))

        def on_done(nb, row):
            running.pop(nb, None)
            o = _finish(nb, row, out)
            outcomes[nb] = o
            manifest["notebooks"][nb.name] = {"key": keys[nb], "status": o.status, "duration_s": o.duration_s,
                                              "finished": o.finished, "error": o.error, "parameters": params,
                                              "library": library, "page": page}
            _write_manifest(out, manifest)
            say(f"{nb.name}: {o.status} in {format_duration(o.duration_s)}" + (f" — {o.error}" if o.error else ""))
            bar.set_postfix_str("running " + ", ".join(p.stem for p in running) if running else "")
            bar.update(1)

        _run_all([(nb, params) for nb, _ in todo], out, workers, timeout, on_start, on_done)
    bar.close()

    ordered = [outcomes[nb] for nb in notebooks]
    _write_papers(out, Path(papers_dir))
    cited = _cited_records(Path(papers_dir))
    cards = []
    for o in ordered:
        title, teaches = notebook_summary(o.notebook)
        stem = o.notebook.stem
        cards.append(Card(stem, title, teaches, o.status, o.duration_s, o.finished, o.cached,
                          page=f"{stem}.html" if (out / f"{stem}.html").is_file() else None,
                          executed=o.notebook.name if (out / o.notebook.name).is_file() else None,
                          figure=f"{FIGURES}/{stem}.png" if (out / FIGURES / f"{stem}.png").is_file() else None,
                          error=o.error, records=o.records, headline=tuple(cited.get(o.notebook.name, [])),
                          older_code=o.older_code))
    ran = sum(not o.cached for o in ordered)
    summary = (f"{ran} run, {len(ordered) - ran} reused, on {workers} worker(s) in "
               f"{format_duration(time.perf_counter() - t0)}, built "
               f"{datetime.now(timezone.utc).isoformat(timespec='seconds').replace('T', ' ')}")
    with atomic_write(out / "index.html", "w") as f:
        f.write(index_html(cards, summary=summary))
    say(f"gallery: {len(ordered)} notebooks ({summary}) -> {out / 'index.html'}")
    for o in ordered:
        if o.status != "ok":
            say(f"{o.notebook.name} failed: {o.error}")
    return ordered


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.gallery", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "build" / "gallery"))
    ap.add_argument("--workers", type=int, default=2, help="notebooks run at once (Dask worker processes)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per cell")
    ap.add_argument("--force", action="store_true", help="run every notebook, even those that could be reused")
    ap.add_argument("notebooks", nargs="*", help="default: every notebooks/NN_*.ipynb")
    args = ap.parse_args(argv)
    nbs = [Path(p) for p in args.notebooks] or sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    outcomes = build(args.out, nbs, workers=args.workers, timeout=args.timeout, force=args.force)
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
