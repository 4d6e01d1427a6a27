"""Tars of a container's filesystem: ``export`` (all of it) and ``cp`` (one path, both ways).

Paths are container paths resolved inside a :class:`~berth.images.scope.Tree` (a root
and what is mounted in it). As Docker's ``daemon/archive.go``: reading a path
resolves its parent directories but not its last component (copying a symlink
copies the link) unless it ends in a separator, and the archive's
top entry is named after that last component; writing resolves the whole path,
which must be an existing directory. The path's stat travels as the
``X-Docker-Container-Path-Stat`` header: base64 of ``{name, size, mode, mtime,
linkTarget}`` with ``mode`` in Go's ``os.FileMode`` bits, which the docker CLI decodes.
"""

from __future__ import annotations

import base64
import io
import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from datetime import datetime, timezone
from typing import Any, BinaryIO

from berth.errors import InvalidArgument, NotFound, UnsafeArchive
from berth.fscreds import filesystem_ids
from berth.hookspecs.types import IdMap
from berth.images.layertar import LayerTarWriter, walk
from berth.images.scope import Tree, clean
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


def _rfc3339_nano(ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC (nanoseconds, trailing zeros dropped), as Docker's path stat has it."""
    seconds, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def _resolve_source(tree: Tree, path: str) -> tuple[str, str, str]:
    """(host path, requested container path, resolved container path) of ``path``: its parents
    resolved and its last component kept (``dir/.`` resolves the directory and keeps the dot)."""
    absolute = clean(path)
    if path.endswith("/.") or path == ".":
        resolved = tree.resolve_container_path(absolute)
        return tree.host(resolved), absolute.rstrip("/") + "/.", resolved
    if path.endswith("/"):  # a trailing separator follows a final symlink
        resolved = tree.resolve_container_path(absolute)
        return tree.host(resolved), absolute, resolved
    parent, base = posixpath.split(absolute)
    resolved = posixpath.join(tree.resolve_container_path(parent), base)
    return tree.host(resolved), absolute, resolved


def stat_path(tree: Tree, path: str, container: str = "") -> dict[str, Any]:
    """Docker's ``ContainerPathStat`` of ``path``; NotFound names the path and the container."""
    host, absolute, _ = _resolve_source(tree, path)
    try:
        st = os.lstat(host)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"Could not find the file {path} in container {container}") from None
    link_target = ""
    if stat.S_ISLNK(st.st_mode):
        link_target = tree.resolve_container_path(absolute, follow_final=True)
    return {"name": posixpath.basename(absolute) or "/", "size": st.st_size,
            "mode": go_file_mode(st.st_mode), "mtime": _rfc3339_nano(st.st_mtime_ns), "linkTarget": link_target}


def encode_stat(st: dict[str, Any]) -> str:
    """The ``X-Docker-Container-Path-Stat`` header value."""
    return base64.b64encode(json.dumps(st, separators=(",", ":")).encode()).decode()


def decode_stat(header: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(header))


def write_path_archive(tree: Tree, path: str, out: BinaryIO,
                       owner_names: tuple[dict[int, str], dict[int, str]] | None = None) -> None:
    """Tar ``path`` (a file, link or whole directory, with what is mounted in it) to ``out``, its top
    entry named after its last component, as Docker does: ``dir/.`` archives the directory's
    contents under ``.``, ``/`` its contents under ``/``.
    """
    host, absolute, resolved = _resolve_source(tree, path)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {path} in the container")
    top = posixpath.basename(absolute) or "/"
    writer = LayerTarWriter(out, owner_names, tree.idmap)
    st = os.lstat(host)
    writer.add(host, "", st, arcname=top)
    if stat.S_ISDIR(st.st_mode):
        for rel, child_host, child in tree.walk(resolved):
            writer.add(child_host, "", child, arcname=posixpath.join(top, rel))
    writer.close()


def write_export(root: str, out: BinaryIO, idmap: IdMap | None = None) -> None:
    """Tar the whole tree at ``root`` (``docker export``): every entry, parents first, no whiteouts
    (``idmap``: a remapped container's tree, whose owners the archive gives as the container sees them)."""
    writer = LayerTarWriter(out, idmap=idmap)
    for rel, st in walk(root):
        writer.add(root, rel, st)
    writer.close()


class _NoWhiteouts:
    """Copying into a container is not applying a layer: ``.wh.`` names are refused, not interpreted."""

    def whiteout(self, parent_fd: int, name: str, rel: str, member: tarfile.TarInfo) -> None:
        raise UnsafeArchive(f"cannot copy {member.name!r}: names starting with .wh. are reserved for layer whiteouts")

    def opaque(self, dir_fd: int, rel: str, member: tarfile.TarInfo, extracted: set[str]) -> None:
        raise UnsafeArchive(f"cannot copy {member.name!r}: names starting with .wh. are reserved for layer whiteouts")


def extraction_point(tree: Tree, path: str, container: str = "") -> str:
    """The container path (symlinks resolved) of the existing directory ``path``, where a copy lands."""
    resolved = tree.resolve_container_path(path, follow_final=True)
    host = tree.host(resolved)
    if not os.path.lexists(host):
        raise NotFound(f"Could not find the file {path} in container {container}")
    if not os.path.isdir(host):
        raise InvalidArgument("extraction point is not a directory")
    return resolved


