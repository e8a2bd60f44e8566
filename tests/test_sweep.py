"""Sweeps: the cartesian grid on Dask distributed, a row per run, failed runs reported."""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pandas as pd
import psutil
import pytest

from labkit import execute
from labkit.cli import parse_grid
from labkit.execute import default_wall_timeout, run_notebook_subprocess
from labkit.sweeps import expand_grid, sweep

ROOT = Path(__file__).resolve().parent.parent
WELCOME = ROOT / "notebooks" / "00_welcome.ipynb"


def test_expand_grid_is_the_cartesian_product_in_order():
    pts = expand_grid({"a": [1, 2], "b": ["x", "y", "z"]})
    assert pts == [{"a": a, "b": b} for a in (1, 2) for b in ("x", "y", "z")]


@pytest.mark.parametrize("grid, match", [({}, "non-empty"), ({"a": []}, "non-empty list"),
                                         ({"a": "12"}, "non-empty list"), ({"1a": [1]}, "identifiers")])
def test_expand_grid_bad(grid, match):
    with pytest.raises(ValueError, match=match):
        expand_grid(grid)


def test_parse_grid_infers_types():
    assert parse_grid(["n=1,2", "mode=a,b", "f=0.5,true"]) == {"n": [1, 2], "mode": ["a", "b"], "f": [0.5, True]}
    for bad in (["n"], ["=1"], ["n="], ["n=1", "n=2"]):
        with pytest.raises(ValueError, match="--grid"):
            parse_grid(bad)


def test_sweep_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="notebook"):
        sweep(tmp_path / "none.ipynb", {"a": [1]})
    with pytest.raises(ValueError, match="workers"):
        sweep(WELCOME, {"a": [1]}, workers=0)
    with pytest.raises(ValueError, match="wall_timeout"):
        sweep(WELCOME, {"a": [1]}, wall_timeout=0)
    with pytest.raises(TypeError, match="timeout"):
        sweep(WELCOME, {"a": [1]}, timeout="long")


# -- nothing waits for ever -----------------------------------------------------------------------

#: a notebook whose run hangs on demand: `hang="runner"` freezes papermill's process (the kernel's
#: parent: nbclient's own cell timeout can never fire), `hang="kernel"` freezes the kernel (it never
#: answers). Before hanging, the kernel writes its pid and the runner's to `<pidfile>.<hang>`.
HANG = """import os, signal, time
from pathlib import Path
Path(f"{pidfile}.{hang}").write_text(f"{os.getpid()} {os.getppid()}")
if hang == "runner":
    os.kill(os.getppid(), signal.SIGSTOP)
    time.sleep(10**6)
elif hang == "kernel":
    os.kill(os.getpid(), signal.SIGSTOP)
print("done")"""


def _hang_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('hang: str = ""\npidfile: str = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(HANG)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def marked(monkeypatch):
    """An environment mark every process started from here inherits (Dask workers, runners, kernels):
    `leftovers()` waits up to 20 s for them to end and returns the ones still running (but for the
    resource tracker multiprocessing keeps for this test process's whole life)."""
    mark = f"labkit-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("LABKIT_TEST_MARK", mark)

    def leftovers(wait=20.0):
        deadline = time.monotonic() + wait
        while True:
            alive = []
            for p in psutil.process_iter():
                try:
                    if (p.pid != os.getpid() and p.status() != psutil.STATUS_ZOMBIE
                            and p.environ().get("LABKIT_TEST_MARK") == mark
                            and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())):
                        alive.append(" ".join(p.cmdline())[:150])
                except psutil.Error:
                    pass
            if not alive or time.monotonic() > deadline:
                return alive
            time.sleep(0.5)
    return leftovers


def test_default_wall_timeout_formula(tmp_path):
    # 180 s (kernel start-up, runner start, shutdown) + (code cells + papermill's parameters cell) x timeout
    assert default_wall_timeout(WELCOME, 60) == 180 + (10 + 1) * 60         # --timeout 60: 14 minutes
    assert default_wall_timeout(_hang_notebook(tmp_path / "h.ipynb"), 10) == 180 + 3 * 10
    with pytest.raises(ValueError, match="timeout"):
        default_wall_timeout(WELCOME, 0)


