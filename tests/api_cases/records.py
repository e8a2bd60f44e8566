"""API cases for labkit.records (see tests/api_cases/__init__.py)."""

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from api_cases import Case

MODULES = ["labkit.records"]
R = "labkit.records"
MIME = "application/vnd.labkit.record+json"

_DIR = Path(tempfile.mkdtemp(prefix="labkit-api-record-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def _notebook(name: str, data, raw: bytes | None = None) -> str:
    path = _DIR / name
    if raw is not None:
        path.write_bytes(raw)
        return str(path)
    nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "execution_count": 1,
                     "outputs": [{"output_type": "display_data", "metadata": {}, "data": data}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return str(path)


GOOD = _notebook("good.ipynb", {MIME: {"key": "x", "value": [1, 2]}, "text/plain": "x"})
MALFORMED = [
    _notebook("no_key.ipynb", {MIME: {"value": 1}}),
    _notebook("bad_payload.ipynb", {MIME: "{not json"}),
    _notebook("deep.ipynb", {MIME: "[" * 100_000}),
    _notebook("latin1.ipynb", None, raw=b"\xff{}"),
    _notebook("not_nb.ipynb", None, raw=b"[1, 2]"),
]

CASES = [
    Case(R, "record", dict(key="api.case", value=1.5), bad={"key": ["", "a b", "x/y"], "value": [object()]},
         ok={"key": {"unknown value": "any name of letters, digits, '_', '.', '-' is a key"},
             "value": {"wrong type": "a string is a recordable value", "nan": "recorded as the string 'nan'",
                       "inf": "recorded as the string 'inf'"}}),
    Case(R, "to_json", dict(value=np.array([1.0, 2.0])), bad={"value": [object(), np.array(["a"], dtype=object)]},
         ok={"value": {"wrong type": "a string is JSON", "wrong shape": "arrays of any shape become nested lists",
                       "empty": "an empty array is the empty list", "nan": "NaN becomes the string 'nan'"}}),
    Case(R, "read_records", dict(path=GOOD), bad={"path": MALFORMED},
         ok={"path": {"unknown value": "a missing file raises FileNotFoundError, as open() does"}}),
    Case(R, "session_records", {}),
]
