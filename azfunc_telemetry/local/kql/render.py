"""Plain-text rendering of a :class:`~.result.QueryResult`, laid out like the portal's grid.

Cells use the same text forms as the REST API (ISO datetimes with ``Z``, ``00:01:00`` timespans,
compact JSON for dynamic values); numbers are right-aligned, and long or multi-line cells are
shortened so each row stays on one line of a terminal.
"""

from __future__ import annotations

from .result import QueryResult
from .values import format_value, is_number

__all__ = ["format_table"]

_ELLIPSIS = "…"
_GAP = "  "


def _cell(value: object, max_width: int) -> str:
    text = format_value(value).replace("\r\n", "\n").replace("\n", "\\n").replace("\t", " ")
    if len(text) > max_width:
        return text[: max(max_width - 1, 0)] + _ELLIPSIS
    return text


def format_table(result: QueryResult, *, max_width: int = 60) -> str:
    """Render ``result`` as an aligned text table with a header and a dashed rule.

    Args:
        result: The query result.
        max_width: Longest cell (or header) in characters; longer text ends in an ellipsis.

    Returns:
        The table, lines joined by ``\\n`` with no trailing newline.
    """
    if max_width < 1:
        raise ValueError("max_width must be at least 1")
    headers = [_cell(name, max_width) for name in result.columns]
    cells = [[_cell(value, max_width) for value in row] for row in result.rows]
    numeric = [
        bool(result.rows)
        and all(row[index] is None or is_number(row[index]) for row in result.rows)
        for index in range(len(result.columns))
    ]
    widths = [
        max([len(header)] + [len(row[index]) for row in cells])
        for index, header in enumerate(headers)
    ]

    def line(values: list[str]) -> str:
        padded = [
            value.rjust(width) if is_numeric else value.ljust(width)
            for value, width, is_numeric in zip(values, widths, numeric, strict=True)
        ]
        return _GAP.join(padded).rstrip()

    lines = [line(headers), _GAP.join("-" * width for width in widths)]
    lines.extend(line(row) for row in cells)
    return "\n".join(lines)
