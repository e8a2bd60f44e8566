"""The papers ledger: card validation against real notebooks and record keys, verdicts, the table,
and its views (100-column terminal table, markdown, the gallery's HTML fragment)."""

import json
from pathlib import Path

import pytest

from labkit.papers import check_cards, format_value, ledger, notebook_record_keys, read_card, rule_words, verdict
from labkit.papers_view import HINT, ledger_html, ledger_markdown, terminal_table
from labkit.records import MIME_TYPE

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


# --- the views: terminal table, markdown, HTML --------------------------------------------------

def _executed(path: Path, records: dict):
    """A minimal executed notebook holding `records` as labkit record outputs."""
    outputs = [{"output_type": "display_data", "metadata": {}, "data": {MIME_TYPE: {"key": k, "value": v}}}
               for k, v in records.items()]
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "", "outputs": outputs}]}))


def _all_records(runs: Path, value=0.4321, skip=()):
    """Executed notebooks in `runs` recording `value` under every key the real cards name."""
    runs.mkdir(exist_ok=True)
    keys: dict[str, dict] = {}
    for t in ledger(ROOT / "papers", runs).itertuples():
        keys.setdefault(t.notebook, {})[t.record] = value
    for nb, recs in keys.items():
        if nb not in skip:
            _executed(runs / nb, recs)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("state", ["no records", "all records", "some records"])
def test_terminal_table_fits_100_columns_and_quotes_every_claim_in_full(tmp_path, state):
    runs = tmp_path / "runs"
    if state != "no records":
        _all_records(runs, skip=("04_pim.ipynb",) if state == "some records" else ())
    table = ledger(ROOT / "papers", runs)
    text = terminal_table(table)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    flat = _flat(text)
    for quote in table["claim"].unique():
        assert f"“{_flat(quote)}”" in flat  # whole, in order: never cut mid-word
    for rule, record in zip(table["rule"], table["record"], strict=True):
        assert _flat(rule) in flat and record in flat
    assert "…" not in text and "..." not in text
    if state == "all records":
        assert "0.432" in text and "no result yet" not in text
    if state == "some records":
        assert text.count("no result yet") == (table["notebook"] == "04_pim.ipynb").sum()


def test_terminal_table_narrow_width_still_wraps_whole_words():
    table = ledger(ROOT / "papers", ROOT / "build" / "nothing-here")
    text = terminal_table(table, width=72)
    assert max(len(line) for line in text.splitlines()) <= 72
    for quote in table["claim"].unique():
        assert f"“{_flat(quote)}”" in _flat(text)


def test_hint_without_and_with_records(tmp_path):
    runs = tmp_path / "runs"
    empty = terminal_table(ledger(ROOT / "papers", runs))
    assert empty.splitlines()[0] == HINT and empty.count(HINT) == 1
    assert "make gallery" in HINT and "--out build/gallery" in HINT and len(HINT) <= 100
    assert "missing" not in empty and "no result yet" not in empty and "labkit " + "—" not in empty
    assert "knn1" not in empty and "scaling_log_r2" in empty  # the rows are still listed
    named = terminal_table(ledger(ROOT / "papers", runs), records="elsewhere/runs")
    assert named.splitlines()[0] == "no results yet in elsewhere/runs: `labkit run --out elsewhere/runs <notebook>`"
    _all_records(runs)
    full = terminal_table(ledger(ROOT / "papers", runs))
    assert "no results yet" not in full and "pass" in full and "fail" in full


@pytest.mark.parametrize("compare, paper, record, expected", [
    ({"op": "ge", "means": "per-channel keys no worse"}, 1.0, "attn_err_ratio_per_token_k_2bit",
     "labkit's ratio ≥ 1: per-channel keys no worse"),
    ({"op": "le"}, 0.01, "union_segment_error", "labkit's error ≤ 0.01"),
    ({"op": "le"}, 0.03, "union_mc_max_rel_err", "labkit's relative error ≤ 0.03"),
    ({"op": "within", "tol": 0.02}, 0.0, "ts_multi_tau_slope", "labkit's slope within ±0.02 of 0"),
    ({"op": "rel_within", "tol": 0.25, "means": "over NPU-only"}, 2.4, "neupims_over_npu_median",
     "labkit's ratio within ±25% of 2.4 (1.8 to 3): over NPU-only"),
    ({"op": "info"}, 152.83, "lsm_training_cost_ratio", "the paper's 152.83, shown beside labkit's (not judged)"),
    ({"op": "info"}, "logarithmic (no number given)", "scaling_exponent",
     "the paper's logarithmic (no number given), shown beside labkit's (not judged)"),
    ({"op": "ge"}, 130, "ei_best_gain_pct", "labkit's gain (%) ≥ 130"),
    ({"op": "ge"}, 0.0, "ppl_delta_streaming_minus_h2o", "labkit's difference ≥ 0"),
    ({"op": "ge"}, 0.95, "scaling_log_r2", "labkit's R² ≥ 0.95"),
    ({"op": "ge"}, 41, "pimgpt_speedup_max", "labkit's speed-up ≥ 41"),
    ({"op": "ge"}, 0.5, "something_else", "labkit's value ≥ 0.5"),
])
def test_rule_words(compare, paper, record, expected):
    assert rule_words(compare, paper, record) == expected


