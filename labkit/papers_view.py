"""Views of the papers ledger: a terminal table that fits 100 columns, markdown, an HTML fragment.

Each takes the DataFrame `labkit.papers.ledger(...)` returns and only reads it (plus, for the HTML,
the card files it names). No UI packages: plain text and HTML strings.

- `terminal_table(table)`: one block per paper, each quote in full (wrapped at word boundaries,
  never cut), under it one line per record — labkit's value rounded to its precision and the
  verdict — and the paper's value with its comparison rule in words.
- `ledger_markdown(table)`: the markdown table `labkit papers --markdown` prints (for files).
- `ledger_html(table)`: the gallery's ledger (`build/gallery/papers.html`): per claim the quote in
  full, the rule in words, labkit's value, the verdict in words and colour; each card's own text is
  rendered inline under its paper (a `<details>` block), so the page stays whole when the gallery
  is copied away from the repository.
"""

from __future__ import annotations

import html
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from labkit.tables import markdown_table
from labkit.validate import check_int, fail, type_fail

if TYPE_CHECKING:
    import pandas

WIDTH = 100
#: the one line printed when no claim has a result yet (`labkit run` writes to build/run unless told)
HINT = "no results yet: `make gallery` (about 16 minutes) or `labkit run --out build/gallery <notebook>`"
#: the ledger's verdicts as a reader sees them
SHOWN = {"reproduced": "pass", "not reproduced": "fail", "missing": "no result yet", "info": "info",
         "not comparable": "not comparable"}
_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "no result yet": "#6e7781", "info": "#0969da",
            "not comparable": "#9a6700"}
MARKDOWN_COLUMNS = ["paper", "claim", "paper_value", "labkit_value", "verdict", "notebook", "record"]
_NEEDED = ("title", "year", "link", "card", "card_path", "claim", "record", "notebook", "rule",
           "labkit_shown", "verdict")


def _check_table(table):
    if not hasattr(table, "columns") or not hasattr(table, "to_dict"):
        raise type_fail("table", "a pandas DataFrame from labkit.papers.ledger(...)", table)
    missing = [c for c in _NEEDED if c not in table.columns]
    if missing:
        raise fail("table", f"the columns of labkit.papers.ledger(...) (missing {missing})",
                   list(table.columns), described=True)
    return table.to_dict("records")


def _groups(rows):
    """[(card row, [(quote, [rows])])]: rows grouped by card, then by consecutive equal quotes."""
    out = []
    for r in rows:
        if not out or out[-1][0]["card"] != r["card"]:
            out.append((r, []))
        quotes = out[-1][1]
        if not quotes or quotes[-1][0] != r["claim"]:
            quotes.append((r["claim"], []))
        quotes[-1][1].append(r)
    return out


def _wrap(text: str, width: int, indent: str, first: str | None = None) -> list[str]:
    return textwrap.wrap(text, width=width, initial_indent=indent if first is None else first,
                         subsequent_indent=indent, break_long_words=False, break_on_hyphens=False) or [indent]


def has_results(table: pandas.DataFrame) -> bool:
    """Whether any claim of the ledger has a labkit value (a gallery or `labkit run` has run)."""
    return bool(len(table)) and bool((table["verdict"] != "missing").any())


def hint(records: str | Path | None = None) -> str:
    """The no-results line; for a records folder other than the gallery's, naming that folder."""
    if records is None:
        return HINT
    return f"no results yet in {records}: `labkit run --out {records} <notebook>`"


