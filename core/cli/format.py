"""Output helpers: Docker-style tables (Go tabwriter: min width 10, padding 3), ``--format``, sizes, times.

List commands describe each row as a dict of display strings (the "context" of
the docker CLI's formatter: ``ID``, ``Names``, ``Status``...) and hand it to
:func:`emit` with their default ``table ...`` template; ``--format`` then works
exactly like docker's: ``table`` prefix for a header, ``json`` for one JSON
object per line, anything else a Go template per row.
"""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any, Iterable, Sequence

MIN_WIDTH, PADDING = 10, 3


def align(lines: Iterable[Sequence[str]], out=None) -> None:
    """Write rows of cells aligned like Go's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``.

    Every cell but a row's last is padded to its column's width (widest cell + 3, at least 10).
    """
    rows = [list(r) for r in lines]
    widths: list[int] = []
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            width = max(len(cell) + PADDING, MIN_WIDTH)
            if i >= len(widths):
                widths.append(width)
            else:
                widths[i] = max(widths[i], width)
    out = out or sys.stdout
    for row in rows:
        text = "".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + (row[-1] if row else "")
        out.write(text.rstrip() + "\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], out=None) -> None:
    """A header line and rows, aligned as docker aligns its tables."""
    align([list(headers), *[[str(c) for c in r] for r in rows]], out)


def emit(format_spec: str | None, default: str, rows: list[dict[str, Any]], headers: dict[str, str],
         out=None) -> None:
    """Print ``rows`` through ``--format`` (or ``default``, a ``table ...`` template).

    ``headers`` maps context fields to column titles (``ID`` -> ``CONTAINER ID``);
    unknown fields get their name upper-cased, as docker does.
    """
    from berth.cli.templates import render

    spec = format_spec or default
    out = out or sys.stdout
    if spec == "json":
        import json

        for row in rows:
            out.write(json.dumps({k: v for k, v in row.items() if not callable(v)}, separators=(",", ":")) + "\n")
        return
    if spec == "table":
        spec = default
    if not spec.startswith("table"):
        for row in rows:
            out.write(render(spec, row) + "\n")
        return
    body = spec[len("table"):].lstrip()
    header_ctx = _HeaderContext(headers)
    lines = [render(body, header_ctx).split("\t")] + [render(body, row).split("\t") for row in rows]
    align(lines, out)


class _HeaderContext(dict):
    """Renders ``{{.Field}}`` as the column title of the field."""

    def __init__(self, headers: dict[str, str]):
        super().__init__()
        self.headers = headers

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        title = self.headers.get(key) or _upper_snake(key)
        return _Title(title)


class _Title(str):
    """A column title that also answers method-style fields (``{{.Label "x"}}`` -> ``LABEL``)."""

    def __call__(self, *args: Any) -> str:
        return str(self)


def _upper_snake(name: str) -> str:
    out = ""
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out += " "
        out += ch.upper()
    return out


def truncate(text: str, width: int) -> str:
    """Docker's ellipsis truncation: ``width`` characters, the last one "…"."""
    return text if len(text) <= width else text[: width - 1] + "…"


def ago(unix_seconds: float) -> str:
    from berth.humanize import duration

    return duration(time.time() - unix_seconds) + " ago"


def human_size(num: float, precision: int = 3) -> str:
    """``units.HumanSizeWithPrecision(n, precision)``: "1.98MB", "0B" (``units.HumanSize`` is precision 4)."""
    from berth.humanize import size

    return size(num, precision)


def bytes_size(num: float) -> str:
    """``units.BytesSize``: binary units with 4 significant digits ("644KiB", "1.944GiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    i = 0
    while num >= 1024 and i < len(units) - 1:
        num /= 1024.0
        i += 1
    return f"{num:.4g}{units[i]}"


def parse_bytes(text: str) -> int:
    """``32m``, ``1g``, ``512k``, ``100`` -> bytes (binary units, as Docker's RAMInBytes)."""
    import re

    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?", text.strip().lower())
    if not match:
        raise SystemExit(f"invalid size: {text!r}: use a number with an optional unit b, k, m, g or t")
    number, unit = match.groups()
    return int(float(number) * 1024 ** "bkmgt".index(unit or "b"))


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """``-f key=value`` flags -> the API's ``filters`` map."""
    filters: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"berth: bad format of filter (expected name=value): {item!r}")
        filters.setdefault(key.strip().lower(), []).append(value)
    return filters


def parse_time(text: str | None) -> str | None:
    """Docker's ``--since``/``--until``: Go duration relative to now (``10m``, ``1h30m``), unix seconds
    (``1700000000[.5]``) or RFC 3339 / date (``2006-01-02T15:04:05Z``, ``2006-01-02``) -> unix seconds string."""
    if not text:
        return None
    import calendar
    import re

    if re.fullmatch(r"\d+(\.\d+)?", text):
        return text
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(a + b for a, b in parts) == text:
        seconds = sum(float(n) * units[u] for n, u in parts)
        return f"{time.time() - seconds:.9f}"
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?", text)
    if not match:
        raise SystemExit(f"berth: invalid time value {text!r}: use a duration (10m, 1h30m), unix seconds or "
                         "an RFC 3339 time (2006-01-02T15:04:05Z)")
    day, clock, frac, zone = match.groups()
    clock = clock or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    stamp = calendar.timegm(time.strptime(f"{day}T{clock}", "%Y-%m-%dT%H:%M:%S"))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        stamp -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    elif not zone:
        stamp = int(time.mktime(time.strptime(f"{day}T{clock}", "%Y-%m-%dT%H:%M:%S")))  # docker: local time
    # the fraction as written: a float would move a nanosecond timestamp copied from `logs -t` by ~100 ns
    return f"{stamp}{(frac or '')[:10]}".rstrip("0").rstrip(".") if frac else str(stamp)
