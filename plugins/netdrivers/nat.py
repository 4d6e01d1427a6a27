"""berth's nftables ruleset: masquerade, published-port DNAT and network isolation.

The whole ruleset lives in one table, ``ip berth``, and is re-rendered from the
driver's state on every change and loaded with one ``nft -f`` transaction (declare,
delete, re-create: atomic, idempotent, and a daemon restart converges to the same
rules). Rules for a network exist exactly while the network does; with no network
left, the table is removed.

Per network (after Docker's iptables rules, expressed in nftables):

- ``postrouting``: traffic from the subnet leaving through another interface is
  masqueraded (not for ``--internal`` networks);
- ``prerouting``: a published port's traffic addressed to a local address and *not*
  coming from the container's own bridge is DNATed to the container; loopback and
  hairpin traffic is left to the userland proxy, as Docker does with its proxy on;
- ``forward``: an ``--internal`` network's bridge exchanges nothing with other
  interfaces, and distinct networks cannot reach each other.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

from berth.driverkit import DriverError

TABLE = "berth"


@dataclass(frozen=True)
class PortRule:
    """One published port: traffic to ``host_ip:host_port`` goes to ``container_ip:container_port``."""

    proto: str
    host_ip: str  # "0.0.0.0" for every local address
    host_port: int
    container_ip: str
    container_port: int


@dataclass
class NetworkRules:
    """What the ruleset needs to know about one bridge network."""

    bridge: str
    subnet: str
    internal: bool = False
    ports: list[PortRule] = field(default_factory=list)


def _q(name: str) -> str:
    # Interface names are at most 15 bytes without quotes or spaces (the kernel refuses
    # others), but quote them anyway so that names like "br-net" parse as one token.
    return '"' + name.replace('"', "") + '"'


def render(networks: list[NetworkRules]) -> str:
    """The ``nft -f`` script that replaces the berth table with the rules for ``networks``."""
    lines = [f"table ip {TABLE}", f"delete table ip {TABLE}"]
    if not networks:
        return "\n".join(lines) + "\n"
    pre, post, fwd = [], [], []
    for net in networks:
        br = _q(net.bridge)
        if not net.internal:
            post.append(f"ip saddr {net.subnet} oifname != {br} masquerade")
        else:
            fwd.append(f"iifname {br} oifname != {br} drop")
            fwd.append(f"oifname {br} iifname != {br} drop")
        for other in networks:
            if other.bridge != net.bridge:
                fwd.append(f"iifname {br} oifname {_q(other.bridge)} drop")
        for p in net.ports:
            match = "fib daddr type local" if p.host_ip in ("", "0.0.0.0") else f"ip daddr {p.host_ip}"
            pre.append(
                f"iifname != {br} {match} {p.proto} dport {p.host_port} "
                f"dnat to {p.container_ip}:{p.container_port}"
            )
    lines.append(f"table ip {TABLE} {{")
    lines.append("  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;")
    lines += [f"    {r}" for r in pre]
    lines.append("  }")
    lines.append("  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;")
    lines += [f"    {r}" for r in post]
    lines.append("  }")
    lines.append("  chain forward {\n    type filter hook forward priority filter; policy accept;")
    lines += [f"    {r}" for r in fwd]
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def nft_path() -> str | None:
    """Where the ``nft`` command is, or None."""
    # The daemon may run with a PATH lacking sbin directories.
    return shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.access(p, os.X_OK)), None)


def apply(networks: list[NetworkRules]) -> None:
    """Load the ruleset for ``networks`` into the calling thread's network namespace, atomically."""
    nft = nft_path()
    if nft is None:
        raise DriverError("network driver 'bridge': the nft command is not installed (apt-get install nftables)")
    script = render(networks)
    proc = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DriverError(
            f"network driver 'bridge': loading the nftables ruleset (table ip {TABLE}) failed: "
            f"{proc.stderr.strip()}"
        )


def enable_ip_forwarding() -> None:
    """Turn on IPv4 forwarding in the calling thread's network namespace (needed for outbound NAT)."""
    with open("/proc/sys/net/ipv4/ip_forward", "r+") as fh:
        if fh.read().strip() != "1":
            fh.seek(0)
            fh.write("1")
