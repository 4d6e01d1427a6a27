"""Fetching blobs into verified temporary files, and reading layers back uncompressed.

A blob is streamed to a temporary file next to the data-root while its SHA-256
is computed; the file is kept only when the digest and size match the
descriptor (:class:`DigestMismatch` otherwise, the file removed). A gzip layer
is decompressed on the fly as it arrives, so its diff ID (the digest of the
uncompressed tar) is known, and checked against the image config, before the
layer touches the graph driver. zstd layers are checked by one extra pass
through the ``zstd`` tool.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable

import aiohttp

from berth.errors import NotImplementedYet
from berth.fsutil import remove_path
from berth.registry.errors import DigestMismatch, Transient
from berth.registry.manifest import Descriptor
from berth.registry.transport import Registry

CHUNK = 1 << 16


@dataclass
class Downloaded:
    path: str
    digest: str
    size: int
    diff_id: str | None  # known when the blob was decompressed while downloading


class _GzipHasher:
    """Decompresses a gzip stream incrementally (multi-member too) and hashes the output."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self._d = zlib.decompressobj(wbits=31)

    def feed(self, data: bytes) -> None:
        while data:
            self.hash.update(self._d.decompress(data))
            if self._d.eof:
                data = self._d.unused_data
                self._d = zlib.decompressobj(wbits=31)
                if data.lstrip(b"\0") == b"":
                    return  # trailing zero padding after the last member, as gzip(1) tolerates
            else:
                data = b""

    def digest(self) -> str:
        self.hash.update(self._d.flush())
        return "sha256:" + self.hash.hexdigest()


async def fetch_blob(registry: Registry, repo_path: str, desc: Descriptor, directory: str, compression: str,
                     on_bytes: Callable[[int, int], None], scopes: tuple[str, ...]) -> Downloaded:
    """Download ``desc`` into a temporary file in ``directory``; verified, or an error and no file."""
    fd, path = tempfile.mkstemp(dir=directory, prefix="blob-", suffix=".part")
    os.close(fd)
    try:
        for attempt in range(1, registry.retry.attempts + 1):
            try:
                return await _fetch_once(registry, repo_path, desc, path, compression, on_bytes, scopes)
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                # the connection broke mid-body: start the blob over (the digest covers every byte)
                if attempt >= registry.retry.attempts:
                    raise Transient(f"downloading blob {desc.digest} from {registry.host}/{repo_path} failed "
                                    f"after {attempt} attempts: {type(exc).__name__}: {exc}") from None
                await asyncio.sleep(registry.retry.delay(attempt))
        raise AssertionError("unreachable")
    except BaseException:
        remove_path(path)
        raise


async def _fetch_once(registry: Registry, repo_path: str, desc: Descriptor, path: str, compression: str,
                      on_bytes: Callable[[int, int], None], scopes: tuple[str, ...]) -> Downloaded:
    sha = hashlib.sha256()
    unzip = _GzipHasher() if compression == "gzip" else None
    count = 0
    resp = await registry.request("GET", f"/v2/{repo_path}/blobs/{desc.digest}", scopes,
                                  what=f"download of blob {desc.digest} of {repo_path}")
    try:
        with open(path, "wb") as out:
            async for chunk in resp.content.iter_chunked(CHUNK):
                sha.update(chunk)
                count += len(chunk)
                if count > desc.size > 0:
                    raise DigestMismatch(f"blob {desc.digest} of {registry.host}/{repo_path} is larger than the "
                                         f"{desc.size} bytes its manifest says; nothing was stored")
                if unzip is not None:
                    try:
                        unzip.feed(chunk)
                    except zlib.error:
                        # may just mean corruption (the digest check below says); else a pass after download
                        unzip = None
                out.write(chunk)
                on_bytes(count, desc.size)
            # No fsync: the file is scratch, read back once and removed. What must survive a crash
            # is the applied layer, which the pull syncs before the image record commits.
    finally:
        resp.release()
    digest = "sha256:" + sha.hexdigest()
    if digest != desc.digest or (desc.size and count != desc.size):
        raise DigestMismatch(f"blob {desc.digest} from {registry.host}/{repo_path} failed verification: its "
                             f"content hashes to {digest} ({count} bytes, expected {desc.size}); the registry "
                             f"serves corrupted data; nothing was stored")
    diff_id = None
    if compression == "none":
        diff_id = digest
    elif unzip is not None:
        diff_id = unzip.digest()
    return Downloaded(path, digest, count, diff_id)


def open_uncompressed(path: str, compression: str, on_bytes: Callable[[int], None] | None = None) -> BinaryIO:
    """The layer file at ``path`` as an uncompressed tar stream (close it when done).

    ``on_bytes(n)`` is told how many bytes of the (compressed) file were read so far.
    """
    if compression in ("gzip", "none"):
        raw: BinaryIO = open(path, "rb")
        if on_bytes is not None:
            raw = CountingReader(raw, on_bytes)  # type: ignore[assignment]
        if compression == "none":
            return raw
        return _OwningGzip(raw)  # type: ignore[return-value]
    if compression == "zstd":
        return _ZstdReader(path)
    raise NotImplementedYet(f"unsupported layer compression {compression!r}")


def uncompressed_digest(path: str, compression: str) -> str:
    """The diff ID of a downloaded layer (a full pass; used when it was not computed in flight)."""
    h = hashlib.sha256()
    with open_uncompressed(path, compression) as stream:
        while chunk := stream.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class _OwningGzip(gzip.GzipFile):
    """A GzipFile that closes the file it reads (GzipFile leaves a passed-in fileobj open)."""

    def __init__(self, raw: BinaryIO):
        super().__init__(fileobj=raw, mode="rb")  # type: ignore[arg-type]
        self._owned = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owned.close()


class _ZstdReader(io.RawIOBase):
    """``zstd -dc FILE`` as a readable stream; a decompression failure raises at EOF."""

    def __init__(self, path: str):
        super().__init__()
        tool = shutil.which("zstd")
        if tool is None:
            raise NotImplementedYet("this image has zstd-compressed layers and the zstd tool is not installed on "
                                    "the daemon's host; install it (Debian package 'zstd')")
        self._proc = subprocess.Popen([tool, "-dcq", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._proc.stdout is not None
        self._out = self._proc.stdout
        self._path = path

    def readinto(self, buf) -> int:
        n = self._out.readinto(buf)
        if not n and len(buf):
            self._check()
        return n or 0

    def readable(self) -> bool:
        return True

    def _check(self) -> None:
        code = self._proc.wait()
        if code != 0:
            err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
            raise DigestMismatch(f"zstd could not decompress layer {self._path}: {err or f'exit {code}'}")

    def close(self) -> None:
        if self.closed:
            return
        self._out.close()
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stderr:
            self._proc.stderr.close()
        super().close()


class CountingReader(io.RawIOBase):
    """Passes reads through and reports how many bytes of the underlying file were consumed."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None]):
        super().__init__()
        self._raw = raw
        self._on_bytes = on_bytes
        self.count = 0

    def readinto(self, buf) -> int:
        n = self._raw.readinto(buf)  # type: ignore[attr-defined]
        self.count += n or 0
        self._on_bytes(self.count)
        return n or 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()
