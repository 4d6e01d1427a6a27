"""Pull: manifest (or index and the platform's manifest), config, then the layers.

The order of work, as Docker's ``distribution/pull_v2.go``:

1. resolve the reference to a manifest; an index or manifest list is narrowed to the
   requested platform (attestation entries skipped) and the chosen manifest fetched
   by digest; every manifest is checked against the digest it was fetched by;
2. fetch and verify the image config; its ``rootfs.diff_ids`` give every layer's
   chain ID, so layers the store already holds are skipped (``Already exists``);
3. download the missing layers concurrently into verified temporary files
   (:mod:`berth.registry.blobs`) and apply each through the image store as soon as
   it and the layers below it are in, checking its diff ID against the config;
4. create the image from the exact config bytes (so its ID is the config digest),
   tag it, and record ``repo@digest`` in RepoDigests.

Any failure (a digest mismatch above all) stops the pull, removes the temporary
files and the layers this pull added, and stores no image.
"""

from __future__ import annotations

import asyncio
import ctypes
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import aiohttp

from berth import crashpoints, log
from berth.errors import InvalidArgument, NotFound
from berth.fsutil import remove_path
from berth.images.digest import chain_id as make_chain_id
from berth.registry import auth, blobs, manifest
from berth.registry import reference as refs
from berth.registry.distmeta import BlobRecord
from berth.registry.errors import DigestMismatch, RegistryError, RegistryNotFound, Unauthorized
from berth.registry.progress import short_id
from berth.registry.transfer import Transfer, TransferOptions
from berth.registry.transport import Registry

MAX_MANIFEST = 4 << 20
MAX_CONFIG = 8 << 20


@dataclass
class PullOptions(TransferOptions):
    platform: str | None = None
    max_concurrent_downloads: int = 3  # Docker's default


@dataclass
class PullResult:
    image: Any
    digest: str
    reference: refs.Reference
    downloaded: bool


async def fetch_manifest(registry: Registry, repo_path: str, reference: str,
                         scopes: tuple[str, ...]) -> tuple[bytes, str, str]:
    """GET a manifest; returns (body, content type, digest of the body), verified when by digest."""
    resp = await registry.request("GET", f"/v2/{repo_path}/manifests/{reference}", scopes,
                                  headers={"Accept": ", ".join(manifest.ACCEPT)},
                                  what=f"manifest {reference} of {repo_path}")
    try:
        body = await _read_limited(resp, MAX_MANIFEST, f"manifest {reference} of {repo_path}")
        content_type = resp.headers.get("Content-Type", "")
    finally:
        resp.release()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if reference.startswith("sha256:") and digest != reference:
        raise DigestMismatch(f"manifest {reference} of {registry.host}/{repo_path} failed verification: the "
                             f"registry's content hashes to {digest}")
    return body, content_type, digest


async def fetch_small_blob(registry: Registry, repo_path: str, desc: manifest.Descriptor,
                           scopes: tuple[str, ...], limit: int = MAX_CONFIG) -> bytes:
    """A config blob, read into memory and verified against its descriptor."""
    resp = await registry.request("GET", f"/v2/{repo_path}/blobs/{desc.digest}", scopes,
                                  what=f"blob {desc.digest} of {repo_path}")
    try:
        body = await _read_limited(resp, limit, f"blob {desc.digest} of {repo_path}")
    finally:
        resp.release()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if digest != desc.digest:
        raise DigestMismatch(f"blob {desc.digest} of {registry.host}/{repo_path} failed verification: its content "
                             f"hashes to {digest}; nothing was stored")
    return body


