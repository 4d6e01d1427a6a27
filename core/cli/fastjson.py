"""JSON for the CLI's hot path without importing :mod:`json`.

``import json`` loads ``json.decoder``/``json.scanner``, which import :mod:`re`, which
imports ``enum``, ``functools`` and ``collections``: several ms of a ``berth ps``
that needs only to decode one response. The C accelerator :mod:`_json` that
:mod:`json` itself uses does the actual work here, configured exactly as
``json.loads`` configures it; where it is missing (another interpreter), or on
malformed input (so the error is the one ``json.loads`` raises), :mod:`json` is used.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """The attributes ``_json.make_scanner`` reads from a decoder: ``json.loads``'s defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_Context()) if _json is not None else None
_WHITESPACE = " \t\n\r"


def loads(raw: bytes | str) -> Any:
    """``json.loads(raw)``."""
    text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    if _scan is not None and not text.startswith("\ufeff"):
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = _scan(text, start)
        except (StopIteration, ValueError):
            value, end = None, -1
        if end >= 0 and not text[end:].strip(_WHITESPACE):
            return value
    import json  # the same result or the same error as always

    return json.loads(raw)


def quote_string(text: str) -> str:
    """``json.dumps(text, ensure_ascii=False)`` for a str."""
    if _json is not None:
        return _json.encode_basestring(text)
    import json

    return json.dumps(text, ensure_ascii=False)
