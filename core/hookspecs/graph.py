"""Graph driver contract: how layers are stored, stacked, mounted and diffed.

Modelled on Moby's ``daemon/graphdriver/driver.go``. A *layer* is identified by an
opaque ``layer_id`` chosen by the engine (a hex string, unique per store). A layer
has at most one ``parent``; reading a layer means reading it stacked on all its
ancestors. Layers made with :func:`graph_create` are image layers and become
read-only once their diff is applied; :func:`graph_create_rw` makes the writable
top layer of a container.

The driver class
    Registered under the entry-point group ``berth.graphdrivers``. The engine calls
    ``probe(root)`` and then instantiates it as ``Driver(root, options)``: ``root`` is
    ``<data-root>/<driver name>``, the driver's alone; ``options`` is the daemon's
    storage options (``berthd --storage-opt key=value``, ``storage-opts`` in
    daemon.json) as a ``dict[str, str]``, ``{}`` when none. A key the driver does not
    know is refused by raising :class:`berth.errors.InvalidArgument` from
    ``__init__``, so berthd does not start with an option it would ignore.

Hooks
    Required: ``graph_create``, ``graph_create_rw``, ``graph_remove``,
    ``graph_mount``, ``graph_unmount``, ``graph_exists``. Optional, with a core
    default used only when the driver does not implement the hook: the diff hooks
    (``graph_diff``, ``graph_changes``, ``graph_apply_diff``, ``graph_diff_size``:
    Moby's NaiveDiffDriver, comparing two trees mounted through the driver's own
    hooks) and the reporting hooks (``graph_status`` ``[]``, ``graph_metadata``
    ``{}``, ``graph_cleanup`` True). A driver that implements a diff hook answers it
    for every layer; :class:`berth.driverkit.NaiveDiff` is the core's naive diff for
    a driver to call where its own way does not apply. The id-mapped hooks
    (``graph_idmap_check``, ``graph_mount_idmapped``, ``graph_unmount_idmapped``) are
    optional too: a driver that implements them claims support for ``berthd
    --userns-remap`` and the kit checks the claim; without them the daemon refuses
    remapping with this driver. So is ``graph_apply_diff_early``: a driver that implements it
    says a layer may be applied while the layers below it are (a pull then extracts its
    layers at once); without it a pull applies them one after the other.

Layers are always stored with the ids their archives carry (container ids): a remapped
daemon stores the same bytes and owners as any other, and diffs, commits and pushes need
no translation. Only a running container's view is shifted, through an id map.

Threads
    Every hook may be called from several threads at once, also for the same
    layer: two containers of one image start together and mount the same parent;
    ``cp`` mounts a running container's layer. Reference counts and the mount
    itself must be safe under that (the kit runs mounts from eight threads).

Mount references across a daemon restart
    Counts taken by :func:`graph_mount` belong to the driver instance: a new
    instance (the daemon restarted) starts with none. The engine takes one
    reference again for every container it re-adopts, and releases it when the
    container stops. So a layer a previous instance left mounted (containers kept
    running while the daemon was down) must be *adopted* by the first
    :func:`graph_mount` -- the same path, not mounted a second time -- and
    released by the matching :func:`graph_unmount`. The kit checks this.

Diff streams
    Uncompressed tar archives in the OCI layer format: a deleted path ``d/name`` is
    an empty regular file ``d/.wh.name``; a directory whose lower contents are
    hidden is marked by ``d/.wh..wh..opq``.

Results and errors follow :mod:`berth.hookspecs`: one answer per hook, never None
(``True`` when there is nothing to return), :class:`~berth.hookspecs.NotSupported`
for what the driver cannot do, :mod:`berth.errors` types for the user's mistakes.
"""

from __future__ import annotations

from typing import BinaryIO, Callable

from berth import hookspec
from berth.hookspecs.types import Change, IdMap