def terminal_table(table: pandas.DataFrame, width: int = WIDTH, records: str | Path | None = None) -> str:
    """The ledger for a terminal, every line at most `width` characters (quotes wrapped, never cut).

    When no claim has a result yet, the first line is `hint(records)` (how to get results: `HINT`
    for the gallery's folder) and the records are listed without values or verdicts.
    """
    width = check_int("width", width, low=60)
    rows = _check_table(table)
    if not rows:
        return "(no claims yet: see papers/README.md)"
    results = has_results(table)
    lines = [*_wrap(hint(records), width, "  ", first=""), ""] if not results else []
    key_w, value_w = width - 44, 29
    for card, quotes in _groups(rows):
        lines += _wrap(f"{card['title']} ({card['year']})", width, "")
        notebooks = ", ".join(dict.fromkeys(r["notebook"] for _, rs in quotes for r in rs))
        lines += _wrap(f"card papers/{Path(card['card_path']).name} · measured in {notebooks} · "
                       f"{card['link']}", width, "  ")
        for quote, rs in quotes:
            lines += _wrap(f"“{quote}”", width, "   ", first="  ")
            for r in rs:
                head = f"    {r['record']}"
                if results:
                    value = r["labkit_shown"] or "—"
                    tail = f"labkit {value}"
                    verdict = SHOWN.get(r["verdict"], r["verdict"])
                    fixed = f"{head:<{key_w}}{tail:<{value_w}} {verdict:>14}"
                    if len(fixed) <= width:
                        lines.append(fixed.rstrip())
                    else:  # a long key or value: each on its own line
                        lines.append(head)
                        lines += _wrap(f"{tail} · {verdict}", width, "      ")
                else:
                    lines.append(head)
                lines += _wrap(r["rule"], width, "        ", first="      rule: ")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def ledger_markdown(table: pandas.DataFrame) -> str:
    """The ledger as one markdown table (paper, claim in full, both values, verdict, notebook,
    record): what `labkit papers --markdown` prints and the gallery's `papers.md` holds."""
    _check_table(table)
    if not len(table):
        return "(no claims yet: see papers/README.md)"
    return markdown_table(table[MARKDOWN_COLUMNS])


# --- HTML ------------------------------------------------------------------------------------------

def _inline(text: str) -> str:
    """Escaped text with markdown's `code`, **bold** and *italic* as tags."""
    out = []
    for i, part in enumerate(re.split(r"(`[^`]+`)", text)):
        if i % 2:
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            part = html.escape(part)
            part = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", part)
            part = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", part)
            out.append(part)
    return "".join(out)


