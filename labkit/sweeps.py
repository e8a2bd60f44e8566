"""Parameter sweeps: a notebook run over a cartesian grid with papermill on Dask distributed.

A LocalCluster is started by default; `scheduler="tcp://host:8786"` (or `client=`) uses an
existing cluster, in which case `out` must be a path every worker can write (a shared file
system, or an fsspec URL such as s3://... that papermill understands).
Every grid point gives one row: its parameters, its records, its status and its error.
A failed point is reported, never dropped.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

from labkit.atomic import atomic_write
from labkit.execute import DEFAULT_TIMEOUT, default_wall_timeout
from labkit.validate import check_float, check_int, fail


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of `grid` ({name: [values]}) as a list of parameter dicts, in order."""
    if not isinstance(grid, Mapping) or not grid:
        raise fail("grid", "a non-empty mapping of parameter -> values", grid)
    for k, vs in grid.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise fail("grid", "parameter names that are identifiers", k)
        if isinstance(vs, (str, bytes)) or not isinstance(vs, Sequence) or len(vs) == 0:
            raise fail(f"grid[{k!r}]", "a non-empty list of values", vs)
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def check_notebook(notebook: str | os.PathLike) -> Path:
    """`notebook` as an absolute Path, checked to be an existing Jupyter notebook file (JSON with a
    list of cells); FileNotFoundError when it is missing, ValueError when it is not a notebook."""
    import json
    path = Path(notebook)
    if not path.exists():
        raise FileNotFoundError(f"notebook: no such file {path}")
    if not path.is_file():
        raise fail("notebook", "a notebook file", str(path))
    if path.suffix != ".ipynb":
        raise fail("notebook", "an .ipynb file", str(path))
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise fail("notebook", "a Jupyter notebook (JSON)", f"{path}, which is not JSON ({e})",
                   described=True) from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list) or "nbformat" not in nb:
        raise fail("notebook", "a Jupyter notebook (JSON with 'cells' and 'nbformat')", f"{path}", described=True)
    return path.resolve()


def notebook_parameters(notebook: str | os.PathLike) -> list[str] | None:
    """The names the notebook's `parameters` cell assigns, in order (papermill's contract: a run may
    set only these); None when the notebook has no cell tagged `parameters`.

    The cell is read with Python's own parser (IPython magics and shell lines skipped); a cell that
    does not parse falls back to papermill's line-based inspection."""
    import ast
    import json
    nb = json.loads(check_notebook(notebook).read_text(encoding="utf-8"))
    cell = next((c for c in nb["cells"] if "parameters" in (c.get("metadata", {}).get("tags") or [])), None)
    if cell is None:
        return None
    src = cell.get("source", "")
    src = "".join(src) if isinstance(src, list) else str(src)
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in src.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:
        import papermill as pm
        return list(pm.inspect_notebook(str(notebook)))
    names: list[str] = []

    def add(target):
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                add(t)

    for node in tree.body:
        for t in (node.targets if isinstance(node, ast.Assign) else
                  [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []):
            add(t)
    return list(dict.fromkeys(names))


def check_parameters(notebook: str | os.PathLike, names, name: str = "parameters") -> None:
    """ValueError naming the first of `names` that `notebook`'s parameters cell does not declare
    (papermill would inject it unused and the run would succeed without it)."""
    declared = notebook_parameters(notebook)
    for k in names:
        if not isinstance(k, str) or not k.isidentifier():
            raise fail(name, "parameter names that are Python identifiers", k)
        if declared is None:
            raise fail(name, f"a parameter declared in a cell tagged 'parameters' ({Path(notebook).name} has none)", k)
        if k not in declared:
            raise fail(name, f"a parameter that {Path(notebook).name} declares ({', '.join(declared)})", k)


def _run_point(notebook: str, output: str, params: dict, timeout: float, wall_timeout: float) -> dict:
    """Worker task: one papermill run in a child process, always returning a row (never raising)."""
    from labkit.execute import run_notebook_subprocess
    r = run_notebook_subprocess(notebook, output, params, timeout=timeout, wall_timeout=wall_timeout)
    return {"status": r.status, "error": r.error, "duration_s": round(r.duration, 3),
            "output": r.output, "records": r.records}


#: Seconds the sweep allows each run beyond its wall-clock bound (killing a hung run and reaping
#: it takes at most 60 s) and the sweep itself (cluster start and shutdown).
_KILL_GRACE = 60
_SWEEP_OVERHEAD = 300


def local_cluster(workers: int):
    """The Dask LocalCluster a sweep (and the gallery) starts: `workers` processes of one thread, no
    dashboard, and Dask's own log lines silenced below CRITICAL, in the workers too. Every outcome of
    a run is a row of the table (a lost worker included), while Dask's lines are noise about its own
    shutdown: a Ctrl-C, which reaches the workers too, made them print heartbeat tracebacks."""
    import logging

    from dask.distributed import LocalCluster
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                        silence_logs=logging.CRITICAL)