def test_every_real_claim_says_what_passing_means():
    table = ledger(ROOT / "papers", ROOT / "build" / "nothing-here")
    assert all(": " in r for r in table["rule"]), "a card claim without compare.means"


@pytest.mark.parametrize("value, compare, paper, shown", [
    (1.3512, None, None, "1.35"), (0.0123456, None, None, "0.0123"), (0.2, None, None, "0.2"),
    (0.99996, None, None, "1.00"), (3.0, None, None, "3"), (7, None, None, "7"), (None, None, None, ""),
    ("nan", None, None, "nan"), (1.234e-7, None, None, "1.23e-07"), ([0.12345, 2.0], None, None, "[0.123, 2]"),
    # more digits where rounding would cross the paper's threshold
    (0.99996, {"op": "ge"}, 1.0, "0.99996"), (1.00004, {"op": "ge"}, 1.0, "1.00"),
    (0.02004, {"op": "within", "tol": 0.02}, 0.0, "0.02004"),
])
def test_format_value_rounds_to_precision(value, compare, paper, shown):
    assert format_value(value, compare, paper) == shown


def test_markdown_view_keeps_the_old_columns():
    table = ledger(ROOT / "papers", ROOT / "build" / "nothing-here")
    md = ledger_markdown(table)
    assert md.splitlines()[0] == "| paper | claim | paper_value | labkit_value | verdict | notebook | record |"
    assert len(md.splitlines()) == len(table) + 2


NASTY = 'keys <b>bold</b> & "quoted" \'single\' &amp; <script>alert(1)</script>'


def test_ledger_html_escapes_and_quotes_in_full(tmp_path):
    import html as html_lib
    from html.parser import HTMLParser

    papers, runs = tmp_path / "papers", tmp_path / "runs"
    papers.mkdir()
    runs.mkdir()
    card = (CARD.format(notebook="00_welcome.ipynb", record="knn1_accuracy")
            .replace('"the exact words"', json.dumps(NASTY))
            .replace('title: "A paper"', 'title: "A <paper> & co"')
            .replace("{op: within, tol: 0.05}", '{op: within, tol: 0.05, means: "a < b & c"}')
            .replace("Notes.", "Notes with <tags> & **bold** and `code <x>`.\n\n| a | b |\n|---|---|\n| 1 < 2 | y |"))
    (papers / "p.md").write_text(card)
    before = ledger_html(ledger(papers, runs))
    _executed(runs / "00_welcome.ipynb", {"knn1_accuracy": 0.91})
    after = ledger_html(ledger(papers, runs))

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.text, self.tags = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)

        def handle_data(self, data):
            self.text.append(data)

    for page in (before, after):
        p = Text()
        p.feed(page)
        p.close()
        text = "".join(p.text)
        assert NASTY in text and "A <paper> & co" in text  # the claim in full, as written
        assert "labkit's accuracy within ±0.05 of 0.95: a < b & c" in text
        assert "script" not in p.tags and "b" not in p.tags and "paper" not in p.tags and "tags" not in p.tags
        assert "<strong>bold</strong>" in page and "<code>code &lt;x&gt;</code>" in page  # the card inline
        assert "1 &lt; 2" in page and "<table" in page
        # every & starts a whole entity (nothing truncated)
        assert all(html_lib.unescape(m) != m for m in __import__("re").findall(r"&[#\w]*;", page))
        assert "&" not in __import__("re").sub(r"&(#\d+|#x[0-9a-fA-F]+|\w+);", "", page)
    assert "no result yet" in before and HINT.split(":")[0] in before
    assert ">pass<" in after and "#1a7f37" in after and "0.91" in after and "no results yet" not in after


def test_ledger_html_of_the_real_cards_has_every_claim_and_card_text():
    import inspect

    import labkit.papers
    assert labkit.papers.ledger_html is ledger_html  # the gallery calls labkit.papers.ledger_html(table)
    sig = inspect.signature(ledger_html)
    assert list(sig.parameters) == ["table"] and sig.parameters["table"].annotation == "pandas.DataFrame"
    assert sig.return_annotation == "str"
    table = ledger(ROOT / "papers", ROOT / "build" / "nothing-here")
    page = ledger_html(table)
    import html as html_lib
    for quote in table["claim"].unique():
        assert html_lib.escape(quote) in page
    assert page.count("<article") == table["card"].nunique() == page.count("<details>")


def test_ledger_html_rejects_what_is_not_a_ledger():
    import pandas as pd
    with pytest.raises(TypeError, match="table"):
        ledger_html("not a table")
    with pytest.raises(ValueError, match="table"):
        ledger_html(pd.DataFrame({"claim": ["x"]}))
