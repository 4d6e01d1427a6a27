"""The container's filesystem view: mounts, /dev, pivot_root, masked and read-only paths.

Each function is one step of the set-up with the reason it exists; ``init.py``
calls them in the order the kernel needs (after runc's ``rootfs_linux.go``).
All of them run inside the container's new mount namespace, never in the host's.
"""

from __future__ import annotations

import fcntl
import os
import stat

from berth.driverkit import mount_of, resolve_in_root
from berth.plugins.linux import mountapi

from . import syscalls as sc
from .cgroups import Cgroups

_FLAGS = {  # option -> (clear, set)
    "ro": (0, sc.MS_RDONLY), "rw": (sc.MS_RDONLY, 0),
    "nosuid": (0, sc.MS_NOSUID), "suid": (sc.MS_NOSUID, 0),
    "nodev": (0, sc.MS_NODEV), "dev": (sc.MS_NODEV, 0),
    "noexec": (0, sc.MS_NOEXEC), "exec": (sc.MS_NOEXEC, 0),
    "sync": (0, sc.MS_SYNCHRONOUS), "async": (sc.MS_SYNCHRONOUS, 0),
    "dirsync": (0, sc.MS_DIRSYNC), "remount": (0, sc.MS_REMOUNT),
    "mand": (0, sc.MS_MANDLOCK), "nomand": (sc.MS_MANDLOCK, 0),
    "noatime": (0, sc.MS_NOATIME), "atime": (sc.MS_NOATIME, 0),
    "nodiratime": (0, sc.MS_NODIRATIME), "diratime": (sc.MS_NODIRATIME, 0),
    "relatime": (0, sc.MS_RELATIME), "norelatime": (sc.MS_RELATIME, 0),
    "strictatime": (0, sc.MS_STRICTATIME), "nostrictatime": (sc.MS_STRICTATIME, 0),
    "bind": (0, sc.MS_BIND), "rbind": (0, sc.MS_BIND | sc.MS_REC),
    "nosymfollow": (0, sc.MS_NOSYMFOLLOW),
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED, "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
#: statvfs f_flag bits that a bind remount must repeat, or the kernel refuses to drop them.
_LOCKED = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | sc.MS_NOATIME | sc.MS_NODIRATIME | sc.MS_RELATIME

#: runc's AllowedDevices: always present in /dev, whatever the spec lists.
DEFAULT_DEVICES = [
    {"path": "/dev/null", "type": "c", "major": 1, "minor": 3},
    {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5},
    {"path": "/dev/full", "type": "c", "major": 1, "minor": 7},
    {"path": "/dev/random", "type": "c", "major": 1, "minor": 8},
    {"path": "/dev/urandom", "type": "c", "major": 1, "minor": 9},
    {"path": "/dev/tty", "type": "c", "major": 5, "minor": 0},
]

TIOCSPTLCK = 0x40045431
TIOCGPTPEER = 0x5441


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """Mount options -> (mount flags, propagation flags, fs data string)."""
    flags, propagation, data = 0, 0, []
    for opt in options:
        if opt in _FLAGS:
            clear, setf = _FLAGS[opt]
            flags = (flags & ~clear) | setf
        elif opt in _PROPAGATION:
            propagation |= _PROPAGATION[opt]
        else:
            data.append(opt)
    return flags, propagation, ",".join(data)


def _mkdir_or_file(target: str, as_file: bool) -> None:
    if os.path.lexists(target):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if as_file:
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    else:
        os.makedirs(target, exist_ok=True)


def _mount_flags_of(path: str) -> int:
    return os.statvfs(path).f_flag & _LOCKED


def make_host_mounts_private(propagation: str | None) -> None:
    """Stop our mounts from propagating back to the host (and host mounts from leaking in, unless asked)."""
    flags = _PROPAGATION.get(propagation or "rslave", sc.MS_SLAVE | sc.MS_REC)
    sc.mount(None, "/", None, flags | sc.MS_REC)


def bind_rootfs_on_itself(rootfs: str, propagation: str | None = None) -> None:
    """pivot_root needs the new root to be a mount point; a recursive self-bind makes it one. Under a
    shared root ``propagation`` the mount the rootfs lies on is made private first (as runc does): the
    self-bind would otherwise be shared too, which pivot_root refuses. Any other propagation left every
    mount a slave or private, so the usual start reads no mountinfo."""
    if propagation in ("shared", "rshared"):
        point, optional = mount_of(rootfs)
        if any(field.startswith("shared:") for field in optional):
            sc.mount(None, point, None, sc.MS_PRIVATE)
    sc.mount(rootfs, rootfs, None, sc.MS_BIND | sc.MS_REC)


def apply_root_propagation(propagation: str) -> None:
    """After pivot_root: the spec's ``rootfsPropagation`` on the new "/" (the old root's was set before)."""
    sc.mount(None, "/", None, _PROPAGATION[propagation])


def mount_entry(rootfs: str, entry: dict, cgroups: Cgroups | None, new_cgroupns: bool) -> None:
    """Mount one OCI ``mounts[]`` entry under ``rootfs``."""
    options = entry.get("options") or []
    flags, propagation, data = parse_options(options)
    kind = entry.get("type") or ""
    source = entry.get("source") or kind
    target = resolve_in_root(rootfs, entry["destination"])
    if kind == "cgroup":
        mount_cgroups(target, flags, cgroups, new_cgroupns)
    elif flags & sc.MS_BIND or kind == "bind":
        tree = entry.get("tree")  # a detached copy of the source, made by host root (user namespaces)
        _mkdir_or_file(target, not (os.path.isdir(source) if tree is None else stat.S_ISDIR(os.fstat(tree).st_mode)))
        if tree is None:
            sc.mount(source, target, None, sc.MS_BIND | (flags & sc.MS_REC))
        else:
            mountapi.move_mount_to(tree, target)
        extra = flags & ~(sc.MS_BIND | sc.MS_REC)
        if extra:  # a bind mount ignores other flags until remounted
            sc.mount(source, target, None, sc.MS_BIND | sc.MS_REMOUNT | extra | _mount_flags_of(target))
    elif kind == "sysfs":
        _mkdir_or_file(target, False)
        mount_sysfs(target, flags, data)
    else:
        _mkdir_or_file(target, False)
        sc.mount(source, target, kind, flags, data or None)
    if propagation:
        sc.mount(None, target, None, propagation)


def mount_sysfs(target: str, flags: int, data: str) -> None:
    """sysfs, or in a user namespace that does not own the network namespace (one joined from another
    user namespace) the host's /sys bound in its place with the same flags, as runc did: the kernel
    lets only the network namespace's owner mount a sysfs."""
    try:
        sc.mount("sysfs", target, "sysfs", flags, data or None)
    except PermissionError:
        sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | flags | _mount_flags_of(target))


