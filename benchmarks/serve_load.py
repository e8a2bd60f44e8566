"""The dashboard's times under load: `labkit serve` on loopback and N browser sessions (headless
chromium) opened at once over its pages, through the driver tests/test_ui_load.py uses
(tests/ui_load.py). Prints, beside the 5 s target for 20 sessions (issue 14): N plain GETs of the pages
at once (the server's own answer); N visitors at once that ask the server what a page's script asks but
draw nothing (the server's share of a burst: each session built, each document received); and per
session its HTML, its page rendered (navigation bar and a drawn canvas) and its page live (its own
server session built); then, with the N still open, one more visitor on each page in turn (the server's
steady state); the server's RSS. The same browser renders all N tabs on the same cores, so the render
times include the browser's work.

    .venv/bin/python benchmarks/serve_load.py               # 20 sessions
    .venv/bin/python benchmarks/serve_load.py --sessions 5
    .venv/bin/python benchmarks/serve_load.py --bursts 3 --workers 1 2 --repeat 2   # no browser: bursts only

`--bursts K`: only the server's share, K bursts of N visitors without a browser per server (after one
burst that builds each worker's kept first pages), servers of each `--workers` count in turn, `--repeat`
times (alternating, so that the machine's drift falls on both).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import ui_load  # noqa: E402
from harness import machine  # noqa: E402

TARGET_S = 5.0


def row(name: str, values) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return f"| {name} | – | – | – | {TARGET_S:g} | none reached |"
    return (f"| {name} | {min(v):.2f} | {statistics.median(v):.2f} | {max(v):.2f} | {TARGET_S:g} | "
            f"{sum(x <= TARGET_S for x in v)}/{len(values)} within |")


def bursts(sessions: int, k: int, workers: list[int], repeat: int) -> None:
    print(f"{sessions} visitors at once without a browser on `labkit serve --workers W`; {machine()}\n")
    print("| document received, seconds from the first request | min | median | max | target | |\n"
          "|---|---|---|---|---|---|")
    paths = ui_load._paths()
    for rep in range(repeat):
        for w in workers:
            with ui_load.serving(workers=w) as (base, _server, _log):
                ui_load.burst(base, paths, 2 * len(paths))  # each worker's kept first pages
                for b in range(k):
                    docs = [v[2] for v in ui_load.burst(base, paths, sessions)]
                    print(row(f"workers={w}, server {rep + 1}, burst {b + 1}", docs), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--workers", type=int, nargs="+", default=[ui_load.WORKERS], help="labkit serve --workers")
    ap.add_argument("--bursts", type=int, default=0, help="only bursts without a browser, this many per server")
    ap.add_argument("--repeat", type=int, default=1, help="with --bursts: servers per --workers value")
    args = ap.parse_args()
    if args.bursts:
        return bursts(args.sessions, args.bursts, args.workers, args.repeat)
    with ui_load.serving(workers=args.workers[0]) as (base, server, _log):
        fig = ui_load.drive(base, server, args.sessions)
    (ui_load.OUT / "figures.json").write_text(json.dumps(fig, indent=1))
    print(f"{args.sessions} sessions at once on `labkit serve --workers {args.workers[0]}`; {machine()}\n")
    print("| seconds from the first request | min | median | max | target | |\n|---|---|---|---|---|---|")
    print(row("server: page HTML (plain GETs, no browser)", fig["http_s"]))
    alone = fig["without_browser_s"]
    print(row("no browser (the server's share): session built", [v[1] for v in alone]))
    print(row("no browser (the server's share): document received", [v[2] for v in alone]))
    print(row("browser: HTML received", fig["html_s"]))
    print(row("browser: page rendered", fig["render_s"]))
    print(row("browser: page live (own session built)", fig["live_s"]))
    more = fig["with_n_open_render_s"]
    print(row(f"one more visitor, {args.sessions} sessions open: page rendered", [v[1] for v in more.values()]))
    print(f"\nOne session at a time, per page (html, rendered, live s): {fig['single_session_render_s']}")
    print(f"With the {args.sessions} open, one more visitor per page (html, rendered, live s): {more}")
    print(f"Server RSS MB: {fig['rss_mb']}; all {args.sessions} opened in {fig['wall_s']} s")
    if fig["foreign_requests"] or fig["browser_errors"]:
        print(f"foreign requests: {fig['foreign_requests'][:5]}; errors: {fig['browser_errors'][:5]}")


if __name__ == "__main__":
    main()
