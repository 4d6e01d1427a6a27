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


def hosts_content(hostname: str, addresses: list[str] = (), extra_hosts: list[str] | None = None,
                  links: list[tuple[str, str]] = (), domainname: str = "") -> str:
    """Docker's /etc/hosts: the fixed lines, ``--add-host`` entries, legacy links, then one line per
    address the container has on its networks, naming the fully qualified name and the short one."""
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
    lines += [f"{address}\t{names}" for address, names in links]
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    names = f"{fqdn} {fqdn.split('.')[0]}" if "." in fqdn else fqdn
    lines += [f"{address}\t{names}" for address in addresses]
    return "\n".join(lines) + "\n"


def _read_host_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _host_search(host: str) -> list[str]:
    return [w for line in re.findall(r"^\s*search\s+(.+)$", host, re.M) for w in line.split()]


def resolv_conf_content(dns: list[str], search: list[str], options: list[str], host_file: str = HOST_RESOLV_CONF,
                        reachable: bool = True) -> str:
    """Explicit settings win; otherwise the host's file without loopback resolvers (Docker's fallback
    servers when it names none). ``reachable`` False: the container's networks reach no DNS server
    outside it (their drivers say so), so without explicit servers it gets no ``nameserver`` line."""
    host = _read_host_file(host_file)
    if dns or not reachable:
        servers = list(dns)
    else:
        servers = [s for s in re.findall(r"^\s*nameserver\s+(\S+)", host, re.M)
                   if not s.startswith("127.") and s != "::1"] or FALLBACK_DNS
    search = search or _host_search(host)
    options = options or [w for line in re.findall(r"^\s*options\s+(.+)$", host, re.M) for w in line.split()]
    out = ["search " + " ".join(search)] if search else []  # dockerd's order: search, nameservers, options
    out += [f"nameserver {s}" for s in servers]
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def embedded_resolv_conf(search: list[str], options: list[str], host_file: str = HOST_RESOLV_CONF) -> str:
    """resolv.conf pointing at the embedded resolver (127.0.0.11), keeping search domains and options."""
    search = search or _host_search(_read_host_file(host_file))
    out = ["search " + " ".join(search)] if search else []
    out.append("nameserver 127.0.0.11")
    # dockerd's order: the user's options, then the resolver's ndots:0 unless the user set ndots
    resolver = [] if any(o.startswith("ndots:") for o in options) else ["ndots:0"]
    out.append("options " + " ".join([*options, *resolver]))
    return "\n".join(out) + "\n"


def points_at_embedded_dns(directory: str) -> bool:
    """Whether the container's resolv.conf (in its directory) names the embedded resolver."""
    return bool(re.search(r"^\s*nameserver\s+127\.0\.0\.11\s*$", _read_host_file(os.path.join(directory, "resolv.conf")),
                          re.M))


_FILES = {"/etc/hostname": "hostname", "/etc/hosts": "hosts", "/etc/resolv.conf": "resolv.conf"}


def paths(directory: str) -> dict[str, str]:
    """{container path: host path} of the three files of the container whose directory this is."""
    return {dest: os.path.join(directory, name) for dest, name in _FILES.items()}


def write_etc_files(directory: str, hostname: str, hosts: str, resolv: str, in_place: bool = False) -> dict[str, str]:
    """Write the three files into the container's directory; return {container path: host path}.

    Before the container exists they are replaced atomically. Once they are bind-mounted
    (``in_place``), a rename would leave the container on the old inode, so they are
    rewritten in place, as Docker does (before the process starts, and when a running
    container joins or leaves a network).
    """
    contents = {"/etc/hostname": hostname + "\n", "/etc/hosts": hosts, "/etc/resolv.conf": resolv}
    out = {}
    for dest, path in paths(directory).items():
        content = contents[dest]
        if in_place and os.path.exists(path):
            with open(path, "r+b") as f:
                f.write(content.encode())
                f.truncate()
        else:  # written afresh at every start: no fsync needed (see atomic_write)
            atomic_write(path, content.encode(), 0o644, sync=False)
        out[dest] = path
    return out
