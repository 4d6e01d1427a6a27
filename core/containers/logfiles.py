"""The files of one container log, rotated as Docker's ``loggerutils.LogFile`` rotates them.

``<path>`` is the file being written; with ``max-size`` set, a write that finds it at
or over the limit first rotates: ``<path>.N-1`` is dropped, ``<path>.k`` becomes
``<path>.k+1``, ``<path>`` becomes ``<path>.1`` and a new ``<path>`` is started
(``max-file`` 1 keeps no rotated file: the full one is unlinked). With ``compress``
each ``<path>.1`` is gzipped by a thread of the writer to ``<path>.1.gz``, with the time of its
last entry in the gzip header's extra field (``{"lastTime": ...}``, as Docker writes
it), so ``--since`` can skip old files without reading them. A rotation waits for the
previous compression to finish, so at most one file is uncompressed at a time.

:class:`RotatingFile` is the writer's side (monitor processes); :func:`rotated_files`
and :func:`open_member` are the reader's side (the daemon).
"""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import zlib
from typing import BinaryIO

from berth.containers.jsonlog import go_time_json

_GZIP_MAGIC = b"\x1f\x8b"
_FEXTRA = 4


class RotatingFile:
    """Appends to ``path``, rotating before a write once the file holds ``max_size`` bytes (-1: never)."""

    def __init__(self, path: str, max_size: int = -1, max_files: int = 1, compress: bool = False,
                 repair=None):
        self.path = path
        self.max_size = max_size
        self.max_files = max_files
        self.repair = repair
        self.last_ns = 0  # the time of the last entry written: the header of the file it ends
        # started now: a native monitor enters a new pid namespace next, after which no thread can start
        self.compressor = _Compressor() if compress and max_files > 1 else None
        self.fd = self._open(os.O_APPEND)
        self.size = os.fstat(self.fd).st_size
        if self.compressor is not None and os.path.exists(f"{path}.1"):
            self.compressor.submit(f"{path}.1", 0)  # a monitor that died mid-compression left it uncompressed

    def _open(self, flags: int) -> int:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | flags, 0o640)  # read: to repair a torn end
        if self.repair is not None:
            self.repair(fd)
        return fd

    @property
    def rotates(self) -> bool:
        return self.max_size >= 0

    def write(self, entries: list[bytes], first_ns: int) -> None:
        """Append ``entries`` (encoded; entry ``i`` stamped ``first_ns + i``), rotating between two where the size says."""
        if not self.rotates or self.size + sum(map(len, entries)) < self.max_size:
            data = b"".join(entries)
            self._append(data)
            self.size += len(data)
            self.last_ns = first_ns + len(entries) - 1
            return
        start = 0
        while start < len(entries):
            if self.size >= self.max_size:
                self.rotate()
            stop, size = start, self.size
            while stop < len(entries) and (stop == start or size < self.max_size):
                size += len(entries[stop])
                stop += 1
            self._append(b"".join(entries[start:stop]))
            self.size = size
            self.last_ns = first_ns + stop - 1
            start = stop

    def _append(self, data: bytes) -> None:
        """Write all of ``data`` or, when the disk fills up half-way, none of it (no torn entry) and raise."""
        done = 0
        try:
            while done < len(data):
                done += os.write(self.fd, data[done:])
        except OSError:
            if done:
                os.ftruncate(self.fd, self.size)
            raise

    def rotate(self) -> None:
        """Move the files one place down and start a new, empty ``path``."""
        if self.compressor is not None:
            self.compressor.wait()  # the file to be shifted may still be being compressed
        os.close(self.fd)
        if self.max_files < 2:
            _unlink(self.path)  # readers that hold it open read on; new ones see the new file
        else:
            suffix = ".gz" if self.compressor is not None else ""
            _unlink(f"{self.path}.{self.max_files - 1}{suffix}")
            for k in range(self.max_files - 1, 1, -1):
                _rename(f"{self.path}.{k - 1}{suffix}", f"{self.path}.{k}{suffix}")
            _rename(self.path, f"{self.path}.1")
        self.fd = self._open(os.O_TRUNC)
        self.size = 0
        if self.compressor is not None:
            self.compressor.submit(f"{self.path}.1", self.last_ns)

    def close(self) -> None:
        """Close the file; a compression in progress is finished first (the monitor exits after this)."""
        if self.compressor is not None:
            self.compressor.close()
        os.close(self.fd)


