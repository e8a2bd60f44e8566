"""The rules of the house (DESIGN.md): labkit never imports UI code, files stay small,
shipped data is documented, environment.yml mirrors pyproject.toml."""

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
UI = {"widgets", "panel", "holoviews", "bokeh", "ipywidgets", "jupyter_bokeh", "param"}


def test_import_labkit_leaves_the_ui_unimported():
    code = ("import sys, pkgutil, importlib, labkit\n"
            "for m in pkgutil.iter_modules(labkit.__path__):\n"
            "    importlib.import_module('labkit.' + m.name)\n"
            f"print(sorted(m for m in {sorted(UI)!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _imports(tree, top_level_only=False):
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def test_labkit_source_has_no_ui_imports_even_lazy():
    for path in (ROOT / "labkit").rglob("*.py"):
        tree = ast.parse(path.read_text())
        # cli.py is the top floor: its serve command may import the UI lazily, never at module level
        found = set(_imports(tree, top_level_only=path.name == "cli.py")) & UI
        assert not found, f"{path.relative_to(ROOT)} imports UI modules {found}"


def test_no_source_file_over_400_lines():
    for folder in ("labkit", "widgets", "benchmarks", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            n = len(path.read_text().splitlines())
            assert n <= 400, f"{path.relative_to(ROOT)} has {n} lines; split it by concept"


def test_every_shipped_dataset_file_is_listed_in_the_readme():
    readme = (ROOT / "datasets" / "README.md").read_text()
    for path in (ROOT / "datasets").rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert path.name in readme, f"datasets/{path.name} lacks an origin/licence entry in datasets/README.md"


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for _extra, reqs in project["optional-dependencies"].items():
        wanted |= {_name(r) for r in reqs if not r.startswith("labkit")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have = set()
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            have.add(_name(dep.replace("pytorch", "torch")))
        else:
            have |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-e")}
    have = {{"dask-distributed": "dask", "distributed": "dask"}.get(h, h) for h in have}
    missing = wanted - have - {"python"}
    assert not missing, f"environment.yml lacks {sorted(missing)} (declared in pyproject.toml)"
    assert "torch==2.13.0" in project["dependencies"], "torch must stay pinned to the on-disk CPU build"