async def _read_limited(resp: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    chunks, total = [], 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        total += len(chunk)
        if total > limit:
            raise RegistryError(f"{what} is larger than {limit} bytes; refusing it")
        chunks.append(chunk)
    return b"".join(chunks)


class Puller(Transfer):
    """One pull of one reference into an :class:`~berth.images.store.ImageStore`."""

    options: PullOptions

    async def pull(self, ref: refs.Reference) -> PullResult:
        registry = self.registry(refs.api_host(ref))
        scopes = (auth.scope(ref.path, ("pull",)),)
        wanted = manifest.parse_platform(self.options.platform)
        try:
            body, ctype, top_digest = await fetch_manifest(registry, ref.path, refs.manifest_reference(ref), scopes)
        except RegistryNotFound:
            raise NotFound(f"manifest for {ref} not found: manifest unknown") from None
        except Unauthorized as exc:
            raise NotFound(f"pull access denied for {ref.familiar_name}, repository does not exist or may require "
                           f"'berth login': {exc.message}") from None
        # first line only once the manifest is in: a missing image fails before any output,
        # so the API can still answer with a 404 instead of an error inside a 200 stream (as Docker)
        self.progress.status(f"Pulling from {ref.path}", id=ref.tag or ref.digest, detail=False)
        parsed = manifest.parse(body, ctype)
        if isinstance(parsed, manifest.Index):
            chosen = manifest.select(parsed, wanted)
            body, ctype, _ = await fetch_manifest(registry, ref.path, chosen.digest, scopes)
            parsed = manifest.parse(body, ctype or chosen.media_type)
            if isinstance(parsed, manifest.Index):
                raise InvalidArgument(f"{ref}: the manifest list entry {chosen.digest} is itself an index; "
                                      f"nested indexes are not supported")
        config_raw = await fetch_small_blob(registry, ref.path, parsed.config, scopes)
        config = _check_config(config_raw, parsed, ref, wanted if self.options.platform else None)
        diff_ids: list[str] = config["rootfs"]["diff_ids"]
        chains: list[str] = []
        for diff_id in diff_ids:
            chains.append(make_chain_id(chains[-1] if chains else None, diff_id))
        image_id = "sha256:" + hashlib.sha256(config_raw).hexdigest()
        tag_ref = str(ref) if ref.tag else None
        existed = self._image_exists(image_id)
        previous = self._resolve(tag_ref) if tag_ref else None

        layers = await self._fetch_layers(registry, ref, parsed.layers, diff_ids, chains, scopes)
        if not existed:
            # the extracted files are only in the page cache: flush them before the image record
            # commits, so a crash never leaves an image whose layers are empty or torn
            await asyncio.to_thread(sync_filesystem, self.store.root)
        image = await asyncio.to_thread(self.store.create_image, config_raw, layers, tag_ref)
        repo_digest = refs.repo_digest(ref, ref.digest or top_digest)
        await asyncio.to_thread(self.store.tag, image.id, repo_digest)
        image = await asyncio.to_thread(self.store.get, image.id)
        self.progress.status(f"Digest: {ref.digest or top_digest}", detail=False)
        downloaded = not (existed and (tag_ref is None or previous == image.id))
        shown = str(ref)
        self.progress.status(("Status: Downloaded newer image for " if downloaded else
                              "Status: Image is up to date for ") + shown, detail=False)
        return PullResult(image, ref.digest or top_digest, ref, downloaded)

    # -- layers -------------------------------------------------------------

    async def _fetch_layers(self, registry: Registry, ref: refs.Reference, descs: list[manifest.Descriptor],
                            diff_ids: list[str], chains: list[str], scopes: tuple[str, ...]) -> list[Any]:
        present = [self._layer(c) for c in chains]
        # chain IDs cover everything below them: skip only a present prefix
        first_missing = next((i for i, layer in enumerate(present) if layer is None), len(chains))
        for i, desc in enumerate(descs):
            self.progress.status("Already exists" if i < first_missing else "Pulling fs layer", short_id(desc.digest))
        if first_missing == len(chains):
            return present  # type: ignore[return-value]
        compressions = [manifest.layer_compression(d.media_type) for d in descs]
        semaphore = asyncio.Semaphore(self.options.max_concurrent_downloads)
        tasks = {i: asyncio.create_task(self._download(registry, ref, descs[i], compressions[i], semaphore, scopes))
                 for i in range(first_missing, len(descs))}
        layers: list[Any] = present[:first_missing]
        added: list[str] = []
        try:
            for i in range(first_missing, len(descs)):
                got = await _in_order(tasks[i], tasks.values())
                layer = await self._apply(ref, descs[i], got, compressions[i], diff_ids[i],
                                          chains[i - 1] if i else None)
                added.append(layer.chain_id)
                layers.append(layer)
                self.meta.add(BlobRecord(layer.diff_id, descs[i].digest, descs[i].media_type, descs[i].size,
                                         registry.host, ref.path))
                crashpoints.reached("pull.between_blobs")
        except BaseException:
            for task in tasks.values():
                task.cancel()
            results = await asyncio.gather(*tasks.values(), return_exceptions=True)
            for result in results:
                if isinstance(result, blobs.Downloaded):
                    remove_path(result.path)
            await asyncio.to_thread(self._discard, added)
            raise
        return layers

    async def _download(self, registry: Registry, ref: refs.Reference, desc: manifest.Descriptor,
                        compression: str, semaphore: asyncio.Semaphore, scopes: tuple[str, ...]) -> blobs.Downloaded:
        sid = short_id(desc.digest)
        async with self.slot(semaphore, sid):
            got = await blobs.fetch_blob(registry, ref.path, desc, self.tmp_dir, compression,
                                         lambda n, total: self.progress.bytes("Downloading", sid, n, total), scopes)
        self.progress.status("Verifying Checksum", sid)
        self.progress.status("Download complete", sid)
        return got

    async def _apply(self, ref: refs.Reference, desc: manifest.Descriptor, got: blobs.Downloaded, compression: str,
                     diff_id: str, parent: str | None) -> Any:
        sid = short_id(desc.digest)
        try:
            actual = got.diff_id or await asyncio.to_thread(blobs.uncompressed_digest, got.path, compression)
            if actual != diff_id:
                raise DigestMismatch(f"layer {desc.digest} of {ref.repository} does not match the image config: "
                                     f"its uncompressed content hashes to {actual}, the config says {diff_id}; "
                                     f"nothing was stored")
            loop = asyncio.get_running_loop()

            def on_bytes(n: int) -> None:
                loop.call_soon_threadsafe(self.progress.bytes, "Extracting", sid, n, got.size)
                if n >= got.size // 2:
                    crashpoints.reached("pull.mid_layer")

            def apply() -> Any:
                with blobs.open_uncompressed(got.path, compression, on_bytes) as stream:
                    return self.store.add_layer(parent, stream)

            layer = await asyncio.to_thread(apply)
            if layer.diff_id != diff_id:
                await asyncio.to_thread(self._discard, [layer.chain_id])
                raise DigestMismatch(f"layer {desc.digest} of {ref.repository} was applied with diff ID "
                                     f"{layer.diff_id}, the config says {diff_id}; nothing was stored")
        finally:
            remove_path(got.path)
        self.progress.status("Pull complete", sid)
        return layer

    # -- store helpers ------------------------------------------------------

    def _layer(self, chain: str) -> Any:
        try:
            return self.store.get_layer(chain)
        except NotFound:
            return None

    def _image_exists(self, image_id: str) -> bool:
        try:
            self.store.get(image_id)
            return True
        except NotFound:
            return False

    def _resolve(self, name: str) -> str | None:
        try:
            return self.store.resolve(name)
        except NotFound:
            return None

    def _discard(self, chains: list[str]) -> None:
        """Remove layers this pull added that no image uses (top first, so parents follow)."""
        discard = getattr(self.store, "discard_layer", None)
        for chain in reversed(chains):
            try:
                if discard is not None:
                    discard(chain)
                else:
                    # ImageStore has no public call for this yet; an unreferenced layer is
                    # exactly what its start-up reconciliation removes, so do the same now.
                    rows = self.store.db.query("SELECT refs FROM layers WHERE chain_id = ?", (chain,))
                    if rows and rows[0]["refs"] == 0:
                        self.store._release_layer(chain)
            except Exception as exc:  # the pull's own error matters more; start-up retries this
                log.get().warning("pull.discard_layer", chain_id=chain, error=str(exc))


def sync_filesystem(path: str) -> None:
    """Flush every dirty page of the filesystem holding ``path`` (the data-root, where layers are extracted).

    One ``syncfs(2)`` costs a few ms where an fsync per extracted file would cost one
    journal commit per file; ``sync(2)`` when libc has no syncfs.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


async def _in_order(task: asyncio.Task, others: Any) -> Any:
    """``await task``, but raise at once when any other download fails (fail fast, apply nothing more)."""
    while not task.done():
        pending = [t for t in others if not t.done()]
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
    return task.result()


def _check_config(raw: bytes, parsed: manifest.ImageManifest, ref: refs.Reference,
                  wanted: manifest.Platform | None) -> dict:
    try:
        config = json.loads(raw)
        diff_ids = config["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"{ref}: the image config is malformed ({exc})") from None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(parsed.layers):
        raise InvalidArgument(f"{ref}: the manifest lists {len(parsed.layers)} layers but the image config "
                              f"{len(diff_ids) if isinstance(diff_ids, list) else 'no'} diff IDs")
    if wanted is not None:
        got = manifest.Platform(config.get("os", ""), config.get("architecture", ""), config.get("variant", ""))
        if (got.os, got.architecture) != (wanted.os, wanted.architecture):
            raise NotFound(f"image with reference {ref} was found but its platform ({got}) does not match the "
                           f"specified platform ({wanted})")
    return config
