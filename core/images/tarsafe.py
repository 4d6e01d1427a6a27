"""Safe streaming extraction of a layer tar into a directory.

The archive is read once, front to back (``tarfile`` stream mode), so a layer can
come straight from a socket. Every path is resolved *inside* the target root the
way a chroot would (as Moby's chrootarchive does): ``..`` stops at the root, an
absolute symlink met as a parent component restarts at the root, and nothing is
ever opened through a symlink. All operations are ``*at()`` calls relative to
directory file descriptors opened with ``O_NOFOLLOW``, so no entry can write
outside the root, whatever the archive created before it.

Refused (:class:`berth.errors.UnsafeArchive`): names or hard-link targets that
escape the root with ``..``, relative symlinks pointing out of the root (as
Docker), character and block device nodes. Malformed input (not a tar, truncated,
garbage after valid members) raises :class:`berth.errors.InvalidArgument`.

Kept: exact permission bits including setuid/setgid/sticky, owners, mtimes
(directories' are set last, after their contents), xattrs (PAX ``SCHILY.xattr.*``)
and hard links within the archive. FIFOs are allowed, as in Docker.

OCI whiteouts (``.wh.name``, ``.wh..wh..opq``) are handed to a
:class:`WhiteoutHandler`, so a driver that stores full trees deletes paths
(:class:`DeleteWhiteouts`) while a union driver records them its own way.

On failure the extractor raises and leaves the partial tree for the caller, who
owns the layer directory and removes it.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from berth.errors import DriverError, InvalidArgument, UnsafeArchive

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

_MAX_SYMLINK_HOPS = 40  # the kernel's MAXSYMLINKS
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_PAX = "SCHILY.xattr."


def proc_path(dir_fd: int, name: str | None = None) -> str:
    """A path naming ``name`` inside the directory open as ``dir_fd`` (for calls without ``dir_fd``).

    ``/proc/self/fd/N`` is the directory itself; the final ``name`` component is
    looked up normally, so with ``follow_symlinks=False`` a symlink is not followed.
    """
    base = f"/proc/self/fd/{dir_fd}"
    return base if name is None else f"{base}/{name}"


def clean_name(name: str) -> list[str]:
    """Split an archive path into components relative to the root; [] is the root itself.

    A leading ``/`` is dropped (as Docker does); ``..`` that would climb above the
    root is refused.
    """
    norm = posixpath.normpath("/".join(p for p in name.split("/") if p) or ".")
    if norm == ".." or norm.startswith("../"):
        raise UnsafeArchive(f"layer archive entry {name!r} points outside the layer (breakout with '..'); refusing to extract")
    return [] if norm == "." else norm.split("/")


# ---------------------------------------------------------------------------
# whiteouts
# ---------------------------------------------------------------------------


class WhiteoutHandler(Protocol):
    """What to do with OCI whiteout entries while extracting."""

    def whiteout(self, parent_fd: int, name: str, rel: str, member: tarfile.TarInfo) -> None:
        """``.wh.<name>`` in the directory ``parent_fd`` (relative path ``rel`` of the hidden entry)."""

    def opaque(self, dir_fd: int, rel: str, member: tarfile.TarInfo, extracted: set[str]) -> None:
        """``.wh..wh..opq`` in directory ``dir_fd`` (``rel``); ``extracted`` holds this archive's paths."""


