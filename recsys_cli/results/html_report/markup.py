"""HTML building blocks of the report: escaping, number formats, tables and fact lists."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any


class Raw(str):
    """HTML that is already safe (built here), inserted without escaping."""


def esc(value: Any) -> str:
    return value if isinstance(value, Raw) else html.escape(str(value))


def num(value: float | None, digits: int = 4) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> Raw:
    """An HTML table; columns from `numeric_from` on are right-aligned (numbers)."""
    head = "".join(
        f'<th class="{"num" if j >= numeric_from else ""}">{esc(h)}</th>'
        for j, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"num" if j >= numeric_from else ""}">{esc(c)}</td>'
            for j, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return Raw(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def facts(pairs: Iterable[tuple[str, Any]]) -> Raw:
    """A definition list of (label, value) pairs; empty values are left out."""
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs if v not in (None, ""))
    return Raw(f"<dl>{items}</dl>")
