"""labkit.record / read_records: JSON conversion, the MIME output, reading back from a notebook."""

import json
import math

import nbformat
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import labkit
from labkit.execute import run_notebook
from labkit.records import MIME_TYPE, read_records, to_json


@pytest.mark.parametrize("first", ["import labkit", "import labkit.records, labkit.sweeps"])
def test_the_top_level_names_are_the_functions_loaded_on_first_use(first):
    """labkit.record/read_records/session_records/sweep load on first use (PEP 562); importing their
    modules first (what labkit.execute and the gallery do) does not put a module in a function's place."""
    import subprocess
    import sys
    code = (f"import sys; {first}; import labkit\n"
            "print('labkit.sweeps' in sys.modules)\n"
            "from labkit import record, sweep\n"
            "print(record is labkit.records.record, sweep is labkit.sweeps.sweep, "
            "labkit.read_records is labkit.records.read_records, callable(labkit.session_records), "
            "set(labkit.__all__) <= set(dir(labkit)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == [str(first != "import labkit")] + ["True"] * 5, out


def test_to_json_converts_numpy_scalars_and_arrays():
    value = {"a": np.float32(0.5), "b": np.int64(3), "c": np.bool_(True), "d": np.arange(4).reshape(2, 2),
             "e": [np.float64(1.5), None, "x"], "f": (1, 2)}
    out = to_json(value)
    assert out == {"a": 0.5, "b": 3, "c": True, "d": [[0, 1], [2, 3]], "e": [1.5, None, "x"], "f": [1, 2]}
    assert type(out["b"]) is int and type(out["a"]) is float and type(out["c"]) is bool
    json.dumps(out)  # plain JSON


def test_to_json_non_finite_become_strings():
    assert to_json([math.nan, math.inf, -np.inf]) == ["nan", "inf", "-inf"]


@pytest.mark.parametrize("bad, where", [(object(), "value"), ({"k": {1: 2}}, "value['k']"),
                                        (np.array(["a"], dtype=object), "value")])
def test_to_json_rejects_unrecordable_values_naming_them(bad, where):
    with pytest.raises(TypeError, match=where.replace("[", r"\[")):
        to_json(bad)


@given(arrays(np.float64, st.tuples(st.integers(0, 4), st.integers(1, 4)),
              elements=st.floats(-1e300, 1e300, allow_nan=False)))
def test_to_json_round_trips_finite_float_arrays(a):
    back = np.array(json.loads(json.dumps(to_json(a))), dtype=np.float64).reshape(a.shape)
    assert np.array_equal(back, a)


@pytest.mark.parametrize("key, error", [("", ValueError), ("a b", ValueError), ("x/y", ValueError),
                                        (3, TypeError), (None, TypeError)])
def test_record_rejects_bad_keys(key, error):
    with pytest.raises(error, match="^key:"):
        labkit.record(key, 1)


def test_to_json_refuses_self_containing_values():
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match=r"^value\[0\]"):
        to_json(loop)


def test_record_outside_a_notebook_returns_value_and_keeps_it():
    arr = np.array([1.0, 2.0])
    assert labkit.record("test.session", arr) is arr
    assert labkit.session_records()["test.session"] == [1.0, 2.0]


def test_records_round_trip_through_an_executed_notebook(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n: int = 3")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "import numpy as np, labkit\n"
        "labkit.record('n', np.int64(n))\n"
        "labkit.record('arr', np.linspace(0, 1, n))\n"
        "labkit.record('n', n * 10)  # a later record wins\n"
        "labkit.record('nested', {'ok': np.bool_(True), 'vals': [np.float32(0.25)]})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src = tmp_path / "t.ipynb"
    nbformat.write(nb, src)
    r = run_notebook(src, tmp_path / "out.ipynb", {"n": 5}, timeout=120)
    assert r.ok, r.traceback
    assert r.records == {"n": 50, "arr": [0.0, 0.25, 0.5, 0.75, 1.0], "nested": {"ok": True, "vals": [0.25]}}
    assert read_records(tmp_path / "out.ipynb") == r.records
    # stored under labkit's own MIME type, with a text fallback
    outs = [o for c in nbformat.read(tmp_path / "out.ipynb", 4).cells for o in c.get("outputs", [])]
    assert sum(MIME_TYPE in o.get("data", {}) for o in outs) == 4
    assert all("text/plain" in o["data"] for o in outs if MIME_TYPE in o.get("data", {}))


def test_read_records_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_records(tmp_path / "missing.ipynb")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a notebook"):
        read_records(bad)
    bad.write_text('{"cells": 3}')
    with pytest.raises(ValueError, match="not a notebook"):
        read_records(bad)
    with pytest.raises(ValueError, match="^path: .*a notebook file"):
        read_records(tmp_path)
    with pytest.raises(TypeError, match="^path:"):
        read_records(3)


def _notebook_with_output(data) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "display_data", "metadata": {}, "data": data}]}], "metadata": {}, "nbformat": 4,
        "nbformat_minor": 5})


@pytest.mark.parametrize("content, match", [
    (_notebook_with_output({MIME_TYPE: {"value": 1}}), "cell 0 output 0 is not an object with a str 'key'"),
    (_notebook_with_output({MIME_TYPE: {"key": 3, "value": 1}}), "str 'key'"),
    (_notebook_with_output({MIME_TYPE: {"key": "a"}}), "'value'"),
    (_notebook_with_output({MIME_TYPE: "{not json"}), "record in cell 0 output 0: invalid JSON"),
    (_notebook_with_output({MIME_TYPE: "[" * 100_000}), "nested too deeply"),
    (_notebook_with_output({MIME_TYPE: [1, 2]}), "not an object"),
    (_notebook_with_output([1]), "cell 0 output 0 is not a JSON object"),
    ('{"cells": [3]}', "cell 0 is a int"),
    ('{"cells": [{"cell_type": "code", "outputs": 5}]}', "outputs are a int"),
    ('{"cells": [{"cell_type": "code", "outputs": [7]}]}', "output 0 is not a JSON object"),
    ("[" * 100_000, "nested too deeply"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_read_records_names_what_is_malformed(tmp_path, content, match):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match="^path: .*" + match):
        read_records(path)
    good = _notebook_with_output({MIME_TYPE: {"key": "k", "value": [1]}})
    path.write_text(good)
    assert read_records(path) == {"k": [1]}


def test_read_records_of_unexecuted_notebook_is_empty(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("labkit.record('x', 1)")]
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert read_records(tmp_path / "a.ipynb") == {}