# ---------------------------------------------------------------------------
# layer lifecycle (required)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_create(layer_id: str, parent: str | None) -> bool:
    """Create an empty image layer ``layer_id`` on top of ``parent`` (None: a base layer).

    The new layer must read exactly as its parent until a diff is applied to it.
    A base layer's root directory is mode 0755 owned by 0:0 and has no entries.
    Raise if ``layer_id`` already exists or ``parent`` does not, leaving nothing behind.

    Required; stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def graph_create_rw(layer_id: str, parent: str | None, options: dict[str, str]) -> bool:
    """Create the writable layer of a container on top of ``parent``.

    ``options`` is the container's ``--storage-opt`` map (``HostConfig.StorageOpt``),
    ``{}`` when none. The one key Docker defines is ``size``: the most the writable layer
    may hold, in Docker's size syntax ("10G", "512m", bytes). A driver that enforces it
    must make writes beyond it fail with ENOSPC (EDQUOT); a driver that cannot refuses
    it, and any key it does not know, with :class:`berth.errors.InvalidArgument`
    (:func:`berth.driverkit.refuse_storage_options` words both as dockerd does), and
    leaves no layer behind. Never ignore an option.
    Same rules as :func:`graph_create` otherwise.

    Required; stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def graph_remove(layer_id: str) -> bool:
    """Remove layer ``layer_id`` and everything the driver stored for it.

    The engine never removes a layer that has children or is mounted. Idempotent:
    removing a layer that does not exist succeeds.

    Required; stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def graph_exists(layer_id: str) -> bool:
    """Whether ``layer_id`` exists in this driver's store.

    Required; stops at the first non-None result. Return True or False.
    """


# ---------------------------------------------------------------------------
# mounting (required)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_mount(layer_id: str, mount_label: str) -> str:
    """Make the layer's full filesystem (with its ancestors) available; return its absolute path.

    Reference-counted: every call is balanced by one :func:`graph_unmount`; the
    second and later calls return the same path without mounting again. A layer
    still mounted by a previous driver instance is adopted (see "Mount references
    across a daemon restart" above). ``mount_label`` is an SELinux label or "".
    Raise :class:`berth.errors.NotFound` for a layer that does not exist.

    Required; stops at the first non-None result. Return the path.
    """


@hookspec(firstresult=True)
def graph_unmount(layer_id: str) -> bool:
    """Drop one reference taken by :func:`graph_mount`; unmount when none are left.

    Unmounting a layer that is not mounted (or not any more) is not an error.

    Required; stops at the first non-None result. Return True.
    """


# ---------------------------------------------------------------------------
# id-mapped views (optional; needed for ``berthd --userns-remap``)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_idmap_check(idmap: IdMap) -> str:
    """Return "" when :func:`graph_mount_idmapped` works here for ``idmap``, else the reason it cannot.

    Called once at daemon start when ``--userns-remap`` is set, before any container runs;
    a reason stops the daemon with it (name the kernel or filesystem feature that is missing).

    Optional (core default: the driver does not support id-mapped layers); stops at the
    first non-None result.
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

    The path and every directory above it up to the driver root must be searchable by a
    process whose uid and gid are the map's root (``idmap.root``) and that has no other
    group: the container's init mounts its filesystems there as that user, without host
    privileges (the built-in drivers make those directories root:<gid> 0710, as dockerd).
    :func:`graph_cleanup` releases these views too.

    Reference-counted apart from :func:`graph_mount`, balanced by
    :func:`graph_unmount_idmapped`; repeated calls return the same path. A daemon uses one
    map for all its layers. For a remapped container's layer the engine uses only this view,
    except that diffs (the core's naive diff mounts layers plainly) may read the layer while the
    container runs: a plain mount taken while an id-mapped one is held may then be read-only
    (overlayfs cannot share an upper directory between two mounts), and an id-mapped mount asked
    for while a writable plain one is held may be refused with :class:`berth.errors.Conflict`.

    Optional (core default: NotSupported); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def graph_unmount_idmapped(layer_id: str) -> bool:
    """Drop one reference taken by :func:`graph_mount_idmapped`; unmount when none are left.

    Unmounting a layer that is not mounted this way is not an error.

    Optional (core default: nothing to release); stops at the first non-None result. Return True.
    """


# ---------------------------------------------------------------------------
# diffs (optional; core default: the naive diff over mounted trees)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_diff(layer_id: str, parent: str | None) -> BinaryIO:
    """Return a readable binary stream of the layer's changes against ``parent`` as a tar.

    The caller reads it to the end and closes it; closing releases any mount the
    driver took. ``parent`` None means the full contents of the layer; ``parent`` may
    also be a layer other than the one ``layer_id`` was created on.

    Optional (core default: the naive diff); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def graph_changes(layer_id: str, parent: str | None) -> list[Change]:
    """Return the layer's changes against ``parent`` (None: everything is added), sorted by path.

    A directory whose entries changed is itself listed as modified, as Docker does.

    Optional (core default: the naive diff); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def graph_apply_diff(layer_id: str, parent: str | None, diff: BinaryIO) -> int:
    """Extract the tar stream ``diff`` into layer ``layer_id``; return the bytes applied.

    Whiteouts in OCI format delete the named path (or hide the whole lower directory
    for ``.wh..wh..opq``). Hostile archives (paths escaping the layer, links to
    outside, device nodes, paths through a symlink the archive made or one of the
    layer below, duplicate paths) raise :class:`berth.errors.UnsafeArchive` (or
    another :class:`berth.errors.InvalidArgument`) and leave nothing outside the
    layer; the store then removes the layer. A driver gets all of that by extracting
    with :func:`berth.driverkit.extract_layer`, passing ``below`` (a
    :class:`berth.driverkit.LayersBelow`) when the layer below is not in the
    directory it extracts into, as the overlay drivers do. The returned size equals
    :func:`graph_diff_size` of the layer afterwards.

    Optional (core default: the naive diff); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def graph_apply_diff_early(layer_id: str, parent: str | None, diff: BinaryIO, below_applied: Callable[[], None]) -> int:
    """:func:`graph_apply_diff`, called while the diffs of ``parent`` and its ancestors may still be being applied.

    A driver implementing this hook says: a layer's diff can be applied into it as soon as it is
    created on its parent, before the layers below are complete -- true of union drivers, whose
    layers each keep their own diff directory (overlay, fuse-overlay); never of drivers whose
    :func:`graph_create` copies the parent's tree (vfs, snapshots). A pull then creates its new
    layers in chain order (each with :func:`graph_create` on the one below, right after it) and
    applies all of them at once, each from its own thread; it records them in chain order
    afterwards, and removes them all if any fails.

    ``below_applied()`` blocks until every ancestor's diff is applied and raises (a
    :class:`berth.errors.BerthError`) if one failed. The driver must call it before its answer
    depends on the layers below, and must not return before it has: whatever the layers below
    decide about this diff -- above all the refusal of a path through one of their symlinks --
    is decided as if they had been complete from the start, with the same error
    (:class:`berth.errors.UnsafeArchive`). ``extract_layer(..., below=..., below_applied=...)`` of
    :mod:`berth.driverkit` does that: it keeps the questions for the layers below and asks them
    once the archive is read and ``below_applied()`` returned. Everything else is as
    :func:`graph_apply_diff`, including the returned size.

    Optional (core default: NotSupported, and the engine applies layers one after the other,
    each once its parent is complete); stops at the first non-None result. Added in contract 2.3.
    """


@hookspec(firstresult=True)
def graph_adopt_diff(layer_id: str, parent: str | None, source: str, source_parent: str | None) -> int:
    """Fill new layer ``layer_id`` (just made by :func:`graph_create` on ``parent``) with the changes of
    read-write layer ``source`` against ``source_parent`` by moving its files; return the bytes adopted.

    The result must be exactly what :func:`graph_apply_diff` of :func:`graph_diff` ``(source,
    source_parent)`` would give ``layer_id``: the same tree, owners, modes, whole-second mtimes (atime
    = mtime), xattrs a layer carries, whiteouts and opaque directories; the same size. A build step
    commits this way instead of writing a tar and extracting it again. ``source`` is consumed: the
    engine only removes it afterwards, and never asks this of a layer in use.

    A driver raises NotSupported when it cannot for this layer (mounted, ``source_parent`` not its
    parent, an entry a layer tar cannot hold): the engine then diffs and applies, which refuses or
    drops that entry as always.

    Optional (core default: NotSupported); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def graph_diff_size(layer_id: str, parent: str | None) -> int:
    """Return the size in bytes of the regular files the layer adds or changes against ``parent``.

    Optional (core default: the naive diff); stops at the first non-None result.
    """


# ---------------------------------------------------------------------------
# reporting and teardown (optional)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def graph_status() -> list[tuple[str, str]]:
    """Return ``(key, value)`` string pairs shown under the driver's name in ``berth info``.

    Optional (core default: ``[]``); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def graph_metadata(layer_id: str) -> dict[str, str]:
    """Return the layer's low-level details (strings) shown as ``GraphDriver.Data`` by ``inspect``.

    Optional (core default: ``{}``); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def graph_cleanup() -> bool:
    """Release what the driver holds (mounts, helper processes) when the daemon stops.

    Not called when the daemon stops with containers still running (their layers
    stay mounted for the next instance to adopt).

    Optional (core default: nothing to release); stops at the first non-None result.
    Return True.
    """
