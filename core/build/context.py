"""The build context: the tar a client sends, unpacked safely and filtered by ``.dockerignore``.

Daemon side: :func:`extract_context` unpacks the (plain or gzip) tar into a
private directory with the engine's safe extractor, reads the Dockerfile, then
removes what ``.dockerignore`` excludes (the Dockerfile and .dockerignore too
when they are excluded, after reading them, as Moby does).
Client side: :func:`context_tar` packs a directory the way the docker CLI does:
excluded paths are left out, but the Dockerfile and .dockerignore are always sent.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import tarfile

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


# -- client side -------------------------------------------------------------------


def _walk(root: str, patterns: list[dockerignore.Pattern], always: set[str]) -> Iterator[str]:
    """Relative paths to send, parents before children; excluded directories are skipped whole
    unless an exception pattern might re-include something inside them."""
    exceptions = dockerignore.has_exceptions(patterns)
    for current, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(current, root)
        keep_dirs = []
        for name in sorted(dirs):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            excluded = dockerignore.excluded(rel, patterns)
            if not excluded:
                yield rel
            if os.path.islink(os.path.join(current, name)):
                continue
            if not excluded or exceptions:
                keep_dirs.append(name)
        dirs[:] = keep_dirs
        for name in sorted(files):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel in always or not dockerignore.excluded(rel, patterns):
                yield rel


def context_tar(root: str, dockerfile: str | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """The context directory ``root`` as a tar, honouring its .dockerignore (as the docker CLI sends it).

    ``dockerfile`` (relative to ``root``) is always included; ``extra`` adds files by name
    (a Dockerfile read from stdin or from outside the context).
    """
    if not os.path.isdir(root):
        raise InvalidArgument(f"unable to prepare context: path {root!r} not found or not a directory")
    patterns = _read_ignore(root)
    always = {".dockerignore", _clean_rel(dockerfile or DEFAULT_DOCKERFILE, "Dockerfile")}
    buf = io.BytesIO()
    added: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in _walk(root, patterns, always):
            path = os.path.join(root, rel)
            parent = posixpath.dirname(rel)
            chain = []
            while parent and parent not in added:  # directories of re-included files
                chain.append(parent)
                parent = posixpath.dirname(parent)
            for directory in reversed(chain):
                _add(tar, os.path.join(root, directory), directory)
                added.add(directory)
            if rel in added:
                continue
            _add(tar, path, rel)
            added.add(rel)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _add(tar: tarfile.TarFile, path: str, rel: str) -> None:
    info = tar.gettarinfo(path, rel)
    # Docker's client sends ownership as 0:0 and no user names: the daemon decides owners
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    elif info.isdir() or info.issym() or info.islnk():
        tar.addfile(info)
    # sockets, devices and fifos are not sent (tarfile cannot represent sockets)
