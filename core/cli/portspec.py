"""``-p``/``--publish`` and ``--expose`` -> ``PortBindings`` and ``ExposedPorts``, as the docker CLI builds them.

``-p [ip:][hostPort:]containerPort[/proto]`` where either port may be a range
(``8000-8010:80-90``; a host range for one container port is passed on whole,
``8000-8010:80``, for the daemon to pick a free one), ``[v6]:8080:80``, and the
long form ``published=8080,target=80,protocol=udp``. Every published port is
also exposed. Errors carry the docker CLI's messages.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any


def _uint16(text: str) -> int:
    if not (text.isdigit() and text.isascii()):
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) > 65535:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def port_range(text: str) -> tuple[int, int]:
    """``80`` or ``8000-8010`` -> (start, end)."""
    if not text:
        raise ValueError("empty string specified for ports")
    if "-" not in text:
        return _uint16(text), _uint16(text)
    parts = text.split("-")
    start, end = _uint16(parts[0]), _uint16(parts[1])
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def split_proto(text: str) -> tuple[str, str]:
    """``80/udp`` -> ("udp", "80"); no protocol is tcp; an empty port is ("", "")."""
    parts = text.split("/")
    if not text or not parts[0]:
        return "", ""
    if len(parts) == 1 or not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _standard(spec: str) -> str:
    """The long form (``published=8080,target=80``) as ``8080:80/tcp``."""
    if "=" not in spec:
        return spec
    params = {"protocol": "tcp"}
    for param in spec.split(","):
        key, eq, value = param.partition("=")
        if not eq or not key:
            raise ValueError(f"invalid publish opts format (should be name=value but got '{param}')")
        params[key] = value
    return f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}"


def _host_ip(spec: str, ip: str) -> str:
    from berth.cli.runvalues import ip_address

    if ip.startswith("["):
        inner, bracket, rest = ip[1:].partition("]")
        if not bracket or rest:
            raise ValueError(f"invalid IP address {ip}: address {ip}:: missing ']' in address")
        ip = inner
    if ip:
        try:
            ip_address(ip)
        except ValueError:
            raise ValueError(f"invalid IP address: {ip}") from None
    return ip


def _mappings(raw: str) -> list[tuple[str, dict[str, str]]]:
    """One ``-p`` value -> [(``port/proto``, ``{"HostIp", "HostPort"}``)] (Docker's ParsePortSpec)."""
    parts = raw.split(":")
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
    proto, container = split_proto(container)
    ip = _host_ip(raw, ip)
    if not container:
        raise ValueError(f"no port specified: {raw}<empty>")
    try:
        start, end = port_range(container)
    except ValueError:
        raise ValueError(f"invalid containerPort: {container}") from None
    host_start = host_end = 0
    if host:
        try:
            host_start, host_end = port_range(host)
        except ValueError:
            raise ValueError(f"invalid hostPort: {host}") from None
        if end - start != host_end - host_start and end != start:
            raise ValueError(f"invalid ranges specified for container and host Ports: {container} and {host}")
    if proto.lower() not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {proto}")
    out = []
    for offset in range(end - start + 1):
        host_port = str(host_start + offset) if host else ""
        if start == end and host_start != host_end:
            host_port = f"{host_port}-{host_end}"
        out.append((f"{start + offset}/{proto.lower()}", {"HostIp": ip, "HostPort": host_port}))
    return out


def publish(specs: list[str]) -> tuple[dict[str, dict], dict[str, list[dict[str, str]]]]:
    """Every ``-p`` value -> (``ExposedPorts``, ``PortBindings``)."""
    exposed: dict[str, dict] = {}
    bindings: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        for key, binding in _mappings(_standard(spec)):
            exposed.setdefault(key, {})
            bindings.setdefault(key, []).append(binding)
    return exposed, bindings


def expose(spec: str) -> list[str]:
    """One ``--expose`` value (``80``, ``8000-8010/udp``) -> its ``port/proto`` keys."""
    if ":" in spec:
        raise ValueError(f"invalid port format for --expose: {spec}")
    proto, port = split_proto(spec)
    try:
        start, end = port_range(port)
    except ValueError as exc:
        raise ValueError(f"invalid range format for --expose: {spec}, error: {exc}") from None
    return [f"{n}/{proto}" for n in range(start, end + 1)]
