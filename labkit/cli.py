"""The `labkit` command: lab, serve, run, sweep, papers.

The top floor of the house: `lab` and `serve` start the UI (a subprocess and a lazy import),
with a clear message when the UI extras are not installed. Everything else is headless.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from labkit.execute import parse_value

REPO = Path(__file__).resolve().parent.parent
UI_HINT = "the UI extras are not installed; run `pip install -e '.[ui]'` (or `make lab`)"


def _notebooks_dir() -> Path:
    here = Path.cwd() / "notebooks"
    return here if here.is_dir() else REPO / "notebooks"


def cmd_lab(args) -> int:
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable)) or shutil.which("jupyter")
    if jupyter is None:
        print(f"labkit lab: jupyter not found: {UI_HINT}", file=sys.stderr)
        return 2
    env = {**os.environ, "PANEL_INLINE": "1"}  # Panel/HoloViews render offline only when inlined
    cmd = [jupyter, "lab", f"--notebook-dir={args.notebook_dir or _notebooks_dir()}",
           f"--ServerApp.ip={args.address}"]
    if args.port:
        cmd.append(f"--ServerApp.port={args.port}")
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    return subprocess.call(cmd, env=env)


def cmd_serve(args) -> int:
    try:
        from widgets.app import serve  # lazy: the UI is only imported by this command
    except ImportError as e:
        print(f"labkit serve: {UI_HINT} ({e})", file=sys.stderr)
        return 2
    serve(address=args.address, port=args.port, show=args.show)
    return 0


def _params(pairs) -> dict:
    return {k: parse_value(v) for k, v in (pairs or [])}


def _records_table(records: dict) -> str:
    if not records:
        return "  (no records)"
    width = max(len(k) for k in records)
    lines = []
    for k, v in records.items():
        text = str(v)
        lines.append(f"  {k:<{width}}  {text if len(text) <= 100 else text[:97] + '...'}")
    return "\n".join(lines)


def cmd_run(args) -> int:
    from labkit.execute import run_notebook
    params = _params(args.param)
    out = Path(args.out)
    failed = 0
    for nb in args.notebook:
        nb = Path(nb)
        if not nb.is_file():
            print(f"labkit run: notebook: no such file {nb}", file=sys.stderr)
            failed += 1
            continue
        r = run_notebook(nb, out / nb.name, params, timeout=args.timeout)
        print(f"== {nb.name}: {r.status} in {r.duration:.1f} s -> {r.output}")
        print(_records_table(r.records))
        if not r.ok:
            failed += 1
            print(f"\n{r.traceback or r.error}\n", file=sys.stderr)
            print(f"labkit run: {nb.name} failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def parse_grid(specs) -> dict:
    """['n=1,2', 'mode=a,b'] -> {'n': [1, 2], 'mode': ['a', 'b']}."""
    grid = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        if not sep or not key or not values:
            raise ValueError(f"--grid: expected KEY=V1,V2,..., got {spec!r}")
        if key in grid:
            raise ValueError(f"--grid: parameter {key!r} given twice")
        grid[key] = [parse_value(v) for v in values.split(",")]
    return grid


def cmd_sweep(args) -> int:
    from labkit.sweep import sweep
    try:
        grid = parse_grid(args.grid)
    except ValueError as e:
        print(f"labkit sweep: {e}", file=sys.stderr)
        return 2
    table = sweep(args.notebook, grid, out=args.out, scheduler=args.scheduler, workers=args.workers,
                  timeout=args.timeout, wall_timeout=args.wall_timeout, fixed=_params(args.param))
    import pandas as pd
    with pd.option_context("display.max_columns", 50, "display.width", 160, "display.max_colwidth", 60):
        print(table.drop(columns=["output"]).to_string(index=False))
    print(f"\nresults: {Path(args.out) / 'results.csv'}")
    n_failed = int((table["status"] != "ok").sum())
    if n_failed:
        print(f"labkit sweep: {n_failed} of {len(table)} runs failed", file=sys.stderr)
    return 1 if n_failed else 0


def cmd_papers(args) -> int:
    from labkit.papers import check_cards, ledger
    problems = check_cards(args.papers, args.notebooks)
    if problems:
        for p in problems:
            print(f"labkit papers: {p}", file=sys.stderr)
        return 1
    table = ledger(args.papers, args.records)
    from labkit.tables import markdown_table
    text = markdown_table(table) if len(table) else "(no claims yet: see papers/README.md)"
    print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="labkit", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lab", help="open JupyterLab on notebooks/ (Panel inline, works offline)")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--notebook-dir", default=None)
    p.add_argument("--no-browser", action="store_true")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("serve", help="serve the dashboard (one page per mechanism)")
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5006)
    p.add_argument("--show", action="store_true", help="open a browser tab")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("run", help="execute notebooks with papermill and print their records")
    p.add_argument("notebook", nargs="+")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"))
    p.add_argument("--out", default="build/run")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per cell")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run a notebook over a parameter grid on Dask distributed")
    p.add_argument("notebook")
    p.add_argument("--grid", action="append", required=True, metavar="KEY=V1,V2,...")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("KEY", "VALUE"),
                   help="a fixed parameter passed to every run")
    p.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    p.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    p.add_argument("--out", default="build/sweep")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per cell")
    p.add_argument("--wall-timeout", type=float, default=None,
                   help="seconds per run: a longer run is killed with its kernel and fails "
                        "(default: 180 + (code cells + 1) x --timeout, which a run that makes progress never reaches)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("papers", help="the papers ledger: each claim, the paper's number and labkit's")
    p.add_argument("--papers", default=str(REPO / "papers"))
    p.add_argument("--notebooks", default=str(REPO / "notebooks"))
    p.add_argument("--records", default=str(REPO / "build" / "gallery"),
                   help="folder of executed notebooks (the gallery run)")
    p.set_defaults(func=cmd_papers)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