def mount_cgroups(target: str, flags: int, cgroups: Cgroups | None, new_cgroupns: bool) -> None:
    """The v1 hierarchies under a tmpfs, each showing only the container's own cgroup (runc's way); on v2, cgroup2."""
    _mkdir_or_file(target, False)
    if cgroups is not None and getattr(cgroups, "version", 1) == 2:
        v2_flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | (flags & sc.MS_RDONLY)
        if new_cgroupns:  # rooted at the container's cgroup by the namespace
            sc.mount("cgroup2", target, "cgroup2", v2_flags)
        else:
            sc.mount(cgroups.directory, target, None, sc.MS_BIND)
            sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | v2_flags)
        return
    sc.mount("tmpfs", target, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC, "mode=755")
    hierarchies = cgroups.hierarchies if cgroups else {}
    sub_flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC | (flags & sc.MS_RDONLY)
    for key, mount in hierarchies.items():
        sub = os.path.join(target, os.path.basename(mount))
        os.makedirs(sub, exist_ok=True)
        if new_cgroupns:
            sc.mount("cgroup", sub, "cgroup", sub_flags, key)
        else:
            sc.mount(mount + cgroups.path, sub, None, sc.MS_BIND)
            sc.mount(None, sub, None, sc.MS_BIND | sc.MS_REMOUNT | sub_flags)
        for alias in key.split(","):  # "cpu,cpuacct" is reachable under both names, as on the host
            if alias != os.path.basename(mount) and "=" not in alias:
                os.symlink(os.path.basename(mount), os.path.join(target, alias))
    if flags & sc.MS_RDONLY:
        sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)


