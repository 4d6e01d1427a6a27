"""argparse, made to behave like the docker CLI: the parser class every verb's parser is built from.

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
