"""Safe streaming extraction of a layer tar into a directory.

The archive is read once, front to back (``tarfile`` stream mode, through
:mod:`berth.images.tarread`'s checks), so a layer can come straight from a socket.
All operations are ``*at()`` calls relative to directory file descriptors opened
with ``O_NOFOLLOW``, so no entry can write outside the root, whatever the archive
created before it.

Refused (:class:`berth.errors.UnsafeArchive`):

* a ``..`` component anywhere in a name or a hard link's target (:func:`tarread.clean_name`);
* an entry, hard link or whiteout whose path passes through a symlink: one this
  archive created earlier, or, for a layer, one of the layer below (already in the
  root for full-tree drivers, or shown by :class:`LayersBelow` for union drivers).
  Trees that are not layers (a copy into a container, ``ADD``, a build context)
  follow their own symlinks inside the root instead, as Docker resolves them;
* for a layer, a path that appears twice (dockerd's tar-split refuses it too);
* relative symlinks pointing out of the root (as Docker), character and block
  device nodes, ``.wh.`` names used as directories, whiteouts naming nothing.

Malformed input (not a tar, truncated, garbage after valid members, impossible
owners or times) raises :class:`berth.errors.InvalidArgument`.

Kept: exact permission bits including setuid/setgid/sticky, owners, mtimes
(directories' are set last, after their contents), xattrs (PAX ``SCHILY.xattr.*``)
and hard links within the archive. FIFOs are allowed, as in Docker. Runs of zero
bytes in files (and sparse files' holes) are left as holes, so a compressed bomb
of zeros costs time, not disk.

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
from typing import BinaryIO, Callable, Iterator, Protocol

from berth.errors import DriverError, InvalidArgument, UnsafeArchive
from berth.images.tarread import clean_name, entry_times, members, open_stream

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

_MAX_SYMLINK_HOPS = 40  # the kernel's MAXSYMLINKS
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_PAX = "SCHILY.xattr."
#: errors an archive's content causes (a 4xx), as opposed to the host failing (ENOSPC, EIO: a 5xx)
#: (ERANGE, E2BIG: an xattr name or value the kernel refuses; EFBIG: a file beyond the largest this filesystem holds)
_ARCHIVE_ERRNOS = {errno.ENAMETOOLONG, errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.ELOOP, errno.EINVAL,
                   errno.EMLINK, errno.ENOENT, errno.ENOTEMPTY, errno.ERANGE, errno.E2BIG, errno.EFBIG}


def proc_path(dir_fd: int, name: str | None = None) -> str:
    """A path naming ``name`` inside the directory open as ``dir_fd`` (for calls without ``dir_fd``).

    ``/proc/self/fd/N`` is the directory itself; the final ``name`` component is
    looked up normally, so with ``follow_symlinks=False`` a symlink is not followed.
    """
    base = f"/proc/self/fd/{dir_fd}"
    return base if name is None else f"{base}/{name}"


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


class LayersBelow(Protocol):
    """What a union driver's lower layers show, for paths its (empty) upper directory does not have."""

    def is_symlink(self, parts: list[str]) -> bool:
        """True when the layers below show a symlink at the path ``parts`` (components from the layer root)."""


@dataclass
class ExtractResult:
    """What an extraction wrote: ``size`` is the sum of regular files' sizes (Docker's applied size)."""

    size: int = 0
    entries: int = 0
    extracted: set[str] = field(default_factory=set)


