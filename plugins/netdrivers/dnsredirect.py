"""Port 53 of 127.0.0.11 inside a container, redirected to the embedded resolver's real ports.

The resolver's sockets are bound to ``127.0.0.11`` on *random* ports, and a small
nftables table in the container's own namespace DNATs queries for
``127.0.0.11:53`` to them, exactly as Docker does with iptables. Binding port 53
itself would make a container that runs its own DNS server on ``0.0.0.0:53``
(dnsmasq, CoreDNS...) fail with "address already in use". Connection tracking
rewrites the replies' source back to port 53.

``nft`` runs as a child of a thread that has entered the namespace (a child
inherits its parent thread's namespace), one atomic transaction each time.
"""

from __future__ import annotations

import subprocess

from berth.driverkit import DriverError
from berth.plugins.netdrivers.nat import nft_path
from berth.plugins.netdrivers.netns import entered

TABLE = "berth_dns"


def render(address: str, udp_port: int, tcp_port: int) -> str:
    """The ``nft -f`` script that (re)places the redirect table."""
    return "\n".join([
        f"table ip {TABLE}",
        f"delete table ip {TABLE}",  # with the line above: replace, whether or not it existed
        f"table ip {TABLE} {{",
        "  chain output {",
        # -100 is "dstnat"; nft 1.0.6 accepts that name only in prerouting chains.
        "    type nat hook output priority -100; policy accept;",
        f"    ip daddr {address} udp dport 53 dnat to {address}:{udp_port}",
        f"    ip daddr {address} tcp dport 53 dnat to {address}:{tcp_port}",
        "  }",
        "}",
    ]) + "\n"


def _nft(netns_path: str, script: str, what: str, label: str | None) -> None:
    nft = nft_path()
    if nft is None:
        raise DriverError("network driver 'bridge': the nft command is not installed (apt-get install nftables)")
    with entered(netns_path):
        proc = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DriverError(f"embedded DNS: {what} in network namespace {label or netns_path} failed: {proc.stderr.strip()}")


def install(netns_path: str, address: str, udp_port: int, tcp_port: int, label: str | None = None) -> None:
    """Redirect ``address:53`` (UDP and TCP) to the given ports inside ``netns_path`` (``label`` names it in errors)."""
    _nft(netns_path, render(address, udp_port, tcp_port), f"redirecting {address}:53 (nftables table ip {TABLE})", label)


def remove(netns_path: str, label: str | None = None) -> None:
    """Drop the redirect table from ``netns_path``; nothing to do when the namespace or table is gone."""
    try:
        _nft(netns_path, f"table ip {TABLE}\ndelete table ip {TABLE}\n", f"removing nftables table ip {TABLE}", label)
    except FileNotFoundError:
        pass  # the container's namespace went away with it
