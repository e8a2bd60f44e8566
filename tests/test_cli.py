"""The `labkit` command: run (records table, tracebacks, exit codes), papers, argument errors."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit.cli import SERVE_WORKERS, build_parser, main
from labkit.execute import parse_value

ROOT = Path(__file__).resolve().parent.parent


def labkit(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "labkit.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def _notebook(path: Path, body: str):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell("n: int = 2\nname: str = 'a'")
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_parse_value_like_papermill():
    assert parse_value("3") == 3 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value("abc") == "abc" and parse_value("[1, 2]") == [1, 2] and parse_value("null") is None


def test_run_prints_records_table(tmp_path):
    nb = _notebook(tmp_path / "ok.ipynb", "import labkit\nlabkit.record('double', n * 2)\nlabkit.record('name', name)")
    r = labkit("run", nb, "-p", "n", "21", "-p", "name", "zed", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "ok.ipynb: ok" in r.stdout
    assert any(line.split() == ["double", "42"] for line in r.stdout.splitlines())
    assert any(line.split() == ["name", "zed"] for line in r.stdout.splitlines())
    assert (tmp_path / "out" / "ok.ipynb").is_file()


def test_run_failing_cell_shows_traceback_and_exits_nonzero(tmp_path):
    good = _notebook(tmp_path / "good.ipynb", "import labkit\nlabkit.record('x', 1)")
    bad = _notebook(tmp_path / "bad.ipynb", "def inner():\n    raise RuntimeError('boom here')\ninner()")
    r = labkit("run", good, bad, "--out", tmp_path / "out")
    assert r.returncode == 1
    assert "good.ipynb: ok" in r.stdout and "bad.ipynb: failed" in r.stdout
    assert "Traceback" in r.stderr or "RuntimeError" in r.stderr
    assert "inner()" in r.stderr and "boom here" in r.stderr
    assert "\x1b[" not in r.stderr  # ANSI colours stripped


def test_run_missing_notebook(tmp_path):
    r = labkit("run", tmp_path / "nope.ipynb", "--out", tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("labkit: error: "), r.stderr


def test_python_dash_m_labkit_is_the_labkit_command():
    r = subprocess.run([sys.executable, "-m", "labkit", "papers", "--help"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("usage: ") and "--width" in r.stdout, r.stderr


def test_papers_command_with_the_real_cards(capsys):
    nowhere = ROOT / "build" / "nothing-here"
    assert main(["papers", "--records", str(nowhere)]) == 0
    out = capsys.readouterr().out
    head = out.split("\n\n")[0]  # the hint, wrapped only when the folder's name is long
    assert " ".join(head.split()) == f"no results yet in {nowhere}: `labkit run --out {nowhere} <notebook>`"
    assert "missing" not in out and "no result yet" not in out
    assert "labkit's ratio ≥ 1: per-channel keys no worse (MiniLM)" in " ".join(out.split())


def test_papers_command_fits_100_columns_and_markdown_keeps_the_table(tmp_path, capsys, monkeypatch):
    import labkit.cli as cli
    real = ["--papers", str(ROOT / "papers"), "--notebooks", str(ROOT / "notebooks")]
    monkeypatch.setattr(cli, "REPO", tmp_path)  # the gallery's folder, with nothing in it
    assert main(["papers", *real]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("no results yet: `make gallery` (about 16 minutes)")
    assert max(len(line) for line in out.splitlines()) <= 100
    assert main(["papers", *real, "--markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| paper | claim | paper_value | labkit_value | verdict | notebook | record |")
    assert main(["papers", *real, "--width", "80"]) == 0
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) <= 80


def test_papers_piped_into_head_ends_quietly():
    """`labkit papers | head`: the reader has gone before anything is written (its end is closed at
    once), so the write fails with EPIPE; the command ends without a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "papers"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    proc.stdout.close()
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_parser_knows_every_command():
    p = build_parser()
    for argv in (["lab", "--no-browser"], ["serve", "--port", "5010"], ["run", "a.ipynb", "-p", "k", "v"],
                 ["sweep", "a.ipynb", "--grid", "k=1,2", "--scheduler", "tcp://127.0.0.1:8786"], ["papers"]):
        assert p.parse_args(argv).command == argv[0]
    with pytest.raises(SystemExit):
        p.parse_args(["sweep", "a.ipynb"])  # --grid is required


def test_bad_grid_exits_2(tmp_path):
    r = labkit("sweep", ROOT / "notebooks" / "00_welcome.ipynb", "--grid", "oops")
    assert r.returncode == 2 and "KEY=V1,V2" in r.stderr


# -- user errors: one line on stderr, exit code 2, before anything starts ----------------------------

WELCOME = ROOT / "notebooks" / "00_welcome.ipynb"

#: runs labkit.cli.main(argv) and says on stdout whether Dask (a cluster) or papermill (a run) was loaded
_PROBE = ("import sys; from labkit.cli import main; rc = main(sys.argv[1:]); "
          "print('loaded:', sorted(m for m in ('distributed', 'papermill', 'panel') if m in sys.modules)); "
          "sys.exit(rc)")