class Extractor:
    """One extraction of one archive into one root directory (see the module docstring).

    ``layer``: the archive is an image layer and the root holds only the layer below,
    whose symlinks may not be passed through; an entry may appear only once (dockerd's
    tar-split refuses duplicates too). Otherwise (a copy into a container, a build
    context) symlinks already in the root are followed inside it and a later entry
    replaces an earlier one. ``below`` describes lower layers that are not in the root.
    ``data=False`` rehearses: every check and every entry as usual, but regular files are made empty
    (their bytes are still read, so a truncated stream is refused). ``below_applied``: the layers
    ``below`` shows are still being applied (a union driver extracting a pull's layers at once); every
    question for them is kept, and once the whole archive is read ``below_applied()`` is called (it
    returns when they are complete) and each is asked then, refused exactly as if asked at once.
    """

    what = "layer archive"

    def __init__(self, root: str, whiteouts: WhiteoutHandler | None = None, *,
                 layer: bool = True, below: LayersBelow | None = None, data: bool = True,
                 below_applied: Callable[[], None] | None = None):
        self.root = root
        self._write_data = _copy_data if data else _skip_data  # data=False: files are made empty
        self.whiteouts = whiteouts or DeleteWhiteouts()
        self.layer = layer
        self.below = below
        #: the layers ``below`` shows are still being applied: their answers are asked once this returns
        self._below_applied = below_applied
        self._asked_below: list[tuple[list[str], str]] = []  # (path, entry name) to ask them then
        self._seen: set[str] = set()  # entry names met so far (layers only)
        self.result = ExtractResult()
        self._dir_times: list[tuple[list[str], int, int]] = []
        self._own_symlinks: set[str] = set()  # where this archive made symlinks (real paths)
        self._root_fd = -1
        self._parent: tuple[tuple[str, ...], int, list[str]] | None = None  # see :meth:`_parent_dir`

    # -- public ---------------------------------------------------------------

    def host_owner(self, uid: int, gid: int) -> tuple[int, int]:
        """The owner to give on disk to an entry the archive says ``uid``:``gid`` owns (as is, for layers)."""
        return uid, gid

    def extract(self, stream: BinaryIO) -> ExtractResult:
        """Read the whole tar ``stream`` and apply it under the root."""
        self._root_fd = os.open(self.root, _DIR_FLAGS)
        try:
            tf = open_stream(stream, self.what)
            if tf is None:
                return self.result  # an empty layer, as Docker accepts
            with tf:
                for member in members(tf, self.what):
                    self._extract_checked(tf, member)
            self._ask_below_once_applied()
            self._apply_dir_times()
            return self.result
        finally:
            self._forget_parent()
            os.close(self._root_fd)

    def _extract_checked(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """Extract one entry; what the entry makes the kernel refuse is the archive's fault (a 4xx)."""
        try:
            self._extract_member(tf, member)
        except OSError as exc:
            cls = InvalidArgument if exc.errno in _ARCHIVE_ERRNOS else DriverError
            raise cls(f"cannot extract {self.what} entry {member.name!r}: {exc.strerror or exc}") from None
        except (ValueError, OverflowError) as exc:
            raise InvalidArgument(f"cannot extract {self.what} entry {member.name!r}: {exc}") from None

    # -- path resolution --------------------------------------------------------

    def _open_dir(self, parts: list[str], create: bool, name: str) -> tuple[int, list[str]]:
        """Open the directory at ``parts`` resolved inside the root; return (fd, real parts).

        Symlinks among the components are refused (:meth:`_through_symlink`) or, for
        a container's own, followed *within the root* (absolute targets restart at the
        root, ``..`` stops at it). Missing directories are created 0755 root:root when
        ``create`` (as Docker's MkdirAll does). At most two descriptors are open at once.
        """
        fd = os.dup(self._root_fd)
        real: list[str] = []
        todo = list(parts)
        hops = 0
        try:
            while todo:
                comp = todo.pop(0)
                if comp in ("", "."):
                    continue
                if comp == "..":  # only from a container's own symlink
                    if real:
                        real.pop()
                        fd = self._reopen(fd, real)
                    continue
                st = _lstat_at(fd, comp)
                if st is None:
                    if not create:
                        raise FileNotFoundError(errno.ENOENT, f"{'/'.join(real + [comp])} does not exist")
                    self._mkdir_missing(fd, real, comp, name)
                elif stat.S_ISLNK(st.st_mode):
                    hops += 1
                    target = self._through_symlink(fd, real, comp, name, hops)
                    if target.startswith("/"):
                        real.clear()
                        fd = self._reopen(fd, real)
                    todo[:0] = target.split("/")
                    continue
                elif not stat.S_ISDIR(st.st_mode):
                    raise InvalidArgument(f"{self.what} path {name!r}: {'/'.join(real + [comp])!r} exists "
                                          f"and is not a directory")
                sub = os.open(comp, _DIR_FLAGS, dir_fd=fd)  # O_NOFOLLOW: a symlink swapped in meanwhile fails
                os.close(fd)
                real.append(comp)
                fd = self._entered(sub, real)
            return fd, real
        except BaseException:
            os.close(fd)
            raise

    def _reopen(self, fd: int, real: list[str]) -> int:
        """Close ``fd`` and open ``real`` again from the root (after ``..`` or an absolute symlink)."""
        os.close(fd)
        fd = os.dup(self._root_fd)
        for depth, comp in enumerate(real):
            sub = os.open(comp, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = self._entered(sub, real[: depth + 1])
        return fd

    def _mkdir_missing(self, fd: int, real: list[str], comp: str, name: str) -> None:
        """Create a missing parent directory, unless the layers below show a symlink there."""
        path = real + [comp]
        if self.below is not None:
            if self._below_applied is not None:
                self._asked_below.append((path, name))  # they may not have it yet: ask once they are complete
            else:
                self._refuse_symlink_below(path, name)
        os.mkdir(comp, 0o755, dir_fd=fd)
        os.chown(comp, *self.host_owner(0, 0), dir_fd=fd, follow_symlinks=False)
        self.result.extracted.add("/".join(path))

    def _refuse_symlink_below(self, path: list[str], name: str) -> None:
        if self.below.is_symlink(path):  # type: ignore[union-attr]
            raise UnsafeArchive(f"{self.what} entry {name!r} passes through {'/'.join(path)!r}, a symlink in the "
                                f"layer below; refusing to extract")

    def _ask_below_once_applied(self) -> None:
        """The questions kept for layers below that were still being applied, asked now that they are not."""
        if self._below_applied is None:
            return
        self._below_applied()
        for path, name in self._asked_below:
            self._refuse_symlink_below(path, name)

    def _through_symlink(self, fd: int, real: list[str], comp: str, name: str, hops: int) -> str:
        """The target of the symlink ``comp`` met on the way to ``name``, when it may be followed."""
        path = "/".join(real + [comp])
        if path in self._own_symlinks:
            raise UnsafeArchive(f"{self.what} entry {name!r} passes through {path!r}, a symlink the archive "
                                f"created earlier; refusing to extract")
        if self.layer:
            raise UnsafeArchive(f"{self.what} entry {name!r} passes through {path!r}, a symlink in the layer "
                                f"below; refusing to extract")
        if hops > _MAX_SYMLINK_HOPS:
            raise UnsafeArchive(f"{self.what} path {name!r}: too many levels of symbolic links")
        return os.readlink(comp, dir_fd=fd)

    def _entered(self, fd: int, real: list[str]) -> int:
        """The directory to use for the one just opened as ``fd`` at ``real`` (a subclass may swap it,
        closing ``fd``: a copy into a container enters what is mounted there)."""
        return fd

    # -- members ------------------------------------------------------------------

    def _extract_member(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        parts = clean_name(member.name)
        self.result.entries += 1
        if self.layer:
            key = "/".join(parts)
            if key in self._seen:
                raise InvalidArgument(f"{self.what} entry {member.name!r} appears twice: duplicates of file paths "
                                      f"not supported")
            self._seen.add(key)
        if not parts:
            if not member.isdir():
                raise UnsafeArchive(f"{self.what} entry {member.name!r} names the root but is not a directory")
            self._set_meta(self._root_fd, None, member, is_dir=True)
            self._dir_times.append(([], *entry_times(member)))
            return
        if any(part.startswith(WHITEOUT_PREFIX) for part in parts[:-1]):
            raise UnsafeArchive(f"{self.what} entry {member.name!r} uses a whiteout name ({WHITEOUT_PREFIX}...) "
                                f"as a directory; refusing to extract")
        base = parts[-1]
        parent_fd, parent_real = self._parent_dir(parts[:-1], member.name)
        rel = "/".join(parent_real + [base])
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parent_fd, parent_real, base, member)
        else:
            self._create(tf, member, parent_fd, parent_real, base)
            self.result.extracted.add(rel)
            if member.issym():
                self._own_symlinks.add(rel)

    def _parent_dir(self, parts: list[str], name: str) -> tuple[int, list[str]]:
        """:meth:`_open_dir` of an entry's parent, kept open for the next entries in it (most follow their
        neighbour); the descriptor is this extractor's, not the caller's to close.

        Only the last parent is kept, so it stays what it was opened as: an entry removes or replaces
        only children of its own parent, and one whose parent differs opens that parent first.
        """
        key = tuple(parts)
        if self._parent is not None and self._parent[0] == key:
            return self._parent[1], self._parent[2]
        fd, real = self._open_dir(parts, True, name)
        self._forget_parent()
        self._parent = (key, fd, real)
        return fd, real

    def _forget_parent(self) -> None:
        if self._parent is not None:
            os.close(self._parent[1])
            self._parent = None

    def _whiteout(self, parent_fd: int, parent_real: list[str], base: str, member: tarfile.TarInfo) -> None:
        rel_dir = "/".join(parent_real)
        if base == WHITEOUT_OPAQUE:
            self.whiteouts.opaque(parent_fd, rel_dir, member, self.result.extracted)
        elif base.startswith(WHITEOUT_META_PREFIX):
            return  # AUFS bookkeeping (.wh..wh.plnk etc.), skipped as Docker does
        else:
            name = base[len(WHITEOUT_PREFIX):]
            if name in ("", ".", ".."):
                raise UnsafeArchive(f"{self.what} whiteout {member.name!r} names no valid entry")
            self.whiteouts.whiteout(parent_fd, name, f"{rel_dir}/{name}" if rel_dir else name, member)

    def _create(self, tf: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, parent_real: list[str], base: str) -> None:
        if member.ischr() or member.isblk():
            kind = "character" if member.ischr() else "block"
            raise UnsafeArchive(
                f"{self.what} entry {member.name!r} is a {kind} device node "
                f"({member.devmajor}:{member.devminor}); device nodes are not allowed in image layers"
            )
        existing = _lstat_at(pfd, base)
        if member.isdir():
            self._create_dir(member, pfd, parent_real, base, existing)
        elif member.islnk():
            self._hardlink(member, pfd, base, existing)
        elif member.isreg() or member.issym() or member.isfifo():  # isreg: contiguous and GNU sparse too
            if existing is not None:
                remove_at(pfd, base)
            if member.isreg():
                self._create_file(tf, member, pfd, base)
            elif member.issym():
                self._check_symlink(member, parent_real)
                os.symlink(member.linkname, base, dir_fd=pfd)
                self._set_meta(pfd, base, member, is_dir=False, symlink=True)
                os.utime(base, ns=entry_times(member), dir_fd=pfd, follow_symlinks=False)
            else:
                os.mkfifo(base, 0o600, dir_fd=pfd)
                self._set_meta(pfd, base, member, is_dir=False)
                os.utime(base, ns=entry_times(member), dir_fd=pfd, follow_symlinks=False)
        else:
            raise InvalidArgument(f"{self.what} entry {member.name!r} has unsupported tar type {member.type!r}")

    def _create_dir(self, member: tarfile.TarInfo, pfd: int, parent_real: list[str], base: str,
                    existing: os.stat_result | None) -> None:
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
        self._dir_times.append((parent_real + [base], *entry_times(member)))

    def _create_file(self, tf: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, base: str) -> None:
        fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            try:
                self._write_data(tf, member, fd)
            except (tarfile.TarError, EOFError) as exc:
                raise InvalidArgument(f"{self.what} is truncated inside {member.name!r}: {exc}") from None
            self._set_meta(fd, None, member, is_dir=False)
            os.utime(fd, ns=entry_times(member))
        finally:
            os.close(fd)
        self.result.size += member.size

    def _hardlink(self, member: tarfile.TarInfo, pfd: int, base: str, existing: os.stat_result | None) -> None:
        target_parts = clean_name(member.linkname)
        if not target_parts:
            raise UnsafeArchive(f"{self.what} hard link {member.name!r} points at the root")
        try:
            tfd, _ = self._open_dir(target_parts[:-1], False, member.linkname)
        except FileNotFoundError:
            raise InvalidArgument(f"{self.what} hard link {member.name!r} -> {member.linkname!r}: "
                                  f"target does not exist") from None
        try:
            tst = _lstat_at(tfd, target_parts[-1])
            if tst is None:
                raise InvalidArgument(f"{self.what} hard link {member.name!r} -> {member.linkname!r}: "
                                      f"target does not exist")
            if stat.S_ISDIR(tst.st_mode):
                raise UnsafeArchive(f"{self.what} hard link {member.name!r} -> {member.linkname!r}: "
                                    f"target is a directory")
            if stat.S_ISCHR(tst.st_mode) or stat.S_ISBLK(tst.st_mode):  # an overlay whiteout: no file to link
                raise UnsafeArchive(f"{self.what} hard link {member.name!r} -> {member.linkname!r}: "
                                    f"target is a device node or a whiteout")
            if existing is not None:
                if (existing.st_dev, existing.st_ino) == (tst.st_dev, tst.st_ino):
                    return
                remove_at(pfd, base)
            os.link(target_parts[-1], base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    def _check_symlink(self, member: tarfile.TarInfo, parent_real: list[str]) -> None:
        # Docker refuses relative symlinks that climb out of the layer (absolute
        # ones are fine: they are resolved inside the container's root).
        target = member.linkname
        if not target:
            raise InvalidArgument(f"{self.what} symlink {member.name!r} has an empty target")
        if target.startswith("/"):
            return
        joined = posixpath.normpath(posixpath.join("/".join(parent_real) or ".", target))
        if joined == ".." or joined.startswith("../"):
            raise UnsafeArchive(
                f"{self.what} symlink {member.name!r} -> {target!r} points outside the layer; refusing to extract"
            )

    def _set_meta(self, fd_or_dir: int, name: str | None, member: tarfile.TarInfo, is_dir: bool, symlink: bool = False) -> None:
        """Owner, xattrs, then mode: chown clears setuid bits and file capabilities, so it goes first."""
        owner = self.host_owner(member.uid, member.gid)
        if name is None:
            os.chown(fd_or_dir, *owner)
        else:
            os.chown(name, *owner, dir_fd=fd_or_dir, follow_symlinks=False)
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
                fd, _ = self._open_dir(parts, False, "/".join(parts))
            except (FileNotFoundError, InvalidArgument):
                continue  # removed by a later whiteout
            try:
                os.utime(fd, ns=(atime, mtime))
            finally:
                os.close(fd)


def _data_chunks(tf: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[tuple[int, bytes]]:
    """The entry's bytes as (position in the file, chunk): only its data regions (a sparse file's map,
    else all of it). A stream that ends before them raises EOFError."""
    if member.sparse:
        # the regions' bytes follow one another in the archive: read them from the stream itself
        tf.fileobj.seek(member.offset_data)
        src, regions = tf.fileobj, member.sparse
    else:
        src, regions = tf.extractfile(member), [(0, member.size)]
    for offset, length in regions:
        position, left = offset, length
        while left:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                raise EOFError(f"unexpected end of data at byte {position}")
            yield position, chunk
            position += len(chunk)
            left -= len(chunk)


def _copy_data(tf: tarfile.TarFile, member: tarfile.TarInfo, fd: int) -> None:
    """Write the entry's bytes to ``fd``, only the chunks that are not all zeros (the holes read back as zeros)."""
    for position, chunk in _data_chunks(tf, member):
        if not _all_zeros(chunk):
            _write_all(fd, chunk, position)
    os.ftruncate(fd, member.size)


def _all_zeros(chunk: bytes) -> bool:
    # the first and last bytes settle almost every chunk of real data without a scan
    return not chunk[0] and not chunk[-1] and chunk.count(0) == len(chunk)


def _skip_data(tf: tarfile.TarFile, member: tarfile.TarInfo, fd: int) -> None:
    """Read the entry's bytes to their end and write none (a rehearsal: the stream must hold them all)."""
    for _ in _data_chunks(tf, member):
        pass


def _write_all(fd: int, data: bytes, position: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, position)
        view = view[n:]
        position += n


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def extract_layer(stream: BinaryIO, root: str, whiteouts: WhiteoutHandler | None = None,
                  below: LayersBelow | None = None, below_applied: Callable[[], None] | None = None) -> ExtractResult:
    """Extract the uncompressed layer tar ``stream`` into the existing directory ``root``.

    ``whiteouts`` decides what OCI whiteouts do (default: delete, for full trees).
    Whatever ``root`` holds already is the layer below: a path through one of its
    symlinks is refused, as through those ``below`` shows (a union driver's lower
    layers). ``below_applied``: those lower layers are still being applied
    (``graph_apply_diff_early``); the questions for them are asked after the whole
    archive is read and ``below_applied()`` has returned. Returns what was written;
    ``result.size`` is the applied size in bytes.
    """
    return Extractor(root, whiteouts, below=below, below_applied=below_applied).extract(stream)


def extract_tree(stream: BinaryIO, root: str, whiteouts: WhiteoutHandler | None = None) -> ExtractResult:
    """Extract a tar ``stream`` into ``root``, a tree that is not a layer below (an ``ADD``'s destination, a
    build context): its own symlinks are followed inside ``root`` and a later entry replaces an earlier one;
    the archive's own symlinks still may not be passed through."""
    return Extractor(root, whiteouts, layer=False).extract(stream)
