"""Run one notebook with papermill and collect its records: the unit that `labkit run`,
`labkit sweep`, the notebook tests and the gallery share."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.atomic import atomic_write
from labkit.records import read_records
from labkit.validate import check_choice, check_float

DEFAULT_TIMEOUT = 1800  # seconds per cell; papermill's own default is "never"
#: Seconds a kernel may take to start and answer (papermill's default, 60 s, was seen to be short
#: with several kernels starting at once on a loaded 2-core machine: one took 40 s there).
KERNEL_START_TIMEOUT = 120


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
                 log_output: bool = False, transport: str | None = None, save_each_cell: bool = False) -> RunResult:
    """Execute `notebook` into `output` with papermill; never raises for a failing cell.

    The notebook runs with its own folder as working directory (unless `cwd` is given), kernel
    `python3`, and a per-cell `timeout` in seconds. A failing cell gives status "failed" with the
    exception line in `error` and the cell's traceback (ANSI colours removed) in `traceback`.
    The kernel is reached over Unix sockets in a folder of this run's own (`transport="ipc"`, the
    default where Unix sockets exist and their path fits), not over TCP ports that kernels started
    at the same moment by other processes (a sweep's runs) could also pick. `save_each_cell` writes
    `output` as each cell ends, so a run stopped from outside shows how far it got. The kernel client
    is `labkit.kernel_client.SlicedKernelClient`: a reply whose wakeup was lost is seen within a
    fraction of a second instead of at the cell timeout.
    """
    import tempfile

    import papermill as pm
    from traitlets.config import Config

    from labkit import kernel_client

    transport = _default_transport() if transport is None else check_choice("transport", transport, ("tcp", "ipc"))

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
        with tempfile.TemporaryDirectory(prefix="labkit-kernel-") as sockets:
            kernel = {"transport": transport}
            if transport == "ipc":  # sockets <sockets>/kernel-1 .. -5 (a relative ip would put them in cwd)
                kernel["ip"] = os.path.join(sockets, "kernel")
            pm.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name=kernel_name,
                                cwd=str(cwd or notebook.parent), progress_bar=False, log_output=log_output,
                                execution_timeout=timeout, start_timeout=KERNEL_START_TIMEOUT,
                                request_save_on_cell_execute=save_each_cell,
                                config=Config({"KernelManager": kernel, **kernel_client.CONFIG}))
    except pm.PapermillExecutionError as e:
        status, error = "failed", f"{e.ename}: {e.evalue}"
        tb = _strip_ansi("\n".join(e.traceback))
    except Exception as e:  # kernel died, timeout, missing kernel, ...
        status, error = "failed", f"{type(e).__name__}: {e}"
        tb = _strip_ansi(_format_exc(e))
    duration = time.perf_counter() - t0
    records = read_records(output) if output.is_file() else {}
    return RunResult(str(notebook), str(output), parameters, status, records, error, tb, duration)


def _default_transport() -> str:
    """"ipc" where Unix sockets exist and <tmp>/labkit-kernel-<8 characters>/kernel-<n> fits in a
    socket path (107 bytes), else "tcp"."""
    import tempfile
    return "ipc" if os.name == "posix" and len(tempfile.gettempdir()) + 33 <= 107 else "tcp"


#: Seconds a run may take beyond its cells: kernel start-up (KERNEL_START_TIMEOUT), the runner's
#: own start and imports, and kernel shutdown (jupyter_client waits 5 s before SIGKILL), with margin.
RUN_OVERHEAD = KERNEL_START_TIMEOUT + 60


def default_wall_timeout(notebook: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT) -> float:
    """The wall-clock bound of one run when none is given, in seconds:

        RUN_OVERHEAD + (code cells + 1) * timeout

    nbclient already stops any cell after `timeout` seconds, and papermill adds one cell (the
    injected parameters), so a run that is making progress can never reach this bound: one that
    does is hung outside every cell (a kernel that never answers, a frozen runner). With
    `--timeout 60`, 00_welcome.ipynb (10 code cells) is bounded to 180 + 11 * 60 s = 14 minutes.
    """
    import json
    timeout = check_float("timeout", timeout, 0, low_open=True)
    cells = json.loads(Path(notebook).read_text()).get("cells", [])
    n_code = sum(c.get("cell_type") == "code" for c in cells)
    return RUN_OVERHEAD + (n_code + 1) * timeout


def run_notebook_subprocess(notebook: str | os.PathLike, output: str | os.PathLike,
                            parameters: dict[str, Any] | None = None, *, timeout: float = DEFAULT_TIMEOUT,
                            wall_timeout: float | None = None) -> RunResult:
    """`run_notebook` in a fresh Python process (the runner), killed after `wall_timeout` seconds.

    Sweeps use this: a worker of Dask distributed runs tasks in threads beside its own event
    loop, and nbclient's kernel client driven from such a thread was seen to wait forever for
    a kernel that had gone idle (most likely the lost wakeup that `labkit.kernel_client` now
    bounds). A child process isolates each run and makes any hang a failed row.

    Nothing here waits for ever. `wall_timeout=None` means `default_wall_timeout(notebook, timeout)`.
    The runner's output goes to a file, not a pipe: the kernel inherits the runner's stdout and
    stderr, and a pipe held open by a kernel that outlives its runner never reaches end-of-file,
    so reading it would wait for that kernel. At the bound, or when the runner exits and leaves
    a process behind, the runner's process group and every group its descendants lead (the kernel
    runs in a session of its own) are killed: no kernel outlives its run. `output` is saved as each
    cell ends. A run stopped at its bound first has the runner write every thread's stack to its log
    (faulthandler); a run that produced no result leaves that log beside `output` (`<output>.log`,
    named in the error) and its last lines in `traceback`.
    """
    import json
    import subprocess
    import sys
    import tempfile

    parameters = dict(parameters or {})
    timeout = check_float("timeout", timeout, 0, low_open=True)
    if wall_timeout is None:
        wall_timeout = default_wall_timeout(notebook, timeout)
    wall_timeout = check_float("wall_timeout", wall_timeout, 0, low_open=True)
    with tempfile.TemporaryDirectory(prefix="labkit-run-", ignore_cleanup_errors=True) as tmp:
        result_file = Path(tmp) / "result.json"
        runtime = Path(tmp) / "runtime"
        cmd = [sys.executable, "-m", "labkit.execute", str(notebook), str(output), "--timeout", str(timeout),
               "--parameters", json.dumps(parameters), "--result", str(result_file)]
        # connection files (jupyter_client writes them with tempfile) and kernel sockets live and die
        # with this run, also when it is killed
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "TMPDIR": tmp}
        t0 = time.perf_counter()
        with open(Path(tmp) / "runner.log", "w+") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
            rc, seen = _wait_bounded(proc, wall_timeout)
            if rc is None:
                _dump_stacks(proc)
            _kill_groups(proc, seen, hung=rc is None)  # a hung runner, and anything a run left behind
            log.seek(0)
            log_text = log.read()
        duration = time.perf_counter() - t0
        if rc is not None and result_file.is_file():
            return RunResult(**json.loads(result_file.read_text()))
        kept = _keep_log(log_text, output)
        if rc is None:
            error = (f"TimeoutError: run exceeded its wall-clock bound of {wall_timeout:g} s "
                     f"(cell timeout {timeout:g} s); the runner and its kernel were killed")
        else:
            error = f"run process exited with code {rc}"
        return RunResult(str(notebook), str(output), parameters, "failed", error=error + kept,
                         traceback=log_text[-5000:], duration=duration)


def _dump_stacks(proc) -> None:
    """Ask a hung runner for every thread's stack (SIGUSR1: faulthandler, registered in `_main`,
    writes them to its log) and give it a moment to write before it is killed."""
    import signal
    try:
        os.kill(proc.pid, signal.SIGUSR1)
        proc.wait(timeout=2)
    except Exception:
        pass


def _keep_log(log_text: str, output: str | os.PathLike) -> str:
    """Write a failed run's runner log to `<output>.log`; return the words naming it for the error."""
    path = Path(f"{output}.log")
    try:
        with atomic_write(path, "w") as f:
            f.write(log_text)
    except OSError:
        return ""
    return f" (runner log: {path})"