def remove_at(parent_fd: int, name: str) -> None:
    """Remove ``name`` (a file, symlink or whole tree) from the directory ``parent_fd``; missing is fine."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(name, dir_fd=parent_fd)
    else:
        os.unlink(name, dir_fd=parent_fd)


class DeleteWhiteouts:
    """Apply whiteouts to a full tree: delete the path, or empty an opaque directory of older entries."""

    def whiteout(self, parent_fd: int, name: str, rel: str, member: tarfile.TarInfo) -> None:
        remove_at(parent_fd, name)

    def opaque(self, dir_fd: int, rel: str, member: tarfile.TarInfo, extracted: set[str]) -> None:
        _prune_unextracted(dir_fd, rel, extracted)


def _prune_unextracted(dir_fd: int, rel: str, extracted: set[str]) -> None:
    # Entries this archive wrote stay (the marker may come after them); the rest
    # came from lower layers and are hidden, so they go.
    for entry in os.listdir(dir_fd):
        child = f"{rel}/{entry}" if rel else entry
        if child not in extracted:
            remove_at(dir_fd, entry)
        elif (st := _lstat_at(dir_fd, entry)) is not None and stat.S_ISDIR(st.st_mode):
            sub = os.open(entry, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                _prune_unextracted(sub, child, extracted)
            finally:
                os.close(sub)


# ---------------------------------------------------------------------------
# extraction
# ---------------------------------------------------------------------------


class _CheckedTarInfo(tarfile.TarInfo):
    """Remembers why header parsing stopped, so garbage is not mistaken for the archive's end.

    ``tarfile`` ends iteration silently on an invalid or truncated header after the
    first member; Docker reports such a stream as corrupt, and so do we.
    """

    @classmethod
    def fromtarfile(cls, tf):  # type: ignore[override]
        try:
            return super().fromtarfile(tf)
        except (tarfile.EOFHeaderError, tarfile.EmptyHeaderError):
            raise
        except tarfile.HeaderError as exc:
            tf.berth_bad_header = exc
            raise


@dataclass
class ExtractResult:
    """What an extraction wrote: ``size`` is the sum of regular files' sizes (Docker's applied size)."""

    size: int = 0
    entries: int = 0
    extracted: set[str] = field(default_factory=set)


class Extractor:
    """One extraction of one archive into one root directory (see the module docstring)."""

    def __init__(self, root: str, whiteouts: WhiteoutHandler | None = None):
        self.root = root
        self.whiteouts = whiteouts or DeleteWhiteouts()
        self.result = ExtractResult()
        self._dir_times: list[tuple[list[str], int, int]] = []
        self._root_fd = -1

    # -- public ---------------------------------------------------------------

    def extract(self, stream: BinaryIO) -> ExtractResult:
        """Read the whole tar ``stream`` and apply it under the root."""
        self._root_fd = os.open(self.root, _DIR_FLAGS)
        try:
            try:
                tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_CheckedTarInfo)
            except tarfile.ReadError as exc:
                if "empty file" in str(exc):
                    return self.result  # an empty layer, as Docker accepts
                raise InvalidArgument(f"layer archive is not a valid tar stream: {exc}") from None
            try:
                while True:
                    try:
                        member = tf.next()
                    except (tarfile.ReadError, EOFError) as exc:
                        raise InvalidArgument(f"layer archive is truncated or corrupt: {exc}") from None
                    if member is None:
                        break
                    tf.members.clear()  # stream mode keeps every header otherwise
                    self._extract_member(tf, member)
                bad = getattr(tf, "berth_bad_header", None)
                if bad is not None:
                    raise InvalidArgument(f"layer archive is truncated or corrupt after {self.result.entries} entries: {bad}")
            finally:
                tf.close()
            self._apply_dir_times()
            return self.result
        finally:
            os.close(self._root_fd)

    # -- path resolution --------------------------------------------------------

    def _open_dir(self, parts: list[str], create: bool) -> tuple[int, list[str]]:
        """Open the directory at ``parts`` resolved inside the root; return (fd, real parts).

        Symlinks among the components are followed *within the root* (absolute
        targets restart at the root, ``..`` stops at it). Missing directories are
        created 0755 root:root when ``create`` (as Docker's MkdirAll does).
        """
        fds = [os.dup(self._root_fd)]
        real: list[str] = []
        todo = list(parts)
        hops = 0
        try:
            while todo:
                comp = todo.pop(0)
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if real:
                        os.close(fds.pop())
                        real.pop()
                    continue
                try:
                    fd = os.open(comp, _DIR_FLAGS, dir_fd=fds[-1])
                except FileNotFoundError:
                    if not create:
                        raise
                    os.mkdir(comp, 0o755, dir_fd=fds[-1])
                    os.chown(comp, 0, 0, dir_fd=fds[-1], follow_symlinks=False)
                    fd = os.open(comp, _DIR_FLAGS, dir_fd=fds[-1])
                    self.result.extracted.add("/".join(real + [comp]))
                except OSError as exc:
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    st = os.stat(comp, dir_fd=fds[-1], follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        raise InvalidArgument(
                            f"layer archive path {'/'.join(parts)!r}: {'/'.join(real + [comp])!r} exists and is not a directory"
                        ) from None
                    hops += 1
                    if hops > _MAX_SYMLINK_HOPS:
                        raise UnsafeArchive(f"layer archive path {'/'.join(parts)!r}: too many levels of symbolic links") from None
                    target = os.readlink(comp, dir_fd=fds[-1])
                    if target.startswith("/"):
                        for extra in fds[1:]:
                            os.close(extra)
                        del fds[1:]
                        real.clear()
                    todo[:0] = target.split("/")
                    continue
                real.append(comp)
                fds.append(self._entered(fd, real))
            result = fds.pop()
            return result, real
        finally:
            for fd in fds:
                os.close(fd)

    def _entered(self, fd: int, real: list[str]) -> int:
        """The directory to use for the one just opened as ``fd`` at ``real`` (a subclass may swap it,
        closing ``fd``: a copy into a container enters what is mounted there)."""
        return fd

    # -- members ------------------------------------------------------------------

    def _extract_member(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_name(member.name)
        self.result.entries += 1
        if not parts:
            if not member.isdir():
                raise UnsafeArchive(f"layer archive entry {member.name!r} names the layer root but is not a directory")
            self._set_meta(self._root_fd, None, member, is_dir=True)
            self._dir_times.append(([], *_times(member)))
            return
        base = parts[-1]
        parent_fd, parent_real = self._open_dir(parts[:-1], create=True)
        try:
            rel = "/".join(parent_real + [base])
            try:
                if base.startswith(WHITEOUT_PREFIX):
                    self._whiteout(parent_fd, parent_real, base, member)
                else:
                    self._create(tf, member, parent_fd, parent_real, base)
                    self.result.extracted.add(rel)
            except OSError as exc:
                raise DriverError(f"cannot extract layer entry {member.name!r}: {exc}") from exc
        finally:
            os.close(parent_fd)

    def _whiteout(self, parent_fd: int, parent_real: list[str], base: str, member: tarfile.TarInfo) -> None:
        rel_dir = "/".join(parent_real)
        if base == WHITEOUT_OPAQUE:
            self.whiteouts.opaque(parent_fd, rel_dir, member, self.result.extracted)
        elif base.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS bookkeeping (.wh..wh.plnk etc.), skipped as Docker does
        else:
            name = base[len(WHITEOUT_PREFIX):]
            if name in ("", ".", "..") or "/" in name:
                raise UnsafeArchive(f"layer archive whiteout {member.name!r} names no valid entry")
            self.whiteouts.whiteout(parent_fd, name, f"{rel_dir}/{name}" if rel_dir else name, member)

    def _create(self, tf: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, parent_real: list[str], base: str) -> None:
        if member.ischr() or member.isblk():
            kind = "character" if member.ischr() else "block"
            raise UnsafeArchive(
                f"layer archive entry {member.name!r} is a {kind} device node "
                f"({member.devmajor}:{member.devminor}); device nodes are not allowed in image layers"
            )
        existing = _lstat_at(pfd, base)
        if member.isdir():
            if existing is not None and not stat.S_ISDIR(existing.st_mode):
                remove_at(pfd, base)
                existing = None
            if existing is None:
                os.mkdir(base, 0o700, dir_fd=pfd)
            fd = os.open(base, _DIR_FLAGS, dir_fd=pfd)
            try:
                self._set_meta(fd, None, member, is_dir=True)
            finally:
                os.close(fd)
            self._dir_times.append((parent_real + [base], *_times(member)))
            return
        if member.islnk():
            self._hardlink(member, pfd, base, existing)
            return
        if existing is not None:
            remove_at(pfd, base)
        if member.isreg():  # includes contiguous and GNU sparse files
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
            try:
                src = tf.extractfile(member)
                try:
                    while chunk := src.read(_CHUNK):
                        _write_all(fd, chunk)
                except (tarfile.ReadError, EOFError) as exc:
                    raise InvalidArgument(f"layer archive is truncated inside {member.name!r}: {exc}") from None
                self._set_meta(fd, None, member, is_dir=False)
                os.utime(fd, ns=_times(member))
            finally:
                os.close(fd)
            self.result.size += member.size
        elif member.issym():
            self._check_symlink(member, parent_real)
            os.symlink(member.linkname, base, dir_fd=pfd)
            self._set_meta(pfd, base, member, is_dir=False, symlink=True)
            os.utime(base, ns=_times(member), dir_fd=pfd, follow_symlinks=False)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=pfd)
            self._set_meta(pfd, base, member, is_dir=False)
            os.utime(base, ns=_times(member), dir_fd=pfd, follow_symlinks=False)
        else:
            raise InvalidArgument(f"layer archive entry {member.name!r} has unsupported tar type {member.type!r}")

    def _hardlink(self, member: tarfile.TarInfo, pfd: int, base: str, existing: os.stat_result | None) -> None:
        try:
            target_parts = clean_name(member.linkname)
        except UnsafeArchive:
            raise UnsafeArchive(
                f"layer archive hard link {member.name!r} -> {member.linkname!r} points outside the layer; refusing to extract"
            ) from None
        if not target_parts:
            raise UnsafeArchive(f"layer archive hard link {member.name!r} points at the layer root")
        try:
            tfd, _ = self._open_dir(target_parts[:-1], create=False)
        except FileNotFoundError:
            raise InvalidArgument(f"layer archive hard link {member.name!r} -> {member.linkname!r}: target does not exist") from None
        try:
            tst = _lstat_at(tfd, target_parts[-1])
            if tst is None:
                raise InvalidArgument(f"layer archive hard link {member.name!r} -> {member.linkname!r}: target does not exist")
            if stat.S_ISDIR(tst.st_mode):
                raise UnsafeArchive(f"layer archive hard link {member.name!r} -> {member.linkname!r}: target is a directory")
            if existing is not None:
                if (existing.st_dev, existing.st_ino) == (tst.st_dev, tst.st_ino):
                    return
                remove_at(pfd, base)
            os.link(target_parts[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    @staticmethod
    def _check_symlink(member: tarfile.TarInfo, parent_real: list[str]) -> None:
        # Docker refuses relative symlinks that climb out of the layer (absolute
        # ones are fine: they are resolved inside the container's root).
        target = member.linkname
        if not target:
            raise InvalidArgument(f"layer archive symlink {member.name!r} has an empty target")
        if target.startswith("/"):
            return
        joined = posixpath.normpath(posixpath.join("/".join(parent_real) or ".", target))
        if joined == ".." or joined.startswith("../"):
            raise UnsafeArchive(
                f"layer archive symlink {member.name!r} -> {target!r} points outside the layer; refusing to extract"
            )

    def _set_meta(self, fd_or_dir: int, name: str | None, member: tarfile.TarInfo, is_dir: bool, symlink: bool = False) -> None:
        """Owner, xattrs, then mode: chown clears setuid bits and file capabilities, so it goes first."""
        if name is None:
            os.chown(fd_or_dir, member.uid, member.gid)
        else:
            os.chown(name, member.uid, member.gid, dir_fd=fd_or_dir, follow_symlinks=False)
        xattrs = {k[len(_XATTR_PAX):]: v for k, v in member.pax_headers.items() if k.startswith(_XATTR_PAX)}
        if xattrs:
            # An open fd is used directly; a name is reached through its directory's
            # /proc magic link without following a final symlink.
            target: int | str = fd_or_dir if name is None else proc_path(fd_or_dir, name)
            for key, value in xattrs.items():
                try:
                    os.setxattr(target, key, value.encode("utf-8", "surrogateescape"), follow_symlinks=name is None)
                except OSError as exc:
                    # user.* xattrs are not allowed on symlinks, some filesystems lack xattrs:
                    # Docker skips those too rather than failing the pull.
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                        raise
        if symlink:
            return
        mode = member.mode & 0o7777
        if name is None:
            os.chmod(fd_or_dir, mode)
        else:
            os.chmod(name, mode, dir_fd=fd_or_dir)

    def _apply_dir_times(self) -> None:
        # Deepest first, so setting a child's times does not disturb its parent's
        for parts, atime, mtime in sorted(self._dir_times, key=lambda t: -len(t[0])):
            try:
                fd, _ = self._open_dir(parts, create=False)
            except (FileNotFoundError, InvalidArgument):
                continue  # removed by a later whiteout
            try:
                os.utime(fd, ns=(atime, mtime))
            finally:
                os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _times(member: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(float(member.mtime) * 1_000_000_000)
    atime_s = member.pax_headers.get("atime")
    atime = int(float(atime_s) * 1_000_000_000) if atime_s else mtime
    return atime, mtime


def extract_layer(stream: BinaryIO, root: str, whiteouts: WhiteoutHandler | None = None) -> ExtractResult:
    """Extract the uncompressed layer tar ``stream`` into the existing directory ``root``.

    ``whiteouts`` decides what OCI whiteouts do (default: delete, for full trees).
    Returns what was written; ``result.size`` is the applied size in bytes.
    """
    return Extractor(root, whiteouts).extract(stream)
