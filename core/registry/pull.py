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
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from berth import crashpoints, log
from berth.errors import InvalidArgument, NotFound
from berth.fsutil import deferred_sync, sync_filesystem
from berth.images.digest import chain_id as make_chain_id
from berth.images.layerdraft import LayerBelowFailed, StaleDraft
from berth.registry import auth, blobs, manifest
from berth.registry import reference as refs
from berth.registry.distmeta import BlobRecord
from berth.registry.errors import DigestMismatch, RegistryError, RegistryNotFound, Transient, Unauthorized
from berth.registry.progress import short_id
from berth.registry.spool import BlobSpool, SpoolReader
from berth.registry.transfer import Transfer, TransferOptions
from berth.registry.transport import Registry

MAX_MANIFEST = 4 << 20
MAX_CONFIG = 8 << 20


@dataclass
class PullOptions(TransferOptions):
    platform: str | None = None
    max_concurrent_downloads: int = 3  # Docker's default


@dataclass
class _LayerJob:
    """One layer a pull fetches: what to download, what it must hash to, where it goes, and its blob in flight."""

    desc: manifest.Descriptor
    diff_id: str
    parent: str | None  # chain ID of the layer below
    spool: BlobSpool
    download: asyncio.Task = field(default=None)  # type: ignore[assignment]


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

    async def pull_all_tags(self, ref: refs.Reference) -> list[PullResult]:
        """Every tag of ``ref``'s repository, one after the other (``pull --all-tags``: the API's ``fromImage``
        without a tag), then one status line for the repository, as dockerd."""
        registry = self.registry(refs.api_host(ref))
        scopes = (auth.scope(ref.path, ("pull",)),)
        try:
            tags = await registry.list_pages(f"/v2/{ref.path}/tags/list", "tags", scopes, f"tags of {ref.name}")
        except RegistryNotFound:
            raise NotFound(f"repository {ref.name} not found: name unknown") from None
        except Unauthorized as exc:
            raise NotFound(f"pull access denied for {ref.familiar_name}, repository does not exist or may require "
                           f"'berth login': {exc.message}") from None
        if not tags:
            raise NotFound(f"repository {ref.name} has no tags to pull")
        results = [await self.pull(refs.with_tag(ref, tag), announce=False) for tag in tags]
        status = "Downloaded newer image for " if any(r.downloaded for r in results) else "Image is up to date for "
        self.progress.status("Status: " + status + ref.familiar_name, detail=False)
        return results

    async def pull(self, ref: refs.Reference, announce: bool = True) -> PullResult:
        """Pull one tag or digest; ``announce``: end with dockerd's "Status: ..." line for it."""
        registry = self.registry(refs.api_host(ref))
        scopes = (auth.scope(ref.path, ("pull",)),)
        started = time.monotonic()
        parsed, top_digest = await self._manifest(registry, ref, scopes)
        config_raw = await fetch_small_blob(registry, ref.path, parsed.config, scopes)
        config = _check_config(config_raw, parsed, ref, manifest.parse_platform(self.options.platform)
                               if self.options.platform else None)
        self.phases.span("resolve", started)
        diff_ids: list[str] = config["rootfs"]["diff_ids"]
        chains: list[str] = []
        for diff_id in diff_ids:
            chains.append(make_chain_id(chains[-1] if chains else None, diff_id))
        image_id = "sha256:" + hashlib.sha256(config_raw).hexdigest()
        tag_ref = str(ref) if ref.tag else None
        existed = self._image_exists(image_id)
        previous = self._resolve(tag_ref) if tag_ref else None

        layers = await self._fetch_layers(registry, ref, parsed.layers, diff_ids, chains, scopes)
        image = await self._commit(ref, config_raw, layers, tag_ref, top_digest, synced=existed)
        self.progress.status(f"Digest: {ref.digest or top_digest}", detail=False)
        downloaded = not (existed and (tag_ref is None or previous == image.id))
        if announce:
            self.progress.status(("Status: Downloaded newer image for " if downloaded else
                                  "Status: Image is up to date for ") + str(ref), detail=False)
        return PullResult(image, ref.digest or top_digest, ref, downloaded)

    async def _manifest(self, registry: Registry, ref: refs.Reference,
                        scopes: tuple[str, ...]) -> tuple[manifest.ImageManifest, str]:
        """The image manifest for this platform (through an index when there is one), and the top digest."""
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
            chosen = manifest.select(parsed, manifest.parse_platform(self.options.platform))
            body, ctype, _ = await fetch_manifest(registry, ref.path, chosen.digest, scopes)
            parsed = manifest.parse(body, ctype or chosen.media_type)
            if isinstance(parsed, manifest.Index):
                raise InvalidArgument(f"{ref}: the manifest list entry {chosen.digest} is itself an index; "
                                      f"nested indexes are not supported")
        return parsed, top_digest

    async def _commit(self, ref: refs.Reference, config_raw: bytes, layers: list[Any], tag_ref: str | None,
                      top_digest: str, synced: bool) -> Any:
        """Record the image (after its layers are on disk), its tag and ``repo@digest``."""
        if not synced:
            # The one flush of a pull: the extracted files, the layers' records and tar-splits were
            # written without fsync; one syncfs(2) makes them durable before the image record commits,
            # so a crash never leaves an image whose layers are empty or torn.
            started = time.monotonic()
            await asyncio.to_thread(sync_filesystem, self.store.root)
            self.phases.span("sync", started)
        started = time.monotonic()
        digest_ref = refs.repo_digest(ref, ref.digest or top_digest)
        image = await asyncio.to_thread(self.store.create_image, config_raw, layers, tag_ref,
                                        more_references=(digest_ref,))  # one transaction, one flush
        self.phases.span("commit", started)
        return image

    # -- layers -------------------------------------------------------------

    async def _fetch_layers(self, registry: Registry, ref: refs.Reference, descs: list[manifest.Descriptor],
                            diff_ids: list[str], chains: list[str], scopes: tuple[str, ...]) -> list[Any]:
        try:
            return await self._fetch_missing(registry, ref, descs, diff_ids, chains, scopes, early=True)
        except StaleDraft:
            # another writer stored a layer of this chain while this pull made it too (on the layers it had
            # just made): start again from what is stored now, one layer after the other
            return await self._fetch_missing(registry, ref, descs, diff_ids, chains, scopes, early=False)

    async def _fetch_missing(self, registry: Registry, ref: refs.Reference, descs: list[manifest.Descriptor],
                             diff_ids: list[str], chains: list[str], scopes: tuple[str, ...], early: bool) -> list[Any]:
        present = [self._layer(c) for c in chains]
        # chain IDs cover everything below them: skip only a present prefix
        first_missing = next((i for i, layer in enumerate(present) if layer is None), len(chains))
        for i, desc in enumerate(descs):
            self.progress.status("Already exists" if i < first_missing else "Pulling fs layer", short_id(desc.digest))
        if first_missing == len(chains):
            return present  # type: ignore[return-value]
        semaphore = asyncio.Semaphore(self.options.max_concurrent_downloads)
        jobs = [_LayerJob(descs[i], diff_ids[i], chains[i - 1] if i else None, BlobSpool(self.tmp_dir))
                for i in range(first_missing, len(descs))]
        for job in jobs:  # every layer in flight at once (up to the slots); applied base first below
            job.download = asyncio.create_task(self._download(registry, ref, job, semaphore, scopes))
        added: list[Any] = []
        applying = asyncio.create_task(self._apply_in_order(registry, ref, jobs, added, early))
        try:
            await _first_failure(applying, [job.download for job in jobs])
            return present[:first_missing] + added
        except BaseException:
            for job in jobs:
                job.spool.abort(Transient("the pull stopped"))  # a waiting extraction wakes up and ends
                job.download.cancel()
            # the extraction thread cannot be cancelled: wait for it before its layer is removed
            await asyncio.gather(applying, *(job.download for job in jobs), return_exceptions=True)
            # a layer another writer stored meanwhile (``found``) is theirs, its image may be on the way: it stays
            await asyncio.to_thread(self.store.discard_layers, added)
            raise
        finally:
            for job in jobs:
                job.spool.close()

    async def _download(self, registry: Registry, ref: refs.Reference, job: _LayerJob, semaphore: asyncio.Semaphore,
                        scopes: tuple[str, ...]) -> None:
        sid = short_id(job.desc.digest)
        async with self.slot(semaphore, sid):
            started = time.monotonic()
            await blobs.stream_blob(registry, ref.path, job.desc, job.spool,
                                    lambda n, total: self.progress.bytes("Downloading", sid, n, total), scopes)
            self.phases.span("download", started)
        self.progress.status("Verifying Checksum", sid)
        self.progress.status("Download complete", sid)

    async def _apply_in_order(self, registry: Registry, ref: refs.Reference, jobs: list[_LayerJob],
                              added: list[Any], early: bool) -> None:
        """Apply the layers, each reading its blob while it downloads, and record them base first; ``added``
        grows as they are recorded (``found``: one another writer had stored first). A driver that applies
        layers early (``graph_apply_diff_early``) gets them all at once; any other one layer after the other,
        each once the one below is complete."""
        if early and self.store.graph.applies_early():
            await self._apply_at_once(ref, jobs, added)
        else:
            for job in jobs:
                added.append(await self._apply(ref, job))
                crashpoints.reached("pull.between_blobs")
        await asyncio.to_thread(self.meta.add, *(
            BlobRecord(layer.diff_id, job.desc.digest, job.desc.media_type, job.desc.size, registry.host, ref.path)
            for layer, job in zip(added, jobs)))

    async def _apply(self, ref: refs.Reference, job: _LayerJob) -> Any:
        """Apply and record one layer on its (recorded) parent."""
        started = time.monotonic()
        layer = await self._extracting(job, lambda reader: self._add_layer(job.parent, reader))
        self.phases.span("extract", started, waited=job.spool.waited)
        if layer.diff_id != job.diff_id:
            await asyncio.to_thread(self.store.discard_layers, [layer])
            raise _config_mismatch(ref, job, layer.diff_id)
        self.progress.status("Pull complete", short_id(job.desc.digest))
        return layer

    async def _apply_at_once(self, ref: refs.Reference, jobs: list[_LayerJob], added: list[Any]) -> None:
        """Create every layer as a draft on the one below, fill all at once, record them base first.

        The driver makes each extraction wait for the layers below before it checks a path against
        them; a failure anywhere stops the others (their streams are aborted), and every draft not
        recorded -- also one whose chain another writer stored meanwhile -- is removed.
        """
        started = time.monotonic()
        drafts = await asyncio.to_thread(self._drafts, jobs[0].parent, len(jobs))
        self.phases.span("create", started)
        # as many extraction threads as downloads, taken base first: the daemon's other work keeps its threads
        slots = asyncio.Semaphore(self.options.max_concurrent_downloads)
        fills = [asyncio.create_task(self._fill(job, draft, slots)) for job, draft in zip(jobs, drafts)]
        recorded: set[str] = set()
        try:
            for job, draft, fill in zip(jobs, drafts, fills):
                await _first_failure(fill, fills)
                if draft.diff_id != job.diff_id:
                    raise _config_mismatch(ref, job, draft.diff_id)
                started = time.monotonic()
                layer = await asyncio.to_thread(self.store.commit_layer, draft, job.parent)
                self.phases.span("record", started)
                if not draft.superseded:
                    recorded.add(draft.cache_id)
                added.append(layer)
                self.progress.status("Pull complete", short_id(job.desc.digest))
                crashpoints.reached("pull.between_blobs")
        except BaseException as exc:
            for job in jobs:
                job.spool.abort(Transient("the pull stopped"))  # a waiting extraction wakes up and ends
            outcomes = await asyncio.gather(*fills, return_exceptions=True)
            if isinstance(exc, LayerBelowFailed):  # a layer above noticed first: report the layer's own error
                raise next((o for o in outcomes if isinstance(o, BaseException)
                            and not isinstance(o, LayerBelowFailed)), exc) from None
            raise
        finally:
            # the extraction threads cannot be cancelled: their drafts go once every one has ended
            await asyncio.gather(*fills, return_exceptions=True)
            await asyncio.to_thread(self._abandon, [d for d in drafts if d.cache_id not in recorded])

    async def _fill(self, job: _LayerJob, draft: Any, slots: asyncio.Semaphore) -> None:
        try:
            await slots.acquire()
        except BaseException:
            draft.settle(False)  # cancelled before it started: the layers above must not wait for it
            raise
        try:
            started = time.monotonic()
            await self._extracting(job, lambda reader: self._fill_draft(draft, reader))
            self.phases.span("extract", started, waited=job.spool.waited)
        finally:
            slots.release()

    async def _extracting(self, job: _LayerJob, extract) -> Any:
        """``extract(reader)`` in a thread, reading the layer's blob as it downloads (with progress)."""
        sid = short_id(job.desc.digest)
        loop = asyncio.get_running_loop()

        def on_read(n: int) -> None:
            loop.call_soon_threadsafe(self.progress.bytes, "Extracting", sid, n, job.desc.size)
            if n >= job.desc.size // 2:
                crashpoints.reached("pull.mid_layer")

        try:
            return await asyncio.to_thread(extract, SpoolReader(job.spool, on_read))
        except InvalidArgument:
            # unreadable bytes may just be corrupted ones: the digest, once all are in, says which
            await asyncio.wait([job.download])
            if not job.download.cancelled() and isinstance(job.download.exception(), DigestMismatch):
                raise job.download.exception() from None  # type: ignore[misc]
            raise

    # -- store helpers ------------------------------------------------------

    def _add_layer(self, parent: str | None, stream: SpoolReader) -> Any:
        with deferred_sync():  # made durable by the pull's one syncfs, before the image is recorded
            return self.store.add_layer(parent, stream)

    def _drafts(self, parent: str | None, count: int) -> list[Any]:
        with deferred_sync():
            return self.store.draft_layers(parent, count)

    def _fill_draft(self, draft: Any, stream: SpoolReader) -> None:
        with deferred_sync():
            self.store.fill_draft(draft, stream)

    def _abandon(self, drafts: list[Any]) -> None:
        """Remove drafts that were not recorded, top first."""
        for draft in reversed(drafts):
            try:
                self.store.abandon_layer(draft)
            except Exception as exc:  # the pull's own error matters more; start-up retries this (pending)
                log.get().warning("pull.abandon_layer", cache_id=draft.cache_id[:12], error=str(exc))

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


async def _first_failure(main: asyncio.Task, others: Any) -> Any:
    """``await main``, but raise at once when any of ``others`` fails (fail fast, apply nothing more)."""
    pending = {main, *others}
    while not main.done():
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    return main.result()


def _config_mismatch(ref: refs.Reference, job: _LayerJob, diff_id: str) -> DigestMismatch:
    return DigestMismatch(f"layer {job.desc.digest} of {ref.repository} does not match the image config: its "
                          f"uncompressed content hashes to {diff_id}, the config says {job.diff_id}; nothing was stored")


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
