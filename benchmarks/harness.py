"""The benchmark convention: labkit and its anchor side by side in one process.

`compare(labkit_fn, anchor_fn)` alternates A/B calls (so drift in machine load hits both), takes
the median of >= 5 timed runs each after a warm-up, and reports the ratio labkit / anchor
(< 1 means labkit is faster). `machine()` names the machine the ratio was measured on.
`median_time(fn)` and `median_over(fn, values)` time what has no anchor beside it (the inspectors'
page builds and redraws: the figures the widget tests once asserted as budgets are printed here).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Callable


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numpy
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, {platform.system()} {platform.release()}")


def compare(labkit_fn: Callable[[], object], anchor_fn: Callable[[], object], repeats: int = 7,
            warmup: int = 1) -> dict:
    """Median seconds of each and their ratio; the calls alternate A, B, A, B, ..."""
    if repeats < 5:
        raise ValueError(f"repeats: the convention is a median of at least 5 runs, got {repeats}")
    for _ in range(warmup):
        labkit_fn()
        anchor_fn()
    a, b = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        labkit_fn()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        anchor_fn()
        b.append(time.perf_counter() - t)
    la, lb = statistics.median(a), statistics.median(b)
    return {"labkit_s": la, "anchor_s": lb, "ratio": la / lb, "repeats": repeats}


def median_time(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median seconds of `repeats` calls after one warm-up call (for timings with no anchor beside them)."""
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def median_over(fn: Callable[[object], object], values) -> float:
    """Median seconds of fn(v), one call per value of `values` in turn (a slider moved through them;
    each value is a different redraw, so there is no warm-up call)."""
    ts = []
    for v in values:
        t = time.perf_counter()
        fn(v)
        ts.append(time.perf_counter() - t)
    if not ts:
        raise ValueError("values: expected at least one value, got none")
    return statistics.median(ts)


def anchor_venv(venv, requirements: list[str]):
    """The python of a virtual environment of its own for an anchor that cannot share labkit's (e.g.
    Brian2 needs numpy < 2.3), created at `venv` with `requirements` on first use; None if pip fails."""
    import subprocess
    import sys
    from pathlib import Path
    venv = Path(venv)
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv} ({', '.join(requirements)}) ...", file=sys.stderr)
        subprocess.run([str(Path(sys.base_prefix) / "bin" / "python3"), "-m", "venv", str(venv)], check=True)
        r = subprocess.run([str(py), "-m", "pip", "install", "--quiet", *requirements], capture_output=True, text=True)
        if r.returncode:
            print(f"installing {requirements} failed: {r.stderr[-500:]}", file=sys.stderr)
            return None
    return py



class AnchorWorker:
    """A long-lived anchor process (e.g. in its anchor_venv) that runs once per "go" line on its stdin
    and answers one JSON line; subclasses start it as self.p (text pipes)."""

    close_timeout = 60  # seconds the worker is given to exit once its stdin closes

    def request(self) -> dict:
        import json
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        return json.loads(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=self.close_timeout)
