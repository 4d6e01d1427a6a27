"""Push: layers (skipped, mounted or uploaded), the config, then the manifest.

As Docker's ``distribution/push_v2.go``: for each layer, a blob the registry
already has in the target repository (known from pulls and earlier pushes,
checked with HEAD) is skipped; one it has in another repository of the same
registry is mounted (``POST .../blobs/uploads/?mount=&from=``); anything else is
exported from the graph driver, gzip-compressed into a temporary file while its
digests are computed, and uploaded monolithically or, above a size threshold, in
chunks (``PATCH`` with ``Content-Range``, then ``PUT ?digest=``). The manifest is
a Docker v2 schema 2 manifest, which the real Docker, podman and skopeo all pull.

A layer export is a fresh tar of the layer's files; when it is not byte-identical
to the tar the layer was made from, its diff ID differs and the pushed config
carries the new diff IDs (the remote image ID then differs from the local one;
the final status line says so).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable
from urllib.parse import urlencode

from berth.errors import NotFound
from berth.registry import auth, manifest
from berth.registry import reference as refs
from berth.registry.distmeta import BlobRecord
from berth.registry.errors import RegistryError, RegistryNotFound, Unauthorized
from berth.registry.progress import short_id
from berth.registry.transfer import Transfer, TransferOptions

CHUNK = 1 << 20


@dataclass
class PushOptions(TransferOptions):
    max_concurrent_uploads: int = 5  # Docker's default
    chunk_threshold: int = 32 << 20  # blobs above this are uploaded in chunks of chunk_size
    chunk_size: int = 8 << 20


@dataclass
class PushResult:
    tag: str
    digest: str
    size: int
    rewritten: bool


@dataclass
class _Blob:
    digest: str
    size: int
    diff_id: str


class Pusher(Transfer):
    """Pushes one local image under one tag to the repository of ``ref``."""

    options: PushOptions

    async def push(self, ref: refs.Reference) -> PushResult:
        try:
            image = await asyncio.to_thread(self.store.get, str(ref))
        except NotFound:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}") from None
        self.remote = self.registry(refs.api_host(ref))
        self.ref = ref
        self.scopes = (auth.scope(ref.path, ("pull", "push")),)
        config_raw: bytes = await asyncio.to_thread(self.store.blobs.get, image.id)
        layers = await asyncio.to_thread(self.store.image_layers, image)
        await self.remote.base_url()  # as dockerd: an unreachable registry fails before any layer is "Preparing"
        for layer in layers:
            self.progress.status("Preparing", short_id(layer.diff_id))
        semaphore = asyncio.Semaphore(self.options.max_concurrent_uploads)
        try:
            blobs = await asyncio.gather(*(self._push_layer(layer, semaphore) for layer in layers))
        except Unauthorized as exc:
            raise Unauthorized(f"push to {ref.repository} denied: {exc.message}; run 'berth login "
                               f"{refs.api_host(ref)}'") from None
        rewritten = [b.diff_id for b in blobs] != [layer.diff_id for layer in layers]
        if rewritten:
            config = json.loads(config_raw)
            config.setdefault("rootfs", {})["diff_ids"] = [b.diff_id for b in blobs]
            config_raw = json.dumps(config, separators=(",", ":")).encode()
        config_desc = manifest.Descriptor(manifest.DOCKER_CONFIG, "sha256:" + hashlib.sha256(config_raw).hexdigest(),
                                          len(config_raw))
        if not await self._exists(config_desc.digest):
            await self._upload(config_desc.digest, len(config_raw), lambda: _bytes_body(config_raw), None)
        layer_descs = [manifest.Descriptor(manifest.DOCKER_LAYER, b.digest, b.size) for b in blobs]
        body = manifest.build_manifest(manifest.DOCKER_MANIFEST, config_desc, layer_descs)
        tag = ref.tag or "latest"
        resp = await self.remote.request("PUT", f"/v2/{ref.path}/manifests/{tag}", self.scopes,
                                         headers={"Content-Type": manifest.DOCKER_MANIFEST}, data=body,
                                         ok=(201, 202), what=f"manifest upload for {ref}")
        resp.release()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if not rewritten:
            await asyncio.to_thread(self.store.tag, image.id, refs.repo_digest(ref, digest))
        self.progress.status(f"{tag}: digest: {digest} size: {len(body)}", detail=False)
        self.progress.raw({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(body)}})
        return PushResult(tag, digest, len(body), rewritten)

    # -- layers -------------------------------------------------------------

    async def _push_layer(self, layer: Any, semaphore: asyncio.Semaphore) -> _Blob:
        sid = short_id(layer.diff_id)
        async with self.slot(semaphore, sid):
            host, repo = self.remote.host, self.ref.path
            known = await asyncio.to_thread(self.meta.for_diff_id, layer.diff_id, host)
            for rec in [r for r in known if r.repository == repo]:
                if await self._exists(rec.digest):
                    self.progress.status("Layer already exists", sid)
                    return _Blob(rec.digest, rec.size, layer.diff_id)
                await asyncio.to_thread(self.meta.forget, rec.digest, host, repo)
            for rec in [r for r in known if r.repository != repo]:
                if await self._mount(rec):
                    self.progress.status(f"Mounted from {rec.repository}", sid)
                    await asyncio.to_thread(self.meta.add, BlobRecord(layer.diff_id, rec.digest, rec.media_type,
                                                                      rec.size, host, repo))
                    return _Blob(rec.digest, rec.size, layer.diff_id)
            path, blob = await asyncio.to_thread(self._export, layer)
            try:
                if await self._exists(blob.digest):
                    self.progress.status("Layer already exists", sid)
                else:
                    await self._upload(blob.digest, blob.size, lambda: _file_body(path), sid)
                    self.progress.status("Pushed", sid)
            finally:
                os.unlink(path)
            await asyncio.to_thread(self.meta.add, BlobRecord(blob.diff_id, blob.digest, manifest.DOCKER_LAYER,
                                                              blob.size, host, repo))
            return blob

    def _export(self, layer: Any) -> tuple[str, _Blob]:
        """The layer's diff from the graph driver, gzip-compressed into a temp file; digests computed."""
        parent = self.store.get_layer(layer.parent).cache_id if layer.parent else None
        fd, path = tempfile.mkstemp(dir=self.tmp_dir, prefix="push-", suffix=".tar.gz")
        raw_hash, gz_hash = hashlib.sha256(), hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                hashing = _HashingWriter(out, gz_hash)
                with gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0, compresslevel=6) as gz:
                    stream = self.store.graph.diff(layer.cache_id, parent)
                    try:
                        while chunk := stream.read(CHUNK):
                            raw_hash.update(chunk)
                            gz.write(chunk)
                    finally:
                        stream.close()
                size = hashing.count
        except BaseException:
            os.unlink(path)
            raise
        return path, _Blob("sha256:" + gz_hash.hexdigest(), size, "sha256:" + raw_hash.hexdigest())

    # -- registry calls -----------------------------------------------------

    async def _exists(self, digest: str) -> bool:
        try:
            resp = await self.remote.request("HEAD", f"/v2/{self.ref.path}/blobs/{digest}", self.scopes,
                                             what=f"blob check {digest}")
        except RegistryNotFound:
            return False
        resp.release()
        return True

    async def _mount(self, rec: BlobRecord) -> bool:
        scopes = self.scopes + (auth.scope(rec.repository, ("pull",)),)
        try:
            resp = await self.remote.request("POST", f"/v2/{self.ref.path}/blobs/uploads/", scopes,
                                             params={"mount": rec.digest, "from": rec.repository},
                                             ok=(201, 202), what=f"mount of {rec.digest} from {rec.repository}")
        except (RegistryNotFound, Unauthorized):
            return False
        location = resp.headers.get("Location", "")
        resp.release()
        if resp.status == 201:
            return True
        if location:  # 202: the registry opened an upload instead; drop it
            try:
                r = await self.remote.request("DELETE", location, self.scopes, ok=(204, 200, 404))
                r.release()
            except RegistryError:
                pass
        return False

    async def _upload(self, digest: str, size: int, body: Callable[[], Any], sid: str | None) -> None:
        resp = await self.remote.request("POST", f"/v2/{self.ref.path}/blobs/uploads/", self.scopes, ok=(202,),
                                         what=f"upload start for {digest}")
        location = resp.headers.get("Location")
        resp.release()
        if not location:
            raise RegistryError(f"registry {self.remote.host} started an upload without a Location header")
        report = (lambda n: self.progress.bytes("Pushing", sid, n, size)) if sid else (lambda n: None)
        if size <= self.options.chunk_threshold:
            resp = await self.remote.request(
                "PUT", _with_digest(location, digest), self.scopes,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                data=lambda: body_with_progress(body(), report), ok=(201,), what=f"upload of {digest}")
            resp.release()
            return
        sent = 0
        gen = body()
        buffer = b""
        async for chunk in gen:
            buffer += chunk
            while len(buffer) >= self.options.chunk_size:
                piece, buffer = buffer[:self.options.chunk_size], buffer[self.options.chunk_size:]
                location = await self._patch(location, piece, sent, digest)
                sent += len(piece)
                report(sent)
        if buffer:
            location = await self._patch(location, buffer, sent, digest)
            sent += len(buffer)
            report(sent)
        resp = await self.remote.request("PUT", _with_digest(location, digest), self.scopes,
                                         headers={"Content-Length": "0"}, data=b"", ok=(201,),
                                         what=f"upload completion of {digest}")
        resp.release()

    async def _patch(self, location: str, piece: bytes, start: int, digest: str) -> str:
        resp = await self.remote.request(
            "PATCH", location, self.scopes, data=piece, ok=(202,), what=f"chunk upload of {digest}",
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(piece)),
                     "Content-Range": f"{start}-{start + len(piece) - 1}"})
        new = resp.headers.get("Location", location)
        resp.release()
        return new


def _with_digest(location: str, digest: str) -> str:
    """The upload URL for the final PUT: the Location (with its own query) plus ``digest``."""
    return location + ("&" if "?" in location else "?") + urlencode({"digest": digest})


class _HashingWriter:
    def __init__(self, out: Any, h: Any):
        self.out, self.h, self.count = out, h, 0

    def write(self, data: bytes) -> int:
        self.h.update(data)
        self.count += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


async def _bytes_body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _file_body(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:
        while chunk := await asyncio.to_thread(f.read, CHUNK):
            yield chunk


async def body_with_progress(source: AsyncIterator[bytes], report: Callable[[int], None]) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in source:
        sent += len(chunk)
        report(sent)
        yield chunk
