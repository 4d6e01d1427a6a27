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

from berth import log
from berth.errors import NotImplementedYet
from berth.fsutil import remove_path
from berth.registry.errors import DigestMismatch, RegistryError, Transient
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


#: Resumed requests one blob may take in all (each one that brought new bytes is not a failed attempt).
MAX_RESUMES = 100


class _BlobFile:
    """A blob being written to ``path``, with the digests of what arrived so far: resumable at :attr:`count`."""

    def __init__(self, path: str, compression: str):
        self.path = path
        self.compression = compression
        self.ranges = False  # the registry said it serves byte ranges of this blob
        self.reset()

    def reset(self) -> None:
        """Start over (the registry sent the whole blob again)."""
        self.sha = hashlib.sha256()
        self.unzip: _GzipHasher | None = _GzipHasher() if self.compression == "gzip" else None
        self.count = 0
        with open(self.path, "wb"):
            pass

    def write(self, out, chunk: bytes) -> None:
        self.sha.update(chunk)
        self.count += len(chunk)
        if self.unzip is not None:
            try:
                self.unzip.feed(chunk)
            except zlib.error:
                # may just mean corruption (the digest check says); else a pass after download
                self.unzip = None
        out.write(chunk)


async def fetch_blob(registry: Registry, repo_path: str, desc: Descriptor, directory: str, compression: str,
                     on_bytes: Callable[[int, int], None], scopes: tuple[str, ...]) -> Downloaded:
    """Download ``desc`` into a temporary file in ``directory``; verified, or an error and no file.

    A connection that breaks mid-body is resumed where it broke with an HTTP ``Range`` request when
    the registry said it serves ranges (``Accept-Ranges: bytes``), else the blob starts over. Only
    attempts that bring no new byte count against the retry policy's ``attempts``.
    """
    fd, path = tempfile.mkstemp(dir=directory, prefix="blob-", suffix=".part")
    os.close(fd)
    blob = _BlobFile(path, compression)
    failures = resumes = best = 0
    try:
        while True:
            try:
                await _fetch_rest(registry, repo_path, desc, blob, on_bytes, scopes)
                return _verified(registry, repo_path, desc, blob)
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                failures = 0 if blob.count > best else failures + 1
                best, resumes = max(best, blob.count), resumes + 1
                if failures >= registry.retry.attempts or resumes > MAX_RESUMES:
                    raise Transient(f"downloading blob {desc.digest} from {registry.host}/{repo_path} failed after "
                                    f"{resumes} attempts: {type(exc).__name__}: {exc}") from None
                log.get().info("registry.blob_resume", host=registry.host, digest=desc.digest, at=blob.count,
                               ranges=blob.ranges, error=str(exc) or type(exc).__name__)
                await asyncio.sleep(registry.retry.delay(max(failures, 1)))
    except BaseException:
        remove_path(path)
        raise


async def _fetch_rest(registry: Registry, repo_path: str, desc: Descriptor, blob: _BlobFile,
                      on_bytes: Callable[[int, int], None], scopes: tuple[str, ...]) -> None:
    """GET what is missing of the blob: all of it, or from ``blob.count`` on when the registry serves
    ranges. Raises aiohttp's errors when the body breaks."""
    resume = blob.ranges and blob.count > 0
    headers = {"Range": f"bytes={blob.count}-"} if resume else None
    resp = await registry.request("GET", f"/v2/{repo_path}/blobs/{desc.digest}", scopes, headers=headers,
                                  ok=(200, 206), what=f"download of blob {desc.digest} of {repo_path}")
    try:
        blob.ranges = resp.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
        if resp.status == 206 and not resp.headers.get("Content-Range", "").startswith(f"bytes {blob.count}-"):
            raise RegistryError(f"registry {registry.host} answered the range request for blob {desc.digest} "
                                f"with {resp.headers.get('Content-Range')!r}, not bytes from {blob.count}")
        if resp.status == 200 and blob.count:
            blob.reset()  # the whole blob again
        with open(blob.path, "ab") as out:
            async for chunk in resp.content.iter_chunked(CHUNK):
                blob.write(out, chunk)
                if blob.count > desc.size > 0:
                    raise DigestMismatch(f"blob {desc.digest} of {registry.host}/{repo_path} is larger than the "
                                         f"{desc.size} bytes its manifest says; nothing was stored")
                on_bytes(blob.count, desc.size)
            # No fsync: the file is scratch, read back once and removed. What must survive a crash
            # is the applied layer, which the pull syncs before the image record commits.
    finally:
        resp.release()


def _verified(registry: Registry, repo_path: str, desc: Descriptor, blob: _BlobFile) -> Downloaded:
    digest = "sha256:" + blob.sha.hexdigest()
    if digest != desc.digest or (desc.size and blob.count != desc.size):
        raise DigestMismatch(f"blob {desc.digest} from {registry.host}/{repo_path} failed verification: its "
                             f"content hashes to {digest} ({blob.count} bytes, expected {desc.size}); the registry "
                             f"serves corrupted data; nothing was stored")
    diff_id = None
    if blob.compression == "none":
        diff_id = digest
    elif blob.unzip is not None:
        diff_id = blob.unzip.digest()
    return Downloaded(blob.path, digest, blob.count, diff_id)


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
