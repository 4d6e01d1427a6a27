"""pyfuse3 operations over a :class:`~.union.Union`: the FUSE side of fuse-overlay.

Imported only by the serving process (it imports pyfuse3 and, through it, trio).
Every handler is synchronous inside its ``async def``: pyfuse3 runs them as trio
tasks on one thread, so a handler never interleaves with another and the node
table needs no locks. The mount uses ``default_permissions``, so the kernel
checks access against the attributes we return and handlers act as root.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from typing import Any, Callable

import pyfuse3

from berth.plugins.graphdrivers.fuse_overlay.union import FsError, Node, Union, is_private_xattr, join

# Only this process changes the upper layer, and every change goes through the
# kernel's VFS on this mount, so the kernel's caches can be trusted for long.
_TIMEOUT = 60.0


def _errors(fn: Callable) -> Callable:
    """Turn OSError and FsError into the FUSEError pyfuse3 expects (anything else is EIO)."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except pyfuse3.FUSEError:
            raise
        except (OSError, FsError) as exc:
            raise pyfuse3.FUSEError(exc.errno or errno.EIO) from None

    return wrapper


class UnionOperations(pyfuse3.Operations):
    """Overlay semantics (lookup, whiteouts, copy-up, rename, merged readdir) for one mount."""

    supports_dot_lookup = True
    enable_writeback_cache = False

    def __init__(self, union: Union, timeout: float = _TIMEOUT, writeback: bool = False):
        super().__init__()
        self.u = union
        self.timeout = timeout
        self.enable_writeback_cache = writeback  # read by pyfuse3.init
        self._files: dict[int, int] = {}  # fh -> backing fd
        self._file_nodes: dict[int, Node] = {}  # fh -> the node it was opened on
        self._dirs: dict[int, tuple[Node, list[tuple[bytes, Node]] | None]] = {}
        self._next_fh = 1

    # -- helpers ------------------------------------------------------------------------

    def _node(self, ino: int) -> Node:
        node = self.u.nodes.get(ino)
        if node is None:
            raise FsError(errno.ESTALE)
        return node

    def _open_fd(self, node: Node, fh: int | None = None) -> int:
        """A descriptor this process holds open on ``node`` (``fh``'s when it is one); ESTALE without one."""
        if fh is not None and self._file_nodes.get(fh) is node:
            return self._files[fh]
        for other, opened in self._file_nodes.items():
            if opened is node:
                return self._files[other]
        raise FsError(errno.ESTALE)

    def _stat(self, node: Node) -> os.stat_result:
        if node.parent is None and node is not self.u.root:
            return os.fstat(self._open_fd(node))  # unlinked while open (a temp file)
        return self.u.lstat(node)

    def _attr(self, node: Node, st: os.stat_result | None = None) -> pyfuse3.EntryAttributes:
        st = st or self._stat(node)
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = node.ino
        attr.generation = 0
        attr.entry_timeout = self.timeout
        attr.attr_timeout = self.timeout
        attr.st_mode = st.st_mode
        # A merged directory's link count is not its upper copy's; 1 tells find(1) "unknown"
        attr.st_nlink = 1 if node.is_dir and len(self.u.dirs(node)) > 1 else st.st_nlink
        attr.st_uid = st.st_uid
        attr.st_gid = st.st_gid
        attr.st_rdev = st.st_rdev
        attr.st_size = st.st_size
        attr.st_blksize = st.st_blksize
        attr.st_blocks = st.st_blocks
        attr.st_atime_ns = st.st_atime_ns
        attr.st_mtime_ns = st.st_mtime_ns
        attr.st_ctime_ns = st.st_ctime_ns
        return attr

    def _entry(self, node: Node) -> pyfuse3.EntryAttributes:
        attr = self._attr(node)
        node.lookups += 1
        return attr

    def _child(self, parent_ino: int, name: bytes) -> tuple[Node, Node]:
        parent = self._node(parent_ino)
        child = self.u.lookup(parent, name)
        if child is None:
            raise FsError(errno.ENOENT)
        return parent, child

    def _prepare_create(self, parent: Node, name: bytes, ctx: pyfuse3.RequestContext) -> tuple[bytes, int, int, bool]:
        """Copy up ``parent``, clear a whiteout at ``name``; the new entry's path, owner and opaqueness."""
        if self.u.lookup(parent, name) is not None:
            raise FsError(errno.EEXIST)
        self.u.copy_up(parent)
        was_whiteout = self.u.remove_upper_entry(parent, name)
        pst = self.u.lstat(parent)
        # BSD group semantics on setgid directories, as every Linux filesystem
        gid = pst.st_gid if pst.st_mode & stat.S_ISGID else ctx.gid
        return self.u.path(0, join(parent.rel(), name)), ctx.uid, gid, was_whiteout

    def _backing_flags(self, flags: int) -> int:
        """Open flags for the backing file: with the writeback cache the kernel reads pages of files
        opened write-only (to fill partial pages) and places appends itself."""
        if self.enable_writeback_cache:
            if flags & os.O_ACCMODE == os.O_WRONLY:
                flags = (flags & ~os.O_ACCMODE) | os.O_RDWR
            flags &= ~os.O_APPEND
        return flags | os.O_CLOEXEC

    def _new_fh(self) -> int:
        fh = self._next_fh
        self._next_fh += 1
        return fh

    # -- lookups and attributes -------------------------------------------------------------

    @_errors
    async def lookup(self, parent_inode, name, ctx):
        child = self.u.lookup(self._node(parent_inode), name)
        if child is None:
            attr = pyfuse3.EntryAttributes()
            attr.st_ino = 0  # a negative entry the kernel may cache
            attr.entry_timeout = self.timeout
            return attr
        return self._entry(child)

    async def forget(self, inode_list):
        for ino, count in inode_list:
            self.u.forget(ino, count)

    @_errors
    async def getattr(self, inode, ctx):
        return self._attr(self._node(inode))

    @_errors
    async def setattr(self, inode, attr, fields, fh, ctx):
        node = self._node(inode)
        if node.parent is None and node is not self.u.root:
            where: int | bytes = self._open_fd(node, fh)  # unlinked while open: only its descriptors reach it
        else:
            self.u.copy_up(node)
            where = self.u.backing(node)
        self._set(where, node, attr, fields, self._files.get(fh) if fh is not None else None)
        return self._attr(node)

    @staticmethod
    def _set(where: int | bytes, node: Node, attr, fields, fd: int | None) -> None:
        """Apply the fields of a setattr to ``where``, a backing path or an open descriptor of it.

        With the writeback cache the kernel also sends the times it keeps (on close, on
        fsync), for unlinked open files too.
        """
        nofollow = {} if isinstance(where, int) else {"follow_symlinks": False}
        if fields.update_size:
            os.truncate(fd if fd is not None else where, attr.st_size)
        if fields.update_uid or fields.update_gid:
            os.chown(where, attr.st_uid if fields.update_uid else -1, attr.st_gid if fields.update_gid else -1,
                     **nofollow)
        if fields.update_mode and not stat.S_ISLNK(attr.st_mode or node.fmt):
            os.chmod(where, stat.S_IMODE(attr.st_mode))
        if fields.update_atime or fields.update_mtime:
            st = os.stat(where, **nofollow)
            atime = attr.st_atime_ns if fields.update_atime else st.st_atime_ns
            mtime = attr.st_mtime_ns if fields.update_mtime else st.st_mtime_ns
            os.utime(where, ns=(atime, mtime), **nofollow)

    @_errors
    async def readlink(self, inode, ctx):
        return os.readlink(self.u.backing(self._node(inode)))

    @_errors
    async def statfs(self, ctx):
        sv = os.statvfs(self.u.layers[0])
        out = pyfuse3.StatvfsData()
        for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_favail",
                    "f_namemax"):
            setattr(out, key, getattr(sv, key))
        return out

    # -- creating ----------------------------------------------------------------------------

    @_errors
    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        parent = self._node(parent_inode)
        path, uid, gid, _ = self._prepare_create(parent, name, ctx)
        os.mknod(path, mode, rdev)
        os.chown(path, uid, gid, follow_symlinks=False)
        return self._entry(self.u.created(parent, name))

    @_errors
    async def mkdir(self, parent_inode, name, mode, ctx):
        parent = self._node(parent_inode)
        path, uid, gid, was_whiteout = self._prepare_create(parent, name, ctx)
        pst = self.u.lstat(parent)
        os.mkdir(path, 0o700)
        os.chown(path, uid, gid)
        os.chmod(path, stat.S_IMODE(mode) | (pst.st_mode & stat.S_ISGID))
        node = self.u.created(parent, name)
        if was_whiteout:
            self.u.mark_opaque(node)  # a new dir where a lower one was deleted starts empty
        return self._entry(node)

    @_errors
    async def symlink(self, parent_inode, name, target, ctx):
        parent = self._node(parent_inode)
        path, uid, gid, _ = self._prepare_create(parent, name, ctx)
        os.symlink(target, path)
        os.chown(path, uid, gid, follow_symlinks=False)
        return self._entry(self.u.created(parent, name))

    @_errors
    async def link(self, inode, new_parent_inode, new_name, ctx):
        node = self._node(inode)
        parent = self._node(new_parent_inode)
        if self.u.lookup(parent, new_name) is not None:
            raise FsError(errno.EEXIST)
        self.u.copy_up(node)
        self.u.copy_up(parent)
        self.u.remove_upper_entry(parent, new_name)
        os.link(self.u.backing(node), self.u.path(0, join(parent.rel(), new_name)))
        node.aliases.append((parent, new_name))
        parent.children[new_name] = node
        return self._entry(node)

    @_errors
    async def create(self, parent_inode, name, mode, flags, ctx):
        parent = self._node(parent_inode)
        path, uid, gid, _ = self._prepare_create(parent, name, ctx)
        fd = os.open(path, self._backing_flags(flags & ~os.O_TRUNC) | os.O_CREAT | os.O_EXCL, stat.S_IMODE(mode))
        try:
            os.fchown(fd, uid, gid)
        except BaseException:
            os.close(fd)
            raise
        node = self.u.created(parent, name)
        fh = self._new_fh()
        self._files[fh] = fd
        self._file_nodes[fh] = node
        return pyfuse3.FileInfo(fh=fh, keep_cache=True), self._entry(node)

    # -- removing and renaming ----------------------------------------------------------------

    @_errors
    async def unlink(self, parent_inode, name, ctx):
        parent, child = self._child(parent_inode, name)
        if child.is_dir:
            raise FsError(errno.EISDIR)
        self._remove(parent, name, child)

    @_errors
    async def rmdir(self, parent_inode, name, ctx):
        parent, child = self._child(parent_inode, name)
        if not child.is_dir:
            raise FsError(errno.ENOTDIR)
        if self.u.listdir(child):
            raise FsError(errno.ENOTEMPTY)
        self._remove(parent, name, child)

    def _remove(self, parent: Node, name: bytes, child: Node) -> None:
        self.u.copy_up(parent)
        needs_whiteout = self.u.lower_has(parent, name)
        if child.layer == 0:
            self.u.remove_upper_entry(parent, name)  # a directory's upper copy holds only whiteouts now
        if needs_whiteout:
            self.u.whiteout(parent, name)
        self.u.detach(parent, name)

    @_errors
    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        if flags & pyfuse3.RENAME_EXCHANGE:
            raise FsError(errno.EINVAL)  # not supported (callers fall back or report it)
        old_parent, node = self._child(parent_inode_old, name_old)
        new_parent = self._node(parent_inode_new)
        target = self.u.lookup(new_parent, name_new)
        if target is node:
            return
        if target is not None:
            if flags & pyfuse3.RENAME_NOREPLACE:
                raise FsError(errno.EEXIST)
            if node.is_dir and not target.is_dir:
                raise FsError(errno.ENOTDIR)
            if target.is_dir and not node.is_dir:
                raise FsError(errno.EISDIR)
            if target.is_dir and self.u.listdir(target):
                raise FsError(errno.ENOTEMPTY)
        if node.is_dir and self.u.dirs(node) != [0]:
            # As kernel overlay without redirect_dir: a directory merged with lower
            # ones cannot move; mv(1) and friends fall back to copy and delete.
            raise FsError(errno.EXDEV)
        self.u.copy_up(node)
        self.u.copy_up(old_parent)
        self.u.copy_up(new_parent)
        old_whiteout = self.u.lower_has(old_parent, name_old)
        new_lower = self.u.lower_has(new_parent, name_new)
        dst = self.u.path(0, join(new_parent.rel(), name_new))
        try:
            dst_st = os.lstat(dst)
        except FileNotFoundError:
            dst_st = None
        if dst_st is not None and (stat.S_ISDIR(dst_st.st_mode) or node.is_dir):
            # The target's upper copy holds only whiteouts (it is empty in the union), or is a
            # whiteout that a directory cannot be renamed over; a file replaces a file atomically.
            self.u.remove_upper_entry(new_parent, name_new)
        os.rename(self.u.path(0, join(old_parent.rel(), name_old)), dst)
        if old_whiteout:
            self.u.whiteout(old_parent, name_old)
        self.u.detach(new_parent, name_new)
        old_parent.children.pop(name_old, None)
        if node.parent is old_parent and node.name == name_old:
            node.parent, node.name = new_parent, name_new
        else:
            node.aliases = [a if a != (old_parent, name_old) else (new_parent, name_new) for a in node.aliases]
        new_parent.children[name_new] = node
        if node.is_dir and new_lower:
            self.u.mark_opaque(node)  # at its new place a lower directory of that name must stay hidden

    # -- files -------------------------------------------------------------------------------

    @_errors
    async def open(self, inode, flags, ctx):
        node = self._node(inode)
        if flags & (os.O_WRONLY | os.O_RDWR) or flags & os.O_TRUNC:
            self.u.copy_up(node)
        fd = os.open(self.u.backing(node), self._backing_flags(flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY)))
        fh = self._new_fh()
        self._files[fh] = fd
        self._file_nodes[fh] = node
        return pyfuse3.FileInfo(fh=fh, keep_cache=True)

    @_errors
    async def read(self, fh, off, size):
        return os.pread(self._files[fh], size, off)

    @_errors
    async def write(self, fh, off, buf):
        return os.pwrite(self._files[fh], buf, off)

    async def flush(self, fh):
        # Nothing is buffered here; ENOSYS makes the kernel stop sending flush (one
        # round trip less per close).
        raise pyfuse3.FUSEError(errno.ENOSYS)

    @_errors
    async def release(self, fh):
        fd = self._files.pop(fh, None)
        self._file_nodes.pop(fh, None)
        if fd is not None:
            os.close(fd)

    @_errors
    async def fsync(self, fh, datasync):
        (os.fdatasync if datasync else os.fsync)(self._files[fh])

    # -- directories ------------------------------------------------------------------------

    @_errors
    async def opendir(self, inode, ctx):
        node = self._node(inode)
        if not node.is_dir:
            raise FsError(errno.ENOTDIR)
        fh = self._new_fh()
        self._dirs[fh] = (node, None)
        return fh

    @_errors
    async def readdir(self, fh, start_id, token):
        node, entries = self._dirs[fh]
        if entries is None or start_id == 0:
            entries = self.u.listdir(node)  # a snapshot per listing: offsets stay stable
            self._dirs[fh] = (node, entries)
        for index in range(start_id, len(entries)):
            name, child = entries[index]
            if child.parent is None and not child.aliases:
                continue  # removed since the listing was taken
            if not pyfuse3.readdir_reply(token, name, self._attr(child), index + 1):
                break
            child.lookups += 1

    async def releasedir(self, fh):
        self._dirs.pop(fh, None)

    @_errors
    async def fsyncdir(self, fh, datasync):
        node, _ = self._dirs[fh]
        if node.layer == 0:
            fd = os.open(self.u.backing(node), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- extended attributes ---------------------------------------------------------------------

    @_errors
    async def getxattr(self, inode, name, ctx):
        if is_private_xattr(name):
            raise pyfuse3.FUSEError(pyfuse3.ENOATTR)
        return os.getxattr(self.u.backing(self._node(inode)), name, follow_symlinks=False)

    @_errors
    async def listxattr(self, inode, ctx):
        names = os.listxattr(self.u.backing(self._node(inode)), follow_symlinks=False)
        return [os.fsencode(n) for n in names if not is_private_xattr(os.fsencode(n))]

    @_errors
    async def setxattr(self, inode, name, value, ctx):
        if is_private_xattr(name):
            raise FsError(errno.EPERM)
        node = self._node(inode)
        self.u.copy_up(node)
        os.setxattr(self.u.backing(node), name, value, follow_symlinks=False)

    @_errors
    async def removexattr(self, inode, name, ctx):
        if is_private_xattr(name):
            raise FsError(errno.EPERM)
        node = self._node(inode)
        self.u.copy_up(node)
        os.removexattr(self.u.backing(node), name, follow_symlinks=False)
