"""The two references: kernel overlayfs and fuse-overlayfs, mounted directly over berth's layer trees.

The layers are stored once, in the overlay layout berth's ``overlay`` and
``fuse-overlay`` drivers share (:class:`ReferenceLayers`, filled by the same
``graph_apply_diff`` from the same seeded tars), and each reference mounts them
itself: ``mount -t overlay`` with the kernel's defaults, or Debian's
``fuse-overlayfs`` binary with its defaults (plus ``allow_other``, as berth's
fuse-overlay, so a container's processes reach it). Every mount gets a fresh upper
and work directory, as a container's writable layer would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from berth.plugins.graphdrivers.fsinfo import backing_fs_name
from berth.plugins.graphdrivers.mounts import sys_mount, sys_umount
from berth.plugins.graphdrivers.overlay_layers import OverlayLayerStore

REFERENCES = ("overlayfs", "fuse-overlayfs")


class ReferenceLayers(OverlayLayerStore):
    """The layer trees the references mount: overlay's layout, never mounted through this class."""

    name = "reference-layers"


class ReferenceMount:
    """Mounts of one reference (``overlayfs`` or ``fuse-overlayfs``) over lower dirs, each with a fresh upper."""

    def __init__(self, kind: str, scratch: str):
        if kind not in REFERENCES:
            raise ValueError(f"unknown reference {kind!r}; choose from {', '.join(REFERENCES)}")
        self.kind = kind
        self.scratch = scratch  # where upper, work and merged dirs go (the layers' filesystem)

    def unavailable(self) -> str:
        """"" when this reference can be mounted here, else why not."""
        if self.kind == "fuse-overlayfs":
            if shutil.which("fuse-overlayfs") is None:
                return "the fuse-overlayfs program is not installed (apt-get install fuse-overlayfs)"
            if not os.path.exists("/dev/fuse"):
                return "/dev/fuse does not exist"
        lower = tempfile.mkdtemp(prefix="probe-lower-", dir=self.scratch)
        try:
            point = self.mount([lower])
        except OSError as exc:
            return f"cannot mount {self.kind} over {backing_fs_name(self.scratch)} here: {exc}"
        finally:
            os.rmdir(lower)
        self.unmount(point)
        return ""

    def version(self) -> str:
        if self.kind == "overlayfs":
            return f"kernel {os.uname().release}"
        from berth.bench.storage.machine import program_version

        return program_version(["fuse-overlayfs", "--version"])

    def mount(self, lowers: list[str]) -> str:
        """Mount the union of ``lowers`` (nearest first) with a fresh upper; return the merged dir."""
        top = tempfile.mkdtemp(prefix=f"{self.kind}-", dir=self.scratch)
        upper, work, merged = (os.path.join(top, d) for d in ("upper", "work", "merged"))
        for path in (upper, work, merged):
            os.mkdir(path, 0o755)
        options = f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"
        try:
            if self.kind == "overlayfs":
                sys_mount("overlay", merged, "overlay", options)
            else:
                # forks into the background once mounted; exits when unmounted
                done = subprocess.run(["fuse-overlayfs", "-o", options + ",allow_other", merged],
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise OSError(f"fuse-overlayfs exited with {done.returncode}: {done.stderr.strip()}")
        except BaseException:
            shutil.rmtree(top, ignore_errors=True)
            raise
        return merged

    def unmount(self, merged: str) -> None:
        """Unmount and remove the upper of a mount made by :meth:`mount`."""
        sys_umount(merged, 0)
        shutil.rmtree(os.path.dirname(merged), ignore_errors=True)
