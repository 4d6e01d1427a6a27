"""Overlay-style layer storage shared by the ``overlay`` and ``fuse-overlay`` drivers.

Both drivers keep layers in the same on-disk layout (after Moby's overlay2) and
differ only in who presents the union at ``merged``: the kernel's overlayfs, or a
FUSE server. Under the driver root::

    l/<SHORT>            symlink -> ../<layer-id>/diff; SHORT is a random 26-character
                         name, so a list of lower layers stays short
    <layer-id>/diff/     the layer's own files: its applied diff, or a container's
                         writes (the upper dir). Whiteouts in overlay's format
                         (see :mod:`berth.plugins.graphdrivers.whiteout`)
    <layer-id>/link      SHORT, the name of this layer under l/
    <layer-id>/lower     the ancestors as "l/<SHORT-parent>:l/<SHORT-grandparent>:...",
                         nearest first; absent for a base layer
    <layer-id>/work/     scratch space on the same filesystem as diff/ (only for
                         layers with a lower): overlay's workdir, fuse-overlay's
                         copy-up staging area
    <layer-id>/merged/   the mount point while mounted (removed on unmount, as Docker)
    <layer-id>/mapped/   the mount point of the id-mapped view (``graph_mount_idmapped``,
                         the overlay driver only), likewise
    .tmp-<layer-id>-*    a layer being created; renamed into place when complete
    .rm-<layer-id>-*     a layer being removed (by an earlier berth: now removed through the trash)
    .trash/              removed layers, renamed here at once and deleted in the background
                         (:mod:`berth.trash`)

A base layer (no lower) is "mounted" by handing out its ``diff`` directory.
Mounts are reference-counted in memory only (a count persisted on disk would be
wrong after a crash); a layer whose merged dir is still mounted from a previous
daemon run is adopted on its first mount.

Diffs are native: a layer's diff against its parent *is* its ``diff`` directory,
so it is tarred directly, converting overlay whiteouts to OCI ones, and applied
directly, converting back. Asked for a diff against a layer that is not the
parent, the hooks answer with the core's naive diff over their own mounts.
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
import threading
import uuid
from typing import BinaryIO

from berth.driverkit import (
    TRASH_DRAIN_TIMEOUT, Conflict, InvalidArgument, LayerTarWriter, NaiveDiff, NotFound, Trash, atomic_write,
    extract_layer, fsync_dir, hookimpl, is_mountpoint, producer_stream, read_text, refuse_storage_options, remove_at,
    remove_path, walk,
)
from berth.hookspecs import CONTRACT
from berth.plugins.graphdrivers.fsinfo import spread_subdirectories
from berth.plugins.graphdrivers.whiteout import is_opaque, is_whiteout, make_whiteout, set_opaque

_SHORT_LEN = 26  # as overlay2: 128 "l/<26>:" entries fit in a page


def short_id() -> str:
    """A random name for a layer's entry under ``l/``."""
    return base64.b32encode(secrets.token_bytes(20)).decode()[:_SHORT_LEN]


class OverlayWhiteouts:
    """Apply OCI whiteouts to an upper directory as overlay whiteouts."""

    def whiteout(self, parent_fd: int, name: str, rel: str, member) -> None:
        remove_at(parent_fd, name)
        make_whiteout(parent_fd, name, member.uid, member.gid)

    def opaque(self, dir_fd: int, rel: str, member, extracted: set[str]) -> None:
        set_opaque(dir_fd)


class OverlayLowers:
    """What a new layer's lower layers show (their ``diff`` dirs, nearest first), as overlayfs merges them.

    A layer's diff is applied to its empty upper directory, so the extractor asks here
    whether a path it is about to create as a directory is a symlink below (and refuses).
    """

    def __init__(self, lower_dirs: list[str]):
        self.lower_dirs = lower_dirs

    def is_symlink(self, parts: list[str]) -> bool:
        for lower in self.lower_dirs:
            found, hides_below = _lookup(lower, parts)
            if found is not None:
                return stat.S_ISLNK(found.st_mode)
            if hides_below:
                return False
        return False


