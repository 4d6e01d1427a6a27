"""Flag values read as the docker CLI reads them: Go's ``strconv``, ``time`` and go-units rules.

The docker CLI parses its flags with Go's standard library, so ``-c 010`` is 8
(base-0 integers), ``--rm=T`` is true, ``--health-interval 1m30s`` is a
duration and ``-m 1.5g`` is binary gigabytes. Each converter here takes the
flag's text and returns the value the API request carries, or raises
``ValueError`` with the message the docker CLI prints after
``invalid argument "X" for "--flag" flag:``. Standard library only, no imports
at all: the CLI's start-up is part of every command.
"""

from __future__ import annotations

_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _syntax(func: str, text: str) -> ValueError:
    return ValueError(f'strconv.{func}: parsing "{text}": invalid syntax')


def _range(func: str, text: str) -> ValueError:
    return ValueError(f'strconv.{func}: parsing "{text}": value out of range')


def parse_bool(text: str) -> bool:
    """``strconv.ParseBool``: 1, t, T, TRUE, true, True and their false counterparts."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _syntax("ParseBool", text)


def _underscores_ok(text: str) -> bool:
    """Go's ``underscoreOK``: an underscore only ever separates digits (a base prefix counts as one)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    saw, i, hexadecimal = "^", 0, False
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in "box":
        saw, i, hexadecimal = "0", 2, body[1].lower() == "x"
    for ch in body[i:]:
        if ch.isdigit() and ch.isascii() or hexadecimal and ch.lower() in "abcdef":
            saw = "0"
        elif ch == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _unsigned(func: str, text: str, body: str, bits: int) -> int:
    """``strconv.ParseUint(body, 0, bits)``; errors name ``func`` and the flag's whole ``text``."""
    base, digits = 10, body
    if body[0] == "0":
        if len(body) >= 3 and body[1].lower() in "box":
            base, digits = {"b": 2, "o": 8, "x": 16}[body[1].lower()], body[2:]
        else:
            base, digits = 8, body[1:]
    value = 0
    for ch in digits:
        if ch == "_":
            continue
        digit = _DIGITS.find(ch.lower()) if ch.isascii() else -1
        if not 0 <= digit < base:
            raise _syntax(func, text)
        value = value * base + digit
    if "_" in body and not _underscores_ok(text):
        raise _syntax(func, text)
    if value >= 1 << bits:
        raise _range(func, text)
    return value


def parse_int(text: str, bits: int = 64) -> int:
    """``strconv.ParseInt(text, 0, bits)``: a sign, then decimal, 0x, 0o, 0b or a leading-0 octal."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body:
        raise _syntax("ParseInt", text)
    magnitude = _unsigned("ParseInt", text, body, bits)
    value = -magnitude if text[:1] == "-" else magnitude
    if not -(1 << (bits - 1)) <= value < 1 << (bits - 1):
        raise _range("ParseInt", text)
    return value


def parse_uint(text: str, bits: int = 64) -> int:
    """``strconv.ParseUint(text, 0, bits)``: as :func:`parse_int` without a sign."""
    if not text or text[0] in ("+", "-"):
        raise _syntax("ParseUint", text)
    return _unsigned("ParseUint", text, text, bits)


def parse_uint16(text: str) -> int:
    """pflag's ``uint16`` flags (``--blkio-weight``)."""
    return parse_uint(text, 16)


# -- time.ParseDuration --------------------------------------------------------------

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10 ** 9, "m": 60 * 10 ** 9,
          "h": 3600 * 10 ** 9}


def parse_duration(text: str) -> int:
    """``time.ParseDuration``: ``300ms``, ``1m30s``, ``1.5h``, ``-2s`` or ``0`` -> nanoseconds."""
    invalid = ValueError(f'time: invalid duration "{text}"')
    rest, negative = text, False
    if rest[:1] in ("+", "-"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise invalid
    total = 0
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() and rest[i].isascii() or rest[i] == "."):
            i += 1
        number, rest = rest[:i], rest[i:]
        whole, dot, fraction = number.partition(".")
        if not (whole or fraction) or "." in fraction:
            raise invalid
        j = 0
        while j < len(rest) and not (rest[j] == "." or rest[j].isdigit() and rest[j].isascii()):
            j += 1
        unit, rest = rest[:j], rest[j:]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        scale = _UNITS[unit]
        total += int(whole or "0") * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
        if total > (1 << 63) - 1 + negative:
            raise invalid
    return -total if negative else total


