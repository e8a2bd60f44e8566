"""The papers ledger: each paper's claim, the paper's number, and labkit's small-scale counterpart.

A card is `papers/<id>.md` with YAML front matter:

    ---
    title: "Efficient and robust approximate nearest neighbor search using HNSW graphs"
    authors: ["Yu. A. Malkov", "D. A. Yashunin"]
    year: 2018
    link: https://arxiv.org/abs/1603.09320
    claims:
      - quote: "the exact sentence from the paper"
        paper_value: 0.95
        notebook: 01_hnsw.ipynb
        record: recall_at_10
        compare: {op: within, tol: 0.02, means: "labkit's recall matches the paper's"}
    ---
    Free text: what the claim means and how labkit's setting differs.

`check_cards` fails on a card that names a notebook or record key that does not exist (keys are
found statically: the literal first argument of `labkit.record(...)` calls in the notebook).
`compare.op` is within | rel_within | ge | le | info; the optional `compare.means` says in words
what passing means ("per-channel keys no worse"); `rule_words` turns op, tol, the paper's number and
`means` into the sentence the ledger prints ("labkit's ratio ≥ 1: per-channel keys no worse").
`ledger` puts the paper's number beside labkit's, read from the executed notebooks, and
`format_value` rounds labkit's number to its precision. The views of the ledger (a 100-column
terminal table, markdown, an HTML fragment for the gallery) are in `labkit.papers_view`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from labkit.papers_view import ledger_html, ledger_markdown, terminal_table  # the views of `ledger`

COMPARE_OPS = ("within", "rel_within", "ge", "le", "info")
REQUIRED = ("title", "authors", "year", "link", "claims")
CLAIM_REQUIRED = ("quote", "paper_value", "notebook", "record", "compare")
_RECORD_CALL = re.compile(r"""record\(\s*(['"])([^'"]+)\1""")


def read_card(path: str | Path) -> dict:
    """Parse one card's front matter; ValueError naming the card and the problem otherwise."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, re.S)
    if not m:
        raise ValueError(f"{path.name}: no YAML front matter (a '---' block at the top)")
    try:
        card = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        raise ValueError(f"{path.name}: invalid YAML front matter ({e})") from None
    if not isinstance(card, dict):
        raise ValueError(f"{path.name}: front matter must be a mapping")
    missing = [k for k in REQUIRED if k not in card]
    if missing:
        raise ValueError(f"{path.name}: missing fields {missing}")
    if not isinstance(card["claims"], list) or not card["claims"]:
        raise ValueError(f"{path.name}: claims must be a non-empty list")
    for i, c in enumerate(card["claims"]):
        miss = [k for k in CLAIM_REQUIRED if not isinstance(c, dict) or k not in c]
        if miss:
            raise ValueError(f"{path.name}: claim {i} lacks {miss}")
        op = c["compare"].get("op") if isinstance(c["compare"], dict) else None
        if op not in COMPARE_OPS:
            raise ValueError(f"{path.name}: claim {i} compare.op must be one of {COMPARE_OPS}, got {op!r}")
        if op in ("within", "rel_within") and not isinstance(c["compare"].get("tol"), (int, float)):
            raise ValueError(f"{path.name}: claim {i} compare.op {op!r} needs a numeric tol")
        if not isinstance(c["compare"].get("means", ""), str):
            raise ValueError(f"{path.name}: claim {i} compare.means must be text, "
                             f"got {type(c['compare']['means']).__name__}")
    card["id"] = path.stem
    card["path"] = str(path)
    return card


def cards(papers_dir: str | Path) -> list[dict]:
    """Every card in `papers_dir` (README.md excluded), sorted by file name."""
    return [read_card(p) for p in sorted(Path(papers_dir).glob("*.md")) if p.name.lower() != "readme.md"]


def notebook_record_keys(notebook: str | Path) -> set[str]:
    """Record keys a notebook makes: literal first arguments of `record(...)` in its code cells."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    keys: set[str] = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            keys.update(m.group(2) for m in _RECORD_CALL.finditer(src))
    return keys


def check_cards(papers_dir: str | Path, notebooks_dir: str | Path) -> list[str]:
    """Problems with the cards: unparsable cards, unknown notebooks, unknown record keys."""
    problems = []
    for p in sorted(Path(papers_dir).glob("*.md")):
        if p.name.lower() == "readme.md":
            continue
        try:
            card = read_card(p)
        except ValueError as e:
            problems.append(str(e))
            continue
        for i, c in enumerate(card["claims"]):
            nb = Path(notebooks_dir) / c["notebook"]
            if not nb.is_file():
                problems.append(f"{p.name}: claim {i} names notebook {c['notebook']!r}, which does not exist")
            elif c["record"] not in notebook_record_keys(nb):
                problems.append(f"{p.name}: claim {i} names record {c['record']!r}, "
                                f"which {c['notebook']} never records")
    return problems


def verdict(compare: dict, paper: Any, ours: Any) -> str:
    """'reproduced' | 'not reproduced' | 'missing' | 'info' for one claim."""
    if ours is None:
        return "missing"
    op = compare["op"]
    if op == "info":
        return "info"
    try:
        p, o = float(paper), float(ours)
    except (TypeError, ValueError):
        return "not comparable"
    if math.isnan(o):
        return "not reproduced"
    ok = {"within": lambda: abs(o - p) <= compare["tol"],
          "rel_within": lambda: abs(o - p) <= compare["tol"] * abs(p),
          "ge": lambda: o >= p,
          "le": lambda: o <= p}[op]()
    return "reproduced" if ok else "not reproduced"


# The noun for labkit's number, read from the record key's words (first match wins).
_QUANTITY = (({"ratio", "over"}, "ratio"), ({"minus", "delta"}, "difference"), ({"speedup"}, "speed-up"),
             ({"gain"}, "gain"), ({"gap"}, "gap"), ({"slope"}, "slope"), ({"r2"}, "R²"),
             ({"spearman"}, "rank correlation"), ({"accuracy"}, "accuracy"), ({"exponent"}, "exponent"),
             ({"balance"}, "balance"), ({"fraction"}, "fraction"), ({"err", "error"}, "error"))


def quantity(record: str) -> str:
    """What labkit's number is, from its record key: 'attn_err_ratio_k' -> 'ratio', 'x_gain_pct' ->
    'gain (%)', a key with none of the known words -> 'value'."""
    words = set(record.lower().split("_"))
    noun = next((name for keys, name in _QUANTITY if keys & words), "value")
    if noun == "error" and "rel" in words:
        noun = "relative error"
    return f"{noun} (%)" if "pct" in words else noun


def _num(x: Any) -> str:
    """A card's number as written: 1.0 -> '1', 0.95 -> '0.95', 152.83 -> '152.83'."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    return format(x, "g") if abs(x) < 1e6 else format(x, ".6g")


def rule_words(compare: dict, paper: Any, record: str) -> str:
    """The comparison rule in words, with the paper's number: what labkit's value must do to pass.

    ge -> "labkit's ratio ≥ 1", le -> "labkit's error ≤ 0.01", within -> "labkit's slope within
    ±0.02 of 0", rel_within -> "labkit's ratio within ±25% of 2.4 (1.8 to 3)", info -> "the paper's
    152.83, shown beside labkit's (not judged)"; the card's `means` follows after a colon.
    """
    op, noun = compare["op"], quantity(record)
    p = _num(paper)
    if op == "ge":
        text = f"labkit's {noun} ≥ {p}"
    elif op == "le":
        text = f"labkit's {noun} ≤ {p}"
    elif op == "within":
        text = f"labkit's {noun} within ±{_num(compare['tol'])} of {p}"
    elif op == "rel_within":
        tol = float(compare["tol"])
        text = f"labkit's {noun} within ±{_num(round(100 * tol, 6))}% of {p}"
        if isinstance(paper, (int, float)) and not isinstance(paper, bool):
            lo, hi = sorted((paper - tol * abs(paper), paper + tol * abs(paper)))
            text += f" ({_num(round(lo, 6))} to {_num(round(hi, 6))})"
    else:
        text = f"the paper's {p}, shown beside labkit's (not judged)"
    means = str(compare.get("means") or "").strip()
    return f"{text}: {means}" if means else text


def _plain(x: float, digits: int) -> str:
    """`x` to `digits` significant digits, written plainly (no exponent between 1e-4 and 1e6)."""
    if x == 0:
        return "0"
    rounded = float(f"{x:.{digits - 1}e}")
    exp = math.floor(math.log10(abs(rounded)))
    if exp >= 6 or exp < -4:
        mantissa, e = f"{x:.{digits - 1}e}".split("e")
        if float(mantissa + "e" + e) == x and "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{e}"
    text = f"{x:.{max(0, digits - 1 - exp)}f}"
    if "." in text and float(text) == x:  # exact: no trailing zeros (0.2, not 0.200)
        text = text.rstrip("0").rstrip(".")
    return text  # rounded: its zeros show the precision (0.99996 -> 1.00)


def format_value(value: Any, compare: dict | None = None, paper: Any = None, digits: int = 3) -> str:
    """labkit's value as the ledger shows it, rounded to its precision.

    Numbers get `digits` significant digits (integers stay whole), and more digits where rounding
    would move the value across the paper's threshold (0.99996 against "≥ 1" shows 0.99996, not 1).
    Lists and dicts show their numbers the same way; None is '' (no result).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        text = _plain(value, digits)
        if compare is not None:
            exact = verdict(compare, paper, value)
            for more in range(digits + 1, 18):
                if verdict(compare, paper, float(text)) == exact:
                    break
                text = _plain(value, more)
        return text
    if isinstance(value, (list, tuple)):
        items = [format_value(v, digits=digits) for v in value[:8]]
        return "[" + ", ".join(items) + (f", … ({len(value)} values)" if len(value) > 8 else "") + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v, digits=digits)}" for k, v in value.items()) + "}"
    return str(value)


