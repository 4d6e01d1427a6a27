"""The ``fuse-overlay`` graph driver: overlay's layers, with the union served from userspace.

For hosts without kernel overlayfs (or where it cannot be used, e.g. a data-root
on overlayfs), and for storage researchers who want to see or change every
filesystem operation. Layers are stored exactly as the ``overlay`` driver stores
them (see :mod:`berth.plugins.graphdrivers.overlay_layers`), with overlay's own
whiteouts (a 0/0 character device, the ``trusted.overlay.opaque`` xattr), so the
native diff code is the same and a layer's ``diff`` dir means the same thing to
both drivers. The layer dir gains two files while mounted::

    <layer-id>/serve.pid   pid of the process serving the mount
    <layer-id>/serve.log   that process's stderr (appended)

Mounting a layer with ancestors starts ``python -m
berth.plugins.graphdrivers.fuse_overlay.serve`` for it: a small process (it
imports pyfuse3 and trio; the daemon never does) that detaches into its own
session, mounts FUSE at ``merged`` with ``allow_other,default_permissions,dev,suid``
and serves the union until unmounted. Mounts outlive the daemon like kernel
mounts (a restarted daemon adopts them); unmounting makes the server exit. A
mount whose server died ("Transport endpoint is not connected") is unmounted
and replaced by :meth:`graph_mount`, and cleared at start-up and by
:meth:`graph_cleanup`.

Semantics follow kernel overlay with ``redirect_dir=off`` and ``index=off``:
renaming a directory that merges lower ones fails with EXDEV (callers copy),
copy-up breaks hard links with names not yet looked up, and the union's inode
numbers are its own, stable per path while mounted.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time

from berth.driverkit import DriverError, InvalidArgument, hookimpl, read_text, remove_path
from berth.plugins.graphdrivers.fsinfo import backing_fs_name
from berth.plugins.graphdrivers.fuse_overlay import options as serve_options
from berth.plugins.graphdrivers.mounts import sys_umount
from berth.plugins.graphdrivers.overlay_layers import OverlayLayerStore
from berth.plugins.graphdrivers.whiteout import is_opaque, set_opaque

SERVE_MODULE = "berth.plugins.graphdrivers.fuse_overlay.serve"
FUSE_TYPE = "fuse.berth-fuse-overlay"
READY_TIMEOUT = 30.0  # seconds for a server to mount; a cold Python start takes ~0.2 s
EXIT_TIMEOUT = 10.0  # seconds to wait for a server to go after its mount was removed


class FuseOverlayDriver(OverlayLayerStore):
    """Overlay-layout layers presented by one pyfuse3 server per mount; see the module docstring."""

    name = "fuse-overlay"
    description = "overlay layers served by a userspace FUSE union (pyfuse3): no kernel overlay needed"
    priority = 20

    # -- probing --------------------------------------------------------------------------

    @classmethod
    def probe(cls, root: str) -> str | None:
        """None when fuse-overlay works under ``root`` here, else why not."""
        try:
            st = os.stat("/dev/fuse")
        except OSError:
            return "/dev/fuse does not exist (load the fuse module: 'modprobe fuse', or pass /dev/fuse into this container)"
        if not stat.S_ISCHR(st.st_mode):
            return "/dev/fuse is not a character device"
        try:
            os.close(os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC))
        except OSError as exc:
            return f"cannot open /dev/fuse: {exc.strerror}"
        if shutil.which("fusermount3") is None:
            return "fusermount3 is not installed (install the fuse3 package)"
        if importlib.util.find_spec("pyfuse3") is None:
            return f"the Python package pyfuse3 is not importable by {sys.executable} (pip install pyfuse3)"
        try:
            os.makedirs(root, mode=0o710, exist_ok=True)
        except OSError as exc:
            return f"cannot create the driver root {root}: {exc.strerror}"
        return cls._whiteout_test(root)

    @staticmethod
    def _whiteout_test(root: str) -> str | None:
        # Layers hold overlay's whiteouts: the backing filesystem must take 0/0
        # character devices and trusted.* xattrs (overlayfs itself refuses the
        # trusted.overlay.* names, tmpfs before 6.6 refuses trusted.*).
        work = tempfile.mkdtemp(prefix=".probe-", dir=root)
        try:
            os.mknod(os.path.join(work, "wh"), stat.S_IFCHR, os.makedev(0, 0))
            set_opaque(work)
            if not is_opaque(work):
                return f"the filesystem of {root} ({backing_fs_name(root)}) does not keep trusted.* xattrs"
        except OSError as exc:
            return (f"the filesystem of {root} ({backing_fs_name(root)}) cannot hold overlay whiteouts "
                    f"(character devices and trusted.* xattrs): {exc.strerror}; put --data-root elsewhere or use vfs")
        finally:
            remove_path(work)
        return None

    # -- set-up ------------------------------------------------------------------------------

    def __init__(self, root: str, options: dict | None = None):
        self.serve_options = serve_options.parse(options)
        super().__init__(root)
        self.cleanup_leftovers(sys_umount)
        self._clear_dead_mounts()

    def _our_mounts(self) -> list[str]:
        """Mount points of fuse-overlay servers under the driver root."""
        root = os.path.realpath(self.root)
        found = []
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                fields = line.split(" ")
                sep = fields.index("-")
                point = fields[4].replace("\\040", " ")
                if fields[sep + 1] == FUSE_TYPE and point.startswith(root + "/"):
                    found.append(point)
        return found

    def _clear_dead_mounts(self) -> int:
        """Unmount every mount under the root whose server is gone; return how many."""
        cleared = 0
        for point in self._our_mounts():
            if _is_dead(point):
                sys_umount(point)
                cleared += 1
        return cleared

    # -- mounting ------------------------------------------------------------------------------

    def _adoptable(self, layer_id: str, merged: str) -> bool:
        if _is_dead(merged):
            sys_umount(merged)  # its server died (killed, OOM, crash): mount afresh
            return False
        return True

    def _attach(self, layer_id: str, lower: str, mount_label: str) -> None:
        if mount_label:
            raise InvalidArgument(f"fuse-overlay: cannot mount layer {layer_id} with an SELinux label "
                                  f"({mount_label!r}): FUSE mounts take no context= here")
        layer_dir = self._dir(layer_id)
        merged = os.path.join(layer_dir, "merged")
        pid_file = os.path.join(layer_dir, "serve.pid")
        command = [sys.executable, "-m", SERVE_MODULE, merged, "--upper", os.path.join(layer_dir, "diff"),
                   "--work", os.path.join(layer_dir, "work"), "--pid-file", pid_file]
        for lower_dir in self.lower_dirs(layer_id):
            command += ["--lower", lower_dir]
        command += self.serve_options.args()
        rfd, wfd = os.pipe()
        try:
            with open(os.path.join(layer_dir, "serve.log"), "ab") as log:
                proc = subprocess.Popen(command + ["--ready-fd", str(wfd)], pass_fds=(wfd,), stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, start_new_session=True, cwd="/")
            os.close(wfd)
            wfd = -1
            proc.wait()  # the first process only forks the server and exits
            answer = _read_answer(rfd, READY_TIMEOUT)
        finally:
            os.close(rfd)
            if wfd >= 0:
                os.close(wfd)
        if answer == "ready":
            return
        # Not mounted: make sure nothing of this attempt is left behind
        self._stop_server(layer_id, pid_file, merged)
        log_tail = (read_text(os.path.join(layer_dir, "serve.log")) or "")[-800:]
        raise DriverError(f"fuse-overlay: cannot mount layer {layer_id} at {merged}: "
                          f"{answer or 'the server exited without a word'}"
                          + (f"\n{log_tail}" if log_tail and not answer else ""))

    def _detach(self, layer_id: str) -> None:
        layer_dir = self._dir(layer_id)
        merged = os.path.join(layer_dir, "merged")
        pid = _read_pid(os.path.join(layer_dir, "serve.pid"))
        sys_umount(merged)
        # The server sees its session end and exits; wait so a later mount never races it.
        if pid is not None:
            _wait_gone(pid, merged, EXIT_TIMEOUT)
        try:
            os.unlink(os.path.join(layer_dir, "serve.pid"))
        except FileNotFoundError:
            pass

    def _stop_server(self, layer_id: str, pid_file: str, merged: str) -> None:
        """After a failed start: unmount if it got that far, and stop the server we started."""
        pid = _read_pid(pid_file)
        sys_umount(merged)
        if pid is not None and _is_our_server(pid, merged):
            try:
                os.kill(pid, 15)
            except ProcessLookupError:
                pass
            _wait_gone(pid, merged, EXIT_TIMEOUT)

    # -- reporting and teardown -------------------------------------------------------------------

    @hookimpl
    def graph_status(self) -> list[tuple[str, str]]:
        from importlib import metadata

        try:
            version = metadata.version("pyfuse3")
        except metadata.PackageNotFoundError:
            version = "not installed"
        return [
            ("Backing Filesystem", backing_fs_name(self.root)),
            ("Mount Program", f"python -m {SERVE_MODULE} (pyfuse3 {version})"),
            ("Serve Options", self.serve_options.describe()),
            ("Native Overlay Diff", "true"),
            ("Active Mounts", str(len(self._our_mounts()))),
        ]

    @hookimpl
    def graph_metadata(self, layer_id: str) -> dict[str, str]:
        meta = super().graph_metadata(layer_id)
        pid = _read_pid(os.path.join(self._dir(layer_id), "serve.pid"))
        if pid is not None:
            meta["ServerPid"] = str(pid)
        return meta

    @hookimpl
    def graph_cleanup(self) -> bool:
        super().graph_cleanup()
        self._clear_dead_mounts()
        return True


def _is_dead(mountpoint: str) -> bool:
    """True when ``mountpoint`` is a FUSE mount whose server is gone."""
    try:
        os.stat(mountpoint)
    except OSError as exc:
        return exc.errno == errno.ENOTCONN
    return False


def _read_answer(fd: int, timeout: float) -> str:
    """The server's first line on the ready pipe ("" if it closed the pipe without one)."""
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return f"no answer from the server within {timeout:.0f} s"
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").split("\n", 1)[0].strip()


def _read_pid(path: str) -> int | None:
    text = read_text(path)
    return int(text) if text and text.isdigit() else None


def _is_our_server(pid: int, mountpoint: str) -> bool:
    """True when ``pid`` is a fuse-overlay server for ``mountpoint`` (never signal anyone else)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return SERVE_MODULE.encode() in argv and os.fsencode(mountpoint) in argv


def _wait_gone(pid: int, mountpoint: str, timeout: float) -> bool:
    """Wait until server ``pid`` has exited; False when it is still serving after ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    while _is_our_server(pid, mountpoint):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return True
