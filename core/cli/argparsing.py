"""argparse, made to behave like the docker CLI: the parser class every verb's parser is built from, and
:func:`add_options`, which declares a verb's option table (:mod:`berth.cli.options`) on such a parser.

Imported only when a parser is built (``--help``, errors, verbs without a fast option
table): argparse with ``re``, ``gettext`` and ``locale`` is the largest import of a
short command (see :mod:`berth.cli.options`).
"""

from __future__ import annotations

import argparse
import os
import sys

from berth.cli.main import USAGE_ERROR

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

    from berth.cli.options import Option


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized without importing ``shutil`` (which drags in lzma/bz2)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 30, width: int | None = None):
        if width is None:
            try:
                width = os.get_terminal_size(sys.stdout.fileno()).columns - 2
            except (OSError, ValueError):
                width = 100
        super().__init__(prog, indent_increment, max_help_position, max(width, 40))


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that fails like the docker CLI: message, hint, exit 125."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: {message}\nSee '{self.prog} --help'.\n")
        sys.exit(USAGE_ERROR)


def add_options(parser: argparse.ArgumentParser, options: tuple[Option, ...]) -> None:
    """Declare ``options`` on an argparse parser (``--help``, errors and completion of the argparse verbs)."""
    from berth.cli.options import OWN_EXTRA, POSITIONAL, extra

    for opt in options:
        flags, kind, dest, default, text = opt[:5]
        keywords = {k: v for k, v in extra(opt).items() if k not in OWN_EXTRA}
        if kind in POSITIONAL:
            nargs = {"nargs": POSITIONAL[kind]} if POSITIONAL[kind] else {}
            defaults = {} if kind in ("arg", "remainder") else {"default": default}
            parser.add_argument(dest, help=text, **nargs, **defaults, **keywords)
        elif kind == "help":
            parser.add_argument(*flags, action="help", help=text)
        elif kind == "bool":
            parser.add_argument(*flags, dest=dest, action="store_const", const=True, default=default, help=text,
                                **keywords)
        else:
            _add_valued(parser, opt, keywords)


def _add_valued(parser: argparse.ArgumentParser, opt: Option, keywords: dict) -> None:
    """An option that takes a value, converted as :mod:`berth.cli.flags` converts it."""
    from berth.cli import flags as flagparse
    from berth.cli.options import extra

    names, kind, dest, default, text = opt[:5]
    check = extra(opt).get("check") or flagparse.KIND_CONVERTERS.get(kind)
    if check:
        keywords = {"type": _argparse_type(flagparse.converter(check), kind), **keywords}
    if kind in flagparse.LIST_KINDS:
        parser.add_argument(*names, dest=dest, action="append", default=list(default), help=text, **keywords)
    elif kind in ("map", "ulimit"):
        parser.add_argument(*names, dest=dest, action=_keyed_action(kind), default=dict(default), help=text,
                            **keywords)
    else:
        parser.add_argument(*names, dest=dest, default=default, help=text, **keywords)


def _argparse_type(convert: Any, kind: str) -> Any:
    """``convert`` as an argparse ``type`` (its name is what argparse's "invalid ... value" shows)."""
    def typed(text: str) -> Any:
        return convert(text)

    typed.__name__ = kind
    return typed


def _keyed_action(kind: str) -> Any:
    """argparse's counterpart of pflag's map and ulimit values: later keys replace earlier ones."""
    from berth.cli.flags import merge_keyed

    class Keyed(argparse.Action):
        def __call__(self, parser, namespace, value, option_string=None):  # noqa: ANN001 - argparse's signature
            items = dict(getattr(namespace, self.dest) or {})
            merge_keyed(kind, items, value)
            setattr(namespace, self.dest, items)

    return Keyed
