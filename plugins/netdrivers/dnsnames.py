"""The embedded resolver's name table: which names resolve to which addresses on which network.

After libnetwork's service records. Each endpoint on a user-defined network is
known by its *DNS names* (Docker's ``DNSNames``: the container name, its network
aliases, the short container id and the hostname) and by one IPv4 address on that
network, plus one IPv6 address on a network with IPv6. A container asks through the listener in its own namespace, which serves
the networks that container is attached to; only those networks' names resolve.

Thread-safe: the driver's worker threads write, the resolver's loop thread reads.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from berth.plugins.netdrivers.dnswire import normalise

_HEX = re.compile(r"^[0-9a-f]{12,64}$")


def dns_names(endpoint_id: str, options: dict) -> list[str]:
    """The names an endpoint answers to, in Docker's order, without duplicates.

    Docker's ``buildEndpointDNSNames``: container name (without the leading ``/``),
    the network aliases, the short (12-character) container id, the hostname. The
    engine uses the container id as the endpoint id, so the short id comes from it.
    """
    names = [str(options.get("container_name") or "").lstrip("/")]
    names += [str(a) for a in options.get("aliases") or []]
    if _HEX.match(endpoint_id):
        names.append(endpoint_id[:12])
    names.append(str(options.get("hostname") or ""))
    seen: set[str] = set()
    out = []
    for name in names:
        key = normalise(name)
        if key and key not in seen:
            seen.add(key)
            out.append(name.rstrip("."))
    return out


@dataclass
class _Endpoint:
    address: str
    names: list[str]  # normalised
    ptr: str  # what a reverse lookup of ``address`` answers
    links: dict[str, str] = field(default_factory=dict)  # legacy links: alias -> name, for this endpoint's queries
    address6: str = ""  # its IPv6 address, "" on a network without IPv6

    def address_of(self, family: int) -> str:
        return self.address6 if family == 6 else self.address


@dataclass
class _Network:
    name: str
    internal: bool
    endpoints: dict[str, _Endpoint] = field(default_factory=dict)


class NameTable:
    """Names and addresses of the endpoints of every user-defined network of the driver."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._networks: dict[str, _Network] = {}

    # -- writers (driver threads) --------------------------------------------

    def set_network(self, network_id: str, name: str, internal: bool) -> None:
        """Add or update a network (keeps its endpoints)."""
        with self._lock:
            net = self._networks.get(network_id)
            if net is None:
                self._networks[network_id] = _Network(name, internal)
            else:
                net.name, net.internal = name, internal

    def remove_network(self, network_id: str) -> None:
        """Forget a network and all its endpoints. Idempotent."""
        with self._lock:
            self._networks.pop(network_id, None)

    def set_endpoint(self, network_id: str, endpoint_id: str, address: str, names: list[str],
                     links: dict[str, str] | None = None, address6: str = "") -> None:
        """Register (or replace) an endpoint's addresses (IPv4, and IPv6 or "") and names on a network
        added with :meth:`set_network`.

        ``links`` ({alias: container name}) are legacy links on a user-defined network: only
        queries from this endpoint's own container resolve those aliases, as in Docker.
        """
        with self._lock:
            net = self._networks[network_id]
            primary = normalise(names[0]) if names else endpoint_id[:12]
            # Docker answers a reverse lookup with "<container name>.<network name>".
            net.endpoints[endpoint_id] = _Endpoint(address, [normalise(n) for n in names], f"{primary}.{net.name}",
                                                   {normalise(a): normalise(n) for a, n in (links or {}).items()},
                                                   address6)

    def remove_endpoint(self, network_id: str, endpoint_id: str) -> None:
        """Forget an endpoint. Idempotent."""
        with self._lock:
            net = self._networks.get(network_id)
            if net is not None:
                net.endpoints.pop(endpoint_id, None)

    # -- readers (resolver thread) -------------------------------------------

    def lookup(self, network_ids: frozenset[str] | set[str], qname: str,
               asking: frozenset[tuple[str, str]] = frozenset(), family: int = 4) -> list[str] | None:
        """The addresses of IP ``family`` ``qname`` resolves to on ``network_ids``, or None when the name
        is not ours (an empty list: ours, without an address of that family).

        As libnetwork, both ``name`` and ``name.<network name>`` resolve: for
        ``a.b.c`` the tries are ``a.b.c`` on every network, then ``a.b`` on the
        network named ``c``, then ``a`` on the network named ``b.c``. A link alias
        of one of the ``asking`` endpoints ((network id, endpoint id) of the
        querying container) resolves first, to its container's addresses.
        """
        name = normalise(qname)
        if not name:
            return None
        with self._lock:
            found = self._endpoints(network_ids, name, asking)
        if not found:
            return None
        out: list[str] = []
        for ep in found:
            address = ep.address_of(family)
            if address and address not in out:
                out.append(address)
        return out

    def _endpoints(self, network_ids, name: str, asking: frozenset[tuple[str, str]]) -> list[_Endpoint]:
        """The endpoints ``name`` stands for, in libnetwork's order of tries (the caller holds the lock)."""
        linked = self._linked(asking, name)
        if linked:
            return linked
        nets = [self._networks[n] for n in sorted(network_ids) if n in self._networks]
        found = self._named(nets, name)
        if found:
            return found
        labels = name.split(".")
        for cut in range(len(labels) - 1, 0, -1):
            short, suffix = ".".join(labels[:cut]), ".".join(labels[cut:])
            found = self._named([n for n in nets if n.name.lower() == suffix], short)
            if found:
                return found
        return []

    def _linked(self, asking: frozenset[tuple[str, str]], name: str) -> list[_Endpoint]:
        for network_id, endpoint_id in sorted(asking):
            net = self._networks.get(network_id)
            ep = net.endpoints.get(endpoint_id) if net else None
            if ep is not None and name in ep.links:
                return self._named([net], ep.links[name])
        return []

    @staticmethod
    def _named(nets: list[_Network], name: str) -> list[_Endpoint]:
        return [ep for net in nets for ep in net.endpoints.values() if name in ep.names]

    def reverse(self, network_ids: frozenset[str] | set[str], address: str) -> str | None:
        """The PTR target for ``address`` on ``network_ids``, or None when no endpoint has it."""
        with self._lock:
            for nid in sorted(network_ids):
                net = self._networks.get(nid)
                for ep in net.endpoints.values() if net else ():
                    if address in (ep.address, ep.address6):
                        return ep.ptr
        return None

    def may_forward(self, network_ids: frozenset[str] | set[str]) -> bool:
        """Whether queries for other names may leave: not when every network served is internal.

        Docker (since 26.0) keeps containers attached only to internal networks from
        reaching external resolvers through the embedded DNS.
        """
        with self._lock:
            nets = [self._networks[n] for n in network_ids if n in self._networks]
            return not nets or any(not n.internal for n in nets)
