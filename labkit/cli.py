"""The `labkit` command: lab, serve, run, sweep, papers.

The top floor of the house: `lab` and `serve` start the UI (a subprocess and a lazy import),
with a clear message when the UI extras are not installed. Everything else is headless.

A user error (a missing or malformed notebook, a bad grid, a parameter the notebook does not
declare, an out-of-range option) is one line on stderr, `labkit: error: ...`, and exit code 2,
found before anything starts (no cluster, no kernel). Ctrl-C ends with `labkit: interrupted` and
exit code 130; an interrupted sweep keeps the rows that finished in results.csv.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

from labkit.execute import parse_value
from labkit.validate import check_float, check_int, fail

REPO = Path(__file__).resolve().parent.parent
UI_HINT = "the UI extras are not installed; run `pip install -e '.[ui]'` (or `make lab`)"


class UsageError(Exception):
    """A user error: `main` prints it as one line, `labkit: error: <message>`, and exits with 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (`labkit: error: ...`, exit 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"labkit: error: {message} (see `{self.prog} --help`)\n")


def _checked(fn, *args, **kw):
    """fn(*args, **kw), its ValueError/TypeError/OSError turned into a UsageError (the same message)."""
    try:
        return fn(*args, **kw)
    except (ValueError, TypeError, OSError) as e:
        raise UsageError(str(e)) from None


def is_loopback(address: str) -> bool:
    """Whether `address` (an IP address or host name) only reaches this machine."""
    if address.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _warn_address(command: str, address: str, extra: str = "") -> None:
    if not is_loopback(address):
        print(f"labkit: warning: {command} listens on {address}, reachable from other machines{extra}",
              file=sys.stderr)


def _notebooks_dir() -> Path:
    here = Path.cwd() / "notebooks"
    return here if here.is_dir() else REPO / "notebooks"


# JupyterLab as `labkit lab` runs it: offline (DESIGN.md, "Offline"). Kernels load Panel's, Bokeh's and
# HoloViews' code and styles inline (PANEL_INLINE); the server fetches no news feed (LabApp.news_url), asks
# PyPI for no JupyterLab update (NeverCheckForUpdate) and its extension manager lists what is installed
# instead of searching PyPI ("readonly"). tests/jupyter_test_config.py applies the same two.
LAB_ENV = {"PANEL_INLINE": "1"}
LAB_CONFIG = {"LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                         "extension_manager": "readonly"}}


def lab_config_args() -> list[str]:
    """LAB_CONFIG as `jupyter lab` command-line options (they take precedence over config files)."""
    return [f"--{app}.{name}={value}" for app, traits in LAB_CONFIG.items() for name, value in traits.items()]


def cmd_lab(args) -> int:
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable)) or shutil.which("jupyter")
    if jupyter is None:
        print(f"labkit lab: jupyter not found: {UI_HINT}", file=sys.stderr)
        return 2
    if args.port is not None:
        _checked(check_int, "--port", args.port, low=1, high=65535)
    _warn_address("labkit lab", args.address, " (JupyterLab's token still guards it)")
    env = {**os.environ, **LAB_ENV}
    cmd = [jupyter, "lab", f"--notebook-dir={args.notebook_dir or _notebooks_dir()}",
           f"--ServerApp.ip={args.address}", *lab_config_args()]
    if args.port:
        cmd.append(f"--ServerApp.port={args.port}")
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    return subprocess.call(cmd, env=env)


#: `labkit serve` processes: two where there are two cores (a burst of 20 visitors needs both) and
#: processes can be forked (Bokeh's num_procs: not on Windows); more cost memory for little.
SERVE_WORKERS = min(2, os.cpu_count() or 1) if sys.platform != "win32" else 1


def cmd_serve(args) -> int:
    _checked(check_int, "--port", args.port, low=1, high=65535)
    _checked(check_int, "--workers", args.workers, low=1, high=max(1, os.cpu_count() or 1))
    allow = list(args.allow_host or [])
    for name in allow:
        if not name or any(c in name for c in "/ @?#") or name.startswith("-"):
            raise UsageError(str(fail("--allow-host", "a host name or address, optionally with :PORT", name)))
    try:
        from widgets.app import serve  # lazy: the UI is only imported by this command
    except ImportError as e:
        print(f"labkit serve: {UI_HINT} ({e})", file=sys.stderr)
        return 2
    hosts = ", ".join([args.address, *allow]) if allow else args.address
    _warn_address("labkit serve", args.address,
                  f"; it answers only requests addressed to {hosts}"
                  + ("" if allow else " (add names with --allow-host)"))
    serve(address=args.address, port=args.port, show=args.show, allow_hosts=allow, workers=args.workers)
    return 0


def _params(pairs) -> dict:
    """-p KEY VALUE pairs -> {key: value}; a key given twice or not an identifier is a UsageError."""
    params = {}
    for k, v in pairs or []:
        if not k.isidentifier():
            raise UsageError(str(fail("-p", "a parameter name that is a Python identifier", k)))
        if k in params:
            raise UsageError(f"-p: parameter {k!r} given twice")
        params[k] = parse_value(v)
    return params


