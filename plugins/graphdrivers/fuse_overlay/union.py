"""The union view of one upper and many lower directories, with overlay's semantics.

This is the filesystem logic of fuse-overlay without FUSE: a tree of :class:`Node`
objects (one per path the kernel has looked up), lookups that go top-down
through the layers, whiteouts and opaque directories in overlay's on-disk format
(:mod:`berth.plugins.graphdrivers.whiteout`), and copy-up. :mod:`.ops` adapts it
to pyfuse3. Paths are bytes, relative to the layer roots (``b""`` is the root).

Layer 0 is the upper (writable) directory; layers 1..N are the lowers, nearest
first. Only this process writes to the upper while the layer is mounted, and
lowers never change, so what a node learned about its layers stays true until
this process changes it (nodes are updated in place by the operations).

Inode numbers are allocated per node and never reused while mounted, so a path
keeps its inode number as long as it exists (also after the kernel forgets it:
nodes with a live path are kept). Hard links in one layer share a node (and so
an inode number); copying one of them up re-creates the links to the other
names of it that were looked up (names never looked up keep the lower copy, as
kernel overlay without ``index=on``).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid

from berth.plugins.graphdrivers.whiteout import (
    OPAQUE_XATTR, PRIVATE_XATTR_PREFIX, is_opaque, is_whiteout, make_whiteout, set_opaque,
)

_PRIVATE = PRIVATE_XATTR_PREFIX.encode()


class FsError(Exception):
    """An errno to return to the caller of a filesystem operation."""

    def __init__(self, code: int):
        super().__init__(code, os.strerror(code))
        self.errno = code


class Node:
    """One path of the union that the kernel knows (or knew) by inode number."""

    __slots__ = ("ino", "parent", "name", "layer", "fmt", "dirs", "children", "lookups", "aliases", "backing")

    def __init__(self, ino: int, parent: "Node | None", name: bytes, layer: int, fmt: int):
        self.ino = ino
        self.parent = parent
        self.name = name
        self.layer = layer  # topmost layer that has this path
        self.fmt = fmt  # stat.S_IFMT of the entry
        self.dirs: list[int] | None = None  # directories: layers merged into this one, top first (lazy)
        self.children: dict[bytes, Node] = {}
        self.lookups = 0  # the kernel's lookup count
        self.aliases: list[tuple[Node, bytes]] = []  # other names of a hard-linked file
        self.backing: tuple[int, int] | None = None  # (layer, st_ino) for hard-linked files

    def rel(self) -> bytes:
        """The node's path relative to the layer roots."""
        parts = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name)
            node = node.parent
        return b"/".join(reversed(parts))

    @property
    def is_dir(self) -> bool:
        return self.fmt == stat.S_IFDIR


def join(rel: bytes, name: bytes) -> bytes:
    """``rel/name``, where ``rel`` may be the root (``b""``)."""
    return rel + b"/" + name if rel else name


