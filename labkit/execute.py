"""Run one notebook with papermill and collect its records: the unit that `labkit run`,
`labkit sweep`, the notebook tests and the gallery share."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.record import read_records

DEFAULT_TIMEOUT = 1800  # seconds per cell; papermill's own default is "never"


@dataclass(frozen=True)
class RunResult:
    """What one papermill run produced. status is "ok" or "failed"."""

    notebook: str
    output: str
    parameters: dict[str, Any]
    status: str
    records: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    traceback: str = ""
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_notebook(notebook: str | os.PathLike, output: str | os.PathLike,
                 parameters: dict[str, Any] | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                 kernel_name: str = "python3", cwd: str | os.PathLike | None = None,
                 log_output: bool = False) -> RunResult:
    """Execute `notebook` into `output` with papermill; never raises for a failing cell.

    The notebook runs with its own folder as working directory (unless `cwd` is given), kernel
    `python3`, and a per-cell `timeout` in seconds. A failing cell gives status "failed" with the
    exception line in `error` and the cell's traceback (ANSI colours removed) in `traceback`.
    """
    import papermill as pm

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook: no such file {notebook}")
    if notebook.suffix != ".ipynb":
        raise ValueError(f"notebook: expected an .ipynb file, got {notebook.name}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    parameters = dict(parameters or {})
    t0 = time.perf_counter()
    status, error, tb = "ok", "", ""
    try:
        pm.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name=kernel_name,
                            cwd=str(cwd or notebook.parent), progress_bar=False, log_output=log_output,
                            execution_timeout=timeout, request_save_on_cell_execute=False)
    except pm.PapermillExecutionError as e:
        status, error = "failed", f"{e.ename}: {e.evalue}"
        tb = _strip_ansi("\n".join(e.traceback))
    except Exception as e:  # kernel died, timeout, missing kernel, ...
        status, error = "failed", f"{type(e).__name__}: {e}"
        tb = _strip_ansi(_format_exc(e))
    duration = time.perf_counter() - t0
    records = read_records(output) if output.is_file() else {}
    return RunResult(str(notebook), str(output), parameters, status, records, error, tb, duration)


def run_notebook_subprocess(notebook: str | os.PathLike, output: str | os.PathLike,
                            parameters: dict[str, Any] | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                            wall_timeout: float | None = None) -> RunResult:
    """`run_notebook` in a fresh Python process, killed after `wall_timeout` seconds.

    Sweeps use this: a worker of Dask distributed runs tasks in threads beside its own event
    loop, and nbclient's kernel client driven from such a thread was seen to wait forever for
    a kernel that had gone idle. A child process isolates each run and makes a hang a failed row.
    """
    import json
    import subprocess
    import sys
    import tempfile

    parameters = dict(parameters or {})
    with tempfile.TemporaryDirectory(prefix="labkit-run-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "labkit.execute", str(notebook), str(output), "--timeout", str(timeout),
               "--parameters", json.dumps(parameters), "--result", str(result_file)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=wall_timeout)
        except subprocess.TimeoutExpired:
            return RunResult(str(notebook), str(output), parameters, "failed",
                             error=f"TimeoutError: run exceeded {wall_timeout} s", duration=time.perf_counter() - t0)
        if not result_file.is_file():
            return RunResult(str(notebook), str(output), parameters, "failed",
                             error=f"run process exited with code {proc.returncode}",
                             traceback=proc.stderr[-5000:], duration=time.perf_counter() - t0)
        return RunResult(**json.loads(result_file.read_text()))


def _main(argv=None) -> int:
    """`python -m labkit.execute NOTEBOOK OUTPUT --parameters JSON --result FILE`: one run,
    its RunResult written as JSON (the child side of `run_notebook_subprocess`)."""
    import argparse
    import dataclasses
    import json
    ap = argparse.ArgumentParser(prog="python -m labkit.execute")
    ap.add_argument("notebook")
    ap.add_argument("output")
    ap.add_argument("--parameters", default="{}")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    ap.add_argument("--result", required=True)
    args = ap.parse_args(argv)
    r = run_notebook(args.notebook, args.output, json.loads(args.parameters), timeout=args.timeout)
    tmp = Path(args.result).with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(r)))
    os.replace(tmp, args.result)
    return 0


def _format_exc(e: BaseException) -> str:
    import traceback
    return "".join(traceback.format_exception(type(e), e, e.__traceback__))


def _strip_ansi(text: str) -> str:
    import re
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def parse_value(text: str) -> Any:
    """A command-line value as papermill's `-p` reads it: numbers, booleans and null are inferred
    (YAML rules), anything else stays a string."""
    import yaml
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, str, list, dict)) or value is None else text


if __name__ == "__main__":
    raise SystemExit(_main())
