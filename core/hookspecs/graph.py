"""Graph driver contract: how layers are stored, stacked, mounted and diffed.

Modelled on Moby's ``daemon/graphdriver/driver.go``. A *layer* is identified by an
opaque ``layer_id`` chosen by the engine (a hex string, unique per store). A layer
has at most one ``parent``; reading a layer means reading it stacked on all its
ancestors. Layers made with :func:`graph_create` are image layers and become
read-only once their diff is applied; :func:`graph_create_rw` makes the writable
top layer of a container.

A graph driver is a class registered under the entry-point group
``berth.graphdrivers``. The engine calls ``probe(root)`` (a classmethod returning
None, or the reason the driver cannot work on this host) and then instantiates it
as ``Driver(root=<data-root>/<name>, options=<dict of storage-opts>)``. The
instance's :data:`berth.hookimpl` methods implement the hooks below.

Required hooks: ``graph_create``, ``graph_create_rw``, ``graph_remove``,
``graph_mount``, ``graph_unmount``, ``graph_exists``. The diff hooks
(``graph_diff``, ``graph_changes``, ``graph_apply_diff``, ``graph_diff_size``)
have a core default that compares two mounted trees (Moby's NaiveDiffDriver);
implement them to do better. ``graph_status``, ``graph_metadata`` and
``graph_cleanup`` have trivial defaults. The id-mapped hooks
(``graph_idmap_check``, ``graph_mount_idmapped``, ``graph_unmount_idmapped``) are
optional: a driver that implements them claims support for ``berthd --userns-remap``
and the conformance kit checks the claim; without them the daemon refuses remapping
with this driver.

Layers are always stored with the ids their archives carry (container ids): a remapped
daemon stores the same bytes and owners as any other, and diffs, commits and pushes need
no translation. Only a running container's view is shifted, through an id map.

Diff streams are uncompressed tar archives in the OCI layer format: a deleted
path ``d/name`` is an empty regular file ``d/.wh.name``; a directory whose lower
contents are hidden is marked by ``d/.wh..wh..opq``.

All hooks may raise :class:`berth.errors.DriverError` (or any exception); the
engine reports it with the driver's name and the layer id.
"""

from __future__ import annotations

from typing import BinaryIO

from berth import hookspec
from berth.hookspecs.types import Change, IdMap

# ---------------------------------------------------------------------------
# layer lifecycle
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_create(layer_id: str, parent: str | None) -> bool | None:
    """Create an empty image layer ``layer_id`` on top of ``parent`` (None: a base layer).

    The new layer must read exactly as its parent until a diff is applied to it.
    A base layer's root directory is mode 0755 owned by 0:0 and has no entries.
    Raise if ``layer_id`` already exists or ``parent`` does not. Return True (or None).
    """


@hookspec(firstresult=True)
def graph_create_rw(layer_id: str, parent: str | None, options: dict) -> bool | None:
    """Create the writable layer of a container on top of ``parent``.

    ``options`` is the container's ``--storage-opt`` map (``HostConfig.StorageOpt``),
    ``{}`` when none. The one key Docker defines is ``size``: the most the writable layer
    may hold, in Docker's size syntax ("10G", "512m", bytes). A driver that enforces it
    must make writes beyond it fail with ENOSPC (EDQUOT); a driver that cannot refuses
    it, and any key it does not know, with :class:`berth.errors.InvalidArgument`
    (``berth.storageopts.refuse_all`` words both as dockerd does). Never ignore an option.
    Same rules as :func:`graph_create` otherwise.
    """


@hookspec(firstresult=True)
def graph_remove(layer_id: str) -> bool | None:
    """Remove layer ``layer_id`` and everything the driver stored for it.

    The engine never removes a layer that has children or is mounted. Idempotent:
    removing a layer that does not exist succeeds.
    """


@hookspec(firstresult=True)
def graph_exists(layer_id: str) -> bool:
    """Return True when ``layer_id`` exists in this driver's store, else False."""


# ---------------------------------------------------------------------------
# mounting
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_mount(layer_id: str, mount_label: str) -> str:
    """Make the layer's full filesystem (with its ancestors) available; return its path.

    Reference-counted: every call must be balanced by :func:`graph_unmount`; the
    second and later calls return the same path without mounting again.
    ``mount_label`` is an SELinux label or "".
    """


@hookspec(firstresult=True)
def graph_unmount(layer_id: str) -> bool | None:
    """Drop one reference taken by :func:`graph_mount`; unmount when none are left.

    Unmounting a layer that is not mounted is not an error.
    """