def sweep(notebook: str | os.PathLike, grid: Mapping[str, Sequence[Any]], *, out: str | os.PathLike = "build/sweep",
          scheduler: str | None = None, client=None, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT,
          progress: bool = True, fixed: Mapping[str, Any] | None = None, wall_timeout: float | None = None):
    """Run `notebook` at every point of `grid` on Dask; return a pandas DataFrame, one row per run.

    Columns: `run`, the grid parameters, `status` ("ok" | "failed"), `error`, `duration_s`,
    `output` (the executed notebook) and one `record.<key>` column per record. The table is
    written to `<out>/results.csv` as each run finishes (an interrupted sweep keeps the rows it
    has). `fixed` parameters are passed to every run but not varied; every grid and fixed name
    must be one the notebook's `parameters` cell declares, and none may be in both. `workers` sets the
    LocalCluster size (default: number of cores); ignored with `scheduler`.

    Nothing waits for ever. `timeout` bounds each cell (seconds). `wall_timeout` bounds a whole run;
    by default it is `labkit.execute.default_wall_timeout(notebook, timeout)`, i.e.
    180 + (code cells + 1) * timeout, a bound a run making progress never reaches. A run past it
    is killed with its kernel (their process groups) and becomes a failed row saying so. The sweep
    as a whole waits at most n_points * (wall_timeout + 60) + 300 s for Dask (as if every run ran
    one after another): a point whose task never resolves (a lost worker, ...) is a failed row too.
    """
    import pandas as pd
    from dask.distributed import Client, as_completed
    from dask.distributed import TimeoutError as DaskTimeoutError
    from tqdm.auto import tqdm

    notebook = check_notebook(notebook)
    if workers is not None:
        workers = check_int("workers", workers, low=1)
    timeout = check_float("timeout", timeout, 0, low_open=True)
    if wall_timeout is None:
        wall_timeout = default_wall_timeout(notebook, timeout)
    wall_timeout = check_float("wall_timeout", wall_timeout, 0, low_open=True)
    points = expand_grid(grid)
    fixed = dict(fixed or {})
    both = [k for k in grid if k in fixed]
    if both:
        raise fail("fixed", "parameters that are not also in grid", both[0])
    check_parameters(notebook, list(grid), "grid")
    check_parameters(notebook, list(fixed), "fixed")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + len(points) * (wall_timeout + _KILL_GRACE) + _SWEEP_OVERHEAD

    cluster = None
    own_client = client is None
    if client is None:
        if scheduler:
            client = Client(scheduler, timeout=_SWEEP_OVERHEAD)
        else:
            cluster = local_cluster(workers or os.cpu_count() or 1)
            client = Client(cluster)
    rows: list[dict] = []

    def add_row(i, p, res):
        row = {"run": i, **p, "status": res["status"], "error": res["error"],
               "duration_s": res["duration_s"], "output": res["output"]}
        for k, v in res["records"].items():
            row[f"record.{k}"] = v
        rows.append(row)
        _write_csv_atomic(_table(pd, rows), out / "results.csv")

    try:
        futures = {}
        for i, p in enumerate(points):
            output = str(out / f"{notebook.stem}-run{i:03d}.ipynb")
            fut = client.submit(_run_point, str(notebook), output, {**fixed, **p}, timeout, wall_timeout, pure=False,
                                key=f"labkit-sweep-{notebook.stem}-{i}-{os.getpid()}-{uuid.uuid4().hex}")
            futures[fut] = (i, p, output)
        bar = tqdm(total=len(points), desc=f"sweep {notebook.name}", disable=not progress)
        pending = dict(futures)
        try:
            for fut in as_completed(futures, timeout=max(1.0, deadline - time.monotonic())):
                i, p, output = pending.pop(fut)
                try:
                    res = fut.result(timeout=60)
                except Exception as e:  # the task itself died (worker lost, ...): still a row
                    res = {"status": "failed", "error": f"{type(e).__name__}: {e}", "duration_s": None,
                           "output": output, "records": {}}
                add_row(i, p, res)
                bar.set_postfix(failed=sum(r["status"] != "ok" for r in rows))
                bar.update(1)
        except (DaskTimeoutError, TimeoutError):
            for fut, (i, p, output) in sorted(pending.items(), key=lambda kv: kv[1][0]):
                fut.cancel()
                add_row(i, p, {"status": "failed", "duration_s": None, "output": output, "records": {},
                               "error": "TimeoutError: no result from Dask within the sweep's bound "
                                        f"({len(points)} x ({wall_timeout:g} + {_KILL_GRACE}) + "
                                        f"{_SWEEP_OVERHEAD} s)"})
        finally:
            bar.close()  # also on Ctrl-C: the bar's last line comes before the caller's message
    finally:
        if own_client:
            client.close(timeout=60)
        if cluster is not None:
            cluster.close(timeout=60)
    return _table(pd, rows)


def _table(pd, rows: list[dict]):
    return pd.DataFrame(rows).sort_values("run").reset_index(drop=True).convert_dtypes()


def _write_csv_atomic(table, path: Path) -> None:
    """Write `table` to `path` atomically (labkit.atomic: a temporary of this writer's own, renamed over it)."""
    import json
    # lists and dicts (array records) are written as JSON so the CSV can be read back exactly
    as_text = table.map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    with atomic_write(path, "w") as f:
        as_text.to_csv(f, index=False)
