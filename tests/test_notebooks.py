"""Notebooks are tests: the hygiene gate, then every notebook executed with papermill at the
small CI parameters of notebooks/ci-params.yaml, with assertions on the records it makes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest
import yaml

from labkit.execute import run_notebook

ROOT = Path(__file__).resolve().parent.parent
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
CI_PARAMS = yaml.safe_load((NB_DIR / "ci-params.yaml").read_text()) or {}
TIMEOUT = 600  # seconds per cell at CI size


def notebook_problems(nb: dict) -> list[str]:
    """Why a committed notebook fails the gate (empty list when it passes)."""
    problems = []
    if nb.get("metadata", {}).get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec name is not 'python3'")
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    for i, c in enumerate(nb.get("cells", [])):
        if c.get("cell_type") == "code" and (c.get("outputs") or c.get("execution_count") is not None):
            problems.append(f"cell {i} has outputs or an execution count (strip them: nbstripout)")
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not code or not tagged or tagged[0] is not code[0]:
        problems.append("the first code cell is not tagged 'parameters'")
    elif _untyped_parameters(tagged[0]):
        problems.append(f"parameters without a type hint: {_untyped_parameters(tagged[0])}")
    return problems


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _untyped_parameters(cell) -> list[str]:
    tree = ast.parse(_source(cell))
    return [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
            if isinstance(t, ast.Name)]


def parameter_names(path: Path) -> set[str]:
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    return {n.target.id for n in ast.parse(_source(cell)).body if isinstance(n, ast.AnnAssign)}


# -- the gate ---------------------------------------------------------------------------------

def test_there_are_notebooks():
    assert (NB_DIR / "00_welcome.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_clean(path):
    assert notebook_problems(json.loads(path.read_text())) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_passes_nbstripout_verify(path):
    """The same check as the git filter: no outputs, no execution counts, no stray metadata."""
    import subprocess
    import sys
    nbstripout = Path(sys.executable).parent / "nbstripout"
    r = subprocess.run([str(nbstripout), "--verify", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, f"{path.name}: run `nbstripout {path}` ({r.stdout.strip()})"


def _nb(first_source="x: int = 1", tags=("parameters",), kernel="python3", outputs=None):
    nb = nbformat.v4.new_notebook()
    c = nbformat.v4.new_code_cell(first_source)
    c.metadata["tags"] = list(tags)
    d = nbformat.v4.new_code_cell("print(x)")
    if outputs:
        d.outputs = outputs
        d.execution_count = 1
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), c, d]
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    return json.loads(nbformat.writes(nb))


@pytest.mark.parametrize("nb, problem", [
    (_nb(), None),
    (_nb(kernel="conda-env-x"), "kernelspec"),
    (_nb(tags=()), "not tagged 'parameters'"),
    (_nb(first_source="x = 1"), "without a type hint: ['x']"),
    (_nb(outputs=[nbformat.v4.new_output("stream", text="1\n")]), "has outputs"),
])
def test_gate_catches_each_problem(nb, problem):
    problems = notebook_problems(nb)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_ci_params_name_real_notebooks_and_parameters():
    """papermill only warns on an unknown parameter; here a typo is an error."""
    for name, params in CI_PARAMS.items():
        assert (NB_DIR / name).is_file(), f"ci-params.yaml names missing notebook {name}"
        unknown = set(params or {}) - parameter_names(NB_DIR / name)
        assert not unknown, f"ci-params.yaml: {name} has no parameters {sorted(unknown)}"


# -- execution ----------------------------------------------------------------------------------

def check_00_welcome(r: dict, params: dict):
    assert r["dataset"] == params["dataset"]
    assert r["n_queries"] == params["n_queries"]
    assert r["dim"] == 64 and r["n_train"] == 1597
    assert r["max_rel_distance_error_vs_sklearn"] < 1e-9
    assert 0.9 <= r["id_agreement_vs_sklearn"] <= 1.0          # ids differ only at ties
    assert r["relative_contrast"] > 1.5                        # digits are clustered
    assert len(r["accuracy_by_k"]) == params["k_max"]
    assert r["knn1_accuracy"] == r["accuracy_by_k"][0] > 0.95


def check_01_hnsw(r: dict, params: dict):
    assert r["n_train"] == params["n"] and r["efs"] == params["efs"]
    assert all(abs(a - b) <= 0.01 for a, b in zip(r["recall_by_ef"], r["recall_hnswlib_by_ef"], strict=True))
    assert r["recall_by_ef"][-1] > 0.95                      # ef=50 on 2000 16-d vectors
    assert min(r["same_ids_by_ef"]) >= 0.99
    assert r["identical_levels"] is True and r["identical_layer0_lists"] >= 0.95
    assert r["hnswlib_file_same_ids"] >= 0.99 and r["deleted_returned"] == 0
    assert r["distances_per_query_by_ef"][0] < r["distances_per_query_by_ef"][-1] < params["n"]
    assert r["heuristic_recall_gain_clustered"] >= 0
    assert 0 < r["scaling_exponent"] < 0.5


#: one record check per notebook: a new notebook must add its own
CHECKS = {"00_welcome.ipynb": check_00_welcome, "01_hnsw.ipynb": check_01_hnsw}


def test_every_notebook_has_checks_and_ci_params():
    for nb in NOTEBOOKS:
        assert nb.name in CHECKS, f"add a record check for {nb.name} in tests/test_notebooks.py"
        assert nb.name in CI_PARAMS, f"add small CI parameters for {nb.name} in notebooks/ci-params.yaml"


@pytest.mark.notebook
@pytest.mark.timeout(TIMEOUT * 2)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    params = CI_PARAMS.get(path.name) or {}
    r = run_notebook(path, tmp_path / path.name, params, timeout=TIMEOUT)
    assert r.ok, f"{path.name} failed: {r.error}\n{r.traceback}"
    CHECKS[path.name](r.records, params)
