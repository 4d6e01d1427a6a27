"""The image store: layers (by chain ID) on the graph driver, image configs, and references.

On disk under ``<data-root>/image``: ``metadata.db`` (see :mod:`berth.images.metadata`),
``blobs/sha256/<hex>`` (configs) and ``tarsplit/<cache-id>.gz`` (what it takes to
give a layer's original tar back, see :mod:`berth.images.tarsplit`). Identities
follow Docker/OCI:

* diff ID   sha256 of a layer's *uncompressed* tar, computed while it is applied
* chain ID  the diff ID for a base layer, else sha256(parent chain ID + " " + diff ID)
* cache ID  the graph driver's layer id: random hex, so identical content pulled
            twice can never collide with a half-removed earlier copy
* image ID  sha256 of the image config JSON bytes, exactly as stored
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass, field
from typing import BinaryIO

from berth.drivers import GraphDriver
from berth.errors import Conflict, DriverError, InvalidArgument, NotFound
from berth.fsutil import remove_path
from berth.images import reference as refs
from berth.images.blobs import BlobStore
from berth.images.compression import decompressed
from berth.images.digest import DigestReader, chain_id as make_chain_id
from berth.images.initlayer import SharedInitLayers, init_layer_id
from berth.images.layerdraft import LayerDraft, StaleDraft
from berth.images.metadata import MetadataDB, now as _now
from berth.images.pipestream import producer_stream, read_exactly
from berth.images.tarsplit import Recorder, TarSplit
from berth.log import job

log = logging.getLogger(__name__)


@dataclass
class Layer:
    """One image layer. ``cache_id`` is its id in the graph driver."""

    chain_id: str
    diff_id: str
    parent: str | None
    cache_id: str
    size: int
    created: str = ""
    #: set on what an add returns when another writer had stored that layer first (this add stored nothing)
    found: bool = field(default=False, compare=False)


@dataclass
class Image:
    """An image as the engine and the API see it.

    ``config`` is the whole image config JSON; ``layer_id`` is the graph driver id of
    the top layer (the parent of a container's rw layer), None for an image without
    layers; ``parent`` is the parent image ID or "".
    """

    id: str
    config: dict
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    created: str = ""
    size: int = 0
    layer_id: str | None = None
    parent: str = ""
    top_layer: str | None = None  # chain ID

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]


class ImageStore:
    """Images, layers and references of one data-root, stored through ``graph``."""

    def __init__(self, data_root: str, graph: GraphDriver):
        self.root = os.path.join(data_root, "image")
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        self.graph = graph
        self.blobs = BlobStore(os.path.join(self.root, "blobs"))
        self.db = MetadataDB(os.path.join(self.root, "metadata.db"))
        self.inits = SharedInitLayers(self.db, graph)
        self.tarsplit_dir = os.path.join(self.root, "tarsplit")
        os.makedirs(self.tarsplit_dir, mode=0o700, exist_ok=True)
        self._configs: dict[str, dict] = {}
        #: called as ``listener(layer_id, diff_id, size, driver, seconds)`` after a new layer is stored
        self.layer_listeners: list = []
        self._reconcile()

    def close(self) -> None:
        """Close the database (the graph driver is the engine's to clean up)."""
        self.db.close()

    # -- start-up ---------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Remove what a crash left half-made: graph layers never recorded, layers nothing uses,
        image configs no image was recorded for, and scratch files (downloads, loads)."""
        remove_path(os.path.join(self.root, "tmp"))
        for row in self.db.query("SELECT cache_id FROM pending"):
            self._remove_graph_layer(row["cache_id"], leftover=True)
            with self.db.tx() as db:
                db.execute("DELETE FROM pending WHERE cache_id = ?", (row["cache_id"],))
        # Layers added for an image that was never created (refs 0); releasing one
        # also releases its parent's reference, so one pass is enough.
        for row in self.db.query("SELECT chain_id FROM layers WHERE refs = 0"):
            try:
                self._release_layer(row["chain_id"])
            except Exception as exc:
                log.warning("cannot remove unused layer %s: %s", row["chain_id"], exc)
        recorded = {row["id"] for row in self.db.query("SELECT id FROM images")}
        for digest in self.blobs.digests():
            if digest not in recorded:  # stored just before a crash, or left by a delete a crash cut short
                self.blobs.delete(digest)

    def begin_scratch_layer(self, layer_id: str) -> None:
        """Record that graph layer ``layer_id`` is scratch (a build step's): a crash before
        :meth:`end_scratch_layer` leaves it to start-up reconciliation, never orphaned."""
        with self.db.tx() as db:
            db.execute("INSERT OR IGNORE INTO pending (cache_id, started) VALUES (?, ?)", (layer_id, _now()))

    def end_scratch_layer(self, layer_id: str) -> None:
        """Remove scratch layer ``layer_id`` and its record."""
        self.graph.remove(layer_id)
        with self.db.tx() as db:
            db.execute("DELETE FROM pending WHERE cache_id = ?", (layer_id,))

    def _remove_graph_layer(self, cache_id: str, leftover: bool = False) -> None:
        """Remove a graph layer no layer record names; a ``leftover`` of a crashed daemon may still be
        mounted by it: that mount is adopted and released first."""
        try:
            try:
                self.graph.remove(cache_id)
            except Conflict:
                if not leftover:
                    raise
                self.graph.mount(cache_id)
                self.graph.unmount(cache_id)
                self.graph.remove(cache_id)
        except Exception as exc:  # keep starting; the layer stays listed for the next start
            log.warning("cannot remove half-created layer %s: %s", cache_id, exc)
        self._remove_tarsplit(cache_id)

    def _tarsplit_path(self, cache_id: str) -> str:
        return os.path.join(self.tarsplit_dir, cache_id + ".gz")

    def _remove_tarsplit(self, cache_id: str) -> None:
        try:
            os.unlink(self._tarsplit_path(cache_id))
        except FileNotFoundError:
            pass

    # -- layers -------------------------------------------------------------------------

    def get_layer(self, chain_id: str) -> Layer:
        """The layer with ``chain_id``; NotFound if the store has none."""
        rows = self.db.query("SELECT * FROM layers WHERE chain_id = ?", (chain_id,))
        if not rows:
            raise NotFound(f"No such layer: {chain_id}")
        return _layer(rows[0])

    def add_layer(self, parent_chain: str | None, tar_stream: BinaryIO) -> Layer:
        """Apply a layer tar (plain, gzip or zstd) on top of ``parent_chain``; return the stored layer.

        The diff ID is computed while the graph driver applies the stream. Adding a
        layer that already exists (same chain ID) returns the existing one.
        """
        with job("layer.apply", parent=(parent_chain or "")[7:19], driver=self.graph.name) as ev:
            layer = self._add_layer(parent_chain, tar_stream, ev)
        return layer

    def _add_layer(self, parent_chain: str | None, tar_stream: BinaryIO, ev: dict) -> Layer:
        def fill(cache_id: str, parent_cache: str | None) -> tuple[int, str, Recorder]:
            recorder = Recorder()
            reader = DigestReader(decompressed(tar_stream), on_data=recorder.feed)
            size = self.graph.apply_diff(cache_id, parent_cache, reader)
            reader.drain()
            return size, reader.digest, recorder

        return self._new_layer(parent_chain, fill, ev)

    def adopt_layer(self, parent_chain: str | None, source: str, source_parent: str | None) -> Layer | None:
        """Store the changes of read-write graph layer ``source`` (against ``source_parent``, its parent) as
        a new layer on ``parent_chain`` by moving its files (``graph_adopt_diff``) instead of a tar and
        its extraction; None when nothing changed.

        The diff ID and tar-split come from the new layer's own diff, so it is stored exactly as if
        applied from that tar. ``source`` is left only to be removed. NotSupported when the driver cannot
        (the caller then diffs and applies).
        """
        with job("layer.adopt", parent=(parent_chain or "")[7:19], driver=self.graph.name) as ev:
            try:
                return self._new_layer(parent_chain, lambda cache_id, parent_cache: self._adopt(
                    cache_id, parent_cache, source, source_parent), ev)
            except _Unchanged:
                ev["unchanged"] = True
                return None

    def _adopt(self, cache_id: str, parent_cache: str | None, source: str,
               source_parent: str | None) -> tuple[int, str, Recorder]:
        size = self.graph.adopt_diff(cache_id, parent_cache, source, source_parent)
        recorder = Recorder()
        stream = self.graph.diff(cache_id, parent_cache)
        try:
            reader = DigestReader(stream, on_data=recorder.feed)
            head = read_exactly(reader, _TAR_BLOCK)
            if len(head) < _TAR_BLOCK or head == bytes(_TAR_BLOCK):  # an empty archive: nothing changed
                raise _Unchanged()
            reader.drain()
        finally:
            stream.close()
        return size, reader.digest, recorder

    def _new_layer(self, parent_chain: str | None, fill, ev: dict) -> Layer:
        """Create a graph layer on ``parent_chain``, ``fill(cache_id, parent_cache_id)`` it (-> size, diff ID,
        tar-split recorder), and record it; a layer with that chain ID already stored is used instead."""
        draft = self.draft_layers(parent_chain, 1)[0]
        try:
            draft.size, draft.diff_id, draft.recorder = fill(draft.cache_id, draft.parent_cache)
            draft.recorder.save(self._tarsplit_path(draft.cache_id), draft.diff_id)
            layer = self.commit_layer(draft, parent_chain, ev)
        except BaseException:
            self.abandon_layer(draft)
            raise
        if draft.superseded:
            self.abandon_layer(draft)  # same content already stored
        return layer

    # -- drafts: layers made in steps (a pull applies a chain of them at once) -------------------

    def draft_layers(self, parent_chain: str | None, count: int) -> list[LayerDraft]:
        """Create ``count`` empty graph layers stacked on ``parent_chain`` (each on the one before), listed
        as pending in one durable write; fill them with :meth:`fill_draft`, then :meth:`commit_layer` or
        :meth:`abandon_layer` each. On an error none is left."""
        parent = self.get_layer(parent_chain) if parent_chain else None
        drafts: list[LayerDraft] = []
        below_cache = parent.cache_id if parent else None
        for _ in range(count):
            drafts.append(LayerDraft(secrets.token_hex(32), below_cache, drafts[-1] if drafts else None))
            below_cache = drafts[-1].cache_id
        # durable even when the rest is deferred: a graph layer must never reach the disk unlisted
        with self.db.tx(durable=True) as db:
            db.executemany("INSERT INTO pending (cache_id, started) VALUES (?, ?)",
                           [(draft.cache_id, _now()) for draft in drafts])
        try:
            for draft in drafts:
                self.graph.create(draft.cache_id, draft.parent_cache)
                draft.created = True
        except BaseException:
            for draft in reversed(drafts):
                self.abandon_layer(draft)
            raise
        return drafts

    def fill_draft(self, draft: LayerDraft, tar_stream: BinaryIO) -> None:
        """Apply a layer tar (plain, gzip or zstd) into ``draft``, computing its diff ID and tar-split.

        A draft standing on another draft is applied while that one is (``graph_apply_diff_early``):
        its checks against the layers below wait for them. Whatever happens, drafts above it stop
        waiting when this returns; on an error the caller abandons the draft.
        """
        ok = False
        try:
            with job("layer.apply", cache_id=draft.cache_id[:12], driver=self.graph.name, early=draft.below is not None) as ev:
                recorder = Recorder()
                reader = DigestReader(decompressed(tar_stream), on_data=recorder.feed)
                if draft.below is None:
                    size = self.graph.apply_diff(draft.cache_id, draft.parent_cache, reader)
                else:
                    size = self.graph.apply_diff_early(draft.cache_id, draft.parent_cache, reader,
                                                       lambda: _timed(draft.below.wait_applied, ev, "below_wait_ms"))
                reader.drain()
                draft.size, draft.diff_id, draft.recorder = int(size or 0), reader.digest, recorder
                recorder.save(self._tarsplit_path(draft.cache_id), draft.diff_id)
                ev.update(diff_id=draft.diff_id[7:19], size=draft.size)
            ok = True
        finally:
            draft.settle(ok)

    def commit_layer(self, draft: LayerDraft, parent_chain: str | None, ev: dict | None = None) -> Layer:
        """Record filled ``draft`` as the layer on ``parent_chain`` (which must be recorded, and be the layer the
        draft was created on). A layer with the same chain ID already stored is returned instead and the
        draft marked ``superseded`` (and the layer returned ``found``): its graph layer stays (listed as pending)
        until :meth:`abandon_layer`."""
        chain = make_chain_id(parent_chain, draft.diff_id)
        layer = Layer(chain, draft.diff_id, parent_chain, draft.cache_id, draft.size, _now())
        with self.db.tx() as db:
            if parent_chain:
                row = db.execute("SELECT cache_id FROM layers WHERE chain_id = ?", (parent_chain,)).fetchone()
                if row is None or row["cache_id"] != draft.parent_cache:
                    raise StaleDraft(f"layer {chain} was made on a copy of layer {parent_chain} that another "
                                     "writer stored first; pull again")
            existing = db.execute("SELECT * FROM layers WHERE chain_id = ?", (chain,)).fetchone()
            if existing is None:
                db.execute("DELETE FROM pending WHERE cache_id = ?", (draft.cache_id,))
                db.execute(
                    "INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, created, refs) "
                    "VALUES (?, ?, ?, ?, ?, ?, 0)",
                    (chain, draft.diff_id, parent_chain, draft.cache_id, layer.size, layer.created),
                )
                if parent_chain:
                    db.execute("UPDATE layers SET refs = refs + 1 WHERE chain_id = ?", (parent_chain,))
        if ev is not None:
            ev.update(chain_id=chain[7:19], diff_id=draft.diff_id[7:19], size=layer.size)
        if existing is not None:
            draft.superseded = True
            if ev is not None:
                ev["existing"] = True
            theirs = _layer(existing)
            theirs.found = True
            return theirs
        for listener in self.layer_listeners:
            listener(draft.cache_id, draft.diff_id, layer.size, self.graph.name, time.monotonic() - draft.started)
        return layer

    def abandon_layer(self, draft: LayerDraft) -> None:
        """Remove a draft that was not recorded (failed, or superseded) and its pending record."""
        if draft.created:
            self._remove_graph_layer(draft.cache_id)
            draft.created = False
        else:
            self._remove_tarsplit(draft.cache_id)
        self._forget_pending(draft.cache_id)

    def _forget_pending(self, cache_id: str, patience: float = 5.0) -> None:
        """Drop a failed layer's pending record. On a full disk even that write may not fit until the
        driver's trash has given the layer's blocks back (it deletes in the background): try again for
        a while; if it still cannot, the record stays and the next start removes what it names."""
        deadline = time.monotonic() + patience
        while True:
            try:
                with self.db.tx() as db:
                    db.execute("DELETE FROM pending WHERE cache_id = ?", (cache_id,))
                return
            except sqlite3.OperationalError as exc:
                if time.monotonic() >= deadline:
                    log.warning("half-created layer %s stays listed until the next start: %s", cache_id, exc)
                    return
                time.sleep(0.05)

    def image_layers(self, image: Image) -> list[Layer]:
        """The image's layers, base first."""
        out: list[Layer] = []
        chain = image.top_layer
        while chain:
            layer = self.get_layer(chain)
            out.append(layer)
            chain = layer.parent
        return out[::-1]

    def layer_tar(self, layer: Layer) -> tuple[int, BinaryIO]:
        """(size, stream) of the exact tar ``layer`` was applied from (its bytes hash to its diff ID).

        The stream reads the layer's files from a mount taken here and released when
        the stream is closed; a layer changed on disk fails the stream at its end.
        """
        split = TarSplit(self._tarsplit_path(layer.cache_id))
        if split.digest != layer.diff_id:
            raise DriverError(f"layer {layer.chain_id}: recorded tar metadata is for {split.digest}, not {layer.diff_id}")
        root = self.graph.mount(layer.cache_id)
        try:
            return split.size, producer_stream(lambda out: split.write(root, out),
                                               release=lambda: self.graph.unmount(layer.cache_id),
                                               what=f"tar of layer {layer.diff_id}")
        except BaseException:
            self.graph.unmount(layer.cache_id)
            raise

    def unreferenced(self, chain_id: str) -> bool:
        """True when nothing (image, child layer, container) holds layer ``chain_id``."""
        rows = self.db.query("SELECT refs FROM layers WHERE chain_id = ?", (chain_id,))
        return bool(rows) and rows[0]["refs"] == 0

    def discard_layers(self, layers: list[Layer]) -> None:
        """Remove the layers (base first) a failed writer (pull, load, commit, import) added, that nothing holds.

        One another writer had stored first (``found``) is theirs and stays; so does a layer below them that
        this writer did not add, which only loses their reference even when that was its last: another
        writer may be about to record its image on it (start-up reconciliation removes it if none does).
        A layer that cannot be removed is logged; the writer's own error matters more."""
        chains = [layer.chain_id for layer in layers if not layer.found]
        ours = set(chains)
        for chain in reversed(chains):
            try:
                if self.unreferenced(chain):
                    self._release_layer(chain, removable=ours)
            except Exception as exc:
                log.warning("cannot remove layer %s of a failed write: %s", chain, exc)

    def _release_layer(self, chain_id: str | None, removable: set[str] | None = None) -> list[str]:
        """Drop one reference to a layer; a layer losing its last one is removed, releasing its parent.
        With ``removable``, a layer not in it is never removed (it only loses the reference)."""
        removed: list[str] = []
        while chain_id:
            with self.db.tx() as db:
                row = db.execute("SELECT * FROM layers WHERE chain_id = ?", (chain_id,)).fetchone()
                if row is None:
                    break
                if row["refs"] > 1 or (removable is not None and chain_id not in removable):
                    db.execute("UPDATE layers SET refs = refs - 1 WHERE chain_id = ? AND refs > 0", (chain_id,))
                    break
                # Listed as pending in the same transaction: a crash before the graph
                # layer is gone leaves it to start-up reconciliation, never orphaned.
                db.execute("INSERT OR IGNORE INTO pending (cache_id, started) VALUES (?, ?)", (row["cache_id"], _now()))
                db.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
            self.inits.remove_on(chain_id)  # the init layer on it goes first: it stands on the layer
            self.graph.remove(row["cache_id"])
            self._remove_tarsplit(row["cache_id"])
            with self.db.tx() as db:
                db.execute("DELETE FROM pending WHERE cache_id = ?", (row["cache_id"],))
            removed.append(chain_id)
            chain_id = row["parent"]  # the removed layer held one reference on its parent
        return removed

    # -- images ---------------------------------------------------------------------------

    def create_image(self, config: dict | bytes, layers: list[Layer], reference: str | None = None,
                     parent: str = "", more_references: tuple[str, ...] = ()) -> Image:
        """Store an image made of ``layers`` (base first) with ``config``, tagged ``reference`` (and
        ``more_references``, e.g. a pull's ``repo@digest``, in the same transaction).

        ``config`` may be the exact config bytes (a pulled image keeps the registry's
        digest as its ID) or a dict, serialised canonically (sorted keys). A dict
        without ``rootfs`` gets it from the layers; given diff IDs must match them.
        Storing an image that exists just applies the reference.
        """
        for below, above in zip(layers, layers[1:]):
            if above.parent != below.chain_id:
                raise InvalidArgument(f"layer {above.chain_id} is not stacked on {below.chain_id}; layers must form one chain, base first")
        if layers and layers[0].parent is not None:
            raise InvalidArgument(f"layer {layers[0].chain_id} is not a base layer; pass every layer of the image, base first")
        diff_ids = [layer.diff_id for layer in layers]
        if isinstance(config, dict):
            config = dict(config)
            config.setdefault("rootfs", {"type": "layers", "diff_ids": diff_ids})
            raw = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        else:
            raw = bytes(config)
            try:
                config = json.loads(raw)
            except ValueError as exc:
                raise InvalidArgument(f"image config is not valid JSON: {exc}") from None
        if not isinstance(config, dict):
            raise InvalidArgument("image config must be a JSON object")
        if (config.get("rootfs") or {}).get("diff_ids", []) != diff_ids:
            raise InvalidArgument(
                f"image config rootfs.diff_ids {config.get('rootfs', {}).get('diff_ids')} do not match the layers {diff_ids}"
            )
        image_id = self.blobs.put(raw)
        top = layers[-1].chain_id if layers else None
        size = sum(layer.size for layer in layers)
        with self.db.tx() as db:
            exists = db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone()
            if not exists:
                for layer in layers:
                    if db.execute("SELECT 1 FROM layers WHERE chain_id = ?", (layer.chain_id,)).fetchone() is None:
                        raise NotFound(f"layer {layer.chain_id} of the new image is not in the store")
                db.execute(
                    "INSERT INTO images (id, top_layer, parent, created, size, added) VALUES (?, ?, ?, ?, ?, ?)",
                    (image_id, top, parent or "", str(config.get("created", "")), size, _now()),
                )
                if top:
                    db.execute("UPDATE layers SET refs = refs + 1 WHERE chain_id = ?", (top,))
            for name in (reference, *more_references):
                if name:
                    self._set_reference(db, name, image_id)
        return self.get(image_id)

    def tag(self, image_id_or_ref: str, reference: str) -> None:
        """Point ``reference`` (``repo[:tag]``, tag defaults to latest) at an image, moving it if needed."""
        image = self.get(image_id_or_ref)
        if self.db.query("SELECT 1 FROM refs WHERE name = ? AND image_id = ?", (str(refs.parse(reference)), image.id)):
            return  # already so (a rebuild from the cache tags its image again): nothing to write or sync
        with self.db.tx() as db:
            self._set_reference(db, reference, image.id)

    def _set_reference(self, db, reference: str, image_id: str) -> None:
        ref = refs.parse(reference)
        if ref.digest and ref.tag:
            raise InvalidArgument(f"reference {reference!r} has both a tag and a digest; use one")
        kind = "digest" if ref.digest else "tag"
        db.execute("INSERT INTO refs (name, image_id, kind) VALUES (?, ?, ?) "
                   "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id", (str(ref), image_id, kind))

    def untag(self, reference: str) -> str:
        """Remove a reference; return the image ID it pointed to."""
        ref = refs.parse(reference)
        with self.db.tx() as db:
            row = db.execute("SELECT image_id FROM refs WHERE name = ?", (str(ref),)).fetchone()
            if row is None:
                raise NotFound(f"No such image: {reference}")
            db.execute("DELETE FROM refs WHERE name = ?", (str(ref),))
        return row["image_id"]

    def delete(self, image_id: str) -> list[str]:
        """Delete an untagged image and the layers only it used; return the removed chain IDs.

        Refuses (Conflict) while references point at it or other images have it as
        parent; the engine checks containers before calling this.
        """
        image = self.get(image_id)
        with self.db.tx() as db:
            if db.execute("SELECT 1 FROM refs WHERE image_id = ?", (image.id,)).fetchone():
                raise Conflict(f"unable to delete {image.short_id}: the image is still tagged; untag it first")
            if db.execute("SELECT 1 FROM images WHERE parent = ?", (image.id,)).fetchone():
                raise Conflict(f"unable to delete {image.short_id}: image has dependent child images")
            db.execute("DELETE FROM images WHERE id = ?", (image.id,))
        self._configs.pop(image.id, None)
        removed = self._release_layer(image.top_layer) if image.top_layer else []
        self.blobs.delete(image.id)
        return removed

    # -- containers' layers -------------------------------------------------------------------

    def create_container_layers(self, container_id: str, image: Image, options: dict | None = None) -> str:
        """Create the read-write layer ``<id>`` on the init layer of ``image``'s top layer (made if missing).

        Returns the read-write layer's graph id (``container_id``). The image's top
        layer gains a reference, so removing the image (``rmi -f``) never removes a
        layer the container stands on; :meth:`remove_container_layers` drops it.
        """
        init_id = self.inits.layer_id(image.layer_id)
        with self.db.tx() as db:
            db.execute("INSERT INTO mounts (container_id, init_id, parent_chain, created) VALUES (?, ?, ?, ?)",
                       (container_id, init_id, image.top_layer, _now()))
            if image.top_layer:
                db.execute("UPDATE layers SET refs = refs + 1 WHERE chain_id = ?", (image.top_layer,))
        try:
            self.inits.ensure(image.top_layer, image.layer_id)
            self.graph.create_rw(container_id, init_id, options or {})
        except BaseException:
            self.remove_container_layers(container_id)
            raise
        return container_id

    def container_base_layer(self, container_layer_id: str, image_layer_id: str | None) -> str | None:
        """The graph layer a container's changes are taken against: its init layer, else its image's top."""
        rows = self.db.query("SELECT init_id FROM mounts WHERE container_id = ?", (container_layer_id,))
        init_id = rows[0]["init_id"] if rows and rows[0]["init_id"] else init_layer_id(container_layer_id)
        return init_id if self.graph.exists(init_id) else image_layer_id

    def container_layer_owners(self) -> list[str]:
        """The ids of the containers that have read-write layers in the store."""
        return [row["container_id"] for row in self.db.query("SELECT container_id FROM mounts")]

    def remove_container_layers(self, container_id: str) -> None:
        """Remove a container's read-write layer (and its own init layer, one an earlier berth made) and release
        its image layer. Idempotent. A shared init layer stays with its image layer."""
        rows = self.db.query("SELECT init_id FROM mounts WHERE container_id = ?", (container_id,))
        self.graph.remove(container_id)
        if not rows or rows[0]["init_id"] in (None, init_layer_id(container_id)):
            self.graph.remove(init_layer_id(container_id))
        with self.db.tx() as db:
            row = db.execute("SELECT parent_chain FROM mounts WHERE container_id = ?", (container_id,)).fetchone()
            db.execute("DELETE FROM mounts WHERE container_id = ?", (container_id,))
            parent = row["parent_chain"] if row is not None else None
            # the usual case, the image still holding its layer: its reference dropped in the same transaction
            if parent and db.execute("UPDATE layers SET refs = refs - 1 WHERE chain_id = ? AND refs > 1",
                                     (parent,)).rowcount:
                parent = None
        if parent:
            self._release_layer(parent)

    # -- lookup ------------------------------------------------------------------------------

    def resolve(self, ref_or_id: str) -> str:
        """The image ID that ``ref_or_id`` names (full or short ID, ``repo:tag``, ``repo@digest``)."""
        if refs.is_full_id(ref_or_id):
            image_id = refs.normalise_id(ref_or_id)
            if self.db.query("SELECT 1 FROM images WHERE id = ?", (image_id,)):
                return image_id
            raise NotFound(f"No such image: {ref_or_id}")
        try:
            name = str(refs.parse(ref_or_id))
        except InvalidArgument:
            name = None
            if not refs.looks_like_short_id(ref_or_id):
                raise
        if name is not None:
            rows = self.db.query("SELECT image_id FROM refs WHERE name = ?", (name,))
            if rows:
                return rows[0]["image_id"]
        if refs.looks_like_short_id(ref_or_id):
            prefix = refs.normalise_id(ref_or_id)
            rows = self.db.query("SELECT id FROM images WHERE substr(id, 1, ?) = ?", (len(prefix), prefix))
            if len(rows) == 1:
                return rows[0]["id"]
            if len(rows) > 1:
                raise InvalidArgument(f"short image ID {ref_or_id!r} is ambiguous ({len(rows)} images); use more characters")
        raise NotFound(f"No such image: {ref_or_id}")

    def get(self, ref_or_id: str) -> Image:
        """The image named by ``ref_or_id``; NotFound("No such image: ...") otherwise."""
        image_id = self.resolve(ref_or_id)
        rows = self.db.query("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise NotFound(f"No such image: {ref_or_id}")
        return self._image(rows[0])

    def list(self, all: bool = False) -> list[Image]:  # noqa: A002 (Docker's parameter name)
        """Every image, newest first; without ``all``, untagged intermediate images (parents) are hidden."""
        rows = self.db.query("SELECT * FROM images ORDER BY created DESC, id")
        images = [self._image(row) for row in rows]
        if all:
            return images
        parents = {row["parent"] for row in self.db.query("SELECT parent FROM images WHERE parent != ''")}
        return [im for im in images if im.repo_tags or im.repo_digests or im.id not in parents]

    def children(self, image_id: str) -> list[str]:
        """IDs of images whose parent is ``image_id``."""
        return [row["id"] for row in self.db.query("SELECT id FROM images WHERE parent = ?", (image_id,))]

    def children_configs(self, image_id: str) -> list[tuple[str, dict]]:
        """(ID, config) of the images whose parent is ``image_id`` (one query: what the build cache compares);
        one removed meanwhile is left out."""
        out = []
        for row in self.db.query("SELECT id FROM images WHERE parent = ?", (image_id,)):
            try:
                out.append((row["id"], self._config(row["id"])))
            except NotFound:
                continue
        return out

    def _config(self, image_id: str) -> dict:
        config = self._configs.get(image_id)
        if config is None:
            config = json.loads(self.blobs.get(image_id))
            self._configs[image_id] = config
        return config

    def _image(self, row) -> Image:
        image_id = row["id"]
        config = self._config(image_id)
        names = self.db.query("SELECT name, kind FROM refs WHERE image_id = ? ORDER BY name", (image_id,))
        layer_id = None
        if row["top_layer"]:
            layer_id = self.get_layer(row["top_layer"]).cache_id
        return Image(
            id=image_id,
            config=config,
            repo_tags=[n["name"] for n in names if n["kind"] == "tag"],
            repo_digests=[n["name"] for n in names if n["kind"] == "digest"],
            created=row["created"],
            size=row["size"],
            layer_id=layer_id,
            parent=row["parent"],
            top_layer=row["top_layer"],
        )


_TAR_BLOCK = 512


class _Unchanged(Exception):
    """An adopted layer turned out empty: the step changed nothing (no layer, as for an empty diff)."""


def _timed(wait, ev: dict, field: str) -> None:
    """``wait()``, its duration added to the event ``ev`` as ``field`` (ms)."""
    started = time.monotonic()
    try:
        wait()
    finally:
        ev[field] = round((time.monotonic() - started) * 1000, 1)


def _layer(row) -> Layer:
    return Layer(row["chain_id"], row["diff_id"], row["parent"], row["cache_id"], row["size"], row["created"])
