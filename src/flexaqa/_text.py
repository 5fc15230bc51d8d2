"""Plain-text helpers for CLI output."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, align: str | None = None
) -> str:
    """Format rows as a fixed-width text table. ``align`` holds one of ``<>`` per column (default: left)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or "<" * len(headers)
    lines = []
    for k, row in enumerate(cells):
        lines.append("  ".join(f"{c:{align[i]}{widths[i]}}" for i, c in enumerate(row)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)].rstrip() + "…"
