"""The build context on the daemon's side: the tar a client sends, read as an index or unpacked safely.

:func:`open_context` takes a received body: when :mod:`berth.build.receive` could
index it, the build reads the Dockerfile, ``.dockerignore`` and its COPY/ADD
checksums from that index and the tar is unpacked only when a step copies from it
(:class:`IndexedContext`); otherwise :func:`extract_context` unpacks it at once with
the engine's safe extractor (:class:`ExtractedContext`), which refuses hostile
archives. Either way what ``.dockerignore`` excludes is dropped after the Dockerfile
and .dockerignore are read (those two too when they are excluded, as Moby does), and
paths in the context are resolved with its symlinks kept inside it.
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
    from typing import BinaryIO

DEFAULT_DOCKERFILE = "Dockerfile"


class BuildContext:
    """The context a build reads: its Dockerfile, its ignore patterns, and its files by relative path.

    Two kinds: :class:`ExtractedContext` (unpacked on arrival) and :class:`IndexedContext` (an index of the
    spooled tar, unpacked only when a step copies from it). Both answer alike: same sources, same checksums.
    """

    dockerfile: str
    dockerfile_path: str
    ignore: list[dockerignore.Pattern]

    def expand(self, src: str, what: str) -> list[str]:
        """The context paths (relative; "" is the root) a COPY/ADD source names (see :func:`sources.expand`)."""
        raise NotImplementedError

    def checksum(self, rel: str) -> str:
        """The content checksum of the source at ``rel`` (see :func:`sources.checksum`)."""
        raise NotImplementedError

    def host_path(self, rel: str) -> str:
        """Where ``rel`` is on disk (the context is unpacked first if it was not)."""
        raise NotImplementedError

    def close(self) -> None:
        """Remove what the context left on disk."""


class ExtractedContext(BuildContext):
    """A context unpacked into ``root`` (with ``.dockerignore`` applied)."""

    def __init__(self, root: str, dockerfile: str, dockerfile_path: str, ignore: list[dockerignore.Pattern]):
        self.root = root
        self.dockerfile = dockerfile
        self.dockerfile_path = dockerfile_path
        self.ignore = ignore

    def expand(self, src: str, what: str) -> list[str]:
        from berth.build import sources

        return [_relative(path, self.root) for path in sources.expand(self.root, src, what)]

    def checksum(self, rel: str) -> str:
        from berth.build import sources

        return sources.checksum(self.host_path(rel))

    def host_path(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _relative(path: str, root: str) -> str:
    rel = os.path.relpath(path, root)
    return "" if rel == "." else rel


class IndexedContext(BuildContext):
    """A context known by its index (:mod:`berth.build.ctxindex`) over the spooled tar; unpacked on first need."""

    def __init__(self, index, spool, tmp_dir: str, dockerfile: str, dockerfile_path: str,
                 ignore: list[dockerignore.Pattern]):
        import threading

        self.index = index
        self.spool = spool
        self.tmp_dir = tmp_dir
        self.dockerfile = dockerfile
        self.dockerfile_path = dockerfile_path
        self.ignore = ignore
        self.root: str | None = None
        self._lock = threading.Lock()

    def expand(self, src: str, what: str) -> list[str]:
        return self.index.expand(src, what)

    def checksum(self, rel: str) -> str:
        return self.index.checksum(rel)

    def host_path(self, rel: str) -> str:
        with self._lock:
            if self.root is None:
                self.root = _unpack(self.spool, self.tmp_dir, self.ignore)
        return os.path.join(self.root, rel) if rel else self.root

    def close(self) -> None:
        with self._lock:
            if self.root is not None:
                shutil.rmtree(self.root, ignore_errors=True)
                self.root = None
            self.spool.close()


def _unpack(stream: BinaryIO, tmp_dir: str, ignore: list[dockerignore.Pattern] | None) -> str:
    """Extract the context tar ``stream`` (from its start) into a new directory; ``.dockerignore`` applied when
    its patterns are given."""
    import tempfile

    from berth.images.compression import decompressed
    from berth.images.tarsafe import extract_tree

    os.makedirs(tmp_dir, mode=0o700, exist_ok=True)
    root = tempfile.mkdtemp(prefix="build-", dir=tmp_dir)
    try:
        stream.seek(0)
        extract_tree(decompressed(stream), root)
        if ignore is not None:
            apply_ignore(root, ignore)
        return root
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _patterns(data: bytes | None) -> list[dockerignore.Pattern]:
    return dockerignore.read(data.decode("utf-8")) if data is not None else []


def _locate_dockerfile(is_file, dockerfile: str | None) -> str:
    """The Dockerfile's path in the context; ``is_file(path)`` tells a regular file (not a symlink)."""
    name = _clean_rel(dockerfile or DEFAULT_DOCKERFILE, "Dockerfile")
    if not is_file(name) and not dockerfile and is_file("dockerfile"):
        return "dockerfile"  # Docker accepts the lowercase name too
    if not is_file(name):
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {name} (it is not in the build context; "
                              "pass -f with its path inside the context)")
    return name


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


def extract_context(stream: BinaryIO, tmp_dir: str, dockerfile: str | None) -> ExtractedContext:
    """Unpack the context tar ``stream`` under ``tmp_dir`` and read its Dockerfile."""
    from berth.images.scope import resolve_in_root

    root = _unpack(stream, tmp_dir, None)
    try:
        def is_file(name: str) -> bool:
            path = resolve_in_root(root, name, follow_final=False)
            return os.path.isfile(path) and not os.path.islink(path)

        name = _locate_dockerfile(is_file, dockerfile)
        with open(resolve_in_root(root, name, follow_final=False), encoding="utf-8", errors="replace") as f:
            text = f.read()
        ignore_path = resolve_in_root(root, ".dockerignore")
        if os.path.isfile(ignore_path):
            with open(ignore_path, "rb") as f:
                patterns = _patterns(f.read())
        else:
            patterns = []
        apply_ignore(root, patterns)
        return ExtractedContext(root=root, dockerfile=text, dockerfile_path=name, ignore=patterns)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def open_context(spool: BinaryIO, index, tmp_dir: str, dockerfile: str | None) -> BuildContext:
    """The context of a received body: indexed when :mod:`berth.build.receive` could index it, else unpacked
    now. The context owns ``spool`` from here on."""
    if index is None:
        try:
            return extract_context(spool, tmp_dir, dockerfile)
        finally:
            spool.close()
    try:
        name = _locate_dockerfile(lambda n: index.regular_file(n, follow_final=False) is not None, dockerfile)
        raw = index.read(index.regular_file(name, follow_final=False)).decode("utf-8", errors="replace")
        text = raw.replace("\r\n", "\n").replace("\r", "\n")  # as a text-mode read of the unpacked file
        ignore_file = index.regular_file(".dockerignore", follow_final=True)
        patterns = _patterns(index.read(ignore_file) if ignore_file is not None else None)
        index.apply_ignore(patterns)
        return IndexedContext(index, spool, tmp_dir, text, name, patterns)
    except BaseException:
        spool.close()
        raise