@pytest.mark.timeout(240)
def test_a_hung_runner_is_killed_at_the_default_bound_with_its_kernel(tmp_path, monkeypatch, marked):
    """No wall_timeout given: the bound is derived from the cell timeout (its overhead made small here)."""
    monkeypatch.setattr(execute, "RUN_OVERHEAD", 30)
    nb = _hang_notebook(tmp_path / "hang.ipynb")
    t0 = time.monotonic()
    r = run_notebook_subprocess(nb, tmp_path / "out.ipynb", {"hang": "runner", "pidfile": str(tmp_path / "p")},
                                timeout=5)
    elapsed = time.monotonic() - t0
    assert r.status == "failed" and "wall-clock bound of 45 s" in r.error, r.error     # 30 + 3 x 5
    assert elapsed >= 45, f"killed after {elapsed:.0f} s, before its bound"   # (pytest-timeout bounds the rest)
    assert marked() == [], "the hung run left processes behind"


@pytest.mark.timeout(240)
def test_a_run_stopped_at_its_bound_leaves_its_stacks_and_its_progress(tmp_path, marked):
    """The kernel never answers and no cell timeout would end it before the wall-clock bound: the
    failed run names its runner log, kept beside the output, which holds the runner's stacks
    (waiting in papermill's cell loop), and the output notebook, saved as cells end, shows the
    cell it stopped in."""
    nb = _hang_notebook(tmp_path / "hang.ipynb")
    out = tmp_path / "out.ipynb"
    r = run_notebook_subprocess(nb, out, {"hang": "kernel", "pidfile": str(tmp_path / "p")}, timeout=600,
                                wall_timeout=40)
    assert r.status == "failed" and "wall-clock bound of 40 s" in r.error, r.error
    log = Path(f"{out}.log")
    assert f"runner log: {log}" in r.error, r.error
    text = log.read_text()
    assert "most recent call first" in text and "papermill" in text and "run_notebook" in text, text[-3000:]
    assert Path(f"{tmp_path / 'p'}.kernel").is_file(), "the run never reached its hang"
    saved = nbformat.read(out, as_version=4)
    status = [c.metadata.get("papermill", {}).get("status") for c in saved.cells if c.cell_type == "code"]
    assert status[-1] == "running" and "completed" in status[:-1], status
    assert marked() == [], "the hung run left processes behind"


