"""A build context as it arrives: spooled and indexed by a worker thread while the request body streams in.

The event loop hands each chunk of the body to :meth:`ContextReceiver.put`; a
worker thread (:meth:`ContextReceiver.run`) writes every byte to the spool and
reads the same bytes as a tar: each member goes into a
:class:`~berth.build.ctxindex.ContextIndex`, each regular file's bytes through
SHA-256. Hashing and parsing thus overlap the upload instead of following it.

When the index cannot model the archive (:class:`~berth.build.ctxindex.Unindexed`,
a compressed body, or any error reading it), the worker still spools the whole
body and answers None: the caller then extracts the spool as before, and the
extractor accepts or refuses it with its own errors.
"""

from __future__ import annotations

import hashlib
import queue

from berth.build.ctxindex import ContextIndex, Unindexed
from berth.images.tarread import members, open_stream

_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00")  # gzip, zstd, bzip2, xz
_HASH_READ = 1 << 20
WHAT = "build context"


class ContextReceiver:
    """Spools the chunks it is given and indexes them (see the module docstring)."""

    def __init__(self, spool, depth: int = 8):
        self.spool = spool
        self.chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._view = memoryview(b"")
        self._eof = False
        self.write_error: OSError | None = None
        self.size = 0

    # -- the event loop's side ----------------------------------------------------------------

    def full(self) -> bool:
        """Whether the worker is :attr:`chunks` behind (then wait before :meth:`put`)."""
        return self.chunks.full()

    def put(self, chunk: bytes | None) -> None:
        """One chunk of the body; None at its end (one producer: after :meth:`full` said no, it never blocks)."""
        self.chunks.put(chunk)

    # -- the worker's side ----------------------------------------------------------------------

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body (b"" at its end): what tarfile reads; each chunk is spooled as it comes."""
        while not self._view and not self._eof:
            chunk = self.chunks.get()
            if chunk is None:
                self._eof = True
                break
            self.size += len(chunk)
            if self.write_error is None:  # after a failed write, still consume: the loop must never block
                try:
                    self.spool.write(chunk)
                except OSError as exc:
                    self.write_error = exc
            self._view = memoryview(chunk)
        out = bytes(self._view[:n])
        self._view = self._view[n:]
        return out

    def run(self) -> ContextIndex | None:
        """Read the whole body; the index of the context, or None when it must be extracted instead."""
        try:
            index = self._index()
        except Exception:  # Unindexed, or whatever the extractor will report in its own words
            index = None
        while self.read(_HASH_READ):  # the rest (end blocks, or all after an error) goes to the spool too
            pass
        if self.write_error is not None:
            raise self.write_error
        self.spool.flush()
        return index

    def _index(self) -> ContextIndex:
        head = self.read(6)
        if head.startswith(_COMPRESSED):
            raise Unindexed("compressed")
        self._view = memoryview(head + bytes(self._view))  # give tarfile the bytes it has not seen
        index = ContextIndex(self.spool.fileno())
        tf = open_stream(self, WHAT)
        if tf is None:
            return index  # an empty body: an empty context
        with tf:
            for member in members(tf, WHAT):
                index.add(member, _digest(tf, member) if member.isreg() and member.sparse is None else b"")
        return index


def _digest(tf, member) -> bytes:
    """SHA-256 of a regular file's bytes, read from the stream as they pass."""
    h = hashlib.sha256()
    data = tf.extractfile(member)
    left = member.size
    while left:
        chunk = data.read(min(_HASH_READ, left))
        if not chunk:
            raise EOFError(f"{member.name}: unexpected end of data")
        h.update(chunk)
        left -= len(chunk)
    return h.digest()
