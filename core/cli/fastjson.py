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


class _Unsupported(Exception):
    """A value the fast encoders leave to :mod:`json` (which gives the same text or the same error)."""


def _refuse(value: Any) -> Any:
    raise _Unsupported


def dumps(value: Any) -> str:
    """``json.dumps(value)``, from the same C encoder json.dumps configures for its defaults."""
    if _json is not None:
        if isinstance(value, str):
            return _json.encode_basestring_ascii(value)
        try:
            # a fresh markers dict per call, as json.dumps's check_circular=True gives it
            encoder = _json.make_encoder({}, _refuse, _json.encode_basestring_ascii, None, ": ", ", ",
                                         False, False, True)
            return "".join(encoder(value, 0))
        except (_Unsupported, ValueError, TypeError, RecursionError):
            pass  # json.dumps gives the text or raises its own error
    import json

    return json.dumps(value)


def dumps_indented(value: Any, indent: int = 4) -> str:
    """``json.dumps(value, indent=indent)`` for decoded JSON (dict, list, str, int, float, bool, None).

    With ``indent`` json uses its pure-Python encoder, and importing it imports :mod:`re`;
    this one writes the same text without it. Other types (tuples, non-str keys, ...) go to :mod:`json`.
    """
    out: list[str] = []
    try:
        _indented(value, out, "\n", " " * indent)
    except _Unsupported:
        import json

        return json.dumps(value, indent=indent)
    return "".join(out)


def _indented(value: Any, out: list[str], newline: str, step: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(_quote_ascii(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        out.append(_float(value))
    elif kind is list:
        if not value:
            out.append("[]")
            return
        inner = newline + step
        out.append("[")
        for n, item in enumerate(value):
            out.append("," + inner if n else inner)
            _indented(item, out, inner, step)
        out.append(newline + "]")
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + step
        out.append("{")
        for n, (key, item) in enumerate(value.items()):
            if type(key) is not str:
                raise _Unsupported
            out.append(("," + inner if n else inner) + _quote_ascii(key) + ": ")
            _indented(item, out, inner, step)
        out.append(newline + "}")
    else:
        raise _Unsupported


def _quote_ascii(text: str) -> str:
    if _json is None:
        raise _Unsupported
    return _json.encode_basestring_ascii(text)


def _float(number: float) -> str:
    """json's float spelling (allow_nan=True)."""
    text = float.__repr__(number)
    return _NON_FINITE.get(text, text)


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
