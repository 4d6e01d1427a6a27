"""Reproducing a layer's original tar byte for byte (after vbatts/tar-split, as Docker's layer store).

A layer's diff ID is the digest of the tar it was applied from. ``save`` and
``push`` must hand out exactly those bytes again, or the image config's
``rootfs.diff_ids`` no longer match and ``docker load`` refuses the archive. Keeping
every tar twice would double the disk used, so while a layer is applied
:class:`Recorder` keeps everything *but* file contents (headers, PAX records,
padding, end blocks) plus, for each regular file, its name and size. :func:`assemble`
later interleaves those bytes with the files read back from the mounted layer.

On disk: ``<data-root>/image/tarsplit/<cache-id>.gz``, gzip of JSON lines, each
``["r", "<base64 bytes>"]`` or ``["f", "<archive name>", size]``; the first line is
``{"size": total, "digest": diff ID}``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import stat
from typing import BinaryIO, Iterator

from berth.errors import DriverError, InvalidArgument
from berth.fsutil import atomic_write
from berth.images.scope import resolve_in_root
from berth.images.tarread import clean_name

_BLOCK = 512
_CONTENT_TYPES = (b"0", b"\0", b"7")  # regular and contiguous files: their payload is the file's bytes
#: links, devices, directories, FIFOs: no payload whatever their size field says (as Go's and Python's readers)
_HEADER_ONLY_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")
_CHUNK = 1 << 20


def _octal(field: bytes) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for large values
        value = field[0] & 0x7F
        for b in field[1:]:
            value = (value << 8) | b
        return value
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:  # not a tar header at all (random bytes, a wrong file): the client's mistake
        raise InvalidArgument(f"layer archive is not a valid tar stream: bad number field {bytes(field)!r} "
                              "in a header") from None


def _pax_records(data: bytes) -> dict[str, str]:
    out, pos = {}, 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        record = data[space + 1:pos + length - 1]
        key, _, value = record.partition(b"=")
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


class Recorder:
    """Fed every byte of a tar stream in order (:meth:`feed`); :meth:`entries` is the split."""

    def __init__(self) -> None:
        self._entries: list[list] = []
        self._raw = bytearray()
        self._header = bytearray()
        self._remaining = 0  # payload bytes left of the current member
        self._payload_kind = ""  # "file" (skipped, read back later) or "meta" (kept)
        self._meta = bytearray()
        self._meta_type = b""
        self._padding = 0
        self._next_path: str | None = None
        self._next_size: int | None = None
        self._next_sparse = False  # PAX GNU.sparse.* records: the payload is a map and data, not the file
        self.total = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        self.total += len(data)
        while view:
            if self._remaining:
                n = min(self._remaining, len(view))
                if self._payload_kind == "meta":
                    self._meta += view[:n]
                    self._raw += view[:n]
                elif self._payload_kind == "raw":
                    self._raw += view[:n]
                self._remaining -= n
                view = view[n:]
                if not self._remaining and self._payload_kind == "meta":
                    self._end_meta()
                continue
            if self._padding:
                n = min(self._padding, len(view))
                self._raw += view[:n]
                self._padding -= n
                view = view[n:]
                continue
            n = min(_BLOCK - len(self._header), len(view))
            self._header += view[:n]
            view = view[n:]
            if len(self._header) == _BLOCK:
                self._on_header(bytes(self._header))
                self._header.clear()

    def _on_header(self, block: bytes) -> None:
        self._raw += block
        if block == b"\0" * _BLOCK:
            return  # end-of-archive (or padding after it): kept as is
        typeflag = block[156:157]
        size = _octal(block[124:136])
        if typeflag in (b"x", b"g", b"L", b"K"):
            self._meta_type = typeflag
            self._meta.clear()
            self._start_payload(size, "meta")
            if not size:
                self._end_meta()
            return
        name = block[0:100].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        if block[257:262] == b"ustar":
            prefix = block[345:500].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            if prefix:
                name = prefix + "/" + name
        if self._next_path is not None:
            name = self._next_path
        if self._next_size is not None:
            size = self._next_size
        sparse = self._next_sparse
        self._next_path = self._next_size = None
        self._next_sparse = False
        if typeflag in _HEADER_ONLY_TYPES:
            size = 0
        if typeflag in _CONTENT_TYPES and size and not sparse:
            self._flush_raw()
            self._entries.append(["f", name, size])
            self._start_payload(size, "file")
        else:
            self._start_payload(size, "raw")

    def _start_payload(self, size: int, kind: str) -> None:
        self._remaining = size
        self._payload_kind = kind
        self._padding = (-size) % _BLOCK

    def _end_meta(self) -> None:
        data = bytes(self._meta)
        if self._meta_type == b"x":
            records = _pax_records(data)
            if "path" in records:
                self._next_path = records["path"]
            if "size" in records:
                self._next_size = int(records["size"])
            self._next_sparse = any(key.startswith("GNU.sparse.") for key in records)
        elif self._meta_type == b"L":
            self._next_path = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")

    def _flush_raw(self) -> None:
        if self._raw:
            self._entries.append(["r", base64.b64encode(bytes(self._raw)).decode()])
            self._raw.clear()

    def entries(self) -> list[list]:
        """The split so far (call after the whole stream was fed)."""
        self._flush_raw()
        return self._entries

    def save(self, path: str, digest: str) -> None:
        """Write the split (atomically) for the layer whose diff ID is ``digest``."""
        lines = [json.dumps({"size": self.total, "digest": digest})]
        lines += [json.dumps(e, separators=(",", ":")) for e in self.entries()]
        atomic_write(path, gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1), 0o600)


class TarSplit:
    """A saved split: ``size`` and ``digest`` of the original tar, and its entries."""

    def __init__(self, path: str):
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            raise DriverError(f"layer tar metadata {path} is missing; the layer cannot be exported byte for byte "
                              "(pull or load the image again)") from None
        head = json.loads(lines[0])
        self.size: int = head["size"]
        self.digest: str = head["digest"]
        self.entries = [json.loads(line) for line in lines[1:] if line]

    def chunks(self, root: str) -> Iterator[bytes]:
        """The original tar's bytes, file contents read from the layer mounted at ``root``.

        Raises :class:`DriverError` if a file is missing or changed size, and at the
        end if the bytes do not hash to the recorded digest.
        """
        digest = hashlib.sha256()
        for entry in self.entries:
            if entry[0] == "r":
                data = base64.b64decode(entry[1])
                digest.update(data)
                yield data
                continue
            _, name, size = entry
            for data in _read_file(root, name, size):
                digest.update(data)
                yield data
        if "sha256:" + digest.hexdigest() != self.digest:
            raise DriverError(f"the layer's files changed since it was applied: its tar no longer hashes to "
                              f"{self.digest}; remove the image and pull or load it again")

    def write(self, root: str, out: BinaryIO) -> None:
        for chunk in self.chunks(root):
            out.write(chunk)


def _read_file(root: str, name: str, size: int) -> Iterator[bytes]:
    rel = "/".join(clean_name(name))
    path = resolve_in_root(root, rel, follow_final=False)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise DriverError(f"cannot re-read {name!r} of the layer: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            raise DriverError(f"layer file {name!r} changed since the layer was applied (expected {size} bytes)")
        left = size
        while left:
            data = os.read(fd, min(_CHUNK, left))
            if not data:
                raise DriverError(f"layer file {name!r} is shorter than recorded")
            left -= len(data)
            yield data
    finally:
        os.close(fd)
