"""Bind mounts whose source is inside another container: ``/proc/<pid>/root/<path>`` in a spec.

``--ipc container:X`` shares X's /dev/shm. The engine names it as X's init sees it,
``/proc/<pid>/root/dev/shm``, but the kernel will not bind a mount that belongs to another
mount namespace. So, before the container is created, a short-lived child of the driver
enters X's mount namespace, clones the mount (``open_tree``), returns to the host's and
attaches the clone at ``<root>/foreign/<id>/<n>`` (``move_mount``): a host mount of the same
filesystem that the spec then binds, for the native driver and for runc/crun alike. The
mounts go when the container is deleted (and with a failed create).
"""

from __future__ import annotations

import os
import re

_FOREIGN = re.compile(r"^/proc/(\d+)/root(/.*)$")


def attach(spec: dict, directory: str) -> dict:
    """``spec`` with every ``/proc/<pid>/root/...`` bind source made a host mount under ``directory``
    (a copy when something changed; the caller's spec is left as it was)."""
    from berth.plugins.execdrivers.native import syscalls
    from berth.plugins.linux import mountapi

    mounts = []
    for n, entry in enumerate(spec.get("mounts") or []):
        match = _FOREIGN.match(entry.get("source") or "")
        if entry.get("type") == "bind" and match:
            target = os.path.join(directory, str(n))
            os.makedirs(target, mode=0o700, exist_ok=True)
            _clone_into(int(match.group(1)), match.group(2), target, syscalls, mountapi)
            entry = {**entry, "source": target}
        mounts.append(entry)
    return {**spec, "mounts": mounts} if spec.get("mounts") else spec


def _clone_into(pid: int, path: str, target: str, syscalls, mountapi) -> None:
    """In a child (setns needs a single thread): enter ``pid``'s mount namespace, clone ``path``, come back,
    attach the clone at ``target``. Raises OSError with the child's reason."""
    home = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    theirs = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            syscalls.setns(theirs, syscalls.CLONE_NEWNS, f"mount namespace of pid {pid}")
            tree = mountapi.open_tree_clone(path)
            syscalls.setns(home, syscalls.CLONE_NEWNS, "the host's mount namespace")
            mountapi.move_mount_to(tree, target)
            os._exit(0)
        except BaseException as exc:  # noqa: BLE001 - the child reports and never returns into the daemon
            os.write(write_end, str(exc).encode()[:4000])
            os._exit(1)
    os.close(write_end)
    for fd in (home, theirs):
        os.close(fd)
    with os.fdopen(read_end, "rb") as f:
        reason = f.read().decode(errors="replace")
    _, status = os.waitpid(child, 0)
    if status != 0:
        raise OSError(f"sharing {path} of process {pid}: {reason or 'the helper failed'}")


def release(directory: str) -> None:
    """Detach every mount :func:`attach` made under ``directory``, then remove it (idempotent)."""
    from berth.plugins.execdrivers.native import syscalls

    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        target = os.path.join(directory, name)
        try:
            syscalls.umount2(target, syscalls.MNT_DETACH)
        except OSError:
            pass  # not mounted (a failed attach): the directory is empty
    for name in os.listdir(directory):
        try:
            os.rmdir(os.path.join(directory, name))  # rmdir, never rmtree: nothing mounted is ever deleted
        except OSError:
            pass
    try:
        os.rmdir(directory)
    except OSError:
        pass
