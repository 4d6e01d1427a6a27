"""A container in a user namespace (``--userns-remap``): what its init does before pid 1 exists.

The order is runc's (``nsexec.c``): namespaces owned by the user namespace must be made
from inside it, and what needs the host's privileges must be done before entering it.
The process the monitor forks (still host root) therefore:

1. joins the namespaces the spec names by path (another container's network, IPC or pid
   namespace) and opens the sources of the bind mounts and device nodes: as host root it
   can reach them all, the remapped root may not;
2. sets its OOM score (lowering it needs host privileges; pid 1 inherits it);
3. enters the user namespace: unshares a new one and waits while the monitor writes its
   ``uid_map`` and ``gid_map`` from outside (nothing runs as the namespace's root before its
   ids exist), or joins another container's;
4. becomes the namespace's root (``setgroups([])``, ``setresgid``, ``setresuid`` to 0: host
   uid 100000, every capability inside the namespace and none outside), so no host group or
   uid is left behind for the steps that follow;
5. unshares the pid namespace (now owned by the user namespace) and forks pid 1, tells the
   monitor its pid and exits. The monitor, a subreaper, inherits pid 1, which carries on with
   the usual steps: its other namespaces (then owned by the user namespace), mounts, pivot.
"""

from __future__ import annotations

import os
from berth.plugins.linux import mountapi

from ..monitoring import channel
from . import syscalls

#: namespaces the spec may name by path and that the host root joins before the user namespace
_JOINED_FIRST = ("ipc", "uts", "network", "pid", "cgroup", "mount")


def entry(spec: dict) -> dict | None:
    """The spec's user namespace entry (None: the container shares the host's)."""
    return next((ns for ns in (spec.get("linux") or {}).get("namespaces") or [] if ns["type"] == "user"), None)


def join_by_path(spec: dict) -> None:
    """setns into every namespace the spec names by path, as host root (the user namespace's comes later)."""
    entries = {ns["type"]: ns for ns in (spec.get("linux") or {}).get("namespaces") or []}
    for kind in _JOINED_FIRST:
        path = (entries.get(kind) or {}).get("path")
        if path:
            _setns(path, kind)


def _setns(path: str, kind: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        syscalls.setns(fd, syscalls.NAMESPACES[kind][0], f"{kind} namespace {path}")
    finally:
        os.close(fd)


def open_sources(spec: dict) -> dict[str, int]:
    """Detached copies (``open_tree``) of every bind-mount source and host device node, made while host
    root can reach them (keyed by :func:`source_key` and :func:`device_key`).

    Pid 1 attaches them (``move_mount``) instead of binding the paths: the remapped root may not be
    allowed to walk to a source under /var/lib or /root, and the kernel binds only mounts of the
    caller's own mount namespace, which a detached tree may join. They are close-on-exec.
    """
    trees: dict[str, int] = {}
    for n, m in enumerate(spec.get("mounts") or []):
        if m.get("type") == "bind" and m.get("source"):
            trees[source_key(n)] = mountapi.open_tree_clone(m["source"], recursive="rbind" in (m.get("options") or []))
    for d in (spec.get("linux") or {}).get("devices") or []:
        if os.path.exists(d["path"]) and device_key(d["path"]) not in trees:
            trees[device_key(d["path"])] = mountapi.open_tree_clone(d["path"], recursive=False)
    return trees


def source_key(index: int) -> str:
    """Where :func:`open_sources` keeps the copy of ``mounts[index]``'s source (one per entry: a tree attaches once)."""
    return f"mount:{index}"


def device_key(path: str) -> str:
    return f"device:{path}"


def enter(user: dict, chan) -> None:
    """Join ``user["path"]``, or unshare a new user namespace and wait for the monitor to map it."""
    if user.get("path"):
        _setns(user["path"], "user")
        channel.send(chan, {"userns": "joined"})
        return
    syscalls.unshare(syscalls.CLONE_NEWUSER)
    channel.send(chan, {"userns": "unshared"})
    message, _ = channel.recv(chan)
    if message is None:
        os._exit(1)  # the monitor is gone (it reports why itself)
    if not message.get("mapped"):
        raise RuntimeError(f"expected the monitor's uid/gid maps, got {message!r}")


def become_root() -> None:
    """Drop the host's supplementary groups and take uid/gid 0 of the (mapped) user namespace."""
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def fork_pid1(spec: dict, chan) -> None:
    """Unshare a new pid namespace if the spec asks for one, and fork: returns in the child (pid 1);
    the parent tells the monitor the child's pid and exits.

    Both share the channel to the monitor, which expects the pid first: the child waits on a pipe
    until it has been sent (a busy host may run the child's whole set-up before the parent's send).
    """
    pid = next((ns for ns in (spec.get("linux") or {}).get("namespaces") or [] if ns["type"] == "pid"), None)
    if pid is not None and not pid.get("path"):
        syscalls.unshare(syscalls.CLONE_NEWPID)
    sent_r, sent_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(sent_w)
        if os.read(sent_r, 1) != b"s":
            os._exit(1)  # the parent could not tell the monitor about us: it is tearing down
        os.close(sent_r)
        return
    os.close(sent_r)
    channel.send(chan, {"init_pid": child})
    os.write(sent_w, b"s")
    os._exit(0)