COLUMNS = ["paper", "claim", "paper_value", "labkit_value", "verdict", "notebook", "record",
           "card", "card_path", "title", "year", "link", "op", "rule", "labkit_shown"]


def ledger(papers_dir: str | Path, records_dir: str | Path):
    """A DataFrame, one row per claim and record (columns `COLUMNS`).

    paper ("title (year)"), claim (the quote, in full), paper_value, labkit_value, verdict
    ('reproduced' | 'not reproduced' | 'missing' | 'info' | 'not comparable'), notebook, record;
    then what the views need: card (the card's id), card_path (its file), title, year, link (the
    paper), op, rule (`rule_words`) and labkit_shown (`format_value`, '' when missing).

    labkit's values come from the executed notebooks in `records_dir` (the gallery run writes
    `build/gallery/<notebook>.ipynb`); a notebook that has not been run gives verdict 'missing'.
    """
    import pandas as pd

    from labkit.records import read_records
    rows = []
    cache: dict[str, dict] = {}
    for card in cards(papers_dir):
        for c in card["claims"]:
            executed = Path(records_dir) / c["notebook"]
            if c["notebook"] not in cache:
                cache[c["notebook"]] = read_records(executed) if executed.is_file() else {}
            ours = cache[c["notebook"]].get(c["record"])
            rows.append({"paper": f"{card['title']} ({card['year']})", "claim": str(c["quote"]),
                         "paper_value": c["paper_value"], "labkit_value": ours,
                         "verdict": verdict(c["compare"], c["paper_value"], ours),
                         "notebook": c["notebook"], "record": c["record"],
                         "card": card["id"], "card_path": card["path"], "title": str(card["title"]),
                         "year": card["year"], "link": str(card["link"]), "op": c["compare"]["op"],
                         "rule": rule_words(c["compare"], c["paper_value"], c["record"]),
                         "labkit_shown": format_value(ours, c["compare"], c["paper_value"])})
    return pd.DataFrame(rows, columns=COLUMNS)


__all__ = ["COMPARE_OPS", "COLUMNS", "read_card", "cards", "notebook_record_keys", "check_cards",
           "verdict", "quantity", "rule_words", "format_value", "ledger", "ledger_html",
           "ledger_markdown", "terminal_table"]
