"""Reading an untrusted tar stream: headers within limits, names that cannot climb, values the OS accepts.

Every place berth unpacks a tar (layers, image archives, build contexts, copies
into containers) reads it through :func:`members`, which refuses what Docker's Go
reader refuses and more:

* special headers (PAX, GNU long name/link) over 1 MiB, as Go's ``archive/tar``;
  long chains of them, which would exhaust Python's recursion;
* names and link names with a NUL byte or longer than PATH_MAX;
* any ``..`` component anywhere in an entry's name (Docker cleans ``a/../b`` into
  ``b``; berth refuses it, since no honest archive needs it);
* owners, times and sparse maps the kernel cannot take;
* extended attributes in overlayfs's private namespace (``trusted.overlay.*``): in an
  overlay layer they would tell the kernel to hide, redirect or borrow lower files.

A stream that stops being a tar (garbage, truncation, corrupt compression) is
:class:`~berth.errors.InvalidArgument`; a hostile one :class:`~berth.errors.UnsafeArchive`.
"""

from __future__ import annotations

import math
import tarfile
from typing import BinaryIO, Iterator

from berth.errors import BerthError, InvalidArgument, UnsafeArchive

MAX_SPECIAL_HEADER = 1 << 20   # Go's archive/tar limit for PAX and GNU long name records
MAX_PATH = 4096                # PATH_MAX: a longer name cannot be created anyway
MAX_CHAINED_HEADERS = 16       # special headers before one entry (a PAX, a long name, a long link...)
_MAX_ID = (1 << 32) - 2        # uid/gid: (uid_t)-1 means "unchanged" to chown
_MAX_SECONDS = (1 << 63) // 1_000_000_000 - 1  # what a nanosecond utime can carry
_PRIVATE_XATTR = "SCHILY.xattr.trusted.overlay."
_SPECIAL = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
            tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)


class CheckedTarInfo(tarfile.TarInfo):
    """``tarfile``'s header reader with limits, and a memory of why it stopped.

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

    @classmethod
    def frombuf(cls, buf, encoding, errors):  # type: ignore[override]
        """``tarfile``'s header parse, with the common header (POSIX ustar magic, octal numbers, checksum of
        unsigned bytes) read in a few C calls; any other header goes through ``tarfile``'s own reader."""
        if len(buf) != tarfile.BLOCKSIZE or buf[257:263] != _POSIX_MAGIC or buf[156:157] == tarfile.GNUTYPE_SPARSE:
            return super().frombuf(buf, encoding, errors)
        numbers = [_octal(buf[start:end]) for start, end in _NUMBER_FIELDS]
        if None in numbers or numbers[0] != 256 + sum(buf) - sum(buf[148:156]):
            return super().frombuf(buf, encoding, errors)  # base-256 numbers, a signed checksum, or an error
        obj = cls()
        obj.chksum, obj.mode, obj.uid, obj.gid, obj.size, obj.mtime, obj.devmajor, obj.devminor = numbers
        obj.name = _text(buf[0:100], encoding, errors)
        obj.type = buf[156:157]
        obj.linkname = _text(buf[157:257], encoding, errors)
        obj.uname = _text(buf[265:297], encoding, errors)
        obj.gname = _text(buf[297:329], encoding, errors)
        prefix = _text(buf[345:500], encoding, errors)
        if obj.type == tarfile.AREGTYPE and obj.name.endswith("/"):
            obj.type = tarfile.DIRTYPE  # old V7 tars: a directory is a file whose name ends in a slash
        if obj.type == tarfile.DIRTYPE:
            obj.name = obj.name.rstrip("/")
        if prefix and obj.type not in tarfile.GNU_TYPES:
            obj.name = prefix + "/" + obj.name
        return obj

    def _proc_member(self, tf):
        if self.type in _SPECIAL:
            if self.size > MAX_SPECIAL_HEADER:
                raise UnsafeArchive(f"tar archive has a {_special_name(self.type)} header of {self.size} bytes "
                                    f"(the limit is {MAX_SPECIAL_HEADER}); refusing it")
            tf.berth_chained = getattr(tf, "berth_chained", 0) + 1
            if tf.berth_chained > MAX_CHAINED_HEADERS:
                raise UnsafeArchive(f"tar archive chains more than {MAX_CHAINED_HEADERS} extended headers "
                                    f"before one entry; refusing it")
        else:
            tf.berth_chained = 0
        return super()._proc_member(tf)


_POSIX_MAGIC = b"ustar\x00"
#: checksum first, then mode, uid, gid, size, mtime, devmajor, devminor
_NUMBER_FIELDS = ((148, 156), (100, 108), (108, 116), (116, 124), (124, 136), (136, 148), (329, 337), (337, 345))


