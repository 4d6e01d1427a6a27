"""``--help`` of the verbs read by :mod:`berth.cli.flags`, laid out as the docker CLI lays out its help.

One line per flag, sorted by name: ``  -a, --attach list   description (default X)``
(``      --name string`` without a short form), the value kind after the name
(none for booleans), the description wrapped to the terminal, and the default
where docker's help shows one: a non-empty string (quoted), a true boolean, a
non-zero number, ``map[]`` for maps, or the option's ``shown_default``.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from berth.cli.options import Option


def shown_default(opt: Option) -> str | None:
    """The text of "(default X)" for ``opt``, or None when docker's help shows none."""
    from berth.cli.options import extra

    kind, default = opt[1], opt[3]
    if "shown_default" in extra(opt):
        return extra(opt)["shown_default"]
    if kind == "map":
        return "map[]"
    if kind == "string":
        return f'"{default}"' if default else None
    if kind == "bool":
        return "true" if default else None
    if kind in ("int", "uint", "uint16") and default:
        return str(default)
    return None


def _invocation(opt: Option) -> str:
    from berth.cli.options import extra

    hidden = extra(opt).get("hidden", ())
    names = [flag for flag in opt[0] if flag not in hidden]
    long = next(flag for flag in names if flag.startswith("--"))
    short = next((flag for flag in names if not flag.startswith("--")), None)
    kind = "" if opt[1] in ("bool", "help") else " " + opt[1]
    return (f"  {short}, " if short else "      ") + long + kind


def _wrap(text: str, width: int) -> list[str]:
    lines = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            if line and len(line) + 1 + len(word) > width:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
        lines.append(line)
    return lines


def options_text(table: tuple[Option, ...], width: int | None = None) -> str:
    """The "Options:" block: every flag of ``table``, sorted by long name."""
    if width is None:
        try:
            width = os.get_terminal_size(1).columns
        except OSError:
            width = 80
    flagged = sorted((opt for opt in table if opt[0]), key=lambda opt: next(f for f in opt[0] if f[:2] == "--"))
    column = max(len(_invocation(opt)) for opt in flagged) + 3
    out = []
    for opt in flagged:
        default = shown_default(opt)
        text = opt[4] + (f" (default {default})" if default is not None else "")
        lines = _wrap(text, max(width - 1 - column, 20))
        out.append(_invocation(opt).ljust(column) + lines[0])
        out.extend(" " * column + line for line in lines[1:])
    return "\n".join(out)


def help_text(prog: str, usage: str, description: str, table: tuple[Option, ...], aliases: str = "") -> str:
    """The whole help: usage, description, aliases, options."""
    parts = [f"Usage:  {prog} {usage}", "", description, ""]
    if aliases:
        parts += ["Aliases:", f"  {aliases}", ""]
    parts += ["Options:", options_text(table)]
    return "\n".join(parts)