def _table_html(lines: list[str]) -> str:
    cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    if len(cells) > 1 and all(re.fullmatch(r":?-+:?", c) for c in cells[1] if c):
        head, body = cells[0], cells[2:]
    else:
        head, body = None, cells
    parts = ["<table class='card-table'>"]
    if head:
        parts.append("<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>")
    parts += ["<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body]
    return "".join(parts) + "</table>"


def card_text_html(text: str) -> str:
    """A card's free text (markdown: paragraphs, '- ' lists, pipe tables, `code`, **bold**) as
    escaped HTML. Anything else is kept as plain escaped text."""
    blocks = re.split(r"\n\s*\n", text.strip())
    out = []
    for block in blocks:
        lines = block.splitlines()
        if all(ln.lstrip().startswith("|") for ln in lines):
            out.append(_table_html(lines))
        elif lines and lines[0].lstrip().startswith("- "):
            items, cur = [], []
            for ln in lines:
                if ln.lstrip().startswith("- ") and cur:
                    items.append(" ".join(cur))
                    cur = []
                cur.append(ln.strip().removeprefix("- "))
            items.append(" ".join(cur))
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
        elif lines:
            # a paragraph may end in a list ("...:\n- a\n- b")
            first = next((k for k, ln in enumerate(lines) if ln.lstrip().startswith("- ")), len(lines))
            out.append(f"<p>{_inline(' '.join(ln.strip() for ln in lines[:first]))}</p>")
            if first < len(lines):
                out.append(card_text_html("\n".join(lines[first:])))
    return "\n".join(out)


def _card_notes(path: str) -> str:
    """The free text below a card's front matter ('' when the file cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""
    m = re.match(r"^---\s*\n.*?\n---\s*(\n|$)", text, re.S)
    return text[m.end():].strip() if m else ""


_STYLE = """<style>
.labkit-ledger{font-family:system-ui,sans-serif;line-height:1.45}
.labkit-ledger article{border:1px solid #d0d7de;border-radius:6px;padding:0.6em 1em;margin:1em 0}
.labkit-ledger h3{margin:0.2em 0}
.labkit-ledger .meta{color:#57606a;margin:0.2em 0 0.6em}
.labkit-ledger table.claims{border-collapse:collapse;width:100%}
.labkit-ledger table.claims th,.labkit-ledger table.claims td{border-top:1px solid #d0d7de;
  padding:0.35em 0.6em;vertical-align:top;text-align:left}
.labkit-ledger blockquote{margin:0;font-style:italic}
.labkit-ledger td.value{font-variant-numeric:tabular-nums;white-space:nowrap}
.labkit-ledger .verdict{font-weight:600;white-space:nowrap}
.labkit-ledger details{margin-top:0.6em}
.labkit-ledger table.card-table{border-collapse:collapse;margin:0.5em 0}
.labkit-ledger table.card-table td,.labkit-ledger table.card-table th{border:1px solid #d0d7de;
  padding:0.2em 0.5em}
</style>"""


def ledger_html(table: pandas.DataFrame) -> str:
    """The ledger as an HTML fragment (a `<section>` with its own `<style>`), every text escaped.

    One `<article>` per paper: its title, year and link; a table with, per claim, the quote in
    full (`<blockquote>`, shared by the records measuring it), the record and notebook, the paper's
    value with its comparison rule in words, labkit's value rounded to its precision, and the
    verdict in words and colour (pass / fail / no result yet / info); then the card's own text,
    rendered inline in a `<details>` block (not a link: the gallery page stays whole offline and
    away from the repository).
    """
    rows = _check_table(table)
    if not rows:
        return "<section class='labkit-ledger'><p>(no claims yet: see papers/README.md)</p></section>"
    e = html.escape
    parts = ["<section class='labkit-ledger'>", _STYLE]
    if not has_results(table):
        parts.append(f"<p class='hint'>{_inline(HINT)}</p>")
    for card, quotes in _groups(rows):
        notebooks = ", ".join(dict.fromkeys(r["notebook"] for _, rs in quotes for r in rs))
        link = str(card["link"])
        href = f"<a href='{e(link)}'>{e(link)}</a>" if link.startswith(("http://", "https://")) else e(link)
        parts.append(f"<article id='{e(str(card['card']))}'><h3>{e(str(card['title']))} "
                     f"({e(str(card['year']))})</h3><p class='meta'>{href} · measured in {e(notebooks)}"
                     f" · card <code>papers/{e(Path(card['card_path']).name)}</code></p>")
        parts.append("<table class='claims'><thead><tr><th>claim</th><th>record</th>"
                     "<th>paper's value and rule</th><th>labkit</th><th>verdict</th></tr></thead><tbody>")
        for quote, rs in quotes:
            for i, r in enumerate(rs):
                shown = SHOWN.get(r["verdict"], str(r["verdict"]))
                cell = (f"<td rowspan='{len(rs)}'><blockquote>“{e(quote)}”</blockquote></td>" if i == 0 else "")
                parts.append(f"<tr>{cell}<td><code>{e(str(r['record']))}</code></td><td>{e(str(r['rule']))}</td>"
                             f"<td class='value'>{e(str(r['labkit_shown'])) or '—'}</td>"
                             f"<td class='verdict' style='color:{_COLOURS.get(shown, '#24292f')}'>"
                             f"{e(shown)}</td></tr>")
        parts.append("</tbody></table>")
        notes = _card_notes(str(card["card_path"]))
        if notes:
            parts.append(f"<details><summary>the card, papers/{e(Path(card['card_path']).name)}</summary>"
                         f"{card_text_html(notes)}</details>")
        parts.append("</article>")
    parts.append("</section>")
    return "\n".join(parts)
