"""GitHub-markdown tables from plain rows, for the measurements the README quotes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return "" if value is None else str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping[str, Any]], digits: int = 3) -> str:
    """One column per key (in first-seen order), floats to ``digits`` decimals, NaN as "–"."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r.get(k), digits) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


__all__ = ["markdown_table"]