class _Compressor:
    """A thread that gzips rotated files one at a time, so the writer never waits for zlib."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.job: tuple[str, int] | None = None
        self.closing = False
        self.thread = threading.Thread(target=self._run, name="log-compress", daemon=True)
        self.thread.start()

    def submit(self, path: str, last_ns: int) -> None:
        with self.cond:
            while self.job is not None:
                self.cond.wait()
            self.job = (path, last_ns)
            self.cond.notify_all()

    def wait(self) -> None:
        with self.cond:
            while self.job is not None:
                self.cond.wait()

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.thread.join()

    def _run(self) -> None:
        while True:
            with self.cond:
                while self.job is None and not self.closing:
                    self.cond.wait()
                if self.job is None:
                    return
                path, last_ns = self.job
            compress_file(path, last_ns)
            with self.cond:
                self.job = None
                self.cond.notify_all()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _rename(src: str, dst: str) -> None:
    try:
        os.rename(src, dst)
    except FileNotFoundError:
        pass


# -- gzip with Docker's header ------------------------------------------------


def compress_file(path: str, last_ns: int) -> None:
    """Gzip ``path`` to ``path.gz`` (written aside, then renamed), then remove ``path``.

    Readers find either the whole uncompressed file or the whole compressed one. When
    ``last_ns`` is 0 the header carries no time (a left-over file: its last time is unknown).
    """
    extra = json.dumps({"lastTime": go_time_json(last_ns)}).encode() if last_ns else b""
    temp = f"{path}.gz.tmp"
    try:
        with open(path, "rb") as src, open(temp, "wb") as dst:
            flags = _FEXTRA if extra else 0
            dst.write(_GZIP_MAGIC + bytes([8, flags]) + struct.pack("<I", int(time.time())) + b"\x00\xff")
            if extra:
                dst.write(struct.pack("<H", len(extra)) + extra)
            deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            crc, size = 0, 0
            while chunk := src.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
                dst.write(deflate.compress(chunk))
            dst.write(deflate.flush() + struct.pack("<II", crc, size & 0xFFFFFFFF))
            os.fchmod(dst.fileno(), 0o640)
        os.rename(temp, f"{path}.gz")
    except FileNotFoundError:
        _unlink(temp)
        return
    except OSError:
        _unlink(temp)  # a full disk: keep the uncompressed file rather than lose it
        return
    _unlink(path)


def gzip_last_time(name: str) -> str | None:
    """The ``lastTime`` Docker (and berth) put in a rotated file's gzip header, or None."""
    try:
        with open(name, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:2] != _GZIP_MAGIC or not head[3] & _FEXTRA:
                return None
            extra = f.read(struct.unpack_from("<H", head, 10)[0])
    except OSError:
        return None
    try:
        value = json.loads(extra).get("lastTime")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


# -- the reader's side -------------------------------------------------------


def rotated_files(path: str, max_files: int) -> list[str]:
    """The rotated files that exist, oldest first (``path.N``, or ``path.N.gz`` once compressed)."""
    found = []
    for k in range(max(max_files, 1) - 1, 0, -1):
        plain = f"{path}.{k}"
        if os.path.exists(plain):
            found.append(plain)
        elif os.path.exists(plain + ".gz"):
            found.append(plain + ".gz")
    return found


def open_member(name: str) -> BinaryIO | None:
    """Open a rotated file for reading; a ``.gz`` one decompressed. None when it is gone.

    A plain ``path.1`` may be compressed (and removed) between listing and opening:
    then its ``.gz`` is opened instead.
    """
    import gzip

    try:
        return gzip.open(name, "rb") if name.endswith(".gz") else open(name, "rb")
    except FileNotFoundError:
        if name.endswith(".gz"):
            return None
        return open_member(name + ".gz")