def create_devices(rootfs: str, devices: list[dict], sources: dict[str, int] | None = None) -> None:
    """mknod the default devices and the spec's ``linux.devices`` in the container's /dev.

    Where mknod is refused (a user namespace: its root may not make device nodes) the host's node
    is bind-mounted instead, attaching ``sources[path]`` (a copy of it made by host root) when given.
    """
    sources = sources or {}
    wanted = {d["path"]: d for d in DEFAULT_DEVICES}
    wanted.update({d["path"]: d for d in devices or []})
    old_umask = os.umask(0)
    try:
        for dev in wanted.values():
            target = resolve_in_root(rootfs, dev["path"])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            kind = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}[dev.get("type", "c")]
            mode = dev.get("fileMode", 0o666) & 0o7777
            if os.path.lexists(target):
                os.unlink(target)
            try:
                os.mknod(target, kind | mode, os.makedev(dev.get("major", 0), dev.get("minor", 0)))
            except PermissionError:
                # Without CAP_MKNOD (nested, user namespaces) bind the host's node instead.
                _mkdir_or_file(target, True)
                tree = sources.get(f"device:{dev['path']}")  # userns.device_key
                if tree is not None:
                    mountapi.move_mount_to(tree, target)
                else:
                    sc.mount(dev["path"], target, None, sc.MS_BIND)
                continue
            os.chown(target, dev.get("uid", 0), dev.get("gid", 0))
    finally:
        os.umask(old_umask)


def create_dev_symlinks(rootfs: str) -> None:
    """/dev/fd, std streams, core and ptmx links every program expects."""
    links = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
             ("/proc/self/fd/2", "stderr")]
    if os.path.exists("/proc/kcore"):
        links.append(("/proc/kcore", "core"))
    dev = resolve_in_root(rootfs, "/dev")
    if os.path.exists(os.path.join(dev, "pts", "ptmx")):
        # With a private devpts, /dev/ptmx must point into it or ptys come from the host's instance.
        if os.path.lexists(os.path.join(dev, "ptmx")):
            os.unlink(os.path.join(dev, "ptmx"))
        links.append(("pts/ptmx", "ptmx"))
    for source, name in links:
        try:
            os.symlink(source, os.path.join(dev, name))
        except FileExistsError:
            pass


def pivot_to(rootfs: str) -> None:
    """Make ``rootfs`` the root and detach the host's tree (pivot_root(".", ".") as runc does)."""
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        sc.pivot_root(".", ".")
        # The old root is now stacked on top of "/": step into it and unmount it lazily,
        # making it a slave first so the unmount does not propagate to the host.
        os.fchdir(old_root)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
    finally:
        os.close(old_root)
        os.close(new_root)


def setup_console(uid: int, gid: int) -> tuple[int, int]:
    """Open a pty on the container's devpts and bind its peer on /dev/console; return (master, slave)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, b"\0\0\0\0")  # unlockpt
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    os.fchown(slave, uid, gid)
    os.fchmod(slave, 0o620)
    _mkdir_or_file("/dev/console", True)
    sc.mount(f"/proc/self/fd/{slave}", "/dev/console", None, sc.MS_BIND)
    return master, slave


def mask_paths(paths: list[str]) -> None:
    """Hide kernel interfaces (/proc/kcore, ...): /dev/null over files, an empty read-only tmpfs over dirs."""
    for path in paths or []:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            else:
                sc.mount("/dev/null", path, None, sc.MS_BIND)
        except FileNotFoundError:
            continue


def readonly_paths(paths: list[str]) -> None:
    """Make kernel tunables (/proc/sys, ...) read-only: a self-bind, then a read-only remount."""
    for path in paths or []:
        try:
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        except FileNotFoundError:
            continue
        sc.mount(path, path, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC | _mount_flags_of(path))


def remount_root_readonly() -> None:
    """``root.readonly``: the container's / becomes read-only (its sub-mounts keep their own flags)."""
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _mount_flags_of("/"))
