"""Verb options declared once, read by argparse and by a tiny parser for the common case.

A verb module lists its options as :data:`Option` tuples.
:func:`berth.cli.argparsing.add_options` turns them into argparse arguments (help,
errors and ``--help`` output come from argparse, as for every other verb);
:func:`fast_parse` reads the same table without
importing argparse (which, with ``re``, ``gettext`` and ``locale``, costs more than
the rest of a ``berth ps``). It understands only the plain forms (``-a``, ``-aq``,
``--all``, ``-n 3``, ``--last=3``, ``-f x`` repeated, positional words, a command
after ``run IMAGE``) and returns None for anything else (``--help``, an unknown or
malformed option, a value that starts with "-", a number in an unusual spelling, a
missing or surplus positional argument), so argparse then parses the same words and
prints exactly the message and exit code it always did. ``run`` and ``create``, whose
command lines use every form the docker CLI knows, are read by :mod:`berth.cli.flags`
from their tables instead.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

#: (flags, kind, dest, default, help[, extra]). The kind is the docker CLI's value type: "bool", "string",
#: "int", "list" (repeatable string) here; :mod:`berth.cli.flags` also reads "uint16", "uint", "decimal",
#: "bytes", "duration", "map", "ulimit", "mount", "network" and "gpu-request". "help" prints the help (for
#: parsers whose -h means something else). A positional argument has flags (): "arg" (exactly one word),
#: "arg?" (optional, one word), "args+" (one or more words) or "remainder" (argparse.REMAINDER: every word
#: after the positionals before it, dashes included, as ``run IMAGE COMMAND...``). ``extra`` is a dict:
#: argparse keywords (``metavar``, ``choices``; fast_parse honours ``choices``), and for berth.cli.flags
#: ``check`` (the "module.function" that converts one value), ``hidden`` (aliases --help leaves out) and
#: ``shown_default`` (the default --help shows where it is not the value's own), ``ostype`` (the only daemon OS
#: the flag is for).
Option = tuple  # tuple[tuple[str, ...], str, str, Any, str] or with a trailing dict[str, Any]
POSITIONAL = {"arg": None, "arg?": "?", "args+": "+", "remainder": "..."}  # "..." is argparse.REMAINDER
#: the keys of ``extra`` that are berth's own, not argparse keywords
OWN_EXTRA = ("check", "hidden", "shown_default", "ostype")


class Namespace:
    """The parsed options, read by attribute like argparse's Namespace."""

    def __init__(self, **values: Any):
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Namespace({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def extra(opt: Option) -> dict:
    """The option's trailing dict of further settings ({} when it has none)."""
    return opt[5] if len(opt) > 5 else {}


def _number(value: str) -> int | None:
    """``value`` as argparse's ``int`` reads it, for plain ASCII digits only: signs, spaces, underscores and
    other spellings are left to argparse (None)."""
    if not (value.isascii() and value.isdigit()) or (value[0] == "0" and len(value) > 1):
        return None  # 010 is octal to Go (and so to berth.cli.flagvalues): argparse's call
    return int(value)


def fast_parse(options: tuple[Option, ...], argv: list[str]) -> Namespace | None:
    """``argv`` parsed by ``options``, or None when argparse must decide (help, errors, anything unusual)."""
    if "--" in argv:  # argparse drops a "--" right after run's IMAGE but keeps a later one: its call
        return None
    by_flag = {flag: opt for opt in options for flag in opt[0]}
    values = {opt[2]: _initial(opt[1], opt[3]) for opt in options if opt[1] != "help"}
    positionals = [opt for opt in options if opt[1] in POSITIONAL]
    # a "remainder" starts once the positionals before it have their word (run IMAGE starts COMMAND)
    before_rest = next((n for n, opt in enumerate(positionals) if opt[1] == "remainder"), None)
    words: list[str] = []
    rest: list[str] | None = None
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if rest is not None:
            rest.append(word)
            continue
        if not word.startswith("-") and word and positionals:
            if len(words) == before_rest:  # the remainder is the first positional: this word starts it
                rest = [word]
                continue
            words.append(word)
            if len(words) == before_rest:
                rest = []
            continue
        if not word.startswith("-") or word == "-" or (word in ("-h", "--help") and word not in by_flag):
            return None
        if word.startswith("--"):
            name, eq, attached = word.partition("=")
            opt = by_flag.get(name)
            if opt is None or (eq and opt[1] in ("bool", "help")):
                return None
            value = attached if eq else None
        else:
            # -it, -dit: a run of single-letter flags; -n3, -e=X and -dp 80 are left to argparse
            letters = [by_flag.get("-" + ch) for ch in word[1:]]
            if len(letters) > 1:
                if any(opt is None or opt[1] != "bool" for opt in letters):
                    return None
                for opt in letters:
                    values[opt[2]] = True
                continue
            opt, value = letters[0] if letters else None, None
            if opt is None:
                return None
        kind, dest = opt[1], opt[2]
        if kind == "help":
            return None
        if kind == "bool":
            values[dest] = True
            continue
        if value is None:
            if i >= len(argv) or argv[i].startswith("-"):
                return None  # a missing value, or one argparse may read as an option (-1): its call
            value = argv[i]
            i += 1
        choices = extra(opt).get("choices")
        if kind == "int":
            number = _number(value)
            if number is None:
                return None
            values[dest] = number
        elif choices is not None and value not in choices:
            return None  # argparse words the "invalid choice" error
        elif kind == "list":
            values[dest].append(value)
        else:
            values[dest] = value
    return _place(positionals, words, rest, values)


def _initial(kind: str, default: Any) -> Any:
    if kind in ("list", "remainder"):
        return list(default or ())
    return False if kind == "bool" else default


def _place(positionals: list[Option], words: list[str], rest: list[str] | None,
           values: dict[str, Any]) -> Namespace | None:
    """Deal the positional ``words`` out as argparse would, or None when it would complain."""
    fixed = [opt for opt in positionals if opt[1] != "remainder"]
    if len(fixed) > 1 or (len(fixed) == 1 and fixed[0][1] != "arg" and len(positionals) > 1):
        raise ValueError("fast_parse handles one positional, or single words followed by a remainder")
    if any(opt[1] == "remainder" for opt in positionals):
        if rest is None and fixed:  # the positionals before the remainder are missing: argparse's error
            return None
        values[positionals[-1][2]] = rest or []
        if fixed:
            values[fixed[0][2]] = words[0]
        return Namespace(**values)
    if fixed:
        (_, kind, dest, _, _, *_), = fixed
        if (kind == "arg" and len(words) != 1) or (kind == "arg?" and len(words) > 1) or \
                (kind == "args+" and not words):
            return None
        values[dest] = words if kind == "args+" else (words[0] if words else values[dest])
    elif words:
        return None
    return Namespace(**values)
