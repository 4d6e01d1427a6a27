"""A received build context, indexed: the spooled tar read once, headers by ``tarfile``, files by digest.

The request body is written to a spool as it arrives (:func:`berth.api.build`);
:func:`index_spool` then reads the tar's headers (``tarfile`` seeks over the data)
into a :class:`~berth.build.ctxindex.ContextIndex` and hashes each regular file's
bytes straight from the spool (the page cache: no copy through ``tarfile``'s
stream buffers), which costs about what SHA-256 of the context costs.

When the index cannot model the archive (:class:`~berth.build.ctxindex.Unindexed`,
a compressed body, or any error reading it), the answer is None: the caller
extracts the spool as before, and the extractor accepts or refuses it with its
own errors.
"""

from __future__ import annotations

import hashlib
import os
import tarfile

from berth.build.ctxindex import ContextIndex, Unindexed
from berth.images.tarread import CheckedTarInfo, members

_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00")  # gzip, zstd, bzip2, xz
_READ = 1 << 20
WHAT = "build context"


def index_spool(spool, digests: bool = True) -> ContextIndex | None:
    """The index of the context tar in ``spool`` (a file written from its start), or None when it must be
    extracted instead. ``digests``: hash each file (what lets a checksum be memoised; a build without the
    cache has no use for it)."""
    spool.flush()
    fd = spool.fileno()
    try:
        if os.pread(fd, 6, 0).startswith(_COMPRESSED):
            raise Unindexed("compressed")
        index = ContextIndex(fd, digests)
        spool.seek(0)
        with tarfile.open(fileobj=spool, mode="r:", tarinfo=CheckedTarInfo) as tf:
            for member in members(tf, WHAT):
                regular = digests and member.isreg() and member.sparse is None
                index.add(member, _digest(fd, member.offset_data, member.size) if regular else b"")
        return index
    except Exception:  # Unindexed, or whatever the extractor will report in its own words
        return None


def _digest(fd: int, offset: int, size: int) -> bytes:
    """SHA-256 of ``size`` bytes of the spool at ``offset``."""
    h = hashlib.sha256()
    end = offset + size
    while offset < end:
        chunk = os.pread(fd, min(_READ, end - offset), offset)
        if not chunk:
            raise Unindexed("truncated")
        h.update(chunk)
        offset += len(chunk)
    return h.digest()
