"""Downloading a layer blob into a :class:`~berth.registry.spool.BlobSpool`, verified as it streams.

Each chunk from the socket is hashed and handed to the spool at once, so the
layer's extraction can read it while the rest is still on the wire. The spool is
ended only when every byte hashed to the descriptor's digest and size; otherwise
it fails with :class:`DigestMismatch`, and the extraction that read it fails too.

A connection that breaks mid-body is resumed where it broke with an HTTP ``Range``
request when the registry said it serves ranges (``Accept-Ranges: bytes``); else
the blob is asked for again from its start and the bytes already had are skipped
(they were hashed and handed on; the digest covers every byte either way). Only
attempts that bring no new byte count against the retry policy's ``attempts``.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Callable

import aiohttp

from berth import log
from berth.registry.errors import DigestMismatch, RegistryError, Transient
from berth.registry.manifest import Descriptor
from berth.registry.spool import BlobSpool
from berth.registry.transport import Registry

CHUNK = 1 << 16
#: Requests one blob may take in all (each one that brought new bytes is not a failed attempt).
MAX_RESUMES = 100


class _Received:
    """What one blob's download has had so far: its byte count and running digest."""

    def __init__(self) -> None:
        self.count = 0
        self.sha = hashlib.sha256()
        self.ranges = False  # the registry said it serves byte ranges of this blob


async def stream_blob(registry: Registry, repo_path: str, desc: Descriptor, spool: BlobSpool,
                      on_bytes: Callable[[int, int], None], scopes: tuple[str, ...]) -> None:
    """Download ``desc`` into ``spool``, then end it: :meth:`~BlobSpool.finish` if verified, else fail it.

    Raises what failed it as well (:class:`DigestMismatch`, :class:`Transient` once the
    retries are spent, or a registry error).
    """
    got = _Received()
    try:
        await _fetch_all(registry, repo_path, desc, spool, got, on_bytes, scopes)
        _verify(registry, repo_path, desc, got)
    except BaseException as exc:
        spool.fail(exc if isinstance(exc, Exception) else Transient(f"download of {desc.digest} was cancelled"))
        raise
    spool.finish()


async def _fetch_all(registry: Registry, repo_path: str, desc: Descriptor, spool: BlobSpool, got: _Received,
                     on_bytes: Callable[[int, int], None], scopes: tuple[str, ...]) -> None:
    """GET the blob until its body arrived whole, resuming after breaks."""
    failures = requests = best = 0
    while True:
        try:
            await _fetch_rest(registry, repo_path, desc, spool, got, on_bytes, scopes)
            return
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            failures = 0 if got.count > best else failures + 1
            best, requests = max(best, got.count), requests + 1
            if failures >= registry.retry.attempts or requests > MAX_RESUMES:
                raise Transient(f"downloading blob {desc.digest} from {registry.host}/{repo_path} failed after "
                                f"{requests} attempts: {type(exc).__name__}: {exc}") from None
            log.get().info("registry.blob_resume", host=registry.host, digest=desc.digest, at=got.count,
                           ranges=got.ranges, error=str(exc) or type(exc).__name__)
            await asyncio.sleep(registry.retry.delay(max(failures, 1)))


async def _fetch_rest(registry: Registry, repo_path: str, desc: Descriptor, spool: BlobSpool, got: _Received,
                      on_bytes: Callable[[int, int], None], scopes: tuple[str, ...]) -> None:
    """One GET of what is missing: from ``got.count`` on when the registry serves ranges, else all of it
    (the first ``got.count`` bytes skipped). A break mid-body raises aiohttp's error."""
    resume = got.ranges and got.count > 0
    headers = {"Range": f"bytes={got.count}-"} if resume else None
    resp = await registry.request("GET", f"/v2/{repo_path}/blobs/{desc.digest}", scopes, headers=headers,
                                  ok=(200, 206), what=f"download of blob {desc.digest} of {repo_path}")
    try:
        got.ranges = resp.headers.get("Accept-Ranges", "").strip().lower() == "bytes"
        if resp.status == 206 and not resp.headers.get("Content-Range", "").startswith(f"bytes {got.count}-"):
            raise RegistryError(f"registry {registry.host} answered the range request for blob {desc.digest} "
                                f"with {resp.headers.get('Content-Range')!r}, not bytes from {got.count}")
        skip = got.count if resp.status == 200 else 0  # the whole blob again: what we have comes first
        async for chunk in resp.content.iter_chunked(CHUNK):
            if skip:
                chunk, skip = chunk[skip:], max(0, skip - len(chunk))
                if not chunk:
                    continue
            got.sha.update(chunk)
            got.count += len(chunk)
            if got.count > desc.size > 0:
                raise DigestMismatch(f"blob {desc.digest} of {registry.host}/{repo_path} is larger than the "
                                     f"{desc.size} bytes its manifest says; nothing was stored")
            spool.write(chunk)
            on_bytes(got.count, desc.size)
    finally:
        resp.release()


def _verify(registry: Registry, repo_path: str, desc: Descriptor, got: _Received) -> None:
    digest = "sha256:" + got.sha.hexdigest()
    if digest != desc.digest or (desc.size and got.count != desc.size):
        raise DigestMismatch(f"blob {desc.digest} from {registry.host}/{repo_path} failed verification: its "
                             f"content hashes to {digest} ({got.count} bytes, expected {desc.size}); the registry "
                             f"serves corrupted data; nothing was stored")
