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
from pathlib import Path
from typing import Any, Mapping, Sequence


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The cartesian product of `grid` ({name: [values]}) as a list of parameter dicts, in order."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"grid: expected a non-empty mapping of parameter -> values, got {grid!r}")
    for k, vs in grid.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(f"grid: parameter names must be identifiers, got {k!r}")
        if isinstance(vs, (str, bytes)) or not isinstance(vs, Sequence) or len(vs) == 0:
            raise ValueError(f"grid: values of {k!r} must be a non-empty list, got {vs!r}")
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def _run_point(notebook: str, output: str, params: dict, timeout: float, wall_timeout: float | None) -> dict:
    """Worker task: one papermill run in a child process, always returning a row (never raising)."""
    from labkit.execute import run_notebook_subprocess
    r = run_notebook_subprocess(notebook, output, params, timeout=timeout, wall_timeout=wall_timeout)
    return {"status": r.status, "error": r.error, "duration_s": round(r.duration, 3),
            "output": r.output, "records": r.records}


def sweep(notebook: str | os.PathLike, grid: Mapping[str, Sequence[Any]], *, out: str | os.PathLike = "build/sweep",
          scheduler: str | None = None, client=None, workers: int | None = None, timeout: float = 1800,
          progress: bool = True, fixed: Mapping[str, Any] | None = None, wall_timeout: float | None = None):
    """Run `notebook` at every point of `grid` on Dask; return a pandas DataFrame, one row per run.

    Columns: `run`, the grid parameters, `status` ("ok" | "failed"), `error`, `duration_s`,
    `output` (the executed notebook) and one `record.<key>` column per record. The table is also
    written to `<out>/results.csv`. `fixed` parameters are passed to every run but not varied.
    `workers` sets the LocalCluster size (default: number of cores); ignored with `scheduler`.
    `timeout` bounds each cell; `wall_timeout` (seconds) bounds a whole run, which then fails.
    """
    import pandas as pd
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    notebook = Path(notebook).resolve()
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook: no such file {notebook}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers: expected a positive integer, got {workers!r}")
    points = expand_grid(grid)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    fixed = dict(fixed or {})

    cluster = None
    own_client = client is None
    if client is None:
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                                   processes=True, dashboard_address=None)
            client = Client(cluster)
    rows: list[dict] = []
    try:
        futures = {}
        for i, p in enumerate(points):
            output = str(out / f"{notebook.stem}-run{i:03d}.ipynb")
            fut = client.submit(_run_point, str(notebook), output, {**fixed, **p}, timeout, wall_timeout, pure=False,
                                key=f"labkit-sweep-{notebook.stem}-{i}-{os.getpid()}-{id(points)}")
            futures[fut] = (i, p, output)
        bar = tqdm(total=len(points), desc=f"sweep {notebook.name}", disable=not progress)
        for fut in as_completed(futures):
            i, p, output = futures[fut]
            try:
                res = fut.result()
            except Exception as e:  # the task itself died (worker lost, ...): still a row
                res = {"status": "failed", "error": f"{type(e).__name__}: {e}", "duration_s": None,
                       "output": output, "records": {}}
            row = {"run": i, **p, "status": res["status"], "error": res["error"],
                   "duration_s": res["duration_s"], "output": res["output"]}
            for k, v in res["records"].items():
                row[f"record.{k}"] = v
            rows.append(row)
            bar.set_postfix(failed=sum(r["status"] != "ok" for r in rows))
            bar.update(1)
        bar.close()
    finally:
        if own_client:
            client.close()
        if cluster is not None:
            cluster.close()
    table = pd.DataFrame(rows).sort_values("run").reset_index(drop=True).convert_dtypes()
    _write_csv_atomic(table, out / "results.csv")
    return table


def _write_csv_atomic(table, path: Path) -> None:
    import json
    tmp = path.with_name(f".{path.name}.tmp")
    # lists and dicts (array records) are written as JSON so the CSV can be read back exactly
    as_text = table.map(lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v)
    as_text.to_csv(tmp, index=False)
    os.replace(tmp, path)
