"""A received build context, indexed: the spooled tar's headers read once by ``tarfile``.

The request body is written to a spool as it arrives (:func:`berth.api.build`);
:func:`index_spool` then reads the tar's headers (``tarfile`` seeks over the data)
into a :class:`~berth.build.ctxindex.ContextIndex`. No file is read here: a
COPY's checksum reads the files it covers from the spool when the step runs.

When the index cannot model the archive (:class:`~berth.build.ctxindex.Unindexed`,
a compressed body, or any error reading it), the answer is None: the caller
extracts the spool as before, and the extractor accepts or refuses it with its
own errors.
"""

from __future__ import annotations

import os
import tarfile

from berth.build.ctxindex import ContextIndex, Unindexed
from berth.images.tarread import CheckedTarInfo, members

_COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00")  # gzip, zstd, bzip2, xz
WHAT = "build context"


def index_spool(spool) -> ContextIndex | None:
    """The index of the context tar in ``spool`` (a file written from its start), or None when it must be
    extracted instead."""
    spool.flush()
    fd = spool.fileno()
    try:
        if os.pread(fd, 6, 0).startswith(_COMPRESSED):
            raise Unindexed("compressed")
        index = ContextIndex(fd)
        spool.seek(0)
        # tarfile seeks over the data, and refuses an archive that ends inside it ("unexpected end of data")
        with tarfile.open(fileobj=spool, mode="r:", tarinfo=CheckedTarInfo) as tf:
            for member in members(tf, WHAT):
                index.add(member)
        return index
    except Exception:  # Unindexed, or whatever the extractor will report in its own words
        return None