# ---------------------------------------------------------------------------
# id-mapped views (optional; needed for ``berthd --userns-remap``)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_idmap_check(idmap: IdMap) -> str:
    """Return "" when :func:`graph_mount_idmapped` works here for ``idmap``, else the reason it cannot.

    ("" and not None: a hook answering None lets the core default answer instead.)

    Called once at daemon start when ``--userns-remap`` is set, before any container runs;
    a reason stops the daemon with it (name the kernel or filesystem feature that is missing).
    The core default answers that the driver does not support id-mapped layers.
    """


@hookspec(firstresult=True)
def graph_mount_idmapped(layer_id: str, mount_label: str, idmap: IdMap) -> str:
    """Make the layer's full filesystem available *through* ``idmap``; return its path.

    This is the root a user-namespaced container runs in. Through the returned path:

    - a file stored with uid ``u`` (gid ``g``) appears owned by host uid
      ``idmap.host_uid(u)`` (``idmap.host_gid(g)``); stored ids the map lacks appear as
      the overflow id 65534 and cannot be changed;
    - a file created or chowned by host uid ``h`` is stored as ``idmap.container_uid(h)``
      (so what a remapped container writes lands on disk with container ids, exactly as
      :func:`graph_diff` must report them); a writer whose ids the map lacks gets EOVERFLOW;
    - modes, setuid/setgid bits, xattrs, whiteouts and copy-up behave as with
      :func:`graph_mount`.

    The path and every directory above it up to the driver root must be searchable by
    the map's root (``idmap.root``, as uid and as gid): the container's init mounts its
    filesystems there as that user, without host privileges.

    Reference-counted apart from :func:`graph_mount`, balanced by
    :func:`graph_unmount_idmapped`; repeated calls return the same path. A daemon uses one
    map for all its layers. For a remapped container's layer the engine uses only this view,
    except that diffs (the core's naive diff mounts layers plainly) may read the layer while the
    container runs: a plain mount taken while an id-mapped one is held may then be read-only
    (overlayfs cannot share an upper directory between two mounts), and an id-mapped mount asked
    for while a writable plain one is held may be refused with :class:`berth.errors.Conflict`.
    """


@hookspec(firstresult=True)
def graph_unmount_idmapped(layer_id: str) -> bool | None:
    """Drop one reference taken by :func:`graph_mount_idmapped`; unmount when none are left.

    Unmounting a layer that is not mounted this way is not an error.
    """


# ---------------------------------------------------------------------------
# diffs (core default: naive diff over two mounted trees)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_diff(layer_id: str, parent: str | None) -> BinaryIO:
    """Return a readable binary stream of the layer's changes against ``parent`` as a tar.

    The caller reads it to the end and closes it; closing releases any mount the
    driver took. ``parent`` None means the full contents of the layer.
    """


@hookspec(firstresult=True)
def graph_changes(layer_id: str, parent: str | None) -> list[Change]:
    """Return the layer's changes against ``parent``, sorted by path."""


@hookspec(firstresult=True)
def graph_apply_diff(layer_id: str, parent: str | None, diff: BinaryIO) -> int:
    """Extract the tar stream ``diff`` into layer ``layer_id``; return the bytes applied.

    Whiteouts in OCI format delete the named path (or hide the whole lower directory
    for ``.wh..wh..opq``). Hostile archives (paths escaping the layer, links to
    outside, device nodes, paths through a symlink the archive made or one of the
    layer below, duplicate paths) raise :class:`berth.errors.UnsafeArchive` (or
    another :class:`berth.errors.InvalidArgument`) and leave nothing outside the
    layer; the store then removes the layer. A driver gets all of that by extracting
    with :func:`berth.images.tarsafe.extract_layer`, passing ``below`` (a
    :class:`~berth.images.tarsafe.LayersBelow`) when the layer below is not in the
    directory it extracts into, as the overlay drivers do. The returned size equals
    :func:`graph_diff_size`.
    """


@hookspec(firstresult=True)
def graph_diff_size(layer_id: str, parent: str | None) -> int:
    """Return the size in bytes of the layer's changes against ``parent``."""


# ---------------------------------------------------------------------------
# reporting and teardown (core defaults: empty)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_status() -> list[tuple[str, str]]:
    """Return ``(key, value)`` pairs shown under the driver's name in ``berth info``."""


@hookspec(firstresult=True)
def graph_metadata(layer_id: str) -> dict[str, str]:
    """Return the layer's low-level details shown as ``GraphDriver.Data`` by ``inspect``."""


@hookspec(firstresult=True)
def graph_cleanup() -> bool | None:
    """Release everything the driver holds (mounts, helper processes) at daemon shutdown."""