def _lookup(lower: str, parts: list[str]) -> tuple[os.stat_result | None, bool]:
    """(what one layer has at ``parts`` or None, whether it hides the layers under it there).

    Walks one component at a time without following anything: a whiteout, a file or a
    symlink on the way hides the layers below, and so does an opaque directory above a
    path this layer lacks.
    """
    current = lower
    opaque_above = False
    for depth, comp in enumerate(parts):
        current = os.path.join(current, comp)
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None, opaque_above
        if is_whiteout(st):
            return None, True
        if depth == len(parts) - 1:
            return st, True
        if not stat.S_ISDIR(st.st_mode):
            return None, True
        opaque_above = opaque_above or is_opaque(current)
    return None, False


class OverlayLayerStore:
    """The layout above plus every hook that does not depend on how ``merged`` is mounted.

    Subclasses set ``name`` and implement :meth:`_attach` (mount ``merged``),
    :meth:`_detach` (unmount it) and :meth:`_adoptable` (is an existing mount
    at ``merged`` usable as it is).
    """

    name = "overlay-layers"
    contract = CONTRACT  # built-ins follow the contract of the berth they ship with

    def __init__(self, root: str):
        self.root = root
        self.links = os.path.join(root, "l")
        os.makedirs(self.links, mode=0o700, exist_ok=True)
        spread_subdirectories(root)  # each layer's directory in a block group of its own
        self.trash = Trash(os.path.join(root, ".trash"))
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._refs: dict[str, int] = {}
        #: references on id-mapped views (drivers that offer them); a plain mount taken while a layer has one
        #: is a read-only view (its id is then in ``_readonly``), see :meth:`_attach_readonly`
        self._idrefs: dict[str, int] = {}
        self._readonly: set[str] = set()
        self._naive = NaiveDiff.over_driver(self)  # diffs against a layer other than the parent

    # -- what subclasses provide -----------------------------------------------------

    def _attach(self, layer_id: str, lower: str, mount_label: str) -> None:
        """Mount the union of ``layer_id``'s diff over ``lower`` at its ``merged`` dir."""
        raise NotImplementedError

    def _detach(self, layer_id: str) -> None:
        """Unmount ``layer_id``'s ``merged`` dir (not mounted is not an error)."""
        raise NotImplementedError

    def _attach_readonly(self, layer_id: str, lower: str, mount_label: str) -> None:
        """Mount a read-only union of ``layer_id``'s diff over ``lower`` at ``merged`` (while an id-mapped
        view uses the layer's upper directory, which only one mount may write)."""
        raise NotImplementedError

    def _adoptable(self, layer_id: str, merged: str) -> bool:
        """True when the mount found at ``merged`` (left by an earlier daemon) can be used as it is."""
        return True

    # -- layout helpers ---------------------------------------------------------------

    def cleanup_leftovers(self, unmount) -> None:
        """Delete half-created and half-removed layers and dangling links from a crash.

        ``unmount(path)`` is called on the merged dir of a leftover probe.
        """
        for entry in os.listdir(self.root):
            if entry.startswith((".tmp-", ".rm-", ".probe-")):
                path = os.path.join(self.root, entry)
                merged = os.path.join(path, "merged")
                if entry.startswith(".probe-"):
                    unmount(merged)
                elif os.path.isdir(merged) and is_mountpoint(merged):
                    continue  # never delete through a mount
                remove_path(path)
        for link in os.listdir(self.links):
            if not os.path.exists(os.path.join(self.links, link)):
                os.unlink(os.path.join(self.links, link))  # its layer was never completed or is gone

    def _dir(self, layer_id: str) -> str:
        if not layer_id or "/" in layer_id or layer_id.startswith(".") or layer_id == "l":
            raise InvalidArgument(f"{self.name}: invalid layer id {layer_id!r}")
        return os.path.join(self.root, layer_id)

    def _lock(self, layer_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(layer_id, threading.Lock())

    def _lower(self, layer_id: str) -> str | None:
        return read_text(os.path.join(self._dir(layer_id), "lower"))

    def lower_dirs(self, layer_id: str) -> list[str]:
        """Absolute ``diff`` dirs of the layer's ancestors, nearest first."""
        lower = self._lower(layer_id)
        if not lower:
            return []
        return [os.path.realpath(os.path.join(self.root, entry)) for entry in lower.split(":")]

    def _is_parent(self, layer_id: str, parent: str | None) -> bool:
        """True when ``parent`` is ``layer_id``'s real parent (so the diff dir is the diff)."""
        lower = self._lower(layer_id)
        if parent is None:
            return lower is None
        link = read_text(os.path.join(self._dir(parent), "link"))
        return lower is not None and link is not None and lower.split(":", 1)[0] == f"l/{link}"

    # -- lifecycle ------------------------------------------------------------------------

    @hookimpl
    def graph_create(self, layer_id: str, parent: str | None) -> bool:
        final = self._dir(layer_id)
        if os.path.lexists(final):
            raise Conflict(f"{self.name}: layer {layer_id} already exists")
        lower = None
        if parent is not None:
            parent_link = read_text(os.path.join(self._dir(parent), "link"))
            if parent_link is None:
                raise NotFound(f"{self.name}: parent layer {parent} of {layer_id} does not exist")
            parent_lower = self._lower(parent)
            lower = f"l/{parent_link}" + (f":{parent_lower}" if parent_lower else "")
        tmp = os.path.join(self.root, f".tmp-{layer_id}-{uuid.uuid4().hex[:8]}")
        short = short_id()
        link_path = os.path.join(self.links, short)
        try:
            os.mkdir(tmp, 0o710)
            diff = os.path.join(tmp, "diff")
            os.mkdir(diff, 0o755)
            os.chown(diff, 0, 0)
            os.chmod(diff, 0o755)
            atomic_write(os.path.join(tmp, "link"), short.encode())
            if lower is not None:
                os.mkdir(os.path.join(tmp, "work"), 0o700)
                atomic_write(os.path.join(tmp, "lower"), lower.encode())
            # The link first (dangling until the rename): a layer never exists without it
            os.symlink(f"../{layer_id}/diff", link_path)
            os.rename(tmp, final)
        except BaseException:
            remove_path(tmp)
            if os.path.islink(link_path) and not os.path.exists(final):
                os.unlink(link_path)
            raise
        fsync_dir(self.root)
        return True

    @hookimpl
    def graph_create_rw(self, layer_id: str, parent: str | None, options: dict) -> bool:
        refuse_storage_options(self.name, options)
        return self.graph_create(layer_id, parent)

    @hookimpl
    def graph_remove(self, layer_id: str) -> bool:
        path = self._dir(layer_id)
        if not os.path.lexists(path):
            return True
        with self._lock(layer_id):
            for point in (os.path.join(path, "merged"), os.path.join(path, "mapped")):
                if self._refs.get(layer_id) or self._idrefs.get(layer_id) or (
                        os.path.isdir(point) and is_mountpoint(point)):
                    raise Conflict(f"{self.name}: cannot remove layer {layer_id}: it is mounted at {point}")
            link = read_text(os.path.join(path, "link"))
            if link:
                try:
                    os.unlink(os.path.join(self.links, link))
                except FileNotFoundError:
                    pass
            self.trash.discard(path)  # gone at once; its files are deleted after rm answers
        with self._guard:
            self._locks.pop(layer_id, None)
        return True

    @hookimpl
    def graph_exists(self, layer_id: str) -> bool:
        return os.path.isfile(os.path.join(self._dir(layer_id), "link"))

    # -- mounting (reference counts; the mount itself is the subclass's) -------------------

    @hookimpl
    def graph_mount(self, layer_id: str, mount_label: str) -> str:
        path = self._dir(layer_id)
        with self._lock(layer_id):
            if not os.path.isdir(os.path.join(path, "diff")):
                raise NotFound(f"{self.name}: cannot mount layer {layer_id}: it does not exist")
            lower = self._lower(layer_id)
            if lower is None:
                self._refs[layer_id] = self._refs.get(layer_id, 0) + 1
                return os.path.join(path, "diff")
            merged = os.path.join(path, "merged")
            if self._refs.get(layer_id, 0) == 0:
                os.makedirs(merged, mode=0o700, exist_ok=True)
                if self._idrefs.get(layer_id):  # a remapped container writes it: read its diff as a lower layer
                    self._attach_readonly(layer_id, lower, mount_label)
                    self._readonly.add(layer_id)
                elif not (is_mountpoint(merged) and self._adoptable(layer_id, merged)):
                    self._attach(layer_id, lower, mount_label)
            self._refs[layer_id] = self._refs.get(layer_id, 0) + 1
            return merged

    @hookimpl
    def graph_unmount(self, layer_id: str) -> bool:
        path = self._dir(layer_id)
        with self._lock(layer_id):
            count = self._refs.get(layer_id, 0)
            if count > 1:
                self._refs[layer_id] = count - 1
                return True
            self._refs.pop(layer_id, None)
            self._readonly.discard(layer_id)
            merged = os.path.join(path, "merged")
            if count == 1 and os.path.isdir(merged):
                self._detach(layer_id)
                try:
                    # As Docker: removing the mount point also drops copies of the
                    # mount that propagated into other mount namespaces.
                    os.rmdir(merged)
                except OSError:
                    pass
        return True

    def _release_every_mount(self, refs: dict[str, int], point: str, detach) -> None:
        """At shutdown: forget every reference in ``refs``, detaching ``detach(layer_id)`` each layer's ``point``."""
        with self._guard:
            held = [lid for lid, n in refs.items() if n]
        for layer_id in held:
            with self._lock(layer_id):
                refs.pop(layer_id, None)
                if os.path.isdir(os.path.join(self.root, layer_id, point)):
                    detach(layer_id)

    @hookimpl
    def graph_cleanup(self) -> bool:
        self._release_every_mount(self._refs, "merged", self._detach)
        self.trash.drain(TRASH_DRAIN_TIMEOUT)
        return True

    # -- native diffs ----------------------------------------------------------------------

    @hookimpl
    def graph_diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        if not self._is_parent(layer_id, parent):
            return self._naive.graph_diff(layer_id, parent)  # compares the two mounted trees
        upper = os.path.join(self._dir(layer_id), "diff")

        def produce(out: BinaryIO) -> None:
            writer = LayerTarWriter(out)
            for rel, st in walk(upper):
                if is_whiteout(st):
                    writer.add_whiteout(rel)
                    continue
                writer.add(upper, rel, st)
                if stat.S_ISDIR(st.st_mode) and is_opaque(os.path.join(upper, rel)):
                    writer.add_opaque(rel)
            writer.close()

        return producer_stream(produce, what=f"diff of {self.name} layer {layer_id}")

    @hookimpl
    def graph_apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        if not self._is_parent(layer_id, parent):
            return self._naive.graph_apply_diff(layer_id, parent, diff)
        upper = os.path.join(self._dir(layer_id), "diff")
        return extract_layer(diff, upper, OverlayWhiteouts(), OverlayLowers(self.lower_dirs(layer_id))).size

    @hookimpl
    def graph_apply_diff_early(self, layer_id: str, parent: str | None, diff: BinaryIO, below_applied) -> int:
        """Each layer's diff is its own directory: it fills while the lowers fill theirs; what they
        show (a symlink a path may not pass through) is asked once they are complete."""
        if not self._is_parent(layer_id, parent):
            below_applied()
            return self._naive.graph_apply_diff(layer_id, parent, diff)
        upper = os.path.join(self._dir(layer_id), "diff")
        return extract_layer(diff, upper, OverlayWhiteouts(), OverlayLowers(self.lower_dirs(layer_id)),
                             below_applied=below_applied).size

    @hookimpl
    def graph_diff_size(self, layer_id: str, parent: str | None) -> int:
        if not self._is_parent(layer_id, parent):
            return self._naive.graph_diff_size(layer_id, parent)
        seen: set[int] = set()
        total = 0
        for _, st in walk(os.path.join(self._dir(layer_id), "diff")):
            if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
        return total

    # -- reporting --------------------------------------------------------------------------

    @hookimpl
    def graph_metadata(self, layer_id: str) -> dict[str, str]:
        path = self._dir(layer_id)
        if not os.path.isdir(path):
            raise NotFound(f"{self.name}: layer {layer_id} does not exist")
        meta = {"UpperDir": os.path.join(path, "diff")}
        lower = self._lower(layer_id)
        if lower is not None:
            meta["LowerDir"] = ":".join(self.lower_dirs(layer_id))
            meta["WorkDir"] = os.path.join(path, "work")
            meta["MergedDir"] = os.path.join(path, "merged")
        return meta
