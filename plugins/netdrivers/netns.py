"""Network-namespace plumbing without forking: per-thread ``setns`` and netlink sockets bound to a namespace.

A network namespace is a per-*thread* attribute on Linux, so a daemon worker thread
can step into a container's namespace, open a netlink socket there (the socket stays
bound to the namespace it was created in), and step back at once. That costs a few
system calls, where pyroute2's ``IPRoute(netns=...)`` forks a helper process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from typing import Iterator

CLONE_NEWNET = 0x40000000

_libc: ctypes.CDLL | None = None


def _setns(fd: int, what: str) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns into network namespace {what} failed: {os.strerror(err)}")


def current_netns_inode() -> int:
    """The inode of the calling thread's network namespace (identifies the namespace)."""
    return os.stat("/proc/thread-self/ns/net").st_ino


@contextlib.contextmanager
def entered(netns_path: str) -> Iterator[None]:
    """Run the body with the calling thread inside the namespace at ``netns_path``.

    Only the calling thread moves; sockets opened inside stay bound to that namespace,
    and child processes started inside inherit it. The thread always returns to the
    namespace it came from, even when the body fails.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        os.close(own)
        raise FileNotFoundError(f"network namespace {netns_path} cannot be opened: {exc.strerror}") from exc
    try:
        _setns(target, netns_path)
        try:
            yield
        finally:
            # Staying in the container's namespace would silently misroute every
            # later operation of this worker thread, so failing to return is fatal.
            _setns(own, "of the calling thread (returning)")
    finally:
        os.close(target)
        os.close(own)


def iproute(netns_path: str | None = None):
    """An ``IPRoute`` whose netlink socket lives in ``netns_path`` (None: the caller's namespace).

    The caller closes it (use it as a context manager).
    """
    from pyroute2 import IPRoute  # heavy import, daemon-only

    if netns_path is None:
        return IPRoute()
    with entered(netns_path):
        return IPRoute()


def open_fd(netns_path: str) -> int:
    """An O_RDONLY descriptor of the namespace, for netlink's ``net_ns_fd`` attribute."""
    return os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)



def set_ipv6(ifname: str, enabled: bool, netns_path: str | None = None) -> None:
    """Turn IPv6 on or off for ``ifname`` (its ``disable_ipv6``) in ``netns_path`` (None: the caller's namespace).

    As dockerd: an interface of a network with IPv6 takes IPv6 addresses (a namespace may have
    it off by default), one of a network without IPv6 has none, not even a link-local one.
    The sysctl files under /proc/sys/net belong to the namespace of the thread that opens them.
    A kernel without IPv6 has nothing to turn off, and turning it on there is an error.
    """
    path = f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"
    with entered(netns_path) if netns_path else contextlib.nullcontext():
        try:
            with open(path, "w") as f:
                f.write("0" if enabled else "1")
        except FileNotFoundError:
            if enabled:
                raise OSError(f"IPv6 is not available for {ifname}: {path} is missing (is the ipv6 module "
                              "loaded, or ipv6.disable=1 on the kernel command line?)") from None
