"""Docker's multiplexed stream: the 8-byte frame header that keeps stdout and stderr apart.

Used on the attach sockets exec drivers serve (see ``IOConfig`` in
:mod:`berth.hookspecs.types`) and on the hijacked HTTP connections of attach and
exec. A frame is the stream id (0 stdin, 1 stdout, 2 stderr), three zero bytes,
the payload's length as a big-endian uint32, then the payload.
"""

from __future__ import annotations

import struct

STDIN, STDOUT, STDERR = 0, 1, 2
HEADER = struct.Struct(">BxxxI")


def frame(stream: int, data: bytes) -> bytes:
    """One frame of ``data`` on ``stream``."""
    return HEADER.pack(stream, len(data)) + data
