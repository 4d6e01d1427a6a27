"""``--cidfile``: the container's id written to a file, as the docker CLI writes it.

An existing file is refused before anything is created (another container may
own it); the file is created empty first, gets the id (no newline) once the
container exists, and is removed again when no container was made.
"""

from __future__ import annotations

import os


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return f"open {exc.filename}: {reason[:1].lower()}{reason[1:]}"


class CidFile:
    """A context: ``write(cid)`` inside it; leaving without a write removes the file."""

    def __init__(self, path: str):
        self.path = path
        self.written = False
        self.fd: int | None = None

    def __enter__(self) -> "CidFile":
        from berth.cli.runcreate import CommandError

        if not self.path:
            return self
        if os.path.lexists(self.path):
            raise CommandError("container ID file found, make sure the other container isn't running or delete "
                               f"{self.path}")
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
        except OSError as exc:
            raise CommandError(f"failed to create the container ID file: {_reason(exc)}") from None
        return self

    def write(self, cid: str) -> None:
        if self.fd is None:
            return
        os.write(self.fd, cid.encode())
        self.written = True

    def __exit__(self, *exc) -> None:
        if self.fd is None:
            return
        os.close(self.fd)
        if not self.written:
            try:
                os.remove(self.path)
            except OSError:
                pass
