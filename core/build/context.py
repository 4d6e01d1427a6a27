"""The build context: the tar a client sends, unpacked safely and filtered by ``.dockerignore``.

Daemon side: :func:`extract_context` unpacks the (plain or gzip) tar into a
private directory with the engine's safe extractor, reads the Dockerfile, then
removes what ``.dockerignore`` excludes (the Dockerfile and .dockerignore too
when they are excluded, after reading them, as Moby does).
The client side (packing a directory as the docker CLI does) is :mod:`berth.build.packer`.
"""

from __future__ import annotations

import os
import posixpath
import shutil

from berth.build import dockerignore
from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: ``berth build`` imports this module and need not pay for typing
    from typing import BinaryIO, Iterator

DEFAULT_DOCKERFILE = "Dockerfile"


class BuildContext:
    """An unpacked context directory and the Dockerfile text read from it.

    A plain class: the CLI imports this module to pack contexts, and dataclasses would cost it ``inspect``.
    """

    def __init__(self, root: str, dockerfile: str, dockerfile_path: str, ignore: list[dockerignore.Pattern]):
        self.root = root
        self.dockerfile = dockerfile
        self.dockerfile_path = dockerfile_path
        self.ignore = ignore

    def close(self) -> None:
        """Remove the unpacked context."""
        shutil.rmtree(self.root, ignore_errors=True)


def _read_ignore(root: str) -> list[dockerignore.Pattern]:
    try:
        with open(os.path.join(root, ".dockerignore"), encoding="utf-8") as f:
            return dockerignore.read(f.read())
    except FileNotFoundError:
        return []


def _clean_rel(path: str, what: str) -> str:
    rel = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if rel.startswith("../") or rel == "..":
        raise InvalidArgument(f"{what} {path!r} is outside the build context")
    return rel


def apply_ignore(root: str, patterns: list[dockerignore.Pattern], keep: tuple[str, ...] = ()) -> int:
    """Delete the excluded files under ``root`` (bottom-up); return how many entries were removed."""
    removed = 0
    for current, dirs, files in os.walk(root, topdown=False):
        rel_dir = os.path.relpath(current, root)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(current, d))]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel not in keep and dockerignore.excluded(rel, patterns):
                os.unlink(os.path.join(current, name))
                removed += 1
        for name in dirs:
            path = os.path.join(current, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if os.path.islink(path) or not dockerignore.excluded(rel, patterns):
                continue
            try:
                os.rmdir(path)  # kept when an exception re-included something inside
                removed += 1
            except OSError:
                pass
    return removed


def extract_context(stream: BinaryIO, tmp_dir: str, dockerfile: str | None) -> BuildContext:
    """Unpack the context tar ``stream`` under ``tmp_dir`` and read its Dockerfile."""
    import tempfile

    from berth.images.compression import decompressed
    from berth.images.tarsafe import extract_tree

    os.makedirs(tmp_dir, mode=0o700, exist_ok=True)
    root = tempfile.mkdtemp(prefix="build-", dir=tmp_dir)
    try:
        extract_tree(decompressed(stream), root)
        name = _clean_rel(dockerfile or DEFAULT_DOCKERFILE, "Dockerfile")
        path = os.path.join(root, name)
        if not os.path.isfile(path) and not dockerfile:
            alt = os.path.join(root, "dockerfile")  # Docker accepts the lowercase name too
            if os.path.isfile(alt):
                name, path = "dockerfile", alt
        if os.path.islink(path) or not os.path.isfile(path):
            raise InvalidArgument(f"Cannot locate specified Dockerfile: {name} (it is not in the build context; "
                                  "pass -f with its path inside the context)")
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        patterns = _read_ignore(root)
        apply_ignore(root, patterns)
        return BuildContext(root=root, dockerfile=text, dockerfile_path=name, ignore=patterns)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
