"""Markdown tables for the command line, the benchmarks and the gallery (no extra dependency)."""

from __future__ import annotations

from typing import Any


def _cell(v: Any, floatfmt: str) -> str:
    if isinstance(v, float):
        return format(v, floatfmt)
    text = "" if v is None else str(v)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows, columns: list[str] | None = None, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured markdown table from a DataFrame or a list of dicts."""
    if hasattr(rows, "to_dict"):  # pandas DataFrame
        columns = columns or [str(c) for c in rows.columns]
        rows = rows.to_dict("records")
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c), floatfmt) for c in columns) + " |")
    return "\n".join(lines)
