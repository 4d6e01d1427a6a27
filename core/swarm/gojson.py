"""Go's ``encoding/json`` rules for the swarm API types, so berthd's JSON is shaped as dockerd's.

dockerd decodes a request body into Go structs and encodes Go structs back. What a
client sees therefore follows Go's rules, not the request: unknown fields vanish,
field names match case-insensitively, a field absent from the request holds its
type's zero value, ``omitempty`` fields with zero values are left out of answers
while the others are always there (``0``, ``""``, ``null``), a struct-typed field is
never left out, ``[]byte`` travels as base64, durations as integer nanoseconds.

A type is described once (:class:`Struct`, :class:`Ptr`, :class:`Slice`, :class:`Map`
and the scalar kinds); :func:`decode` turns request JSON into a *Go value* (a dict
holding every field of the struct, ``None`` for nil pointers, slices and maps) or
raises :class:`~berth.errors.InvalidArgument` with Go's message; :func:`encode`
turns a Go value into the JSON dockerd would write.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from berth.errors import InvalidArgument


@dataclass(frozen=True)
class Scalar:
    """A Go scalar kind: its name in error messages, its zero value and, for integers, its range."""

    go_name: str
    zero: Any
    low: int | None = None
    high: int | None = None


STRING = Scalar("string", "")
BOOL = Scalar("bool", False)
INT = Scalar("int", 0, -2**63, 2**63 - 1)
INT64 = Scalar("int64", 0, -2**63, 2**63 - 1)
INT32 = Scalar("int32", 0, -2**31, 2**31 - 1)
UINT64 = Scalar("uint64", 0, 0, 2**64 - 1)
UINT32 = Scalar("uint32", 0, 0, 2**32 - 1)
DURATION = Scalar("time.Duration", 0, -2**63, 2**63 - 1)
FILEMODE = Scalar("fs.FileMode", 0, 0, 2**32 - 1)
FLOAT32 = Scalar("float32", 0.0)
BYTES = Scalar("[]uint8", None)  # base64 in JSON; nil when absent
TIME = Scalar("time.Time", "0001-01-01T00:00:00Z")  # RFC 3339 text, kept as dockerd printed it
ANY = Scalar("interface {}", None)


@dataclass(frozen=True)
class Ptr:
    elem: Any

    @property
    def go_name(self) -> str:
        return "*" + _go_name(self.elem)


@dataclass(frozen=True)
class Slice:
    elem: Any

    @property
    def go_name(self) -> str:
        return "[]" + _go_name(self.elem)


@dataclass(frozen=True)
class Map:
    elem: Any

    @property
    def go_name(self) -> str:
        return "map[string]" + _go_name(self.elem)


@dataclass(frozen=True)
class Field:
    name: str
    type: Any
    omitempty: bool = False
    embedded: bool = False  # an anonymous struct field: its fields are promoted into the parent


@dataclass
class Struct:
    name: str
    fields: list[Field] = field(default_factory=list)

    @property
    def go_name(self) -> str:
        return self.name

    def flat(self) -> list[Field]:
        """The JSON-visible fields, embedded structs' fields promoted in place (as Go does)."""
        out: list[Field] = []
        for f in self.fields:
            out.extend(f.type.flat() if f.embedded else [f])
        return out


def _go_name(t: Any) -> str:
    return t.go_name


def zero(t: Any) -> Any:
    """The Go zero value of ``t``: a struct with every field zero, ``None`` for nil kinds."""
    if isinstance(t, Struct):
        return {f.name: zero(f.type) for f in t.flat()}
    if isinstance(t, Scalar):
        return t.zero
    return None


# ---------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------


def decode(data: Any, t: Struct) -> dict:
    """Decode a request body (already parsed JSON) into a Go value of struct type ``t``."""
    if data is None:
        return zero(t)
    if not isinstance(data, dict):  # the body itself: Go names the type with its package
        raise InvalidArgument(f"json: cannot unmarshal {_json_kind(data)} into Go value of type swarm.{t.name}")
    return _decode(data, t, t.name, "", zero(t))


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {_number_text(value)}"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "value")


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() and abs(value) < 1e21 else str(value)


