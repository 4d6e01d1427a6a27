"""Docker's human-readable durations and sizes (go-units), shared by the API and the CLI."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``units.HumanDuration``: "Less than a second", "About a minute", "3 hours", "2 weeks"..."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def size(num: float, precision: int = 3) -> str:
    """``units.HumanSizeWithPrecision(n, precision)``: decimal units ("4.26MB"); ``units.HumanSize`` is precision 4."""
    units = ["B", "kB", "MB", "GB", "TB", "PB"]
    i = 0
    while num >= 1000 and i < len(units) - 1:
        num /= 1000.0
        i += 1
    return f"{num:.{precision}g}{units[i]}"


def point_in_time(value: str, now: float | None = None) -> float:
    """Docker's ``since``/``until``: unix seconds (a fraction allowed), RFC 3339, or a duration ago (``10m``).

    Raises ValueError naming the accepted forms.
    """
    import time

    units = {"s": 1, "m": 60, "h": 3600}
    text = value.strip()
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return (time.time() if now is None else now) - float(text[:-1]) * units[text[-1]]
    try:
        return float(text)
    except ValueError:
        pass
    from berth.containers.jsonlog import parse_timestamp

    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{value!r}: use unix seconds, an RFC 3339 time like 2024-01-02T15:04:05Z, "
                         "or a duration such as 10m") from None


def _go_size(text: str, base: int) -> int:
    """go-units' parseSize: ``<number>[ ][kmgtp][i][b]``, case-insensitive; the error texts are Go's."""
    import re

    match = re.fullmatch(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?", text)
    if not match:
        raise ValueError(f"invalid size: '{text}'")
    number, unit = match.groups()
    try:
        size = float(number)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax') from None
    return int(size * base ** ("kmgtp".index(unit.lower()) + 1 if unit else 0))


def from_human_size(text: str) -> int:
    """``units.FromHumanSize``: decimal units (``10m`` is 10,000,000 bytes), as Docker's log ``max-size``."""
    return _go_size(text, 1000)


def ram_in_bytes(text: str) -> int:
    """``units.RAMInBytes``: binary units (``1m`` is 1,048,576 bytes)."""
    return _go_size(text, 1024)
