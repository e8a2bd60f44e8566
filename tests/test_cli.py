"""The `labkit` command: run (records table, tracebacks, exit codes), papers, argument errors."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from labkit.cli import build_parser, main
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
    assert r.returncode == 1 and "no such file" in r.stderr


def test_papers_command_with_the_real_cards():
    assert main(["papers", "--records", str(ROOT / "build" / "nothing-here")]) == 0


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