def _user_error_cases(tmp: Path):
    (tmp / "text.ipynb").write_text("not json at all")
    (tmp / "list.ipynb").write_text("[1, 2]")
    (tmp / "notes.txt").write_text("hello")
    (tmp / "folder.ipynb").mkdir()
    noparams = nbformat.v4.new_notebook()
    noparams.cells = [nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(noparams, tmp / "noparams.ipynb")
    nb = _notebook(tmp / "ok.ipynb", "pass")
    out = ["--out", tmp / "out"]
    return [  # (argv, a fragment of the message)
        (["sweep", tmp / "missing.ipynb", "--grid", "n=1"], "no such file"),
        (["sweep", tmp / "text.ipynb", "--grid", "n=1"], "not JSON"),
        (["sweep", tmp / "list.ipynb", "--grid", "n=1"], "Jupyter notebook"),
        (["sweep", tmp / "notes.txt", "--grid", "n=1"], ".ipynb"),
        (["sweep", tmp / "folder.ipynb", "--grid", "n=1"], "notebook file"),
        (["sweep", nb, "--grid", "oops"], "KEY=V1,V2"),
        (["sweep", nb, "--grid", "=1,2"], "KEY=V1,V2"),
        (["sweep", nb, "--grid", "n=5,,7"], "none empty"),
        (["sweep", nb, "--grid", "n=5,"], "none empty"),
        (["sweep", nb, "--grid", "n=1", "--grid", "n=2"], "given twice"),
        (["sweep", nb, "--grid", "k_max=1,2"], "declares (n, name), got 'k_max'"),
        (["sweep", tmp / "noparams.ipynb", "--grid", "x=1"], "tagged 'parameters'"),
        (["sweep", nb, "--grid", "1n=1"], "identifier"),
        (["sweep", nb, "--grid", "n=1", "-p", "a-b", "1"], "identifier"),
        (["sweep", nb, "--grid", "n=1", "-p", "other", "1"], "declares (n, name), got 'other'"),
        (["sweep", nb, "--grid", "n=1,2", "-p", "n", "3"], "also a --grid key"),
        (["sweep", nb, "--grid", "n=1", "-p", "name", "a", "-p", "name", "b"], "given twice"),
        (["sweep", nb, "--grid", "n=1", "--workers", "0"], "--workers: expected an integer >= 1, got 0"),
        (["sweep", nb, "--grid", "n=1", "--workers", "two"], "--workers"),
        (["sweep", nb, "--grid", "n=1", "--timeout", "-1"], "--timeout"),
        (["sweep", nb, "--grid", "n=1", "--wall-timeout", "nan"], "--wall-timeout"),
        (["sweep", nb], "--grid"),
        (["sweep", nb, "--grid", "n=1", "--out", tmp / "notes.txt" / "sub"], "--out"),
        (["run", tmp / "missing.ipynb", *out], "no such file"),
        (["run", nb, tmp / "text.ipynb", *out], "not JSON"),
        (["run", nb, "-p", "nope", "1", *out], "got 'nope'"),
        (["run", nb, "--timeout", "0", *out], "--timeout"),
        (["serve", "--port", "70000"], "--port"),
        (["serve", "--workers", "0"], "--workers"),
        (["frobnicate"], "invalid choice"),
    ]


@pytest.mark.timeout(600)
def test_every_user_error_is_one_line_and_exit_2_before_anything_starts(tmp_path):
    """Each case: exit code 2, exactly one stderr line `labkit: error: ...` naming what was wrong, no
    traceback, nothing on stdout but the probe's line, and neither Dask nor papermill (nor the UI) loaded."""
    failures = []
    for argv, fragment in _user_error_cases(tmp_path):
        r = subprocess.run([sys.executable, "-c", _PROBE, *map(str, argv)], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
        lines = r.stderr.splitlines()
        loaded = r.stdout.strip()
        ok = (r.returncode == 2 and len(lines) == 1 and lines[0].startswith("labkit: error: ")
              and fragment in lines[0] and "Traceback" not in r.stderr
              and loaded in ("", "loaded: []"))  # argparse errors exit before the probe prints
        if not ok:
            failures.append(f"{[str(a) for a in argv]}: rc={r.returncode} stderr={r.stderr!r} stdout={r.stdout!r}")
    assert not failures, "\n".join(failures)
    assert not (tmp_path / "out").exists(), "a failed check created the output folder"


def test_parse_grid_rejects_empty_items_and_bad_keys():
    from labkit.cli import parse_grid
    assert parse_grid(["k_max=5,null,7"]) == {"k_max": [5, None, 7]}  # None only when asked for
    for bad in (["k_max=5,,7"], ["k_max=,5"], ["k_max=5, "], ["1k=1"], ["a b=1"]):
        with pytest.raises(ValueError, match="--grid"):
            parse_grid(bad)


def test_sweep_api_refuses_undeclared_and_doubled_parameters(tmp_path):
    """The Python API checks the same before any cluster: papermill would inject the name unused."""
    from labkit.sweeps import notebook_parameters, sweep
    nb = _notebook(tmp_path / "ok.ipynb", "pass")
    assert notebook_parameters(nb) == ["n", "name"]
    assert notebook_parameters(WELCOME) == ["dataset", "n_queries", "k_max", "seed", "figures"]
    with pytest.raises(ValueError, match="grid: .*got 'nope'"):
        sweep(nb, {"nope": [1]}, out=tmp_path / "o")
    with pytest.raises(ValueError, match="fixed: .*got 'nope'"):
        sweep(nb, {"n": [1]}, fixed={"nope": 1}, out=tmp_path / "o")
    with pytest.raises(ValueError, match="fixed: .*got 'n'"):
        sweep(nb, {"n": [1, 2]}, fixed={"n": 3}, out=tmp_path / "o")
    with pytest.raises(ValueError, match="notebook"):
        (tmp_path / "bad.ipynb").write_text("{")
        sweep(tmp_path / "bad.ipynb", {"n": [1]}, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def _fake_ui(monkeypatch):
    """Stand-ins for the widgets package, so `labkit serve` records its call instead of serving."""
    import types
    calls = []
    app = types.ModuleType("widgets.app")
    app.serve = lambda **kw: calls.append(kw)
    pkg = types.ModuleType("widgets")
    pkg.app = app
    monkeypatch.setitem(sys.modules, "widgets", pkg)
    monkeypatch.setitem(sys.modules, "widgets.app", app)
    return calls


def test_serve_on_a_network_address_warns_in_one_line(monkeypatch, capsys):
    calls = _fake_ui(monkeypatch)
    assert main(["serve", "--address", "0.0.0.0", "--port", "5123"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("labkit: warning: ") and "0.0.0.0" in err[0], err
    assert "--allow-host" in err[0]
    assert calls == [{"address": "0.0.0.0", "port": 5123, "show": False, "allow_hosts": [],
                      "workers": SERVE_WORKERS}]
    assert main(["serve", "--address", "10.1.2.3", "--allow-host", "lab.example", "--allow-host",
                 "10.1.2.3:8080"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "lab.example" in err[0], err
    assert calls[-1]["allow_hosts"] == ["lab.example", "10.1.2.3:8080"]


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_on_loopback_is_quiet(monkeypatch, capsys, address):
    calls = _fake_ui(monkeypatch)
    assert main(["serve", "--address", address]) == 0
    assert capsys.readouterr().err == "" and calls[0]["address"] == address


def test_allow_host_must_be_a_host_name(monkeypatch, capsys):
    calls = _fake_ui(monkeypatch)
    assert main(["serve", "--allow-host", "http://evil.example/"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("labkit: error: --allow-host"), err
    assert calls == []


# -- Ctrl-C: the finished rows stay, no kernel is left ---------------------------------------------

def _sleeper(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('delay: float = 0.0\npiddir: str = ""')
    p.metadata["tags"] = ["parameters"]
    nb.cells = [p, nbformat.v4.new_code_cell(
        "import os, time\nfrom pathlib import Path\nimport labkit\n"
        "Path(piddir, f'{os.getpid()}.pid').write_text(f'{os.getpid()} {os.getppid()}')\n"
        "time.sleep(delay)\nlabkit.record('slept', delay)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.timeout(900)
def test_ctrl_c_keeps_the_finished_rows_and_leaves_no_kernel(tmp_path):
    """A sweep of one quick run and two that sleep for ten minutes, interrupted as a terminal's Ctrl-C
    does (SIGINT to the whole foreground process group) once the quick run's row is written and both
    slow kernels are running: exit code 130 with one `labkit: interrupted` line naming the rows kept,
    results.csv holding the finished row, and every kernel and runner gone."""
    import os
    import signal
    import time

    import pandas as pd
    import psutil
    nb = _sleeper(tmp_path / "sleep.ipynb")
    out, piddir = tmp_path / "out", tmp_path / "pids"
    piddir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "labkit.cli", "sweep", nb, "--grid", "delay=0,600,600",
                             "-p", "piddir", piddir, "--workers", "2", "--out", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not ((out / "results.csv").is_file() and len(list(piddir.glob("*.pid"))) == 3):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the sweep did not reach its slow runs in 300 s"
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        # the sweep's own shutdown bound: client.close(timeout=60) + cluster.close(timeout=60), plus slack:
        # on a loaded 2-core machine (two suites at once) the exit took over 180 s; alone it takes ~5 s
        _, err = proc.communicate(timeout=420)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err
    # Dask's own shutdown lines (heartbeat tracebacks from workers that got the SIGINT too) are silenced
    assert "Traceback" not in err and "distributed." not in err, err
    assert err.splitlines()[-1] == f"labkit: interrupted: {out / 'results.csv'} keeps the 1 run that finished", err
    table = pd.read_csv(out / "results.csv")
    assert list(table["run"]) == [0] and list(table["status"]) == ["ok"] and list(table["record.slept"]) == [0]
    pids = [int(x) for f in piddir.glob("*.pid") for x in f.read_text().split()]  # kernels and their runners
    deadline = time.monotonic() + 30
    while (alive := [p for p in pids if psutil.pid_exists(p)
                     and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not alive, f"kernels or runners outlived the interrupted sweep: {alive}"
