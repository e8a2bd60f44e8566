"""The gallery's front page: `index.html`, one card per notebook, and the papers page around the ledger.

A card says what the notebook teaches (its title and the first paragraph of its first markdown cell),
shows a thumbnail of its key figure (`figures/<notebook>.png`, which the notebook's export cell wrote),
its status, run time and when it ran, and its headline records rounded to their precision: integers
whole (with thousands separators), every other number to 3 significant digits (powers of ten outside
1e-3 .. 1e4), lists and dicts summarised, every text escaped after it is shortened (never a cut entity).
All its records are one click away (a `<details>` block); links lead to the notebook's page, the
executed .ipynb and the papers ledger. Plain HTML with its CSS inline: the page loads nothing but the
thumbnails beside it.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.gallery_html import MATHJAX_SETUP, MATHJAX_URL

__all__ = ["Card", "format_value", "format_duration", "notebook_summary", "index_html", "papers_html"]

HEADLINE = 8        # records shown on a card (the rest behind "all N records")
_TEXT_MAX = 80      # characters of a text record shown on a card
_ITEMS_MAX = 6      # list items / dict entries shown inline
_MINUS = str.maketrans("-", "−")


@dataclass(frozen=True)
class Card:
    """What the index shows for one notebook (paths relative to the index)."""

    name: str                      # "00_welcome" (the notebook's stem)
    title: str
    teaches: str                   # the first paragraph, as markdown
    status: str                    # "ok" | "failed"
    duration_s: float | None = None
    finished: str = ""             # when it ran, ISO 8601
    cached: bool = False           # reused from an earlier run (source and parameters unchanged)
    page: str | None = None        # the notebook's HTML page
    executed: str | None = None    # the executed .ipynb
    figure: str | None = None      # the key figure's PNG
    error: str = ""
    records: dict[str, Any] = field(default_factory=dict)
    headline: tuple[str, ...] = ()  # record keys shown first (those the papers cite)
    older_code: bool = False       # reused, though labkit's code has changed since it ran


# -- numbers and records ------------------------------------------------------------------------

def _number(v: float | int) -> str:
    """One number as HTML: integers whole, the rest to 3 significant digits."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int) or (isinstance(v, float) and math.isfinite(v) and v.is_integer() and abs(v) < 1e15):
        return f"{int(v):,}".replace("-", "−")
    if not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("∞" if v > 0 else "−∞")
    exponent = math.floor(math.log10(abs(v)))
    if -3 <= exponent < 4:
        text = f"{float(f'{v:.3g}'):,.{max(0, 2 - exponent)}f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return text.replace("-", "−")
    mantissa, exp = f"{v:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa.replace('-', '−')}×10<sup>{str(int(exp)).translate(_MINUS)}</sup>"