def test_runs_reach_their_kernel_over_unix_sockets_of_their_own(tmp_path):
    """Two runs started together never share a kernel address: each kernel listens on Unix sockets
    in a folder of its run's own (no TCP port two runs could both pick), removed afterwards."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from ipykernel import get_connection_info\n"
                                          "print(get_connection_info())")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "where.ipynb")
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda i: run_notebook_subprocess(tmp_path / "where.ipynb", tmp_path / f"o{i}.ipynb",
                                                               timeout=120), range(2)))
    assert [r.status for r in runs] == ["ok", "ok"], [r.error for r in runs]
    infos = [json.loads(nbformat.read(r.output, as_version=4).cells[0].outputs[0].text) for r in runs]
    assert [i["transport"] for i in infos] == ["ipc", "ipc"]
    folders = {Path(i["ip"]).parent for i in infos}
    assert len(folders) == 2 and not any(f.exists() for f in folders)
    assert not list(tmp_path.glob("kernel*")), "sockets were left in the notebook's folder"


@pytest.mark.timeout(400)
def test_a_sweep_whose_runs_hang_finishes_with_failed_rows_and_no_kernel_left(tmp_path, marked):
    """One run's runner freezes (only the wall-clock bound can end it), another's kernel never
    answers (the cell timeout ends it): the sweep returns by itself with a failed row per point
    and its reason, the table on disk, and no kernel, runner or worker left running."""
    nb = _hang_notebook(tmp_path / "hang.ipynb")
    out = tmp_path / "sweep"
    pidfile = tmp_path / "pids"
    table = sweep(nb, {"hang": ["runner", "kernel"]}, fixed={"pidfile": str(pidfile)}, out=out, workers=2,
                  timeout=20, wall_timeout=120, progress=False)
    assert list(table["hang"]) == ["runner", "kernel"] and list(table["status"]) == ["failed", "failed"]
    assert "wall-clock bound of 120 s" in table["error"][0], table["error"][0]
    assert "CellTimeoutError" in table["error"][1], table["error"][1]
    assert len(pd.read_csv(out / "results.csv")) == 2
    assert not list(out.glob(".results.csv*")), "a temp file was left behind"
    for hang in ("runner", "kernel"):  # each run did reach its hang
        assert Path(f"{pidfile}.{hang}").is_file(), hang
    assert marked() == [], "processes outlived the sweep"


def _progress(out: Path) -> str:
    """Each run notebook in `out` with its code cells' papermill status; the rows written so far."""
    seen = []
    for nb in sorted(out.glob("*.ipynb")):
        try:
            cells = nbformat.read(nb, as_version=4).cells
            seen.append(f"{nb.name}: " + " ".join(c.metadata.get("papermill", {}).get("status", "?")[:4]
                                                   for c in cells if c.cell_type == "code"))
        except Exception as e:
            seen.append(f"{nb.name}: unreadable ({e})")
    csv = out / "results.csv"
    rows = csv.read_text() if csv.is_file() else "no results.csv"
    return "notebooks: " + ("; ".join(seen) or "none") + f"\n{rows}"


@pytest.mark.timeout(300)
def test_cli_sweep_on_a_local_cluster_reports_failed_points(tmp_path):
    """The issue's acceptance command: a grid with a failing point, 2 workers, one CSV table."""
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "labkit.cli", "sweep", str(WELCOME), "--grid", "dataset=digits,nope",
           "--grid", "k_max=3,5", "-p", "n_queries", "40", "--workers", "2", "--out", str(out),
           # a run takes ~25 s on a loaded 2-core machine: a hung one becomes a failed row
           # naming its runner log (with its stacks) long before the test's own bound
           "--timeout", "60", "--wall-timeout", "150"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    except subprocess.TimeoutExpired as e:  # say how far each run got (notebooks are saved as cells end)
        pytest.fail(f"the sweep did not return in 280 s; {_progress(out)}\nstderr: {e.stderr}")
    assert r.returncode == 1, r.stderr          # some runs failed -> non-zero exit
    table = pd.read_csv(out / "results.csv")
    assert "2 of 4 runs failed" in r.stderr, table[["run", "status", "error"]].to_string()
    assert len(table) == 4 and list(table["run"]) == [0, 1, 2, 3]
    assert list(table["dataset"]) == ["digits", "digits", "nope", "nope"]
    assert list(table["k_max"]) == [3, 5, 3, 5]
    ok = table[table.status == "ok"]
    bad = table[table.status == "failed"]
    assert len(ok) == 2 and len(bad) == 2
    assert bad["error"].str.contains("expected one of the datasets").all() and bad["error"].str.contains("'nope'").all()
    assert (ok["record.n_queries"] == 40).all()
    assert [len(eval(v)) for v in ok["record.accuracy_by_k"]] == [3, 5]   # JSON lists in the CSV
    assert all(Path(p).is_file() for p in table["output"])               # failed runs keep their notebook


@pytest.mark.timeout(300)
def test_python_api_on_an_existing_scheduler(tmp_path):
    from dask.distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        table = sweep(WELCOME, {"k_max": [2, 4]}, fixed={"n_queries": 20}, out=tmp_path,
                      scheduler=cluster.scheduler_address, progress=False)
    assert list(table["status"]) == ["ok", "ok"]
    assert list(table["record.knn1_accuracy"]) == [table["record.knn1_accuracy"][0]] * 2
    assert (tmp_path / "results.csv").is_file()


def test_python_api_is_labkit_sweep():
    import labkit
    assert labkit.sweep is sweep and callable(labkit.sweep)
