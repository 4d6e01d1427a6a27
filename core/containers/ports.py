"""Published ports: Docker's ``PortBindings``/``PublishAllPorts`` to driver bindings and back."""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI imports this module and pays for neither
    from typing import Any

    from berth.hookspecs.types import PortBinding


def _split(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp") or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidArgument(f"invalid port specification: {key!r}")
    return int(port), proto


def requested(host_config: dict[str, Any], exposed: dict[str, Any]) -> list[PortBinding]:
    """Every binding to publish: explicit ``PortBindings``, plus random host ports for ``-P``."""
    from berth.hookspecs.types import PortBinding  # not at import: the CLI uses this module's parsers only

    out: list[PortBinding] = []
    bindings = host_config.get("PortBindings") or {}
    for key, targets in bindings.items():
        port, proto = _split(key)
        for target in targets or [{}]:
            host_port = str((target or {}).get("HostPort") or "0")
            if not host_port.isdigit() or not 0 <= int(host_port) < 65536:
                raise InvalidArgument(f"invalid host port {host_port!r} for {key}")
            out.append(PortBinding(port, proto, (target or {}).get("HostIp") or "", int(host_port)))
    if host_config.get("PublishAllPorts"):
        for key in exposed or {}:
            if key not in bindings:
                port, proto = _split(key)
                out.append(PortBinding(port, proto, "", 0))
    return out


def to_record(binding: PortBinding) -> dict[str, Any]:
    return {"container_port": binding.container_port, "proto": binding.proto, "host_ip": binding.host_ip,
            "host_port": binding.host_port, "container_ip": binding.container_ip}


def from_record(record: dict[str, Any]) -> PortBinding:
    from berth.hookspecs.types import PortBinding

    return PortBinding(**record)


def inspect_ports(records: list[dict[str, Any]], exposed: dict[str, Any]) -> dict[str, Any]:
    """``NetworkSettings.Ports``: every exposed port, with its host bindings or null."""
    ports: dict[str, Any] = {key: None for key in exposed or {}}
    for r in records:
        key = f"{r['container_port']}/{r['proto']}"
        ports.setdefault(key, None)
        ports[key] = (ports[key] or []) + [{"HostIp": r["host_ip"] or "0.0.0.0", "HostPort": str(r["host_port"])}]
    return ports


def summary_ports(records: list[dict[str, Any]], exposed: dict[str, Any]) -> list[dict[str, Any]]:
    """``Ports`` of ``GET /containers/json``."""
    out = [{"IP": r["host_ip"] or "0.0.0.0", "PrivatePort": r["container_port"], "PublicPort": r["host_port"],
            "Type": r["proto"]} for r in records]
    published = {(r["container_port"], r["proto"]) for r in records}
    for key in exposed or {}:
        port, proto = _split(key)
        if (port, proto) not in published:
            out.append({"PrivatePort": port, "Type": proto})
    return out


def parse_publish_all(specs: list[str]) -> dict[str, list[dict[str, str]]]:
    """Several ``-p`` values -> Docker's ``PortBindings`` map."""
    out: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        parts = body.rsplit(":", 2)
        if len(parts) == 1:
            ip, host, container = "", "", parts[0]
        elif len(parts) == 2:
            ip, (host, container) = "", parts
        else:
            ip, host, container = parts
        ip = ip.strip("[]")
        c_ports = _range(container, spec)
        h_ports = _range(host, spec) if host else [None] * len(c_ports)
        if len(h_ports) == 1 and len(c_ports) > 1 and host:
            raise InvalidArgument(f"invalid port range {spec!r}: host and container ranges differ in size")
        if len(h_ports) != len(c_ports):
            if len(c_ports) == 1:  # a host range for one container port: Docker takes the first free; we take the first
                h_ports = h_ports[:1]
            else:
                raise InvalidArgument(f"invalid port range {spec!r}: host and container ranges differ in size")
        for c_port, h_port in zip(c_ports, h_ports):
            out.setdefault(f"{c_port}/{proto}", []).append({"HostIp": ip, "HostPort": str(h_port or "")})
    return out


def _range(text: str, spec: str) -> list[int]:
    low, sep, high = text.partition("-")
    try:
        a, b = int(low), int(high) if sep else int(low)
    except ValueError:
        raise InvalidArgument(f"invalid port specification: {spec!r}") from None
    if not (0 < a <= b < 65536):
        raise InvalidArgument(f"invalid port specification: {spec!r}")
    return list(range(a, b + 1))
