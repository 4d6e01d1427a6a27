"""Output helpers: Docker-style tables (tabwriter, padding 3), truncation, relative times."""

from __future__ import annotations

import sys
import time
from typing import Iterable, Sequence


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], out=None) -> None:
    rows = [list(map(str, r)) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = out or sys.stdout
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        out.write("   ".join(cells).rstrip() + "\n")


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def ago(unix_seconds: float) -> str:
    from berth.humanize import duration

    return duration(time.time() - unix_seconds) + " ago"


def parse_bytes(text: str) -> int:
    """``32m``, ``1g``, ``512k``, ``100`` -> bytes (binary units, as Docker's RAMInBytes)."""
    import re

    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)b?", text.strip().lower())
    if not match:
        raise SystemExit(f"invalid size: {text!r}: use a number with an optional unit b, k, m, g or t")
    number, unit = match.groups()
    return int(float(number) * 1024 ** "bkmgt".index(unit or "b"))