def _check_notebook(path, params, name: str):
    """The notebook's Path, after checking it is a notebook that declares every key of `params`."""
    from labkit.sweeps import check_notebook, check_parameters
    nb = _checked(check_notebook, path)
    _checked(check_parameters, nb, list(params), name)
    return nb


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
    _checked(check_float, "--timeout", args.timeout, 0, low_open=True)
    notebooks = [_check_notebook(nb, params, "-p") for nb in args.notebook]  # all, before any runs
    out = Path(args.out)
    failed = 0
    for nb in notebooks:
        r = run_notebook(nb, out / nb.name, params, timeout=args.timeout)
        print(f"== {nb.name}: {r.status} in {r.duration:.1f} s -> {r.output}")
        print(_records_table(r.records))
        if not r.ok:
            failed += 1
            print(f"\n{r.traceback or r.error}\n", file=sys.stderr)
            print(f"labkit run: {nb.name} failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def parse_grid(specs) -> dict:
    """['n=1,2', 'mode=a,b'] -> {'n': [1, 2], 'mode': ['a', 'b']}; ValueError naming --grid for a
    spec without `=`, a key that is not an identifier or is given twice, or an empty value."""
    grid = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or not key or not values:
            raise fail("--grid", "KEY=V1,V2,...", spec)
        if not key.isidentifier():
            raise fail("--grid", "a parameter name that is a Python identifier", key)
        if key in grid:
            raise ValueError(f"--grid: parameter {key!r} given twice")
        items = values.split(",")
        if any(not v.strip() for v in items):
            raise fail(f"--grid {key}", "comma-separated values, none empty (write null for None)", values)
        grid[key] = [parse_value(v.strip()) for v in items]
    return grid


def cmd_sweep(args) -> int:
    from labkit.sweeps import sweep
    grid = _checked(parse_grid, args.grid)
    fixed = _params(args.param)
    both = [k for k in fixed if k in grid]
    if both:
        raise UsageError(f"-p {both[0]}: the parameter is also a --grid key (give it in one place)")
    notebook = _check_notebook(args.notebook, grid, "--grid")
    _check_notebook(notebook, fixed, "-p")
    if args.workers is not None:
        _checked(check_int, "--workers", args.workers, low=1)
    _checked(check_float, "--timeout", args.timeout, 0, low_open=True)
    if args.wall_timeout is not None:
        _checked(check_float, "--wall-timeout", args.wall_timeout, 0, low_open=True)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out: cannot create the folder {out} ({e.strerror or e})") from None
    try:
        table = sweep(notebook, grid, out=out, scheduler=args.scheduler, workers=args.workers,
                      timeout=args.timeout, wall_timeout=args.wall_timeout, fixed=fixed)
    except KeyboardInterrupt:
        csv = out / "results.csv"
        n = _count_rows(csv) if csv.is_file() else 0
        kept = f"{csv} keeps the {n} run{'s' * (n != 1)} that finished" if n else "no run had finished"
        print(f"labkit: interrupted: {kept}", file=sys.stderr)
        return 130
    import pandas as pd
    with pd.option_context("display.max_columns", 50, "display.width", 160, "display.max_colwidth", 60):
        print(table.drop(columns=["output"]).to_string(index=False))
    print(f"\nresults: {Path(args.out) / 'results.csv'}")
    n_failed = int((table["status"] != "ok").sum())
    if n_failed:
        print(f"labkit sweep: {n_failed} of {len(table)} runs failed", file=sys.stderr)
    return 1 if n_failed else 0


def _count_rows(csv: Path) -> int:
    try:
        import pandas as pd
        return len(pd.read_csv(csv))
    except Exception:
        return 0


def cmd_papers(args) -> int:
    from labkit.papers import check_cards, ledger, ledger_markdown, terminal_table
    problems = check_cards(args.papers, args.notebooks)
    if problems:
        for p in problems:
            print(f"labkit papers: {p}", file=sys.stderr)
        return 1
    _checked(check_int, "--width", args.width, low=60)
    table = ledger(args.papers, args.records)
    if args.markdown:
        text = ledger_markdown(table)
    else:
        gallery = Path(args.records).resolve() == (REPO / "build" / "gallery").resolve()
        text = terminal_table(table, width=args.width, records=None if gallery else args.records)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `labkit papers | head`: the reader left; no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="labkit", description=__doc__.splitlines()[0])
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
    p.add_argument("--workers", type=int, default=SERVE_WORKERS, metavar="N",
                   help="serve from N processes sharing the port, at most one per core: a burst of visitors "
                        f"is built N at a time; each holds its own pages and models (~1 GB); default {SERVE_WORKERS}")
    p.add_argument("--allow-host", action="append", metavar="NAME[:PORT]",
                   help="also answer requests (and websockets) addressed to this host; repeatable. "
                        "By default only the served address (and localhost and 127.0.0.1 when serving on "
                        "loopback or 0.0.0.0) is accepted: other Host or Origin headers get 403")
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
    p.add_argument("--markdown", action="store_true",
                   help="one markdown table (for files) instead of the terminal layout")
    p.add_argument("--width", type=int, default=100, help="terminal columns (at least 60)")
    p.set_defaults(func=cmd_papers)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"labkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