class Union:
    """The merged tree over ``upper`` and ``lowers``; ``work`` is scratch space on the upper's filesystem."""

    def __init__(self, upper: str, lowers: list[str], work: str):
        self.layers = [os.fsencode(upper)] + [os.fsencode(p) for p in lowers]
        self.work = os.fsencode(work)
        self.root = Node(1, None, b"", 0, stat.S_IFDIR)
        self.root.lookups = 1
        self.nodes: dict[int, Node] = {1: self.root}
        self._by_backing: dict[tuple[int, int], Node] = {}
        self._next_ino = 2

    # -- paths and layers ----------------------------------------------------------------

    def path(self, layer: int, rel: bytes) -> bytes:
        """The backing path of ``rel`` in ``layer``."""
        return self.layers[layer] + b"/" + rel if rel else self.layers[layer]

    def backing(self, node: Node) -> bytes:
        """Where the node's data lives now (its topmost layer)."""
        return self.path(node.layer, node.rel())

    def lstat(self, node: Node) -> os.stat_result:
        """The backing entry's attributes."""
        return os.lstat(self.backing(node))

    def dirs(self, node: Node) -> list[int]:
        """The layers whose directories merge into directory ``node``, top first.

        A directory hides those below it when it is opaque; a whiteout or a
        non-directory in a lower layer ends the merge there.
        """
        if node.dirs is not None:
            return node.dirs
        if node.parent is None:
            candidates = list(range(1, len(self.layers)))
        else:
            candidates = [i for i in self.dirs(node.parent) if i > node.layer]
        rel = node.rel()
        found = [node.layer]
        if not is_opaque(self.path(node.layer, rel)):
            for layer in candidates:
                try:
                    st = os.lstat(self.path(layer, rel))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    break  # a whiteout or a file hides everything below
                found.append(layer)
                if is_opaque(self.path(layer, rel)):
                    break
        node.dirs = found
        return found

    def _find(self, layers: list[int], rel: bytes) -> tuple[int, os.stat_result] | None:
        """The topmost (layer, lstat) of ``rel`` among ``layers``, or None if absent or whited out."""
        for layer in layers:
            try:
                st = os.lstat(self.path(layer, rel))
            except (FileNotFoundError, NotADirectoryError):
                continue
            if is_whiteout(st):
                return None
            return layer, st
        return None

    def lower_has(self, parent: Node, name: bytes) -> bool:
        """True when a lower layer shows ``name`` in ``parent`` (so removing it needs a whiteout)."""
        lowers = [i for i in self.dirs(parent) if i > 0]
        return bool(lowers) and self._find(lowers, join(parent.rel(), name)) is not None

    # -- the node table -------------------------------------------------------------------

    def lookup(self, parent: Node, name: bytes) -> Node | None:
        """The child ``name`` of directory ``parent``, or None when the union has no such entry."""
        if name == b".":
            return parent
        if name == b"..":
            return parent.parent or parent
        child = parent.children.get(name)
        if child is not None:
            return child
        found = self._find(self.dirs(parent), join(parent.rel(), name))
        if found is None:
            return None
        return self._attach(parent, name, *found)

    def _attach(self, parent: Node, name: bytes, layer: int, st: os.stat_result) -> Node:
        fmt = stat.S_IFMT(st.st_mode)
        if fmt != stat.S_IFDIR and st.st_nlink > 1:
            known = self._by_backing.get((layer, st.st_ino))
            if known is not None and known.layer == layer:
                known.aliases.append((parent, name))
                parent.children[name] = known
                return known
        node = Node(self._next_ino, parent, name, layer, fmt)
        self._next_ino += 1
        self.nodes[node.ino] = node
        parent.children[name] = node
        if fmt != stat.S_IFDIR and st.st_nlink > 1:
            node.backing = (layer, st.st_ino)
            self._by_backing[node.backing] = node
        return node

    def created(self, parent: Node, name: bytes) -> Node:
        """Register an entry this process just made in the upper layer."""
        parent.children.pop(name, None)
        st = os.lstat(self.path(0, join(parent.rel(), name)))
        node = self._attach(parent, name, 0, st)
        if node.is_dir:
            node.dirs = None  # worked out on demand (opaque, or nothing below)
        return node

    def detach(self, parent: Node, name: bytes) -> None:
        """Forget that ``name`` is in ``parent`` (it was removed or replaced)."""
        node = parent.children.pop(name, None)
        if node is None:
            return
        if node.parent is parent and node.name == name:
            if node.aliases:
                node.parent, node.name = node.aliases.pop(0)
            else:
                node.parent = None  # unlinked: kept only while the kernel holds it
                if node.backing is not None and self._by_backing.get(node.backing) is node:
                    del self._by_backing[node.backing]
        else:
            node.aliases = [a for a in node.aliases if a != (parent, name)]
        if node.parent is None and node.lookups <= 0:
            self.nodes.pop(node.ino, None)

    def forget(self, ino: int, count: int) -> None:
        """The kernel dropped ``count`` references to ``ino``."""
        node = self.nodes.get(ino)
        if node is None or node is self.root:
            return
        node.lookups -= count
        if node.lookups <= 0 and node.parent is None:
            del self.nodes[ino]  # unlinked and unknown to the kernel: gone

    # -- listing -------------------------------------------------------------------------

    def listdir(self, node: Node) -> list[tuple[bytes, Node]]:
        """The merged entries of directory ``node`` (without . and ..), registering each as a child."""
        rel = node.rel()
        seen: set[bytes] = set()
        out: list[tuple[bytes, Node]] = []
        for layer in self.dirs(node):
            with os.scandir(self.path(layer, rel)) as it:
                for entry in it:
                    name = entry.name
                    if name in seen:
                        continue
                    seen.add(name)
                    child = node.children.get(name)
                    if child is None:
                        st = entry.stat(follow_symlinks=False)
                        if is_whiteout(st):
                            continue
                        child = self._attach(node, name, layer, st)
                    out.append((name, child))
        return out

    # -- copy-up ---------------------------------------------------------------------------

    def copy_up(self, node: Node) -> None:
        """Make sure ``node`` is in the upper layer: data, mode, owner, times and xattrs."""
        if node.layer == 0:
            return
        if node.parent is None and node is not self.root:
            raise FsError(errno.ESTALE)  # unlinked while open for reading: nothing to copy up to
        self.copy_up(node.parent)
        rel = node.rel()
        src = self.path(node.layer, rel)
        st = os.lstat(src)
        if node.is_dir:
            dst = self.path(0, rel)
            os.mkdir(dst, 0o700)
            _copy_meta(src, dst, st)
            node.layer = 0
            if node.dirs is not None:
                node.dirs = [0] + node.dirs
            return
        tmp = os.path.join(self.work, b".copyup-" + uuid.uuid4().hex.encode())
        try:
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFREG:
                _copy_file(src, tmp)
            elif fmt == stat.S_IFLNK:
                os.symlink(os.readlink(src), tmp)
            else:
                os.mknod(tmp, st.st_mode, st.st_rdev)
            _copy_meta(src, tmp, st)
            os.rename(tmp, self.path(0, rel))
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        node.layer = 0
        if node.backing is not None:
            self._by_backing.pop(node.backing, None)
            node.backing = None
            for alias_parent, alias_name in node.aliases:
                # Keep the names we know of one inode linked (overlay without index would split them)
                self.copy_up(alias_parent)
                self.remove_upper_entry(alias_parent, alias_name)
                os.link(self.path(0, rel), self.path(0, join(alias_parent.rel(), alias_name)))

    def remove_upper_entry(self, parent: Node, name: bytes) -> bool:
        """Remove whatever the upper layer has at ``name`` in ``parent`` (a whiteout, usually).

        Returns True when it was a whiteout (so a lower entry was hidden there).
        """
        path = self.path(0, join(parent.rel(), name))
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path)
            return False
        os.unlink(path)
        return is_whiteout(st)

    def whiteout(self, parent: Node, name: bytes) -> None:
        """Hide lower entries named ``name`` in ``parent`` (whose upper copy must exist)."""
        fd = os.open(self.path(0, parent.rel()), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            make_whiteout(fd, os.fsdecode(name))
        finally:
            os.close(fd)

    def mark_opaque(self, node: Node) -> None:
        """Hide every lower directory under directory ``node`` (which is in the upper layer)."""
        set_opaque(os.fsdecode(self.backing(node)))
        node.dirs = [0]


def _copy_file(src: bytes, dst: bytes) -> None:
    sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(sfd).st_size
            copied = 0
            while copied < size:
                try:
                    n = os.copy_file_range(sfd, dfd, size - copied)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                        raise
                    n = os.sendfile(dfd, sfd, copied, size - copied)
                if n == 0:
                    break
                copied += n
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _copy_meta(src: bytes, dst: bytes, st: os.stat_result) -> None:
    """Owner, xattrs, mode, times of ``src`` onto ``dst`` (chown first: it clears setuid and capabilities)."""
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        names = []
    for key in names:
        if key.startswith(PRIVATE_XATTR_PREFIX) or key == OPAQUE_XATTR:
            continue  # overlay's own markers describe the lower layer, not the copy
        try:
            os.setxattr(dst, key, os.getxattr(src, key, follow_symlinks=False), follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.ENODATA):
                raise
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def is_private_xattr(name: bytes) -> bool:
    """True for overlay's own attributes, which the union never shows or lets anyone set."""
    return name.startswith(_PRIVATE)