class _CopyExtractor(Extractor):
    """Extraction for ``PUT /containers/{id}/archive``: through the container's mounts, with Docker's
    ``noOverwriteDirNonDir`` and ``copyUIDGID`` options. The container's own symlinks are followed
    inside the destination; the archive's own are not passed through."""

    what = "archive"

    def __init__(self, tree: Tree, container_dir: str, no_overwrite_dir_non_dir: bool, owner: tuple[int, int] | None):
        super().__init__(tree.host(container_dir), _NoWhiteouts(), layer=False)
        self.container_dir = container_dir
        self.mounts = tree.mounts_below(container_dir)
        self.no_overwrite_dir_non_dir = no_overwrite_dir_non_dir
        self.owner = owner
        self.idmap = tree.idmap

    def host_owner(self, uid: int, gid: int) -> tuple[int, int]:
        """A remapped container's owners are host ids of its map (dockerd refuses ids the map lacks too)."""
        if self.idmap is None:
            return uid, gid
        mapped = self.idmap.as_host(uid, gid)
        if mapped is None:
            raise InvalidArgument(f"Container ID {uid}:{gid} cannot be mapped to a host ID")
        return mapped

    def _entered(self, fd: int, real: list[str]) -> int:
        source = self.mounts.get("/".join(real))
        if source is None or not os.path.isdir(source):
            return fd
        os.close(fd)
        return os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def _create(self, tf: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, parent_real: list[str], base: str) -> None:
        if self.owner is not None:
            member.uid, member.gid = self.owner
        if self.no_overwrite_dir_non_dir:
            self._refuse_kind_change(member, pfd, parent_real, base)
        super()._create(tf, member, pfd, parent_real, base)

    def _refuse_kind_change(self, member: tarfile.TarInfo, pfd: int, parent_real: list[str], base: str) -> None:
        try:
            existing = os.stat(base, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        path = posixpath.join(self.container_dir, *parent_real, base)
        if stat.S_ISDIR(existing.st_mode) and not member.isdir():
            raise InvalidArgument(f"cannot overwrite directory {json.dumps(path)} with non-directory "
                                  f"{json.dumps(self.container_dir)}")
        if not stat.S_ISDIR(existing.st_mode) and member.isdir():
            raise InvalidArgument(f"cannot overwrite non-directory {json.dumps(path)} with directory "
                                  f"{json.dumps(self.container_dir)}")


class _Rehearsal(Extractor):
    """A copy's archive applied to an empty scratch tree, files left empty: every refusal the archive
    itself earns (names, headers, its own symlinks, devices, whiteout names, truncation) comes here,
    before anything reaches the container."""

    what = _CopyExtractor.what

    def __init__(self, root: str):
        super().__init__(root, _NoWhiteouts(), layer=False, data=False)


class _Tee(io.RawIOBase):
    """Reads ``source`` and keeps a copy of every byte read in ``copy``."""

    def __init__(self, source: BinaryIO, copy: BinaryIO):
        super().__init__()
        self.source, self.copy = source, copy

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.copy.write(data)
        return data


#: a copy's archive up to this size is kept in memory between the rehearsal and the extraction
_SPOOL_IN_MEMORY = 32 << 20


def rehearsed(stream: BinaryIO, scratch_dir: str) -> BinaryIO:
    """The tar ``stream``, read once through :class:`_Rehearsal` (raising what it refuses) and spooled
    (in memory, then in a file under ``scratch_dir``): the bytes to extract for real."""
    os.makedirs(scratch_dir, mode=0o700, exist_ok=True)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY, dir=scratch_dir)
    root = tempfile.mkdtemp(prefix="copy-rehearsal-", dir=scratch_dir)
    try:
        _Rehearsal(root).extract(_Tee(stream, spool))
    except BaseException:
        spool.close()
        raise
    finally:
        shutil.rmtree(root, ignore_errors=True)
    spool.seek(0)
    return spool


def extract_to_path(tree: Tree, container_dir: str, stream: BinaryIO, scratch_dir: str,
                    no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | None = None) -> int:
    """Extract the tar ``stream`` into the directory ``container_dir`` (from :func:`extraction_point`)
    and what is mounted below it; return bytes written. ``owner`` (uid, gid) replaces the archive's.

    Entries stay inside that directory (``..`` and symlinks cannot lead out). The archive is
    rehearsed first (:func:`rehearsed`, its spool under ``scratch_dir``): one it refuses leaves the
    container as it was, where dockerd's copy stops half-way. What only the container's own tree can
    refuse (an entry over a path of another kind under ``noOverwriteDirNonDir``) still stops the copy
    where it meets it. A remapped container's tree is written as its root (host root's ids do not exist
    there), owners shifted into its map.
    """
    extractor = _CopyExtractor(tree, container_dir, no_overwrite_dir_non_dir, owner)
    with rehearsed(stream, scratch_dir) as spool:
        if tree.idmap is None:
            return extractor.extract(spool).size
        with filesystem_ids(*tree.idmap.root):
            return extractor.extract(spool).size
