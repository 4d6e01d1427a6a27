"""Docker's ``syslog`` log driver options, checked as dockerd checks them; the settings its monitor sends by.

At create (dockerd's ``ValidateLogOpt``): the address (``proto://address``; a unix
socket must exist; a network one gets port 514 by default), the facility, the format.
At start (its ``New``): the tag (``{{.ID}}`` by default), the TLS files, and a connection
to the address, so an unreachable syslog fails the start with dockerd's "dial ..." words
instead of losing the output. The monitor (:mod:`berth.containers.syslogsink`) then
connects again and sends every entry.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

NAME = "syslog"
OPTIONS = frozenset({"env", "env-regex", "labels", "labels-regex", "syslog-address", "syslog-facility",
                     "syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key", "syslog-tls-skip-verify", "tag",
                     "syslog-format"})
FACILITIES = {"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
              "cron": 9, "authpriv": 10, "ftp": 11, **{f"local{n}": 16 + n for n in range(8)}}
FORMATS = ("", "rfc3164", "rfc5424", "rfc5424micro")
TRANSPORTS = ("tcp", "tcp+tls", "udp", "unix", "unixgram")
LOCAL_SOCKETS = ("/dev/log", "/var/run/syslog", "/var/run/log")  # where a local syslog listens (srslog's list)


def parse_address(address: str) -> tuple[str, str]:
    """(network, address) of ``syslog-address``; ("", "") for the local syslog. ValueError in dockerd's words."""
    if not address:
        return "", ""
    scheme, _, rest = address.partition("://")
    if scheme not in TRANSPORTS or not _:
        raise ValueError(f"syslog-address should be in form proto://address, got {address}")
    url = urlsplit(address)
    if scheme in ("unix", "unixgram"):
        if not os.path.exists(url.path):
            raise ValueError(f"stat {url.path}: no such file or directory")
        return scheme, url.path
    host = url.netloc
    if host.count(":") > 1 and not host.startswith("["):
        raise ValueError(f"address {host}: too many colons in address")
    if not host.rpartition(":")[2].isdigit() or host.endswith("]"):
        host += ":514"
    return scheme, host


def parse_facility(facility: str) -> int:
    """The facility number (``daemon`` by default): a name or 0-23."""
    if not facility:
        return FACILITIES["daemon"]
    if facility in FACILITIES:
        return FACILITIES[facility]
    if facility.isdigit() and 0 <= int(facility) <= 23:
        return int(facility)
    raise ValueError("invalid syslog facility")


def check(options: dict[str, str]) -> None:
    """At create, after the keys: the address, the facility and the format (ValueError)."""
    parse_address(options.get("syslog-address", ""))
    parse_facility(options.get("syslog-facility", ""))
    if options.get("syslog-format", "") not in FORMATS:
        raise ValueError("Invalid syslog format")


def _tls_context(options: dict[str, str], host: str) -> ssl.SSLContext:
    """The client side of ``tcp+tls``: the CA (or the system's), a client certificate, skip-verify when present."""
    context = ssl.create_default_context(cafile=options.get("syslog-tls-ca-cert") or None)
    if options.get("syslog-tls-cert") or options.get("syslog-tls-key"):
        context.load_cert_chain(options.get("syslog-tls-cert", ""), options.get("syslog-tls-key") or None)
    if "syslog-tls-skip-verify" in options:  # as dockerd: the key's presence, whatever its value
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(network: str, address: str, options: dict[str, str], timeout: float = 5.0) -> socket.socket:
    """A socket to the syslog, as srslog dials it; OSError carries Go's "dial ..." text."""
    if not network:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            for path in LOCAL_SOCKETS:
                try:
                    return _connect_unix(path, kind)
                except OSError:
                    continue
        raise OSError("Unix syslog delivery error")
    if network in ("unix", "unixgram"):
        try:
            return _connect_unix(address, socket.SOCK_STREAM if network == "unix" else socket.SOCK_DGRAM)
        except OSError as exc:
            raise OSError(f"dial {network} {address}: connect: {_strerror(exc)}") from None
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    kind = socket.SOCK_DGRAM if network == "udp" else socket.SOCK_STREAM
    try:
        sock = socket.create_connection((host, int(port)), timeout) if kind == socket.SOCK_STREAM \
            else _connect_udp(host, int(port))
    except OSError as exc:
        raise OSError(f"dial {network.split('+')[0]} {address}: connect: {_strerror(exc)}") from None
    if network == "tcp+tls":
        sock = _tls_context(options, host).wrap_socket(sock, server_hostname=host)
    sock.settimeout(None)
    return sock


def _connect_unix(path: str, kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def _connect_udp(host: str, port: int) -> socket.socket:
    family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    sock = socket.socket(family, kind | socket.SOCK_CLOEXEC, proto)
    sock.connect(addr)
    return sock


def _strerror(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def settings(options: dict[str, str], tag: str) -> dict[str, Any]:
    """What the monitor needs to send (``IOConfig.log_syslog``), after a trial connection (ValueError)."""
    network, address = parse_address(options.get("syslog-address", ""))
    try:
        connect(network, address, options).close()
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(str(exc)) from None
    return {"network": network, "address": address, "facility": parse_facility(options.get("syslog-facility", "")),
            "format": options.get("syslog-format", ""), "tag": tag, "hostname": socket.gethostname(),
            "tls": {k: v for k, v in options.items() if k.startswith("syslog-tls-")}}
