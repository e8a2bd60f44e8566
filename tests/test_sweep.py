"""Sweeps: the cartesian grid on Dask distributed, a row per run, failed runs reported."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from labkit.cli import parse_grid
from labkit.sweep import expand_grid, sweep

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


@pytest.mark.timeout(300)
def test_cli_sweep_on_a_local_cluster_reports_failed_points(tmp_path):
    """The issue's acceptance command: a grid with a failing point, 2 workers, one CSV table."""
    out = tmp_path / "sweep"
    r = subprocess.run([sys.executable, "-m", "labkit.cli", "sweep", str(WELCOME), "--grid", "dataset=digits,nope",
                        "--grid", "k_max=3,5", "-p", "n_queries", "40", "--workers", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=280)
    assert r.returncode == 1, r.stderr          # some runs failed -> non-zero exit
    assert "2 of 4 runs failed" in r.stderr
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 4 and list(table["run"]) == [0, 1, 2, 3]
    assert list(table["dataset"]) == ["digits", "digits", "nope", "nope"]
    assert list(table["k_max"]) == [3, 5, 3, 5]
    ok = table[table.status == "ok"]
    bad = table[table.status == "failed"]
    assert len(ok) == 2 and len(bad) == 2
    assert bad["error"].str.contains("unknown dataset 'nope'").all()
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