def _wait_bounded(proc, wall_timeout: float):
    """Wait for `proc` at most `wall_timeout` s; return (exit code or None, processes seen below it).

    The runner's descendants (the kernel and whatever it starts) are recorded once a second while
    it runs: a kernel orphaned by a crashed runner can still be found and killed afterwards."""
    import subprocess

    import psutil
    deadline = time.monotonic() + wall_timeout
    seen: dict[int, Any] = {}
    while True:
        try:
            return proc.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic()))), seen
        except subprocess.TimeoutExpired:
            pass
        try:
            for p in psutil.Process(proc.pid).children(recursive=True):
                seen.setdefault(p.pid, p)
        except psutil.Error:
            pass
        if time.monotonic() >= deadline:
            return None, seen


def _kill_groups(proc, seen: dict, hung: bool) -> None:
    """SIGKILL the group and process of every descendant still alive (psutil's is_running() compares
    start times, so a reused pid is never hit) and, when `hung`, the runner's own group (it is not
    reaped yet, so its pid cannot have been reused); then reap them."""
    import signal

    import psutil
    alive = [p for p in seen.values() if p.is_running()]
    if not hung and not alive:
        return
    groups = {proc.pid} if hung else set()  # start_new_session: the runner leads its own group
    for p in alive:
        try:
            groups.add(os.getpgid(p.pid))
        except OSError:
            pass
    groups.discard(os.getpgrp())  # never our own group
    for g in groups:
        try:
            os.killpg(g, signal.SIGKILL)
        except OSError:
            pass
    for p in alive:  # one that left its group
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        proc.wait(timeout=30)
    except Exception:
        pass
    psutil.wait_procs(alive, timeout=30)


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
    _exit_with_parent(os.getppid())
    _stacks_on_request()
    r = run_notebook(args.notebook, args.output, json.loads(args.parameters), timeout=args.timeout,
                     save_each_cell=True)
    with atomic_write(args.result, "w") as f:
        f.write(json.dumps(dataclasses.asdict(r)))
    return 0


def _stacks_on_request() -> None:
    """SIGUSR1 makes the runner write every thread's Python stack to stderr (its log): where a run
    stopped at its wall-clock bound was waiting."""
    import faulthandler
    import signal
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, all_threads=True)


def _exit_with_parent(parent_pid: int) -> None:
    """The runner's watch on its parent (a sweep worker): when the parent is gone (killed with its
    sweep), kill the kernel's process group and exit, rather than run on as an orphan. The kernel
    itself watches the runner the same way (ipykernel's ParentPollerUnix)."""
    import signal
    import threading

    def watch():
        import psutil
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        for p in psutil.Process().children(recursive=True):
            try:
                group = os.getpgid(p.pid)
                if group != os.getpgrp():  # the kernel's own session; never the runner's group
                    os.killpg(group, signal.SIGKILL)
                p.kill()
            except (OSError, psutil.Error):
                pass
        os._exit(3)

    threading.Thread(target=watch, name="labkit-parent-watch", daemon=True).start()


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