def _text(s: str, limit: int) -> str:
    s = s if len(s) <= limit else s[:limit - 1].rstrip() + "…"   # shortened first, escaped after
    return html.escape(s)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def format_value(v: Any, *, items: int = _ITEMS_MAX, text: int = _TEXT_MAX, _depth: int = 0) -> str:
    """A record's value as escaped HTML, rounded to its precision (module docstring).

    Records are JSON (labkit.record): None, bool, int, float, str ("nan"/"inf" for non-finite
    floats), lists and dicts of those. A list of numbers longer than `items` shows its count and
    range; a list of dicts (a table) its shape; longer dicts their first `items` entries.
    """
    if v is None:
        return "—"
    if isinstance(v, bool) or _is_number(v):
        return _number(v)
    if isinstance(v, str):
        return _text(v, text)
    if _depth >= 2:
        return f"({len(v)} {'entries' if isinstance(v, dict) else 'values'})"
    if isinstance(v, list):
        if v and all(isinstance(x, dict) for x in v):
            columns = list(dict.fromkeys(k for row in v for k in row))
            shown = ", ".join(_text(str(c), 24) for c in columns[:items]) + (", …" if len(columns) > items else "")
            return f"table, {len(v)} rows × {len(columns)} columns ({shown})"
        if len(v) > items and all(_is_number(x) for x in v):
            return f"{len(v)} values, {_number(min(v))} … {_number(max(v))}"
        inner = ", ".join(format_value(x, items=items, text=text // 2, _depth=_depth + 1) for x in v[:items])
        return f"[{inner}{', …' if len(v) > items else ''}]" + (f" ({len(v)} values)" if len(v) > items else "")
    if isinstance(v, dict):
        inner = "; ".join(f"{_text(str(k), 32)}: {format_value(x, items=items, text=text // 2, _depth=_depth + 1)}"
                          for k, x in list(v.items())[:items])
        return inner + (f"; … ({len(v)} entries)" if len(v) > items else "")
    return _text(str(v), text)


def format_duration(seconds: float | None) -> str:
    """'42 s', '3 min 5 s', '1 h 02 min'; '—' when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = round(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


# -- what a notebook teaches --------------------------------------------------------------------

def notebook_summary(notebook: str | Path) -> tuple[str, str]:
    """(title, first paragraph) of a notebook's first markdown cell, as markdown; the file name and ''
    when it has none."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "markdown":
            continue
        src = cell.get("source", "")
        lines = ("".join(src) if isinstance(src, list) else str(src)).splitlines()
        title = Path(notebook).stem
        if lines and lines[0].lstrip().startswith("#"):
            title = lines[0].lstrip("# ").strip()
            lines = lines[1:]
        paragraph: list[str] = []
        for line in lines:
            if line.strip():
                paragraph.append(line.strip())
            elif paragraph:
                break
        return title, " ".join(paragraph)
    return Path(notebook).stem, ""


_LINK = re.compile(r"\[([^\]]+)\]\(((?:https?://|\.{0,2}/?[\w-])[^)\s]*)\)")


def _inline_markdown(md: str) -> str:
    """Escaped text with markdown's inline marks as HTML: `code`, **bold**, *emphasis*, [links](url)."""
    parts = re.split(r"(`[^`]+`)", md)
    out = []
    for p in parts:
        if p.startswith("`") and p.endswith("`") and len(p) > 1:
            out.append(f"<code>{html.escape(p[1:-1])}</code>")
            continue
        t = html.escape(p, quote=False)
        t = _LINK.sub(lambda m: f'<a href="{html.escape(html.unescape(m.group(2)))}">{m.group(1)}</a>', t)
        t = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", t)
        t = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", t)
        out.append(t)
    return "".join(out)


# -- the pages ----------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;
  margin:0;background:#f6f8fa;line-height:1.45}
header,main,footer{max-width:1240px;margin:0 auto;padding:0 1rem}
header h1{margin:1rem 0 0.2rem}
header p,footer p{color:#57606a;margin:0.2rem 0}
a{color:#0969da}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:1rem;margin:1rem 0}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:0.8rem 1rem;display:flex;
  flex-direction:column;min-width:0}
.card h2{font-size:1.1rem;margin:0.5rem 0 0.2rem}
.card h2 a{color:inherit;text-decoration:none}
.thumb{display:block;height:210px;background:#fafbfc;border:1px solid #eaeef2;border-radius:4px;
  overflow:hidden;text-align:center}
.thumb img{max-width:100%;max-height:100%;object-fit:contain}
.thumb .none{display:inline-block;margin-top:90px;color:#8c959f}
.meta{font-size:0.85rem;color:#57606a;margin:0.1rem 0 0.4rem}
.status{font-weight:600}
.status.ok{color:#1a7f37}
.status.failed{color:#cf222e}
.teaches{font-size:0.92rem;margin:0.3rem 0 0.6rem}
table.records{border-collapse:collapse;width:100%;font-size:0.85rem;table-layout:fixed}
table.records th{text-align:left;font-weight:normal;color:#57606a;width:55%;overflow-wrap:anywhere;
  padding:0.15rem 0.4rem 0.15rem 0;vertical-align:top}
table.records td{font-variant-numeric:tabular-nums;overflow-wrap:anywhere;padding:0.15rem 0;vertical-align:top}
table.records tr+tr{border-top:1px solid #eaeef2}
table.records th .cited{color:#0969da}
details{font-size:0.85rem;margin:0.4rem 0}
pre.error{white-space:pre-wrap;overflow-wrap:anywhere;background:#fff8f8;border:1px solid #ffcecb;
  padding:0.4rem;font-size:0.8rem}
.links{margin-top:auto;padding-top:0.5rem;font-size:0.9rem}
"""


def _page(title: str, body: str, math: bool = False) -> str:
    """A whole page; with `math`, MathJax from the gallery's static folder typesets $...$ in it."""
    mathjax = ""
    if math:
        mathjax = (f"{MATHJAX_SETUP}<script type='text/x-mathjax-config'>MathJax.Hub.Config({{tex2jax: "
                   f"{{inlineMath: [['$', '$']], processEscapes: true}}, messageStyle: 'none'}});</script>"
                   f"<script src='{html.escape(MATHJAX_URL)}'></script>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style>{mathjax}</head><body>{body}</body></html>")


def _records_table(records: dict[str, Any], keys, cited=frozenset(), **fmt) -> str:
    rows = []
    for k in keys:
        mark = " <span class='cited' title='cited by a paper card'>•</span>" if k in cited else ""
        key = _text(k, 60).replace("_", "_<wbr>")   # long snake_case keys break at their underscores
        rows.append(f"<tr><th>{key}{mark}</th><td>{format_value(records[k], **fmt)}</td></tr>")
    return f"<table class='records'>{''.join(rows)}</table>"


def _headline_keys(card: Card) -> list[str]:
    """The records a card shows, HEADLINE at most: those the papers cite, then the first scalar ones."""
    keys = [k for k in dict.fromkeys(card.headline) if k in card.records][:HEADLINE]
    for k, v in card.records.items():
        if len(keys) >= HEADLINE:
            break
        if k not in keys and (v is None or isinstance(v, (bool, int, float, str))):
            keys.append(k)
    return keys


def _card_html(card: Card, papers_href: str) -> str:
    e = html.escape
    title = _inline_markdown(card.title)
    name = e(card.name)
    if card.figure:
        thumb = f"<img src='{e(card.figure)}' alt='the key figure of {name}'>"
    else:
        thumb = "<span class='none'>no figure</span>"
    thumb = f"<a class='thumb' href='{e(card.page)}'>{thumb}</a>" if card.page else f"<div class='thumb'>{thumb}</div>"
    heading = f"<a href='{e(card.page)}'>{title}</a>" if card.page else title
    when = f" · {e(card.finished[:16].replace('T', ' '))}" if card.finished else ""
    cached = " · reused (cells and parameters unchanged)" if card.cached else ""
    if card.older_code:
        cached += " · <strong>ran with older labkit code</strong> (<code>--force</code> runs it again)"
    parts = [f"<article class='card' id='{name}'>", thumb, f"<h2>{heading}</h2>",
             f"<p class='meta'><span class='status {e(card.status)}'>{e(card.status)}</span> · "
             f"{format_duration(card.duration_s)}{when}{cached}</p>"]
    if card.teaches:
        parts.append(f"<p class='teaches'>{_inline_markdown(card.teaches)}</p>")
    if card.error:
        parts.append(f"<pre class='error'>{_text(card.error, 600)}</pre>")
    keys = _headline_keys(card)
    cited = frozenset(card.headline)
    if keys:
        parts.append(_records_table(card.records, keys, cited))
    if len(card.records) > len(keys):
        parts.append(f"<details><summary>all {len(card.records)} records</summary>"
                     f"{_records_table(card.records, list(card.records), cited, items=12, text=160)}</details>")
    links = [f"<a href='{e(card.page)}'>the notebook</a>" if card.page else "",
             f"<a href='{e(card.executed)}'>executed .ipynb</a>" if card.executed else "",
             f"<a href='{e(papers_href)}'>papers ledger</a>"]
    parts.append(f"<p class='links'>{' · '.join(x for x in links if x)}</p></article>")
    return "".join(parts)


def index_html(cards: list[Card], *, summary: str = "", papers_href: str = "papers.html") -> str:
    """The gallery's index page: a header (with `summary`, plain text), one card per notebook."""
    ok = sum(c.status == "ok" for c in cards)
    head = (f"<header><h1>labkit gallery</h1><p>{len(cards)} notebook{'s' if len(cards) != 1 else ''}, {ok} ok"
            f"{', ' + str(len(cards) - ok) + ' failed' if ok < len(cards) else ''}"
            f"{' · ' + html.escape(summary) if summary else ''} · "
            f"<a href='{html.escape(papers_href)}'>the papers ledger</a></p></header>")
    body = "".join(_card_html(c, papers_href) for c in cards)
    foot = ("<footer><p>Made by <code>make gallery</code> (<code>python -m labkit.gallery</code>): every notebook "
            "at its full-size defaults; one whose cells and parameters are unchanged is reused "
            "(<code>--force</code> runs it again). • marks a record a paper card cites.</p></footer>")
    math = any("$" in c.title or "$" in c.teaches for c in cards)
    return _page("labkit gallery", f"{head}<main><div class='cards'>{body}</div></main>{foot}", math=math)


def papers_html(fragment: str) -> str:
    """The papers ledger page around `fragment` (labkit.papers.ledger_html's HTML)."""
    head = ("<header><h1>Papers ledger</h1><p>Each claim quoted in full, the paper's value with its "
            "comparison rule, labkit's small-scale value and the verdict · <a href='index.html'>the gallery</a>"
            "</p></header>")
    return _page("labkit papers ledger", f"{head}<main>{fragment}</main>")
