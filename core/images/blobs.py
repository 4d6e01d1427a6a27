"""The content store: ``<data-root>/image/blobs/sha256/<hex>``, one immutable file per digest."""

from __future__ import annotations

import os
import re

from berth.errors import InvalidArgument, NotFound
from berth.fsutil import atomic_write
from berth.images.digest import sha256_bytes

_DIGEST = re.compile(r"^sha256:([a-f0-9]{64})$")


class BlobStore:
    """Content-addressed blobs (image configs, manifests); written atomically, verified on read."""

    def __init__(self, root: str):
        self.root = os.path.join(root, "sha256")
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def path(self, digest: str) -> str:
        match = _DIGEST.match(digest)
        if not match:
            raise InvalidArgument(f"invalid blob digest {digest!r}: expected sha256:<64 hex>")
        return os.path.join(self.root, match.group(1))

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its digest."""
        digest = sha256_bytes(data)
        path = self.path(digest)
        if not os.path.exists(path):
            atomic_write(path, data, 0o644)
        return digest

    def get(self, digest: str) -> bytes:
        """The blob's bytes; a missing or corrupted blob raises NotFound naming the file."""
        path = self.path(digest)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from the content store ({path})") from None
        if sha256_bytes(data) != digest:
            raise NotFound(f"blob {digest} in {path} is corrupted (content digest differs); remove the image and pull it again")
        return data

    def digests(self) -> list[str]:
        """Every stored blob's digest (temporary files of unfinished writes are not blobs)."""
        return ["sha256:" + name for name in os.listdir(self.root) if _DIGEST.match("sha256:" + name)]

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass
