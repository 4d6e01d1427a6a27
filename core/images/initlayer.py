"""The init layer between an image and a container's read-write layer (Moby's ``daemon/initlayer``).

The engine bind-mounts its own /etc/hosts, /etc/resolv.conf and /etc/hostname
into a container, and the kernel filesystems onto /proc, /sys, /dev. Bind mounts
need something to mount over, and creating those mount points in the container's
own layer would make them show up in ``diff`` and in every ``commit``. So, as
Docker does, each container gets a small layer ``<id>-init`` holding empty
placeholders, and its read-write layer ``<id>`` sits on top of it: diffs, commits
and exports of the container's changes are taken against the init layer.
"""

from __future__ import annotations

import errno
import logging
import os
import stat

from berth.images.scope import resolve_in_root

log = logging.getLogger(__name__)

INIT_SUFFIX = "-init"

# (container path, kind, symlink target); created only when the image lacks them, as Docker does
PLACEHOLDERS: list[tuple[str, str, str]] = [
    ("/dev/pts", "dir", ""),
    ("/dev/shm", "dir", ""),
    ("/proc", "dir", ""),
    ("/sys", "dir", ""),
    ("/etc/resolv.conf", "file", ""),
    ("/etc/hosts", "file", ""),
    ("/etc/hostname", "file", ""),
    ("/etc/mtab", "symlink", "/proc/mounts"),
]


def init_layer_id(container_layer_id: str) -> str:
    """The graph id of a container layer's init layer."""
    return container_layer_id + INIT_SUFFIX


def write_placeholders(root: str) -> list[str]:
    """Create the missing placeholders under the mounted init layer ``root``; return the paths made.

    Parents are resolved inside ``root``; a placeholder whose parent is not a
    directory in the image (e.g. /etc is a file) is skipped and logged, never forced.
    """
    made = []
    for path, kind, target in PLACEHOLDERS:
        host = resolve_in_root(root, path, follow_final=False)
        if os.path.lexists(host):
            continue
        parent = os.path.dirname(host)
        try:
            _mkdirs(root, parent)
            if kind == "dir":
                os.mkdir(host, 0o755)
            elif kind == "file":
                fd = os.open(host, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
                os.close(fd)
            else:
                os.symlink(target, host)
            os.lchown(host, 0, 0)
            made.append(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.EEXIST):
                raise
            log.warning("init layer: cannot create %s (%s); the image's own entry stays", path, exc.strerror)
    return made


def _mkdirs(root: str, host_dir: str) -> None:
    """``mkdir -p`` of ``host_dir`` (already resolved inside ``root``), 0755 root:root."""
    missing = []
    cur = host_dir
    while not os.path.lexists(cur) and cur.startswith(root) and cur != root:
        missing.append(cur)
        cur = os.path.dirname(cur)
    if os.path.lexists(cur) and not stat.S_ISDIR(os.lstat(cur).st_mode):
        raise OSError(errno.ENOTDIR, "not a directory", cur)
    for path in reversed(missing):
        os.mkdir(path, 0o755)
        os.lchown(path, 0, 0)
