"""Verb options declared once, read by argparse and by a tiny parser for the common case.

A verb module lists its options as :data:`Option` tuples. ``add(parser, options)``
turns them into argparse arguments (help, errors and ``--help`` output come from
argparse, as for every other verb); :func:`fast_parse` reads the same table without
importing argparse (which, with ``re``, ``gettext`` and ``locale``, costs more than
the rest of a ``berth ps``). It understands only the plain forms (``-a``, ``-aq``,
``--all``, ``-n 3``, ``--last=3``, ``-f x`` repeated) and returns None for anything
else (``-h``, an unknown or malformed option, a positional argument), so argparse
then parses the same words and prints exactly the message and exit code it always did.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    import argparse
    from typing import Any

#: (flags, kind, dest, default, help); kind is "flag" (store_true), "str", "int", "append" (repeatable
#: str), or a positional argument: "arg?" (optional, one word) or "args+" (one or more words; flags ())
Option = tuple  # tuple[tuple[str, ...], str, str, Any, str]
POSITIONAL = {"arg?": "?", "args+": "+"}


class Namespace:
    """The parsed options, read by attribute like argparse's Namespace."""

    def __init__(self, **values: Any):
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def add(parser: argparse.ArgumentParser, options: tuple[Option, ...]) -> None:
    """Declare ``options`` on an argparse parser (the path for ``--help`` and for errors)."""
    for flags, kind, dest, default, text in options:
        if kind in POSITIONAL:
            parser.add_argument(dest, nargs=POSITIONAL[kind], default=default, help=text)
        elif kind == "flag":
            parser.add_argument(*flags, dest=dest, action="store_true", help=text)
        elif kind == "append":
            parser.add_argument(*flags, dest=dest, action="append", default=list(default), help=text)
        else:
            kwargs = {"type": int} if kind == "int" else {}
            parser.add_argument(*flags, dest=dest, default=default, help=text, **kwargs)


def fast_parse(options: tuple[Option, ...], argv: list[str]) -> Namespace | None:
    """``argv`` parsed by ``options``, or None when argparse must decide (help, errors, anything unusual)."""
    by_flag = {flag: opt for opt in options for flag in opt[0]}
    values = {dest: (list(default) if kind == "append" else (False if kind == "flag" else default))
              for _, kind, dest, default, _ in options}
    positionals = [opt for opt in options if opt[1] in POSITIONAL]
    words: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if not word.startswith("-") and word and positionals:
            words.append(word)
            continue
        if not word.startswith("-") or word in ("-", "--", "-h", "--help"):
            return None
        if word.startswith("--"):
            name, eq, attached = word.partition("=")
            opt = by_flag.get(name)
            if opt is None or (eq and opt[1] == "flag"):
                return None
            value = attached if eq else None
        else:
            # -aq: a run of single-letter flags; -n3 and -an 3 are left to argparse
            letters = [by_flag.get("-" + ch) for ch in word[1:]]
            if len(letters) > 1:
                if any(opt is None or opt[1] != "flag" for opt in letters):
                    return None
                for opt in letters:
                    values[opt[2]] = True
                continue
            opt, value = letters[0] if letters else None, None
            if opt is None:
                return None
        kind, dest = opt[1], opt[2]
        if kind == "flag":
            values[dest] = True
            continue
        if value is None:
            if i >= len(argv) or argv[i].startswith("-"):
                return None  # a missing value, or one argparse may read as an option: its call
            value = argv[i]
            i += 1
        if kind == "int":
            if not value.isdigit():  # signs, spaces, underscores: argparse's int() decides
                return None
            values[dest] = int(value)
        elif kind == "append":
            values[dest].append(value)
        else:
            values[dest] = value
    if positionals:  # one positional per table: "arg?" takes at most one word, "args+" at least one
        (_, kind, dest, _, _), = positionals
        if (kind == "arg?" and len(words) > 1) or (kind == "args+" and not words):
            return None
        values[dest] = (words[0] if words else values[dest]) if kind == "arg?" else words
    return Namespace(**values)
