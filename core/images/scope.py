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

from berth.errors import InvalidArgument

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
    root = os.path.abspath(root)
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
        candidate = os.path.join(root, *real, comp)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            real.append(comp)
            continue
        if stat.S_ISLNK(st.st_mode) and (todo or follow_final):
            hops += 1
            if hops > _MAX_HOPS:
                raise InvalidArgument(f"path {path!r}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                real.clear()
            todo[:0] = [p for p in target.split("/") if p]
            continue
        real.append(comp)
    return os.path.join(root, *real)
