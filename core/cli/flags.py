"""A command line read as the docker CLI reads it (spf13/pflag, interspersed off), from an option table.

``run`` and ``create`` parse every command line here, whatever it holds: the
docker CLI accepts forms argparse cannot (``--rm=false``, ``-d=true``,
``-p80:80``, ``-e=X``, a value that starts with "-", ``--sig-proxy=false``), and a
script written for it must mean the same to berth. The rules:

* ``--name value`` and ``--name=value``; the next word is the value even when it
  starts with "-"; a missing one is "flag needs an argument".
* booleans take no separate word: ``--rm``, ``--rm=false``, ``-d=0``;
* ``-abc`` is a run of shorthands; the first one that takes a value takes the
  rest of the word (``-dp80``, ``-e=X`` is "X") or the next word;
* the first word that is not a flag (or ``-``) ends the flags: it and every word
  after it are the positionals (``run IMAGE COMMAND...``); ``--`` ends them too.

Values are converted by kind (:mod:`berth.cli.flagvalues`) or by the option's own
``check`` (imported only when that flag is used) and errors carry the docker CLI's
wording. The same table also builds an argparse parser (:func:`berth.cli.argparsing.add_options`)
for completion; tests check that the two agree on every form argparse knows.
"""

from __future__ import annotations

from berth.cli import options

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any, Callable

#: kinds whose value is a Go ``bool`` (no separate word)
BOOL_KINDS = ("bool", "help")
#: converters by kind, as "module.function" under berth.cli (imported on first use)
KIND_CONVERTERS = {
    "bool": "flagvalues.parse_bool", "int": "flagvalues.parse_int", "uint16": "flagvalues.parse_uint16",
    "uint": "flagvalues.parse_uint", "decimal": "flagvalues.parse_nano_cpus", "bytes": "flagvalues.parse_ram_bytes",
    "duration": "flagvalues.parse_duration", "ulimit": "runvalues.ulimit", "mount": "csvflags.mount",
    "network": "csvflags.network_attachment", "gpu-request": "csvflags.gpu_request",
}
#: kinds that collect every value given
LIST_KINDS = ("list", "mount", "network", "gpu-request")


class FlagError(Exception):
    """A command line the docker CLI refuses before it talks to the daemon; ``str()`` is its message."""


class UnsupportedFlags(FlagError):
    """Flags for another daemon OS (``--cpu-count``...): the docker CLI refuses them after parsing (exit 1)."""


class SurplusArguments(FlagError):
    """More positional words than the command takes."""


class HelpRequested(Exception):
    """``--help`` was given: print the verb's help and exit 0."""


