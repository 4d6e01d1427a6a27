"""Undoing a layer's compression, fast: gzip through ISA-L, zstd through the standard library's binding.

A layer arrives as gzip (Docker's and most registries' choice), zstd (OCI's newer
media type) or a plain tar. Which one is read from the first bytes, as Docker's
``archive.DecompressStream`` does, not trusted from the media type.

* gzip: python-isal's ``isal_zlib`` (Intel's ISA-L inflate, 2-4x zlib here on the
  busybox layer and on incompressible data) when it is installed, else the
  standard ``zlib``. Multi-member streams are read to the end; zero padding after
  the last member is tolerated (as gzip(1)); anything else after it is an error.
* zstd: ``compression.zstd`` (Python 3.14) or its backport ``backports.zstd``
  (the same code, maintained with CPython's), so no ``zstd`` program is needed.
  Every frame is read; skippable frames are skipped by the decompressor.

Output is produced in bounded pieces (at most what the reader asked for), so a
small compressed "bomb" never sits in memory whole.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO, Callable

from berth.errors import InvalidArgument, NotImplementedYet

try:  # ISA-L's inflate: the fast path (x86-64 and aarch64 wheels)
    from isal import isal_zlib as _gzip_lib
except ImportError:  # pragma: no cover - the standard library's zlib still works, slower
    _gzip_lib = zlib  # type: ignore[assignment]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 18


def sniff(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``none`` for a stream starting with ``head`` (at least 4 bytes when there are)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def gzip_backend() -> str:
    """Which inflate implementation gzip layers go through (shown in ``info``-style reports and benchmarks)."""
    return "isal" if _gzip_lib is not zlib else "zlib"


def _zstd_module():
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14
    except ImportError:
        try:
            from backports import zstd  # type: ignore[no-redef]
        except ImportError:
            raise NotImplementedYet("this layer is zstd-compressed and neither compression.zstd (Python 3.14) "
                                    "nor its backport is installed; install berth's dependencies "
                                    "(pip package 'backports.zstd')") from None
    return zstd


def _codec(kind: str) -> tuple[Callable[[], object], tuple[type[BaseException], ...]]:
    """A factory of one member's (gzip) or frame's (zstd) decompressor, and the errors it raises."""
    if kind == "gzip":
        return (lambda: _gzip_lib.decompressobj(31)), (zlib.error, getattr(_gzip_lib, "error", zlib.error))
    if kind == "zstd":
        zstd = _zstd_module()
        return zstd.ZstdDecompressor, (zstd.ZstdError,)
    raise ValueError(f"unsupported compression {kind!r}")


class Decompressing(io.RawIOBase):
    """The decompressed bytes of ``raw`` (gzip or zstd, see the module docstring) as a readable stream.

    Corrupt or truncated input raises :class:`~berth.errors.InvalidArgument`.
    """

    def __init__(self, raw: BinaryIO, kind: str):
        super().__init__()
        self._raw = raw
        self._kind = kind
        self._factory, self._errors = _codec(kind)
        self._d: object | None = None  # the current member's or frame's decompressor; None between them
        self._input = b""  # compressed bytes read but not handed to a decompressor yet
        self._raw_eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        if not len(buf):
            return 0
        try:
            while True:
                out = self._step(len(buf))
                if out is None:
                    return 0
                if out:
                    buf[:len(out)] = out
                    return len(out)
        except self._errors as exc:
            raise InvalidArgument(f"layer is not valid {self._kind}: {exc}") from None

    def _fill(self) -> bool:
        """Read more compressed input; False at its end."""
        if self._raw_eof:
            return False
        data = self._raw.read(_CHUNK)
        if not data:
            self._raw_eof = True
            return False
        self._input += data
        return True

    def _step(self, limit: int) -> bytes | None:
        """Some output (maybe none yet), or None at the clean end of the stream."""
        if self._d is None:
            if not self._input and not self._fill():
                return None
            if self._kind == "gzip" and not self._next_member():
                return b""
            self._d = self._factory()
        d = self._d
        if not self._input and (self._kind == "gzip" or d.needs_input):  # type: ignore[attr-defined]
            if not self._fill():
                return self._drain_at_end(d, limit)
        out = d.decompress(self._input, limit)  # type: ignore[attr-defined]
        # gzip hands back what the output limit left unread; zstd keeps it inside until needs_input
        self._input = d.unconsumed_tail if self._kind == "gzip" else b""  # type: ignore[attr-defined]
        if d.eof:  # type: ignore[attr-defined]
            self._input = d.unused_data + self._input  # type: ignore[attr-defined]
            self._d = None
        return out

    def _next_member(self) -> bool:
        """After a gzip member: True when another starts here; zero padding to the end is skipped."""
        while len(self._input) < 2 and self._fill():
            pass
        if self._input.startswith(GZIP_MAGIC):
            return True
        if self._input.strip(b"\0"):
            raise InvalidArgument("layer is not valid gzip: unexpected data after the last member")
        self._input = b""
        return False

    def _drain_at_end(self, d: object, limit: int) -> bytes:
        """No input left inside a member or frame: what the decompressor still holds, else truncation."""
        out = d.decompress(b"", limit)  # type: ignore[attr-defined]
        if d.eof:  # type: ignore[attr-defined]
            self._d = None
            return out
        if out:
            return out
        raise InvalidArgument(f"layer is not valid {self._kind}: the stream is truncated")

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            finally:
                super().close()


def decompressed(stream: BinaryIO) -> BinaryIO:
    """``stream`` itself for a plain tar, or a decompressing view of it for gzip or zstd (sniffed)."""
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream, _CHUNK)  # type: ignore[arg-type]
    kind = sniff(buffered.peek(4)[:4])  # type: ignore[attr-defined]
    if kind == "none":
        return buffered  # type: ignore[return-value]
    return io.BufferedReader(Decompressing(buffered, kind), _CHUNK)  # type: ignore[arg-type,return-value]
