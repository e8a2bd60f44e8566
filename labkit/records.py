"""Records: the results a notebook hands to tests, sweeps and the papers ledger.

`record(key, value)` shows the value as a display output of labkit's own MIME type
(`application/vnd.labkit.record+json`), so it is stored inside the executed notebook.
`read_records(path)` reads them back. This is the same idea as scrapbook's `glue`, without
its pandas/pyarrow dependencies.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np

from labkit.validate import check_instance, check_str, fail, type_fail

__all__ = ["MIME_TYPE", "record", "read_records", "session_records", "to_json"]

MIME_TYPE = "application/vnd.labkit.record+json"
MAX_DEPTH = 100  # deepest nesting of lists / dicts a record may have
MAX_NOTEBOOK_BYTES = 1 << 30  # largest notebook file read_records reads

#: records made in this process, in order (also useful outside a notebook)
_SESSION: dict[str, Any] = {}


def to_json(value: Any, *, _path: str = "value", _depth: int = 0) -> Any:
    """Convert `value` to plain JSON data (numpy scalars/arrays become numbers/lists).

    Raises TypeError naming the offending element when a value has no JSON form, ValueError when
    it is nested deeper than MAX_DEPTH (or contains itself).
    Non-finite floats become the strings "nan", "inf", "-inf" so the record stays valid JSON.
    """
    if _depth > MAX_DEPTH:
        raise fail(_path, f"data nested at most {MAX_DEPTH} deep (a list or dict that contains itself?)",
                   type(value).__name__, described=True)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if math.isfinite(f):
            return f
        return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise type_fail(_path, "a numpy array of bool, integer or float dtype", value)
        if value.ndim > MAX_DEPTH:
            raise fail(_path, f"an array of at most {MAX_DEPTH} dimensions", value)
        return to_json(value.tolist(), _path=_path, _depth=_depth)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise type_fail(_path, "a dict with str keys", k)
            out[k] = to_json(v, _path=f"{_path}[{k!r}]", _depth=_depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(v, _path=f"{_path}[{i}]", _depth=_depth + 1) for i, v in enumerate(value)]
    raise type_fail(_path, "a number, string, bool, None, numpy array, list or dict", value)


def record(key: str, value: Any) -> Any:
    """Record `value` under `key` in the running notebook and return `value` unchanged.

    The value is shown as a display output of MIME type ``application/vnd.labkit.record+json``
    holding ``{"key": key, "value": <JSON>}``; a later record with the same key wins.
    Outside IPython the record is kept in this process only (see `session_records`).
    """
    key = check_str("key", key)
    if not key or not key.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise fail("key", "a non-empty string of letters, digits, '_', '.', '-'", key)
    data = to_json(value)
    _SESSION[key] = data
    try:
        from IPython import get_ipython  # IPython is a kernel dependency, not UI code
        from IPython.display import display
    except ImportError:  # headless job without IPython
        return value
    if get_ipython() is not None:
        display({MIME_TYPE: {"key": key, "value": data},
                 "text/plain": f"labkit.record {key} = {_short(data)}"}, raw=True)
    return value


def _short(data: Any) -> str:
    text = json.dumps(data)
    return text if len(text) <= 80 else text[:77] + "..."


def session_records() -> dict[str, Any]:
    """The records made in this process so far (a copy)."""
    return dict(_SESSION)


def read_records(path: str | os.PathLike) -> dict[str, Any]:
    """Return ``{key: value}`` of every labkit record in an executed notebook file.

    Raises FileNotFoundError if the file is missing, and ValueError naming what is wrong if it is
    not a UTF-8 JSON notebook or one of its records is malformed.
    """
    path = Path(check_instance("path", path, (str, os.PathLike), "a notebook path (str or os.PathLike)"))
    if path.is_dir():
        raise fail("path", "a notebook file", f"the directory {path}", described=True)

    def bad(what: str) -> ValueError:
        return fail("path", "an executed notebook with well-formed labkit records", f"{path}: {what}", described=True)

    def parse(text: str, where: str) -> Any:
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise bad(f"{where}: invalid JSON ({e})") from None
        except RecursionError:
            raise bad(f"{where}: JSON nested too deeply to read") from None

    if path.is_file() and path.stat().st_size > MAX_NOTEBOOK_BYTES:  # before reading it into memory
        raise bad(f"{path.stat().st_size} bytes, more than the {MAX_NOTEBOOK_BYTES} a notebook may have here")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad(f"not UTF-8 text ({e})") from None
    nb = parse(text, "not a notebook")
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise bad("not a notebook (no 'cells' list)")
    records: dict[str, Any] = {}
    for i, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            raise bad(f"cell {i} is a {type(cell).__name__}, not a JSON object")
        if cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs", [])
        if not isinstance(outputs, list):
            raise bad(f"cell {i}'s outputs are a {type(outputs).__name__}, not a list")
        for j, out in enumerate(outputs):
            data = out.get("data", {}) if isinstance(out, dict) else None
            if not isinstance(data, dict):
                raise bad(f"cell {i} output {j} is not a JSON object with a 'data' object")
            payload = data.get(MIME_TYPE)
            if payload is None:
                continue
            if isinstance(payload, str):  # some writers store JSON MIME data as text
                payload = parse(payload, f"the record in cell {i} output {j}")
            if not isinstance(payload, dict) or not isinstance(payload.get("key"), str) or "value" not in payload:
                raise bad(f"the record in cell {i} output {j} is not an object with a str 'key' and a 'value'")
            records[payload["key"]] = payload["value"]
    return records
