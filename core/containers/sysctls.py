"""``--sysctl``: only kernel parameters that live in one of the container's own namespaces.

The rules are runc's (``libcontainer/configs/validate``), with its messages, which is what
dockerd answers at start: IPC parameters (``kernel.msg*``, ``kernel.sem``, ``kernel.shm*``,
``fs.mqueue.*``) need a private IPC namespace, ``net.*`` a network namespace that is not the
host's, ``kernel.domainname`` a private UTS namespace; everything else would change the
host and is refused. Docker's own defaults for a private network namespace come from
moby's ``withCommonOptions``.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument

IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced"}


def check(sysctls: dict[str, str], *, private_ipc: bool, private_net: bool, private_uts: bool) -> None:
    """Raise a 400 for the first sysctl the container's namespaces do not isolate."""
    for key in sysctls:
        if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if not private_ipc:
                raise InvalidArgument(f'sysctl "{key}" is not allowed in the hosts ipc namespace')
            continue
        if key.startswith("net."):
            if not private_net:
                raise InvalidArgument(f'sysctl "{key}" not allowed in host network namespace')
            continue
        if private_uts and key == "kernel.domainname":
            continue
        if private_uts and key == "kernel.hostname":
            raise InvalidArgument(f'sysctl "{key}" is not allowed as it conflicts with the OCI "hostname" field')
        raise InvalidArgument(f'sysctl "{key}" is not in a separate kernel namespace')


def docker_defaults(proc_sys: str = "/proc/sys") -> dict[str, str]:
    """What dockerd sets in a container's own network namespace: unprivileged ping and low ports."""
    out = {}
    if os.path.exists(os.path.join(proc_sys, "net/ipv4/ping_group_range")):
        out["net.ipv4.ping_group_range"] = "0 2147483647"
    if os.path.exists(os.path.join(proc_sys, "net/ipv4/ip_unprivileged_port_start")):
        out["net.ipv4.ip_unprivileged_port_start"] = "0"
    return out