# -- go-units sizes and Docker's NanoCPUs ----------------------------------------------

_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _go_float(text: str) -> float:
    """``strconv.ParseFloat`` for the decimal forms a size can start with (``1``, ``1.5``, ``.5``, ``2e3``)."""
    mantissa, _, exponent = text.lower().partition("e")
    body = mantissa[1:] if mantissa[:1] in ("+", "-") else mantissa
    whole, _, fraction = body.partition(".")
    ok = (whole or fraction) and (whole + fraction).isdigit() and (whole + fraction).isascii()
    if exponent:
        digits = exponent[1:] if exponent[:1] in ("+", "-") else exponent
        ok = ok and digits.isdigit() and digits.isascii()
    if not ok:
        raise _syntax("ParseFloat", text)
    return float(text)


def parse_ram_bytes(text: str) -> int:
    """go-units ``RAMInBytes``: a number and an optional binary unit (``512``, ``64m``, ``1.5GiB``, ``2 kb``)."""
    cut = max(text.rfind(ch) for ch in "0123456789. ")
    if cut == -1:
        raise ValueError(f"invalid size: '{text}'")
    number, suffix = (text[:cut + 1], text[cut + 1:]) if text[cut] != " " else (text[:cut], text[cut + 1:])
    size = _go_float(number)
    if size < 0:
        raise ValueError(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    lowered = suffix.lower()
    if len(suffix) > 3 or (lowered[0] == "b" and len(suffix) > 1) or (lowered[0] != "b" and (
            lowered[0] not in _BINARY or (len(suffix) == 2 and lowered[1] != "b")
            or (len(suffix) == 3 and lowered[1:] != "ib"))):
        raise ValueError(f"invalid suffix: '{lowered if len(suffix) <= 3 else suffix}'")
    return int(size) if lowered[0] == "b" else int(size * _BINARY[lowered[0]])


def parse_swap_bytes(text: str) -> int:
    """``--memory-swap``: ``-1`` (unlimited swap) or a size."""
    return -1 if text == "-1" else parse_ram_bytes(text)


def _rational(text: str) -> tuple[int, int] | None:
    """``a/b`` or a decimal with an optional exponent, as (numerator, denominator); None when neither."""
    sign = -1 if text[:1] == "-" else 1
    body = text[1:] if text[:1] in ("+", "-") else text
    top, slash, bottom = body.partition("/")
    if slash:
        if not (top.isdigit() and bottom.isdigit() and top.isascii() and bottom.isascii()) or int(bottom) == 0:
            return None
        return sign * int(top), int(bottom)
    mantissa, _, exponent = body.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    if not digits or not (digits.isdigit() and digits.isascii()):
        return None
    power = -len(fraction)
    if exponent:
        e_digits = exponent[1:] if exponent[:1] in ("+", "-") else exponent
        if not (e_digits.isdigit() and e_digits.isascii()) or len(e_digits) > 6:
            return None
        power += int(exponent)
    value = sign * int(digits)
    return (value * 10 ** power, 1) if power >= 0 else (value, 10 ** -power)


def parse_nano_cpus(text: str) -> int:
    """``--cpus``: a rational number of CPUs (``1.5``, ``3/4``) -> NanoCpus; finer than 1e-9 is refused."""
    ratio = _rational(text)
    if ratio is None:
        raise ValueError(f"failed to parse {text} as a rational number")
    numerator, denominator = ratio
    nanos, remainder = divmod(numerator * 10 ** 9, denominator)
    if remainder:
        raise ValueError("value is too precise")
    return nanos