def _octal(field: bytes) -> int | None:
    """An octal number field as ``tarfile`` reads it (up to the first NUL, blanks stripped); None when the
    field is base-256 or not a number (``tarfile``'s reader then decides)."""
    if field[0] in (0o200, 0o377):
        return None
    try:
        return int(field.split(b"\0", 1)[0].decode("ascii").strip() or "0", 8)
    except ValueError:
        return None


def _text(field: bytes, encoding: str, errors: str) -> str:
    return field.split(b"\0", 1)[0].decode(encoding, errors)


def _special_name(kind: bytes) -> str:
    return {tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link"}.get(kind, "PAX")


def open_stream(stream: BinaryIO, what: str, compressed: bool = False) -> tarfile.TarFile | None:
    """``stream`` opened for one pass (``compressed``: gzip, bzip2 and xz are recognised); None when empty."""
    try:
        # reads of 64 KiB instead of tarfile's 10 KiB records: fewer trips through the decompressing and
        # hashing layers below for the same bytes
        return tarfile.open(fileobj=stream, mode="r|*" if compressed else "r|", tarinfo=CheckedTarInfo,
                            bufsize=1 << 16)
    except tarfile.ReadError as exc:
        if "empty file" in str(exc):
            return None
        raise InvalidArgument(f"{what} is not a valid tar stream: {exc}") from None


def members(tf: tarfile.TarFile, what: str) -> Iterator[tarfile.TarInfo]:
    """Each entry of ``tf`` in order, checked (:func:`check_member`); garbage or truncation is an error."""
    count = 0
    while True:
        try:
            member = tf.next()
        except BerthError:
            raise
        except (tarfile.TarError, EOFError, ValueError, OverflowError, RecursionError, UnicodeError) as exc:
            raise InvalidArgument(f"{what} is truncated or corrupt after {count} entries: {exc}") from None
        if member is None:
            break
        tf.members.clear()  # stream mode keeps every header otherwise
        check_member(member)
        count += 1
        yield member
    bad = getattr(tf, "berth_bad_header", None)
    if bad is not None:
        raise InvalidArgument(f"{what} is truncated or corrupt after {count} entries: {bad}")


def clean_name(name: str) -> list[str]:
    """An entry's path as components relative to the root ([] is the root itself).

    A leading ``/`` and ``.`` components are dropped (as Docker does); a ``..``
    component anywhere, a NUL byte or a name longer than PATH_MAX is refused.
    """
    _check_text(name, "name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive entry {name!r} has a '..' component (it could point outside the archive's "
                            f"root); refusing to extract")
    return parts


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse values no file can have: bad names or link names, owners, times, sparse maps."""
    clean_name(member.name)
    if member.linkname:
        _check_text(member.linkname, "link target")
    for field in ("uid", "gid"):
        value = getattr(member, field)
        if not isinstance(value, int) or not 0 <= value <= _MAX_ID:
            raise InvalidArgument(f"archive entry {member.name!r} has an invalid {field} {value!r}")
    entry_times(member)
    if member.sparse is not None:
        _check_sparse(member)
    for key in member.pax_headers:
        if key.startswith(_PRIVATE_XATTR):
            raise UnsafeArchive(f"archive entry {member.name!r} sets {key[len('SCHILY.xattr.'):]!r}, an attribute "
                                f"private to overlayfs; refusing it")


def entry_times(member: tarfile.TarInfo) -> tuple[int, int]:
    """(atime, mtime) in nanoseconds; an out-of-range or non-numeric time is refused."""
    mtime = _seconds(member.mtime, member, "mtime")
    atime_s = member.pax_headers.get("atime")
    atime = _seconds(atime_s, member, "atime") if atime_s else mtime
    return atime, mtime


def _seconds(value, member: tarfile.TarInfo, field: str) -> int:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or abs(seconds) > _MAX_SECONDS:
        raise InvalidArgument(f"archive entry {member.name!r} has an invalid {field} {value!r}")
    return int(seconds * 1_000_000_000)


def _check_text(text: str, what: str) -> None:
    if "\0" in text:
        raise UnsafeArchive(f"archive entry {what} {text[:200]!r} contains a NUL byte; refusing it")
    if len(text.encode("utf-8", "surrogateescape")) > MAX_PATH:
        raise InvalidArgument(f"archive entry {what} {text[:200]!r}... is longer than {MAX_PATH} bytes")


def _check_sparse(member: tarfile.TarInfo) -> None:
    """A sparse file's data regions must be in order, apart, and inside its size."""
    end = 0
    for region in member.sparse:
        offset, length = region
        if offset < end or length < 0 or offset + length > member.size:
            raise InvalidArgument(f"archive entry {member.name!r} has an invalid sparse map")
        end = offset + length
