"""Tars of a container's filesystem: ``export`` (all of it) and ``cp`` (one path, both ways).

Paths are container paths resolved inside the mounted root (:mod:`berth.images.scope`).
As Docker's ``daemon/archive.go``: reading a path resolves its parent directories
but not its last component (copying a symlink copies the link), and the archive's
top entry is named after that last component; writing resolves the whole path,
which must be an existing directory. The path's stat travels as the
``X-Docker-Container-Path-Stat`` header: base64 of ``{name, size, mode, mtime,
linkTarget}`` with ``mode`` in Go's ``os.FileMode`` bits, which the docker CLI decodes.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import tarfile
from datetime import datetime, timezone
from typing import Any, BinaryIO

from berth.errors import InvalidArgument, NotFound, UnsafeArchive
from berth.images.layertar import LayerTarWriter, walk
from berth.images.scope import clean, resolve_in_root
from berth.images.tarsafe import Extractor

# Go's os.FileMode type bits
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE, _GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHARDEV, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


def go_file_mode(st_mode: int) -> int:
    """A POSIX ``st_mode`` as Go's ``os.FileMode`` (what Docker's path stat carries)."""
    mode = st_mode & 0o777
    fmt = stat.S_IFMT(st_mode)
    mode |= {stat.S_IFDIR: _GO_DIR, stat.S_IFLNK: _GO_SYMLINK, stat.S_IFIFO: _GO_PIPE, stat.S_IFSOCK: _GO_SOCKET,
             stat.S_IFBLK: _GO_DEVICE, stat.S_IFCHR: _GO_DEVICE | _GO_CHARDEV}.get(fmt, 0)
    if st_mode & stat.S_ISUID:
        mode |= _GO_SETUID
    if st_mode & stat.S_ISGID:
        mode |= _GO_SETGID
    if st_mode & stat.S_ISVTX:
        mode |= _GO_STICKY
    return mode


def is_go_dir(mode: int) -> bool:
    return bool(mode & _GO_DIR)


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _container_path(root: str, host_path: str) -> str:
    rel = os.path.relpath(host_path, root)
    return "/" if rel == "." else "/" + rel


def _resolve_source(root: str, path: str) -> tuple[str, str]:
    """(host path, container path) of ``path`` with its parents resolved and its last component kept."""
    absolute = clean(path)
    keep_dot = path.endswith("/.") or path == "."
    parent, base = os.path.split(absolute)
    if keep_dot:
        return resolve_in_root(root, absolute), absolute.rstrip("/") + "/."
    host_parent = resolve_in_root(root, parent)
    return (os.path.join(host_parent, base) if base else host_parent), absolute


def stat_path(root: str, path: str, container: str = "") -> dict[str, Any]:
    """Docker's ``ContainerPathStat`` of ``path``; NotFound names the path and the container."""
    host, absolute = _resolve_source(root, path)
    try:
        st = os.lstat(host)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Could not find the file {path} in container {container}") from None
    link_target = ""
    if stat.S_ISLNK(st.st_mode):
        link_target = _container_path(root, resolve_in_root(root, absolute, follow_final=True))
    return {"name": os.path.basename(absolute.rstrip("/.")) or "/", "size": st.st_size,
            "mode": go_file_mode(st.st_mode), "mtime": _rfc3339(st.st_mtime), "linkTarget": link_target}


def encode_stat(st: dict[str, Any]) -> str:
    """The ``X-Docker-Container-Path-Stat`` header value."""
    return base64.b64encode(json.dumps(st).encode()).decode()


def decode_stat(header: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(header))


def write_path_archive(root: str, path: str, out: BinaryIO) -> None:
    """Tar ``path`` (a file, link or whole directory) to ``out``, its top entry named after its last component.

    ``dir/.`` archives the directory's contents under ``.``, as Docker does.
    """
    host, absolute = _resolve_source(root, path)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {path} in the container")
    top = "." if absolute.endswith("/.") else (os.path.basename(absolute) or ".")
    writer = LayerTarWriter(out)
    parent, name = os.path.split(host.rstrip("/")) if top != "." else (host, "")
    st = os.lstat(host)
    writer.add(parent, name, st, arcname=top)
    if stat.S_ISDIR(st.st_mode):
        for rel, child in walk(host):
            writer.add(host, rel, child, arcname=f"{top}/{rel}")
    writer.close()


def write_export(root: str, out: BinaryIO) -> None:
    """Tar the whole tree at ``root`` (``docker export``): every entry, parents first, no whiteouts."""
    writer = LayerTarWriter(out)
    for rel, st in walk(root):
        writer.add(root, rel, st)
    writer.close()


class _NoWhiteouts:
    """Copying into a container is not applying a layer: ``.wh.`` names are refused, not interpreted."""

    def whiteout(self, parent_fd: int, name: str, rel: str, member: tarfile.TarInfo) -> None:
        raise UnsafeArchive(f"cannot copy {member.name!r}: names starting with .wh. are reserved for layer whiteouts")

    def opaque(self, dir_fd: int, rel: str, member: tarfile.TarInfo, extracted: set[str]) -> None:
        raise UnsafeArchive(f"cannot copy {member.name!r}: names starting with .wh. are reserved for layer whiteouts")


def extract_to_path(root: str, path: str, stream: BinaryIO, container: str = "") -> int:
    """Extract the tar ``stream`` into directory ``path`` of the tree at ``root``; return bytes written.

    Entries stay inside that directory (``..`` and symlinks cannot lead out).
    """
    host = resolve_in_root(root, path, follow_final=True)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {path} in container {container}")
    if not os.path.isdir(host):
        raise InvalidArgument(f"extraction point is not a directory: {path} in container {container}")
    return Extractor(host, _NoWhiteouts()).extract(stream).size
