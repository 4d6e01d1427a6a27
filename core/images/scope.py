"""Resolving a path inside a container's root the way a chroot would (Moby's ``FollowSymlinkInScope``).

The one implementation used wherever berth touches a container's or layer's tree by
a path that came from a user, an archive or a spec (``cp``, the init layer,
re-reading a layer's files, the builder's COPY/ADD/WORKDIR, the native exec
driver's mount targets and devices):
symlinks among the components are followed *within* the root (an absolute
target restarts at the root, ``..`` stops at it), so no path can name a file of
the host. Like Docker's, this is a path computation: a concurrent writer in the
container could swap a component afterwards, which is why the daemon only uses it
on stopped trees or for copies the container's owner asked for.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import Iterator

from berth.errors import InvalidArgument
from berth.hookspecs.types import IdMap

_MAX_HOPS = 40  # the kernel's MAXSYMLINKS


def clean(path: str) -> str:
    """``path`` as an absolute, normalised container path (``a/../b`` -> ``/b``)."""
    return posixpath.normpath("/" + path.lstrip("/")) if path else "/"


def resolve_in_root(root: str, path: str, follow_final: bool = True) -> str:
    """The host path that container path ``path`` names under ``root``, with symlinks kept in scope.

    With ``follow_final`` False a final symlink is returned itself (as ``lstat``
    would see it). Missing components are allowed: the rest of the path is
    appended unresolved, so callers can create or report it.
    """
    return Tree(root).resolve(path, follow_final)


def resolve_parts(path: str, link_target, follow_final: bool = True) -> list[str]:
    """The real components of container path ``path``: each symlink among them (``link_target(parts)`` gives
    the target of the one at ``parts``, None for what is not a symlink or not there) followed inside the
    root; missing components are kept as they are."""
    todo = [p for p in clean(path).split("/") if p]
    real: list[str] = []
    hops = 0
    while todo:
        comp = todo.pop(0)
        if comp == ".":
            continue
        if comp == "..":
            if real:
                real.pop()
            continue
        target = link_target(real + [comp]) if (todo or follow_final) else None
        if target is not None:
            hops += 1
            if hops > _MAX_HOPS:
                raise InvalidArgument(f"path {path!r}: too many levels of symbolic links")
            if target.startswith("/"):
                real.clear()
            todo[:0] = [p for p in target.split("/") if p]
            continue
        real.append(comp)
    return real


class Tree:
    """A root directory with host paths mounted over container paths in it, as a stopped container's mounts.

    ``mounts`` maps a container path (``/data``) to the host directory or file seen
    there (a volume's ``_data``, a bind source). Resolution walks container paths,
    so a symlink in a volume that names ``/etc`` leads to the container's ``/etc``,
    exactly as inside the container. With no mounts this is :func:`resolve_in_root`.

    ``idmap``: the tree belongs to a remapped container (``--userns-remap``): every owner seen
    here is a host id of that map, and archives of it carry the container's ids.
    """

    def __init__(self, root: str, mounts: dict[str, str] | None = None, live_mount_points: set[str] | None = None,
                 idmap: IdMap | None = None):
        self.root = os.path.abspath(root)
        self.idmap = idmap
        self.mounts = {clean(dest): source for dest, source in (mounts or {}).items()}
        #: for a running container's own view (``/proc/PID/root``), where the kernel resolves mounts:
        #: the container's mount destinations, the only other filesystems a walk descends into
        #: (never its /proc, /sys or /dev)
        self.live_mount_points = {clean(p) for p in live_mount_points} if live_mount_points is not None else None

    def host(self, container_path: str) -> str:
        """Where the (already resolved) container path lives on the host: in its innermost mount, else the root."""
        path = clean(container_path)
        probe = path
        while True:
            source = self.mounts.get(probe)
            if source is not None:
                rest = path[len(probe):].lstrip("/")
                return os.path.join(source, rest) if rest else source
            if probe == "/":  # the root itself with a slash: /proc/PID/root is a link to follow
                return os.path.join(self.root, path.lstrip("/"))
            probe = posixpath.dirname(probe)

    def resolve_container_path(self, path: str, follow_final: bool = True) -> str:
        """``path`` with its symlinks followed inside the tree, as an absolute container path."""
        return "/" + "/".join(resolve_parts(path, self._link_target, follow_final))

    def _link_target(self, parts: list[str]) -> str | None:
        candidate = self.host("/" + "/".join(parts))
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return os.readlink(candidate) if stat.S_ISLNK(st.st_mode) else None

    def resolve(self, path: str, follow_final: bool = True) -> str:
        """The host path of container path ``path`` (see :func:`resolve_in_root`)."""
        return self.host(self.resolve_container_path(path, follow_final))

    def mounts_below(self, container_dir: str) -> dict[str, str]:
        """The mounts strictly inside ``container_dir``, keyed by their path relative to it."""
        base = clean(container_dir).rstrip("/") + "/"
        return {dest[len(base):]: source for dest, source in self.mounts.items() if dest.startswith(base)}

    def walk(self, container_dir: str) -> Iterator[tuple[str, str, os.stat_result]]:
        """Every entry below the (resolved) directory ``container_dir``, parents first, sorted by path:
        (path relative to it, host path, lstat), crossing mounts as the container would see them."""
        base = clean(container_dir)
        stack = [("", self.host(base), os.lstat(self.host(base)).st_dev)]
        found: list[tuple[str, str, os.stat_result]] = []
        while stack:
            rel, host_dir, dev = stack.pop()
            for name, host, st in self._children(posixpath.join(base, rel), host_dir):
                child = f"{rel}/{name}" if rel else name
                found.append((child, host, st))
                if stat.S_ISDIR(st.st_mode) and self._descends(posixpath.join(base, child), st, dev):
                    stack.append((child, host, st.st_dev))
        found.sort(key=lambda item: item[0])
        return iter(found)

    def _children(self, container_dir: str, host_dir: str) -> list[tuple[str, str, os.stat_result]]:
        """(name, host path, stat) of a directory's entries, with mounts on top of what lies beneath them."""
        out = {}
        with os.scandir(host_dir) as it:
            for entry in it:
                out[entry.name] = (entry.path, entry.stat(follow_symlinks=False))
        prefix = container_dir.rstrip("/") + "/"
        for dest, source in self.mounts.items():
            name = dest[len(prefix):] if dest.startswith(prefix) else ""
            if name and "/" not in name:
                try:
                    out[name] = (source, os.stat(source))
                except FileNotFoundError:
                    continue
        return [(name, host, st) for name, (host, st) in sorted(out.items())]

    def _descends(self, container_path: str, st: os.stat_result, parent_dev: int) -> bool:
        if self.live_mount_points is None or st.st_dev == parent_dev:
            return True
        return container_path in self.live_mount_points
