"""`make gallery`: execute every notebook with its full default parameters and publish HTML.

Writes `build/gallery/<notebook>.ipynb` (executed, with records), `<notebook>.html`, the papers
ledger `papers.md`, and an `index.html` linking them with each run's status, time and records.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

from labkit.atomic import atomic_write
from labkit.execute import run_notebook
from labkit.papers import ledger
from labkit.tables import markdown_table

REPO = Path(__file__).resolve().parent.parent


def _to_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter  # lazy: nbconvert ships with the ui extra
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    target = executed.with_suffix(".html")
    _write_text(target, body)
    return target


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path, "w") as f:  # UTF-8, a temporary of this writer's own, then rename
        f.write(text)


def build(out: Path, notebooks: list[Path], timeout: float) -> int:
    from tqdm.auto import tqdm
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for nb in tqdm(notebooks, desc="gallery"):
        r = run_notebook(nb, out / nb.name, {}, timeout=timeout)
        page = _to_html(Path(r.output)) if Path(r.output).is_file() else None
        results.append((nb, r, page))
        print(f"{nb.name}: {r.status} in {r.duration:.1f} s", file=sys.stderr)
        if not r.ok:
            print(r.traceback or r.error, file=sys.stderr)
    table = ledger(REPO / "papers", out)
    papers_md = markdown_table(table) if len(table) else "(no claims yet: see papers/README.md)"
    _write_text(out / "papers.md", papers_md + "\n")

    items = []
    for nb, r, page in results:
        recs = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))[:200]}</td></tr>"
                       for k, v in r.records.items())
        link = f'<a href="{page.name}">{nb.name}</a>' if page else nb.name
        items.append(f"<h2>{link} — {r.status}, {r.duration:.1f} s</h2>"
                     + (f"<pre>{html.escape(r.error)}</pre>" if not r.ok else "")
                     + f"<table>{recs}</table>")
    ledger_html = table.to_html(index=False, escape=True) if len(table) else "<p>(no claims yet)</p>"
    index = (f"<!doctype html><html><head><meta charset='utf-8'><title>labkit gallery</title>"
             f"<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}} td{{padding:2px 8px}}"
             f"</style></head><body><h1>labkit gallery</h1>{''.join(items)}"
             f"<h1>Papers ledger</h1>{ledger_html}</body></html>")
    _write_text(out / "index.html", index)
    print(f"gallery: {out / 'index.html'}", file=sys.stderr)
    return 0 if all(r.ok for _, r, _ in results) else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.gallery", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "build" / "gallery"))
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per cell")
    ap.add_argument("notebooks", nargs="*", help="default: every notebooks/NN_*.ipynb")
    args = ap.parse_args(argv)
    nbs = [Path(p) for p in args.notebooks] or sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return build(Path(args.out), nbs, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
