"""Lost wakeups on the kernel client's sockets: how often a finished notebook cell is seen only at its
timeout, with jupyter_client's own AsyncKernelClient (the anchor: what nbclient and papermill use) and
with labkit's SlicedKernelClient (labkit/kernel_client.py), in alternating rounds of three runs at once
(a sweep's load) of a notebook of ipywidgets cells (the cell of 00_welcome.ipynb a sweep run hung on).
Each run is `labkit.execute.run_notebook` in its own process; only the kernel client differs.

    .venv/bin/python benchmarks/kernel_wakeups.py              # 6 rounds, 60 cells, cell timeout 10 s
    .venv/bin/python benchmarks/kernel_wakeups.py --rounds 10 --cells 120
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import machine  # noqa: E402

#: the ipywidgets cell of 00_welcome.ipynb (its slider's readout), without the dataset
WIDGET_CELL = '''out = ipw.Output()
slider = ipw.IntSlider(value=0, min=0, max=99, description="query")
def show(change=None):
    out.clear_output()
    with out:
        print(f"nearest ids {list(range(slider.value, slider.value + 10))}")
slider.observe(show, names="value")
show()
display(ipw.VBox([slider, out]))'''

CLIENTS = ("jupyter_client", "labkit")


def widget_notebook(path: str | os.PathLike, cells: int) -> Path:
    """Write a notebook of `cells` copies of WIDGET_CELL (after one cell of imports) to `path`."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import ipywidgets as ipw\nfrom IPython.display import display")]
    nb.cells += [nbformat.v4.new_code_cell(WIDGET_CELL) for _ in range(cells)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return Path(path)


def _run(client: str, notebook: str, output: str, timeout: float) -> dict:
    """One run in this process with `client`'s kernel client: status and each cell's seconds."""
    from labkit import execute, kernel_client
    if client == "jupyter_client":
        kernel_client.CONFIG = {}  # run_notebook then leaves AsyncKernelManager's own client in place
    r = execute.run_notebook(notebook, output, timeout=timeout)
    cells = json.loads(Path(output).read_text())["cells"] if Path(output).is_file() else []
    return {"status": r.status, "error": r.error, "run_s": r.duration,
            "cell_s": [c["metadata"].get("papermill", {}).get("duration") or 0.0 for c in cells]}


def run_in_process(client: str, notebook: Path, output: Path, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--run", client, str(notebook), str(output), str(timeout)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600 + 200 * timeout)
    if done.returncode:
        return {"status": "failed", "error": done.stderr[-500:], "run_s": 0.0, "cell_s": []}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--cells", type=int, default=60)
    ap.add_argument("--timeout", type=float, default=10.0, help="the cell timeout, s")
    ap.add_argument("--at-once", type=int, default=3)
    ap.add_argument("--run", nargs=4, metavar=("CLIENT", "NOTEBOOK", "OUTPUT", "TIMEOUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        client, nb, out, timeout = args.run
        print(json.dumps(_run(client, nb, out, float(timeout))))
        return
    from tqdm import tqdm
    runs = {c: [] for c in CLIENTS}
    with tempfile.TemporaryDirectory(prefix="labkit-wakeups-") as tmp:
        nb = widget_notebook(Path(tmp) / "widgets.ipynb", args.cells)
        with ThreadPoolExecutor(args.at_once) as pool:
            for i in tqdm(range(args.rounds), desc="rounds (A/B)"):
                for client in (CLIENTS if i % 2 == 0 else CLIENTS[::-1]):
                    outs = [Path(tmp) / f"{client}-{i}-{j}.ipynb" for j in range(args.at_once)]
                    runs[client] += pool.map(run_in_process, [client] * len(outs), [nb] * len(outs), outs,
                                             [args.timeout] * len(outs))
    held_at = args.timeout / 2
    print(f"{args.rounds} rounds of {args.at_once} runs at once per client, {args.cells} ipywidgets cells, "
          f"cell timeout {args.timeout:g} s; {machine()}\n")
    print("| kernel client | runs ok | runs with a cell held (>= timeout/2) | cells held | slowest other cell, s "
          "| median run, s |\n|---|---|---|---|---|---|")
    for client in CLIENTS:
        rs = runs[client]
        held = [[d for d in r["cell_s"] if d >= held_at] for r in rs]
        other = [d for r in rs for d in r["cell_s"] if d < held_at]
        run_s = statistics.median(r["run_s"] for r in rs)
        print(f"| {client} | {sum(r['status'] == 'ok' for r in rs)}/{len(rs)} | {sum(bool(h) for h in held)} "
              f"| {sum(map(len, held))} | {max(other, default=0):.2f} | {run_s:.1f} |")
    for client in CLIENTS:
        for r in runs[client]:
            if r["status"] != "ok":
                print(f"{client}: failed run: {r['error'][:300]}")


if __name__ == "__main__":
    main()
