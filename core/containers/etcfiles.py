"""The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted in.

Docker writes these on the host and binds them, so a container's own /etc stays
the image's and the files follow network changes.
"""

from __future__ import annotations

import os
import re

from berth.fsutil import atomic_write

HOST_RESOLV_CONF = "/etc/resolv.conf"
FALLBACK_DNS = ["8.8.8.8", "8.8.4.4"]  # Docker's fallback when the host has only loopback resolvers


def hosts_content(hostname: str, address: str = "", extra_hosts: list[str] | None = None) -> str:
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix",
        "ff02::1\tip6-allnodes",
        "ff02::2\tip6-allrouters",
    ]
    for entry in extra_hosts or []:
        # "host:ip" (Docker) or "host=ip" (newer Docker); the ip may be IPv6, so split once
        name, _, ip = entry.partition("=") if "=" in entry else entry.partition(":")
        lines.append(f"{ip}\t{name}")
    if address:
        lines.append(f"{address}\t{hostname}")
    return "\n".join(lines) + "\n"


def _read_host_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _host_search(host: str) -> list[str]:
    return [w for line in re.findall(r"^\s*search\s+(.+)$", host, re.M) for w in line.split()]


def resolv_conf_content(dns: list[str], search: list[str], options: list[str], host_file: str = HOST_RESOLV_CONF) -> str:
    """Explicit settings win; otherwise the host's file without loopback resolvers."""
    host = _read_host_file(host_file)
    servers = dns or [s for s in re.findall(r"^\s*nameserver\s+(\S+)", host, re.M)
                      if not s.startswith("127.") and s != "::1"]
    if not servers:
        servers = FALLBACK_DNS
    search = search or _host_search(host)
    options = options or [w for line in re.findall(r"^\s*options\s+(.+)$", host, re.M) for w in line.split()]
    out = [f"nameserver {s}" for s in servers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def embedded_resolv_conf(search: list[str], options: list[str], host_file: str = HOST_RESOLV_CONF) -> str:
    """resolv.conf pointing at the embedded resolver (127.0.0.11), keeping search domains and options."""
    search = search or _host_search(_read_host_file(host_file))
    out = ["nameserver 127.0.0.11"]
    if search:
        out.append("search " + " ".join(search))
    out.append("options " + " ".join(["ndots:0", *options]))
    return "\n".join(out) + "\n"


def write_etc_files(directory: str, hostname: str, hosts: str, resolv: str, in_place: bool = False) -> dict[str, str]:
    """Write the three files into the container's directory; return {container path: host path}.

    Before the container exists they are replaced atomically. Once they are bind-mounted
    (``in_place``), a rename would leave the container on the old inode, so they are
    rewritten in place, as Docker does; that happens before the process starts.
    """
    files = {"/etc/hostname": ("hostname", hostname + "\n"), "/etc/hosts": ("hosts", hosts),
             "/etc/resolv.conf": ("resolv.conf", resolv)}
    out = {}
    for dest, (name, content) in files.items():
        path = os.path.join(directory, name)
        if in_place and os.path.exists(path):
            with open(path, "r+b") as f:
                f.write(content.encode())
                f.truncate()
        else:
            atomic_write(path, content.encode(), 0o644)
        out[dest] = path
    return out
