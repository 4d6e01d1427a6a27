"""Copy a directory tree exactly: contents, owners, modes, times, xattrs, hard links, special files.

Used by the ``vfs`` driver to make a layer a full copy of its parent. File data is
cloned with the ``FICLONE`` ioctl when the filesystem shares extents (btrfs, XFS
with reflink, bcachefs), else copied in the kernel with ``copy_file_range``, else
read and written. Which one worked is remembered per :class:`TreeCopier`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

FICLONE = 0x40049409  # _IOW(0x94, 9, int)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NO_REFLINK = (errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF, errno.EPERM)


class TreeCopier:
    """Copies trees; ``reflink`` becomes False after the first filesystem that refuses FICLONE."""

    def __init__(self) -> None:
        self.reflink: bool | None = None  # None: not tried yet
        self._copy_range = True

    def copy(self, src: str, dst: str) -> None:
        """Copy the contents and metadata of directory ``src`` into the existing directory ``dst``."""
        # Hard links: the first copy's path relative to dst; the parents on that
        # path are directories this copy created, so the lookup meets no symlink.
        links: dict[tuple[int, int], str] = {}
        sfd = os.open(src, _DIR_FLAGS)
        dfd = os.open(dst, _DIR_FLAGS)
        try:
            self._copy_dir(sfd, dfd, "", links, dfd)
            _copy_meta(os.fstat(sfd), sfd, dfd, None)
        finally:
            os.close(sfd)
            os.close(dfd)

    def _copy_dir(self, sfd: int, dfd: int, rel: str, links: dict[tuple[int, int], str], root_fd: int) -> None:
        for name in sorted(os.listdir(sfd)):
            st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
            src_path = f"/proc/self/fd/{sfd}/{name}"
            fmt = stat.S_IFMT(st.st_mode)
            if fmt == stat.S_IFDIR:
                os.mkdir(name, 0o700, dir_fd=dfd)
                csfd = os.open(name, _DIR_FLAGS, dir_fd=sfd)
                cdfd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
                try:
                    self._copy_dir(csfd, cdfd, f"{rel}{name}/", links, root_fd)
                    _copy_meta(st, src_path, cdfd, None)
                finally:
                    os.close(csfd)
                    os.close(cdfd)
                continue
            if st.st_nlink > 1:
                first = links.get((st.st_dev, st.st_ino))
                if first is not None:
                    os.link(first, name, src_dir_fd=root_fd, dst_dir_fd=dfd, follow_symlinks=False)
                    continue
            if fmt == stat.S_IFREG:
                self._copy_file(sfd, dfd, name, st)
            elif fmt == stat.S_IFLNK:
                os.symlink(os.readlink(name, dir_fd=sfd), name, dir_fd=dfd)
                _copy_meta(st, src_path, dfd, name)
            else:  # fifo, socket, char/block device
                os.mknod(name, st.st_mode, st.st_rdev, dir_fd=dfd)
                _copy_meta(st, src_path, dfd, name)
            if st.st_nlink > 1:
                links[(st.st_dev, st.st_ino)] = rel + name

    def _copy_file(self, sfd: int, dfd: int, name: str, st: os.stat_result) -> None:
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
        try:
            dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
            try:
                self._copy_data(src, dst, st.st_size)
                _copy_meta(st, src, dst, None)
            finally:
                os.close(dst)
        finally:
            os.close(src)

    def _copy_data(self, src: int, dst: int, size: int) -> None:
        if size == 0:
            return
        if self.reflink is not False:
            try:
                fcntl.ioctl(dst, FICLONE, src)
                self.reflink = True
                return
            except OSError as exc:
                if exc.errno not in _NO_REFLINK:
                    raise
                self.reflink = False
        copied = 0
        if self._copy_range:
            try:
                while copied < size:
                    n = os.copy_file_range(src, dst, size - copied)
                    if n == 0:
                        break
                    copied += n
                return
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP) or copied:
                    raise
                self._copy_range = False
        while chunk := os.read(src, 1 << 20):
            view = memoryview(chunk)
            while view:
                view = view[os.write(dst, view):]


def _copy_meta(st: os.stat_result, src_path: int | str, fd_or_dir: int, name: str | None) -> None:
    """Owner, xattrs, mode, times — chown first because it clears setuid bits and capabilities.

    ``src_path`` is an open fd or a path whose final component is not followed;
    the destination is the open fd ``fd_or_dir`` itself, or ``name`` inside it.
    """
    is_link = stat.S_ISLNK(st.st_mode)
    dst_path: int | str
    if name is None:
        os.chown(fd_or_dir, st.st_uid, st.st_gid)
        dst_path = fd_or_dir
    else:
        os.chown(name, st.st_uid, st.st_gid, dir_fd=fd_or_dir, follow_symlinks=False)
        dst_path = f"/proc/self/fd/{fd_or_dir}/{name}"
    _copy_xattrs(src_path, dst_path)
    if not is_link:
        if name is None:
            os.chmod(fd_or_dir, stat.S_IMODE(st.st_mode))
        else:
            os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=fd_or_dir)
    times = (st.st_atime_ns, st.st_mtime_ns)
    if name is None:
        os.utime(fd_or_dir, ns=times)
    else:
        os.utime(name, ns=times, dir_fd=fd_or_dir, follow_symlinks=False)


def xattr_names(target: int | str, follow_symlinks: bool) -> list[str]:
    """The extended attributes of a file (an fd or a path); none where the filesystem has none."""
    try:
        return os.listxattr(target, follow_symlinks=follow_symlinks)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return []
        raise


def _copy_xattrs(src: int | str, dst: int | str) -> None:
    # fds are used as they are (follow=True is required for an fd); paths never follow
    src_follow, dst_follow = isinstance(src, int), isinstance(dst, int)
    for key in xattr_names(src, src_follow):
        try:
            os.setxattr(dst, key, os.getxattr(src, key, follow_symlinks=src_follow), follow_symlinks=dst_follow)
        except OSError as exc:
            if exc.errno not in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.ENODATA):
                raise
