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
        compare: {op: within, tol: 0.02}   # within | rel_within | ge | le | info
    ---
    Free text: what the claim means and how labkit's setting differs.

`check_cards` fails on a card that names a notebook or record key that does not exist (keys are
found statically: the literal first argument of `labkit.record(...)` calls in the notebook).
`ledger` puts the paper's number beside labkit's, read from the executed notebooks.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

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
    card["id"] = path.stem
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


def ledger(papers_dir: str | Path, records_dir: str | Path):
    """A DataFrame: paper, year, claim, paper_value, labkit_value, verdict, notebook, record.

    labkit's values come from the executed notebooks in `records_dir` (the gallery run writes
    `build/gallery/<notebook>.ipynb`); a notebook that has not been run gives verdict 'missing'.
    """
    import pandas as pd

    from labkit.record import read_records
    rows = []
    cache: dict[str, dict] = {}
    for card in cards(papers_dir):
        for c in card["claims"]:
            executed = Path(records_dir) / c["notebook"]
            if c["notebook"] not in cache:
                cache[c["notebook"]] = read_records(executed) if executed.is_file() else {}
            ours = cache[c["notebook"]].get(c["record"])
            quote = c["quote"] if len(c["quote"]) <= 90 else c["quote"][:87] + "..."
            rows.append({"paper": f"{card['title']} ({card['year']})", "claim": quote,
                         "paper_value": c["paper_value"], "labkit_value": ours,
                         "verdict": verdict(c["compare"], c["paper_value"], ours),
                         "notebook": c["notebook"], "record": c["record"]})
    return pd.DataFrame(rows, columns=["paper", "claim", "paper_value", "labkit_value", "verdict",
                                       "notebook", "record"])
