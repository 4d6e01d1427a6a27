"""The driver SDK: everything berth promises to drivers and extensions beyond the contracts.

A driver (built-in or third-party) imports from three places only: the contracts
(:mod:`berth.hookspecs` and :mod:`berth.hookspecs.types`), this module, and its own
package. Everything else in berth is the engine's and may change without notice;
what is exported here changes only with the contract version
(:data:`berth.hookspecs.CONTRACT`): a new name is a minor version, a changed or
removed one a major. ``tests/unit/test_driver_imports.py`` holds berth's own
drivers to this rule.

Names are resolved on first use, so importing this module is cheap.

Markers, versions, errors
    ``hookimpl``, ``CONTRACT``, ``NotSupported``, ``BerthError``, ``InvalidArgument``
    (400), ``NotFound`` (404), ``Conflict`` (409), ``DriverError`` (500),
    ``ExecError`` (a process that cannot start: 126/127), ``UnsafeArchive`` (a
    hostile tar, 400).

Files
    ``atomic_write(path, data, mode)`` (temp file, fsync, rename),
    ``fsync_dir(path)``, ``read_text(path, default)``, ``remove_path(path)``
    (recursive, idempotent, crosses no mount), ``is_mountpoint(path)``,
    ``mount_of(path)`` (the mount a path lies on, with its propagation fields),
    ``resolve_in_root(root, path)`` (a path inside a tree, symlinks resolved
    without leaving it), ``Trash(path)`` (``.discard(path)``: a tree renamed away at
    once and deleted in the background; ``.drain(timeout)`` waits for the deletions)
    and ``TRASH_DRAIN_TIMEOUT``.

Graph drivers
    ``extract_layer(stream, root, whiteouts=None, below=None, below_applied=None)`` (a
    layer tar applied with every check of berth's archive policy; returns a result with
    ``.size``; ``below_applied`` for ``graph_apply_diff_early``),
    ``LayersBelow`` (what ``below`` provides: the lower layers' directories, for a
    driver that extracts into the layer's own diff), ``DeleteWhiteouts`` (whiteouts
    delete in a full tree), ``remove_at``,
    ``LayerTarWriter`` and ``walk`` (write a layer tar from a tree),
    ``SKIP_XATTR_PREFIXES`` (the xattrs a layer tar never carries),
    ``producer_stream(produce, release)`` (a readable stream fed by a thread, for
    ``graph_diff``), ``NaiveDiff`` (the core's naive diff, for a driver to call where
    its own diff does not apply: ``NaiveDiff.over_driver(self)``),
    ``refuse_storage_options(driver_name, options)`` (dockerd's refusal of
    ``--storage-opt`` keys a driver does not support).

Exec drivers
    ``open_log_writer(io)`` (the container log exactly as an ``IOConfig`` asks:
    format, rotation, compression, blocking mode; ``.write(stream, data)``,
    ``.close()``), ``log_timestamp(ns=None)`` (RFC 3339 with nanoseconds, as
    ``RuntimeState`` times are written), ``frame(stream, data)`` (a frame of the
    attach socket's multiplexed stream), ``STDOUT``, ``STDERR``.

Credentials
    ``fscreds``: the thread's file-system credentials and capabilities
    (``fscreds.filesystem_ids(uid, gid)`` acts as another user for file operations;
    ``capget``/``capset``; ``libc`` and ``check``, the one libc handle and error convention).

Logging
    ``get_logger()``: the daemon's structured logger (``.info(event, **fields)``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, str | None]] = {  # name -> (module, attribute; None: the module itself)
    # markers, versions, errors
    "hookimpl": ("berth", "hookimpl"),
    "CONTRACT": ("berth.hookspecs", "CONTRACT"),
    "NotSupported": ("berth.errors", "NotSupported"),
    "BerthError": ("berth.errors", "BerthError"),
    "InvalidArgument": ("berth.errors", "InvalidArgument"),
    "NotFound": ("berth.errors", "NotFound"),
    "Conflict": ("berth.errors", "Conflict"),
    "DriverError": ("berth.errors", "DriverError"),
    "ExecError": ("berth.errors", "ExecError"),
    "UnsafeArchive": ("berth.errors", "UnsafeArchive"),
    # files
    "atomic_write": ("berth.fsutil", "atomic_write"),
    "fsync_dir": ("berth.fsutil", "fsync_dir"),
    "read_text": ("berth.fsutil", "read_text"),
    "remove_path": ("berth.fsutil", "remove_path"),
    "is_mountpoint": ("berth.fsutil", "is_mountpoint"),
    "mount_of": ("berth.fsutil", "mount_of"),
    "resolve_in_root": ("berth.images.scope", "resolve_in_root"),
    "Trash": ("berth.trash", "Trash"),
    "TRASH_DRAIN_TIMEOUT": ("berth.trash", "TRASH_DRAIN_TIMEOUT"),
    # graph drivers
    "extract_layer": ("berth.images.tarsafe", "extract_layer"),
    "DeleteWhiteouts": ("berth.images.tarsafe", "DeleteWhiteouts"),
    "LayersBelow": ("berth.images.tarsafe", "LayersBelow"),
    "remove_at": ("berth.images.tarsafe", "remove_at"),
    "LayerTarWriter": ("berth.images.layertar", "LayerTarWriter"),
    "walk": ("berth.images.layertar", "walk"),
    "SKIP_XATTR_PREFIXES": ("berth.images.layertar", "SKIP_XATTR_PREFIXES"),
    "producer_stream": ("berth.images.pipestream", "producer_stream"),
    "NaiveDiff": ("berth.naivediff", "NaiveDiff"),
    "refuse_storage_options": ("berth.storageopts", "refuse_all"),
    # exec drivers
    "open_log_writer": ("berth.containers.logwriter", "open_writer"),
    "log_timestamp": ("berth.containers.jsonlog", "timestamp"),
    "frame": ("berth.streamframe", "frame"),
    "STDOUT": ("berth.streamframe", "STDOUT"),
    "STDERR": ("berth.streamframe", "STDERR"),
    # processes and credentials
    "fscreds": ("berth.fscreds", None),
    # logging
    "get_logger": ("berth.log", "get"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"berth.driverkit has no {name!r}; what drivers may use is listed in its docstring") from None
    value = importlib.import_module(module) if attr is None else getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
