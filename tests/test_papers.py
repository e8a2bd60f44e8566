"""The papers ledger: card validation against real notebooks and record keys, verdicts, the table."""

import json
from pathlib import Path

import pytest

from labkit.papers import check_cards, ledger, notebook_record_keys, read_card, verdict
from labkit.record import MIME_TYPE

ROOT = Path(__file__).resolve().parent.parent
CARD = """---
title: "A paper"
authors: ["A. Author"]
year: 2020
link: https://example.org/paper
claims:
  - quote: "the exact words"
    paper_value: 0.95
    notebook: {notebook}
    record: {record}
    compare: {{op: within, tol: 0.05}}
---
Notes.
"""


def test_real_cards_point_at_real_notebooks_and_keys():
    assert check_cards(ROOT / "papers", ROOT / "notebooks") == []
    assert (ROOT / "papers" / "README.md").is_file()


def test_welcome_notebook_record_keys_are_found_statically():
    keys = notebook_record_keys(ROOT / "notebooks" / "00_welcome.ipynb")
    assert {"knn1_accuracy", "relative_contrast", "accuracy_by_k"} <= keys


@pytest.mark.parametrize("notebook, record, problem", [
    ("00_welcome.ipynb", "knn1_accuracy", None),
    ("99_missing.ipynb", "knn1_accuracy", "does not exist"),
    ("00_welcome.ipynb", "no_such_key", "never records"),
])
def test_check_cards_fails_on_unknown_notebook_or_key(tmp_path, notebook, record, problem):
    (tmp_path / "paper.md").write_text(CARD.format(notebook=notebook, record=record))
    problems = check_cards(tmp_path, ROOT / "notebooks")
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0] and "paper.md" in problems[0]


@pytest.mark.parametrize("text, match", [
    ("no front matter", "no YAML front matter"),
    ("---\ntitle: x\n---\n", "missing fields"),
    ("---\ntitle: x\nauthors: []\nyear: 1\nlink: l\nclaims: []\n---\n", "non-empty list"),
    (CARD.format(notebook="a", record="b").replace("op: within", "op: roughly"), "compare.op"),
    (CARD.format(notebook="a", record="b").replace(", tol: 0.05", ""), "numeric tol"),
])
def test_read_card_errors(tmp_path, text, match):
    p = tmp_path / "c.md"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_card(p)


@pytest.mark.parametrize("compare, paper, ours, expected", [
    ({"op": "within", "tol": 0.05}, 0.95, 0.92, "reproduced"),
    ({"op": "within", "tol": 0.01}, 0.95, 0.92, "not reproduced"),
    ({"op": "rel_within", "tol": 0.1}, 100, 109, "reproduced"),
    ({"op": "rel_within", "tol": 0.1}, 100, 111, "not reproduced"),
    ({"op": "ge"}, 3, 3.5, "reproduced"), ({"op": "le"}, 3, 3.5, "not reproduced"),
    ({"op": "info"}, 3, 1, "info"), ({"op": "ge"}, 3, None, "missing"), ({"op": "ge"}, 3, "nan", "not reproduced"),
])
def test_verdict(compare, paper, ours, expected):
    assert verdict(compare, paper, ours) == expected


def test_ledger_reads_labkit_values_from_executed_notebooks(tmp_path):
    papers, runs = tmp_path / "papers", tmp_path / "runs"
    papers.mkdir()
    runs.mkdir()
    (papers / "p.md").write_text(CARD.format(notebook="00_welcome.ipynb", record="knn1_accuracy"))
    executed = {"cells": [{"cell_type": "code", "source": "", "outputs": [
        {"output_type": "display_data", "metadata": {},
         "data": {MIME_TYPE: {"key": "knn1_accuracy", "value": 0.97}}}]}]}
    (runs / "00_welcome.ipynb").write_text(json.dumps(executed))
    t = ledger(papers, runs)
    assert list(t.columns[:5]) == ["paper", "claim", "paper_value", "labkit_value", "verdict"]
    assert t.iloc[0]["labkit_value"] == 0.97 and t.iloc[0]["verdict"] == "reproduced"
    assert ledger(papers, tmp_path / "never-run").iloc[0]["verdict"] == "missing"
