"""Content digests: hashing a stream while it is consumed, and layer chain IDs."""

from __future__ import annotations

import hashlib
import io
from typing import BinaryIO, Callable


class DigestReader(io.RawIOBase):
    """Passes reads through from ``stream`` while hashing them with SHA-256.

    Read it to the end (:meth:`drain`) before asking for :attr:`digest`: tar readers
    stop at the end-of-archive blocks and may leave padding unread, and the diff ID
    covers every byte.
    """

    def __init__(self, stream: BinaryIO, on_data: "Callable[[bytes], None] | None" = None):
        super().__init__()
        self._stream = stream
        self._on_data = on_data  # sees every byte too (e.g. a tar-split recorder)
        self._hash = hashlib.sha256()
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._hash.update(data)
        self.count += len(data)
        if self._on_data is not None and data:
            self._on_data(data)
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Consume (and hash) whatever is left."""
        while self.read(1 << 20):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def chain_id(parent_chain: str | None, diff_id: str) -> str:
    """The OCI chain ID: the diff ID for a base layer, else sha256(parent chain + " " + diff ID)."""
    if parent_chain is None:
        return diff_id
    return sha256_bytes(f"{parent_chain} {diff_id}".encode())