def _mismatch(value: Any, t: Any, root: str, path: str) -> InvalidArgument:
    return InvalidArgument(f"json: cannot unmarshal {_json_kind(value)} into Go struct field {root}.{path} of type "
                           f"{_go_name(t)}")


def _decode(value: Any, t: Any, root: str, path: str, current: Any) -> Any:
    if value is None:  # JSON null leaves scalars and structs as they are, and makes the nil kinds nil
        return current if isinstance(t, (Struct, Scalar)) and t is not BYTES else None
    if isinstance(t, Struct):
        return _decode_struct(value, t, root, path, current)
    if isinstance(t, Ptr):
        inner = current if current is not None else zero(t.elem)
        return _decode(value, t.elem, root, path, inner)
    if isinstance(t, Slice):
        if not isinstance(value, list):
            raise _mismatch(value, t, root, path)
        return [_decode(v, t.elem, root, path, zero(t.elem)) for v in value]
    if isinstance(t, Map):
        if not isinstance(value, dict):
            raise _mismatch(value, t, root, path)
        return {k: _decode(v, t.elem, root, path, zero(t.elem)) for k, v in value.items()}
    return _decode_scalar(value, t, root, path)


def _decode_struct(value: Any, t: Struct, root: str, path: str, current: dict | None) -> dict:
    if not isinstance(value, dict):
        raise _mismatch(value, t, root, path)
    out = dict(current) if current is not None else zero(t)
    fields = t.flat()
    for key, item in value.items():
        match = next((f for f in fields if f.name == key), None) or next(
            (f for f in fields if f.name.lower() == key.lower()), None)  # Go matches names case-insensitively
        if match is None:
            continue  # unknown fields are ignored
        sub = f"{path}.{match.name}" if path else match.name
        # Go names a mistyped field by the struct that declares it, then the whole path
        out[match.name] = _decode(item, match.type, t.name, sub, out[match.name])
    return out


def _decode_scalar(value: Any, t: Scalar, root: str, path: str) -> Any:
    if t is ANY:
        return value
    if t in (STRING, TIME):
        if not isinstance(value, str):
            raise _mismatch(value, t, root, path)
        return value
    if t is BYTES:
        if not isinstance(value, str):
            raise _mismatch(value, t, root, path)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"illegal base64 data at input byte {_bad_base64_offset(value)}") from None
    if t is BOOL:
        if not isinstance(value, bool):
            raise _mismatch(value, t, root, path)
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _mismatch(value, t, root, path)
    if t is FLOAT32:
        return float(value)
    if isinstance(value, float) and not value.is_integer() or not (t.low <= value <= t.high):
        raise _mismatch(value, t, root, path)
    return int(value)


def _bad_base64_offset(text: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for i, ch in enumerate(text):
        if ch not in alphabet:
            return i
    return len(text) - len(text) % 4


# ---------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------


def encode(value: Any, t: Any) -> Any:
    """The JSON dockerd writes for a Go value of type ``t`` (``omitempty`` honoured)."""
    if isinstance(t, Struct):
        out = {}
        for f in t.flat():
            item = value.get(f.name, zero(f.type)) if value is not None else zero(f.type)
            if f.omitempty and _empty(item, f.type):
                continue
            out[f.name] = encode(item, f.type)
        return out
    if value is None:
        return None
    if isinstance(t, Ptr):
        return encode(value, t.elem)
    if isinstance(t, Slice):
        return [encode(v, t.elem) for v in value]
    if isinstance(t, Map):
        return {k: encode(v, t.elem) for k, v in value.items()}
    if t is BYTES:
        return base64.b64encode(value).decode()
    if t is FLOAT32 and float(value).is_integer():
        return int(value)  # Go writes 0, not 0.0
    return value


def _empty(value: Any, t: Any) -> bool:
    """Go's ``omitempty``: false, 0, "", nil and empty slices and maps; never a struct."""
    if isinstance(t, Struct) or t is TIME:
        return False
    if isinstance(t, Ptr):  # a pointer to a zero value is not empty
        return value is None
    return value is None or value is False or value == 0 and not isinstance(value, str) or value in ("", [], {}, b"")