def converter(path: str) -> Callable[[str], Any]:
    """The function a "module.function" path names (the module is imported now, not at start-up)."""
    module, _, name = path.rpartition(".")
    __import__("berth.cli." + module)
    import sys

    return getattr(sys.modules["berth.cli." + module], name)


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string: double quotes, with backslash escapes for quotes and unprintable characters."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a",
               "\b": "\\b", "\f": "\\f", "\v": "\\v"}
    out = []
    for ch in text:
        if ch in escapes:
            out.append(escapes[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x80 else f"\\u{ord(ch):04x}")
    return '"' + "".join(out) + '"'


def flag_label(opt: options.Option) -> str:
    """``-c, --cpu-shares`` or ``--cpus``: how pflag names a flag in its errors."""
    flags = opt[0]
    long = next(f for f in flags if f.startswith("--"))
    short = next((f for f in flags if not f.startswith("--")), None)
    return f"{short}, {long}" if short else long


def initial_values(table: tuple[options.Option, ...]) -> tuple[dict[str, Any], dict[str, options.Option]]:
    """(every option's value before the command line is read, the options by flag), in one pass."""
    values: dict[str, Any] = {}
    by_flag: dict[str, options.Option] = {}
    for opt in table:
        kind, dest, default = opt[1], opt[2], opt[3]
        for flag in opt[0]:
            by_flag[flag] = opt
        if kind == "help":
            values[dest] = False
        elif kind in LIST_KINDS or kind == "remainder":
            values[dest] = list(default) if default else []
        elif kind == "map" or kind == "ulimit":
            values[dest] = dict(default) if default else {}
        else:
            values[dest] = default
    return values, by_flag


def _store(opt: options.Option, text: str, values: dict[str, Any]) -> None:
    """Convert one flag value and store it the way its kind accumulates (pflag's ``Value.Set``)."""
    kind, dest = opt[1], opt[2]
    values.setdefault("__given__", []).append(opt)
    check = options.extra(opt).get("check") or KIND_CONVERTERS.get("bool" if kind == "help" else kind)
    if kind in BOOL_KINDS and text in ("true", "false"):
        check = None  # the common case, without importing flagvalues
        text = text == "true"  # type: ignore[assignment]
    try:
        value = converter(check)(text) if check else text
    except ValueError as exc:
        raise FlagError(f'invalid argument {go_quote(text)} for "{flag_label(opt)}" flag: {exc}') from None
    if kind in LIST_KINDS:
        values[dest].append(value)
    elif kind in ("map", "ulimit"):
        merge_keyed(kind, values[dest], value)
    else:
        values[dest] = value


def merge_keyed(kind: str, items: dict[str, Any], value: Any) -> None:
    """A ``map`` value (``key=value``) or a ``ulimit``: a later one for the same key replaces the earlier."""
    if kind == "ulimit":
        items[value["Name"]] = value
    else:
        key, _, item = value.partition("=")
        items[key] = item


def _long(word: str, argv: list[str], i: int, by_flag: dict, values: dict) -> int:
    """Read ``--name[=value]`` at ``argv[i-1]``; returns the index of the next word."""
    name, eq, attached = word.partition("=")
    if name == "--" or name[2] == "-" or name[2] == "=":
        raise FlagError(f"bad flag syntax: {word}")
    opt = by_flag.get(name)
    if opt is None:
        raise FlagError(f"unknown flag: {name}")
    if opt[1] in BOOL_KINDS:
        _store(opt, attached if eq else "true", values)
        return i
    if not eq:
        if i >= len(argv):
            raise FlagError(f"flag needs an argument: {name}")
        attached, i = argv[i], i + 1
    _store(opt, attached, values)
    return i


def _shorthands(word: str, argv: list[str], i: int, by_flag: dict, values: dict) -> int:
    """Read ``-abc``/``-p80``/``-e=X`` at ``argv[i-1]``; returns the index of the next word."""
    letters = word[1:]
    while letters:
        letter, rest = letters[0], letters[1:]
        opt = by_flag.get("-" + letter)
        if opt is None:
            raise FlagError(f"unknown shorthand flag: '{letter}' in -{letters}")
        attached = rest[1:] if len(rest) > 1 and rest[0] == "=" else None  # -d=false, -e=X
        if attached is not None:
            _store(opt, attached, values)
            return i
        letters = rest
        if opt[1] in BOOL_KINDS:
            _store(opt, "true", values)
            continue
        if letters:
            _store(opt, letters, values)
            return i
        if i >= len(argv):
            raise FlagError(f"flag needs an argument: '{letter}' in -{letter}")
        _store(opt, argv[i], values)
        return i + 1
    return i


def parse(table: tuple[options.Option, ...], argv: list[str], interspersed: bool = False) -> options.Namespace:
    """``argv`` read against ``table``; raises FlagError (docker's message) or HelpRequested.

    ``interspersed``: flags may follow the positionals (``build . -t app``), as for the docker
    CLI's verbs other than run, create and exec.
    """
    values, by_flag = initial_values(table)
    words: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        i += 1
        if word == "--":
            break
        if not word.startswith("-") or word == "-":
            if interspersed:
                words.append(word)
                continue
            i -= 1
            break
        if word.startswith("--"):
            i = _long(word, argv, i, by_flag, values)
        else:
            i = _shorthands(word, argv, i, by_flag, values)
    given = values.pop("__given__", [])
    if any(opt[1] == "help" and values[opt[2]] for opt in given):
        raise HelpRequested()
    _check_daemon_os(given)
    rest = words + argv[i:]
    for opt in table:
        if opt[0]:
            continue  # a flag, not a positional
        if opt[1] == "remainder":
            values[opt[2]] = rest
            rest = []
        elif rest:
            values[opt[2]] = rest.pop(0)
        else:
            values[opt[2]] = None
    if rest:
        raise SurplusArguments(f"unexpected arguments: {' '.join(rest)}")
    return options.Namespace(**values)


def _arguments(count: int) -> str:
    return f"{count} argument{'s' if count > 1 else ''}"


def _wrong_count(prog: str, usage_line: str, requirement: str) -> None:
    """Exit 1 with the docker CLI's message for a verb given the wrong number of arguments."""
    import sys

    print(f"berth: '{prog}' {requirement}\n\n{usage_line}\n\nRun '{prog} --help' for more information", file=sys.stderr)
    raise SystemExit(1)


#: the OS of every berth daemon (the docker CLI learns it from /_ping's ``OSType``)
DAEMON_OS = "linux"


def _check_daemon_os(given: list[options.Option]) -> None:
    """Refuse flags marked for another daemon OS (``ostype``), each in the docker CLI's words."""
    wrong = {flag_label(opt): opt for opt in given if options.extra(opt).get("ostype", DAEMON_OS) != DAEMON_OS}
    if wrong:
        raise UnsupportedFlags("\n".join(
            f'"{label.split(", ")[-1]}" is only supported on a Docker daemon running on '
            f'{options.extra(opt)["ostype"]}, but the Docker daemon is running on {DAEMON_OS}'
            for label, opt in sorted(wrong.items())))


def required_positionals(table: tuple[options.Option, ...]) -> int:
    """How many words the command needs after its flags (docker's "requires at least N argument(s)")."""
    return sum(1 for opt in table if opt[1] == "arg")


def read_or_exit(table: tuple[options.Option, ...], argv: list[str], prog: str, usage: str, description: str,
                 aliases: str = "", interspersed: bool = False) -> options.Namespace:
    """``argv`` parsed, or the docker CLI's way out: help (exit 0), a flag error (125), too few arguments (1)."""
    import sys

    usage_line = f"Usage:  {prog} {usage}"
    try:
        opts = parse(table, argv, interspersed)
    except HelpRequested:
        from berth.cli.flaghelp import help_text

        print(help_text(prog, usage, description, table, aliases))
        raise SystemExit(0) from None
    except UnsupportedFlags as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None
    except SurplusArguments as exc:
        if interspersed:  # cobra's ExactArgs: one message for too few and too many
            _wrong_count(prog, usage_line, f"requires {_arguments(required_positionals(table))}")
        print(f"{exc}\n\n{usage_line}\n\nRun '{prog} --help' for more information", file=sys.stderr)
        raise SystemExit(125) from None
    except FlagError as exc:
        print(f"{exc}\n\n{usage_line}\n\nRun '{prog} --help' for more information", file=sys.stderr)
        raise SystemExit(125) from None
    missing = [opt for opt in table if opt[1] == "arg" and getattr(opts, opt[2]) is None]
    if missing and interspersed:
        _wrong_count(prog, usage_line, f"requires {_arguments(required_positionals(table))}")
    if missing:
        count = required_positionals(table)
        print(f"berth: '{prog}' requires at least {count} argument{'s' if count > 1 else ''}\n\n{usage_line}\n\n"
              f"See '{prog} --help' for more information", file=sys.stderr)
        raise SystemExit(1)
    return opts
