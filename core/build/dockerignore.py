"""``.dockerignore``: Docker's pattern rules (Moby ``patternmatcher``).

Each non-comment line is a pattern, cleaned like a path (``./a//b/`` -> ``a/b``,
a leading ``/`` dropped); ``!`` makes it an exception. ``*`` and ``?`` never match
``/``; ``**`` matches any number of directories. A path is excluded when the last
pattern that matches it (or one of its parent directories) is not an exception.
"""

from __future__ import annotations

import posixpath
import re
from collections import namedtuple

from berth.errors import InvalidArgument

#: one pattern line: its cleaned ``text``, whether it is an ``exclusion`` (``!``), its ``regex``, and its
#: ``depth`` (number of path components). A namedtuple, not a dataclass: ``berth build`` imports this at
#: start-up, and dataclasses pulls in ``inspect``.
Pattern = namedtuple("Pattern", "text exclusion regex depth")


def _to_regex(pattern: str) -> re.Pattern:
    out = "^"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1  # "**/" is "**"
                out += ".*" if i + 1 >= len(pattern) else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            i += 1
            if i >= len(pattern):
                raise InvalidArgument(f"invalid .dockerignore pattern {pattern!r}: it ends with an escape")
            out += re.escape(pattern[i])
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f"invalid .dockerignore pattern {pattern!r}: unclosed '['")
            body = pattern[i + 1:end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
            i = end
        else:
            out += re.escape(ch)
        i += 1
    try:
        return re.compile(out + "$", re.S)
    except re.error as exc:
        raise InvalidArgument(f"invalid .dockerignore pattern {pattern!r}: {exc}") from None


def compile_patterns(lines: list[str]) -> list[Pattern]:
    """Patterns from the lines of a .dockerignore (comments and blanks skipped)."""
    out = []
    for raw in lines:
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        exclusion = text.startswith("!")
        if exclusion:
            text = text[1:].strip()
            if not text:
                raise InvalidArgument("illegal exclusion pattern in .dockerignore: \"!\"")
        text = posixpath.normpath(text) if text else text
        text = text.lstrip("/") or "."
        if text.startswith("../") or text == "..":
            text = posixpath.normpath("/" + text).lstrip("/") or "."
        out.append(Pattern(text, exclusion, _to_regex(text), len(text.split("/"))))
    return out


def read(text: str) -> list[Pattern]:
    """Patterns from the content of a .dockerignore file."""
    return compile_patterns(text.splitlines())


def excluded(path: str, patterns: list[Pattern]) -> bool:
    """True when ``path`` (relative, ``/``-separated) is excluded by ``patterns``."""
    path = posixpath.normpath(path).lstrip("/")
    parts = path.split("/")
    matched = False
    for pattern in patterns:
        if pattern.exclusion and not matched:
            continue  # an exception can only re-include what is excluded so far
        hit = bool(pattern.regex.match(path))
        if not hit and len(parts) > 1 and pattern.depth <= len(parts) - 1:
            # a pattern matching a parent directory excludes everything under it
            hit = bool(pattern.regex.match("/".join(parts[:pattern.depth])))
        if hit:
            matched = not pattern.exclusion
    return matched


def has_exceptions(patterns: list[Pattern]) -> bool:
    """True when some pattern is an exception (so an excluded directory may still hold included files)."""
    return any(p.exclusion for p in patterns)
