"""The ``bridge`` network driver: a Linux bridge per network, a veth pair per container, NAT with nftables.

State on disk (``root`` = <data-root>/network/bridge)::

    networks/<network-id>.json   the network (bridge name, MTU, internal), its IPAM pool
                                 (subnet, gateway, ip-range, address -> endpoint), its IPv6
                                 pool (``pool6``, on a network with IPv6) and its endpoints
                                 (address, IPv6 address, MAC, host-side veth, published ports)

Each file is replaced atomically on every change, so a crash leaves the old or new
state and a restarted daemon keeps every address and never hands one out twice.
``net_create_network`` for a network already on disk *reconciles* instead: it
re-creates a missing bridge and address, reloads the rules, and re-opens the
published ports' proxy listeners.

Kernel objects live in the namespace of the calling (daemon) thread: the bridge
``<name>`` with the gateway address (and the IPv6 gateway), host-side veths ``veth<hash>`` enslaved to it,
and the ``ip berth`` nftables table (see :mod:`.nat`). Published ports are relayed
by one userland proxy for the whole daemon (see :mod:`.portproxy`).

Every network but the default ``bridge`` gets Docker's embedded DNS: one resolver
for the whole daemon (see :mod:`.dns`) answers on 127.0.0.11:53 inside each joined
container's namespace (sockets on random ports there, plus an ``ip berth_dns``
DNAT table, see :mod:`.dnsredirect`) and resolves the names of the container's
networks. An endpoint's record keeps what that needs after a restart: under
``dns`` its names, its own upstream servers and the identity of its namespace.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import replace
from typing import Any

from berth.driverkit import BerthError, Conflict, DriverError, InvalidArgument, NotFound, hookimpl
from berth.hookspecs import CONTRACT
from berth.hookspecs.types import EndpointInfo, NetworkConfig, PortBinding, Sandbox
from berth.plugins.netdrivers import dns, ipam, nat, store
from berth.plugins.netdrivers.dnsnames import NameTable, dns_names
from berth.plugins.netdrivers.portproxy import Forward, PortProxy

log = logging.getLogger(__name__)

OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_INTERNAL = "com.docker.network.internal"
DEFAULT_BRIDGE = "berth0"
DEFAULT_NETWORK_NAME = "bridge"
MAX_IFNAME = 15


def _bool_opt(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _aux_of_family(aux_addresses: dict[str, str], version: int) -> dict[str, str]:
    """The ``--aux-address`` entries of one IP version (each pool keeps its own free)."""
    return {name: text for name, text in aux_addresses.items() if (":" in text) == (version == 6)}


def _host_veth_name(network_id: str, endpoint_id: str) -> str:
    # Stable across restarts (so leave can find it) and unique per (network, endpoint).
    return "veth" + hashlib.sha256(f"{network_id}/{endpoint_id}".encode()).hexdigest()[:9]


class BridgeDriver:
    """Containers on Linux bridges with private addresses, outbound masquerade and published ports."""

    name = "bridge"
    contract = CONTRACT  # built-ins follow the contract of the berth they ship with
    description = "Linux bridge per network, veth per container, nftables NAT and a userland port proxy"
    priority = 10

    @classmethod
    def probe(cls, root: str) -> str | None:
        try:
            import pyroute2  # noqa: F401
        except ImportError as exc:
            return f"pyroute2 is not importable ({exc}); install berth's dependencies"
        if nat.nft_path() is None:
            return "the nft command is not installed (apt-get install nftables)"
        if not os.path.exists("/proc/sys/net/ipv4/ip_forward"):
            return "/proc/sys/net/ipv4 is missing: IPv4 forwarding cannot be configured"
        return None

    def __init__(self, root: str, options: dict):
        self.root = root
        self.options = dict(options or {})
        self._lock = threading.RLock()
        self._ipr = None  # berthd's namespace's netlink socket (see _host_netlink)
        self._proxy = PortProxy()
        self._forwards: dict[tuple[str, str, str], Forward] = {}  # (network, endpoint, binding key) -> live forward
        self._networks: dict[str, dict] = {}
        self._names = NameTable()
        self._dns = dns.EmbeddedDNS(self._names, dns.DefaultUpstreams(self.options.get("dns")))
        for entry in sorted(os.listdir(self._dir())) if os.path.isdir(self._dir()) else []:
            if entry.endswith(".json"):
                data = store.read_json(os.path.join(self._dir(), entry))
                if isinstance(data, dict) and "id" in data:
                    self._networks[data["id"]] = data
                    self._register_names(data)

    # -- state ---------------------------------------------------------------

    def _dir(self) -> str:
        return os.path.join(self.root, "networks")

    def _path(self, network_id: str) -> str:
        return os.path.join(self._dir(), f"{network_id}.json")

    def _save(self, net: dict) -> None:
        store.write_json(self._path(net["id"]), net)

    def _get(self, network_id: str) -> dict:
        net = self._networks.get(network_id)
        if net is None:
            raise NotFound(f"network {network_id[:12]} is not a bridge network known to this daemon")
        return net

    @staticmethod
    def _pool(net: dict) -> ipam.Pool:
        return ipam.Pool.from_dict(net["pool"])

    @staticmethod
    def _pool6(net: dict) -> ipam.Pool | None:
        """The IPv6 pool of a network with IPv6, else None (and for state written before IPv6)."""
        return ipam.Pool.from_dict(net["pool6"]) if net.get("pool6") else None

    def _apply_rules(self) -> None:
        rules = []
        for net in self._networks.values():
            ports = [
                nat.PortRule(p["proto"], p["host_ip"], p["host_port"], ep["ip"], p["container_port"])
                for ep in net["endpoints"].values() for p in ep.get("ports", [])
            ]
            rules.append(nat.NetworkRules(net["bridge"], net["pool"]["subnet"], net["internal"], ports))
        nat.apply(rules)

    # -- embedded DNS ----------------------------------------------------------

    @staticmethod
    def _has_dns(net: dict) -> bool:
        # Docker: only user-defined networks get the embedded resolver; the default
        # bridge's containers use the configured servers directly.
        return net["name"] != DEFAULT_NETWORK_NAME

    def _register_names(self, net: dict) -> None:
        """Put a network and its endpoints' names in the name table (no listeners yet)."""
        if not self._has_dns(net):
            return
        self._names.set_network(net["id"], net["name"], net["internal"])
        for eid, ep in net["endpoints"].items():
            if "dns" in ep:
                self._names.set_endpoint(net["id"], eid, ep["ip"], ep["dns"]["names"], ep["dns"].get("links"),
                                         ep.get("ip6", ""))

    def _start_dns(self, net: dict, endpoint_id: str, ep: dict) -> None:
        """Make the endpoint's names resolvable and serve its container. Raises DriverError."""
        if "dns" not in ep:
            return
        self._names.set_endpoint(net["id"], endpoint_id, ep["ip"], ep["dns"]["names"], ep["dns"].get("links"),
                                 ep.get("ip6", ""))
        self._dns.attach(net["id"], endpoint_id, ep["netns"], ep["dns"]["upstreams"] or None)

    def _stop_dns(self, network_id: str, endpoint_id: str) -> None:
        self._dns.detach(network_id, endpoint_id)
        self._names.remove_endpoint(network_id, endpoint_id)

    def _restore_dns(self, net: dict, ipr) -> None:
        """After a restart: serve again every endpoint whose container (namespace and veth) is still there."""
        from berth.plugins.netdrivers import links

        for eid, ep in net["endpoints"].items():
            if "dns" not in ep or self._dns.serves(net["id"], eid):
                continue
            try:
                alive = (links.index_of(ipr, ep["host_veth"]) is not None
                         and list(dns.namespace_key(ep["netns"])) == ep["dns"]["netns_key"])
            except BerthError:
                alive = False
            if not alive:
                # The container went away while the daemon was down (its path may even name
                # another process now): keep the record for the engine's leave, drop the names.
                self._names.remove_endpoint(net["id"], eid)
                continue
            try:
                self._start_dns(net, eid, ep)
            except BerthError as exc:
                log.warning("network %s: embedded DNS for endpoint %s cannot be restored: %s", net["name"], eid[:12], exc)

    # -- networks ------------------------------------------------------------

    def _bridge_name(self, network: NetworkConfig) -> str:
        name = network.options.get(OPT_BRIDGE_NAME)
        if not name and network.name == DEFAULT_NETWORK_NAME:
            name = self.options.get("bridge") or DEFAULT_BRIDGE
        name = name or f"br-{network.id[:12]}"
        if len(name) > MAX_IFNAME or "/" in name or " " in name:
            raise InvalidArgument(f"bridge name {name!r} is invalid: at most {MAX_IFNAME} characters, no '/' or spaces")
        return name

    def _plan_pool(self, network: NetworkConfig, ipr) -> ipam.Pool:
        from berth.plugins.netdrivers.links import routes_in_use

        gateway = ipam.parse_address(network.gateway, "gateway") if network.gateway else None
        ip_range = ipam.parse_network(network.ip_range, "ip-range") if network.ip_range else None
        others = [ipam.Pool.from_dict(n["pool"]).subnet for n in self._networks.values()]
        if network.subnet:
            subnet = ipam.parse_network(network.subnet, "subnet")
            clash = next((o for o in others if o.overlaps(subnet)), None)
            if clash is not None:
                raise Conflict(f"subnet {subnet} of network {network.name} overlaps {clash} of another bridge network")
        elif network.name == DEFAULT_NETWORK_NAME and self.options.get("bip"):
            subnet, bip_gateway = ipam.parse_bip(self.options["bip"])
            gateway = gateway or bip_gateway
        else:
            pools = self.options.get("default_address_pools") or ipam.DEFAULT_ADDRESS_POOLS
            subnet = ipam.choose_subnet(pools, others + routes_in_use(ipr))
        pool = ipam.Pool.create(subnet, gateway, ip_range)
        pool.reserve(_aux_of_family(network.aux_addresses, 4))
        return pool

    def _plan_pool6(self, network: NetworkConfig) -> ipam.Pool | None:
        """The IPv6 pool asked for (``subnet6``), checked even when IPv6 stays off (dockerd's IPAM
        takes it then too); None without one. There are no default IPv6 pools to choose from."""
        if network.enable_ipv6 and not network.subnet6:
            raise InvalidArgument(f"network {network.name}: IPv6 needs an IPv6 subnet; "
                                  "the bridge driver has no default IPv6 pool")
        if not network.subnet6:
            return None
        subnet = ipam.parse_network(network.subnet6, "IPv6 subnet", 6)
        gateway = ipam.parse_address(network.gateway6, "IPv6 gateway", 6) if network.gateway6 else None
        ip_range = ipam.parse_network(network.ip_range6, "IPv6 ip-range", 6) if network.ip_range6 else None
        others = [ipam.Pool.from_dict(n["pool6"]).subnet for n in self._networks.values() if n.get("pool6")]
        clash = next((o for o in others if o.overlaps(subnet)), None)
        if clash is not None:
            raise Conflict(f"subnet {subnet} of network {network.name} overlaps {clash} of another bridge network")
        pool = ipam.Pool.create(subnet, gateway, ip_range)
        pool.reserve(_aux_of_family(network.aux_addresses, 6))
        return pool

    def _ensure_bridge(self, ipr, net: dict) -> bool:
        """The network's bridge, up, with its gateway addresses (IPv6 turned on for it first, as the
        namespace may have it off by default). True when this call created it."""
        from berth.plugins.netdrivers import links
        from berth.plugins.netdrivers.netns import set_ipv6

        pool, pool6 = self._pool(net), self._pool6(net)
        created = links.ensure_bridge(ipr, net["bridge"], pool.gateway, pool.subnet, net["mtu"])
        if pool6 is not None:
            set_ipv6(net["bridge"], True)
            links.ensure_address6(ipr, net["bridge"], pool6.gateway, pool6.subnet.prefixlen)
        return created

    def _mtu(self, network: NetworkConfig) -> int:
        raw = network.options.get(OPT_MTU) or self.options.get("mtu") or 1500
        try:
            mtu = int(raw)
        except ValueError:
            raise InvalidArgument(f"invalid MTU {raw!r} for network {network.name}: give a number such as 1500") from None
        if not 68 <= mtu <= 65535:
            raise InvalidArgument(f"invalid MTU {mtu} for network {network.name}: must be between 68 and 65535")
        return mtu

    @hookimpl
    def net_create_network(self, network: NetworkConfig) -> dict:
        from berth.plugins.netdrivers import links
        from berth.plugins.netdrivers.netns import iproute

        with self._lock, iproute() as ipr:
            existing = self._networks.get(network.id)
            if existing is not None:
                self._reconcile(existing, ipr)
                return self._public_options(existing)
            bridge = self._bridge_name(network)
            if any(n["bridge"] == bridge for n in self._networks.values()):
                raise Conflict(f"bridge {bridge} is already used by another network; choose another bridge name")
            pool = self._plan_pool(network, ipr)
            pool6 = self._plan_pool6(network)
            net = {
                "id": network.id, "name": network.name, "bridge": bridge, "mtu": self._mtu(network),
                "internal": bool(network.internal or _bool_opt(network.options.get(OPT_INTERNAL, ""))),
                "pool": pool.to_dict(), "endpoints": {},
                "pool6": pool6.to_dict() if pool6 is not None and network.enable_ipv6 else None,
            }
            created = False
            try:
                created = self._ensure_bridge(ipr, net)
                self._networks[network.id] = net
                self._apply_rules()
                if not net["internal"]:
                    nat.enable_ip_forwarding()
                self._save(net)
                self._register_names(net)
            except BaseException as exc:
                # Leave nothing half-made: no state, no rules for it, no bridge we created.
                self._networks.pop(network.id, None)
                store.remove(self._path(network.id))
                if created:
                    links.delete_link(ipr, bridge)
                try:
                    self._apply_rules()
                except BerthError:
                    log.exception("restoring the nftables ruleset after a failed network create")
                if isinstance(exc, (BerthError, KeyboardInterrupt)):
                    raise
                raise DriverError(f"network driver 'bridge': creating network {network.name} on bridge {bridge} failed: {exc}") from exc
            return self._public_options(net)

    @staticmethod
    def _public_options(net: dict) -> dict:
        pool = net["pool"]
        return {
            OPT_BRIDGE_NAME: net["bridge"], OPT_MTU: str(net["mtu"]),
            "subnet": pool["subnet"], "gateway": pool["gateway"], "ip_range": pool.get("ip_range") or "",
        }

    def _reconcile(self, net: dict, ipr) -> None:
        """Bring the kernel back to the persisted state of ``net`` (bridge, address, rules, proxies)."""
        self._ensure_bridge(ipr, net)
        self._apply_rules()
        if not net["internal"]:
            nat.enable_ip_forwarding()
        self._register_names(net)
        self._restore_dns(net, ipr)
        for eid, ep in net["endpoints"].items():
            for p in ep.get("ports", []):
                key = (net["id"], eid, self._binding_key(p))
                if key in self._forwards:
                    continue
                try:
                    self._forwards[key] = self._proxy.add(p["proto"], p["host_ip"], p["host_port"], ep["ip"], p["container_port"])
                except BerthError as exc:
                    log.warning("network %s: published port %s/%s cannot be restored: %s",
                                net["name"], p["host_port"], p["proto"], exc)

    @hookimpl
    def net_delete_network(self, network_id: str) -> bool:
        from berth.plugins.netdrivers import links
        from berth.plugins.netdrivers.netns import iproute

        with self._lock, iproute() as ipr:
            net = self._networks.get(network_id)
            if net is None:
                return True
            for eid in list(net["endpoints"]):
                self._drop_endpoint(net, eid, ipr)
            links.delete_link(ipr, net["bridge"])
            del self._networks[network_id]
            self._names.remove_network(network_id)
            self._apply_rules()
            store.remove(self._path(network_id))
            return True

    # -- endpoints -----------------------------------------------------------

    @hookimpl
    def net_sandbox(self, network_id: str, container_id: str) -> Sandbox:
        # A fresh namespace from the exec driver; the veth is moved in at join time.
        return Sandbox()

    def _host_netlink(self):
        """A netlink socket in berthd's own namespace, opened once and kept (the caller holds the lock).

        Opening one costs more than most requests sent on it, and every join and leave needs one.
        """
        from berth.plugins.netdrivers.netns import iproute

        if self._ipr is None:
            self._ipr = iproute()
        return self._ipr

    @hookimpl
    def net_join(self, network_id: str, endpoint_id: str, netns_path: str | None, options: dict) -> EndpointInfo:
        from berth.plugins.netdrivers import links

        options = options or {}
        if netns_path is None:
            raise InvalidArgument(f"network driver 'bridge': endpoint {endpoint_id[:12]} has no network namespace to join")
        with self._lock:
            net = self._get(network_id)
            old = net["endpoints"].get(endpoint_id)
            host_veth = _host_veth_name(network_id, endpoint_id)
            upstreams = dns.validate_servers(options.get("dns") or [], f"DNS servers of endpoint {endpoint_id[:12]}")
            ipr = self._host_netlink()
            if old is not None and links.index_of(ipr, host_veth) is not None:
                # already joined (idempotent): only the names may change (a renamed container)
                self._rename(net, endpoint_id, old, options)
                self._start_dns(net, endpoint_id, old)  # a no-op unless the daemon restarted or names changed
                return self._endpoint_info(net, endpoint_id, old)
            if old is not None:  # stale record: its veth is gone with an old namespace
                links.delete_link(ipr, host_veth)
            pool, pool6 = self._pool(net), self._pool6(net)
            address = pool.allocate(endpoint_id, options.get("ip") or None)
            net["pool"] = pool.to_dict()
            mac = options.get("mac_address") or links.mac_for(address)
            try:
                # an --ip6 on a network without IPv6 is only recorded by the engine, as dockerd does
                address6 = None
                if pool6 is not None:
                    address6 = pool6.allocate(endpoint_id, options.get("ip6") or None)
                    net["pool6"] = pool6.to_dict()
                ifname = self._plumb(ipr, net, host_veth, netns_path, mac, (address, pool), (address6, pool6),
                                     options.get("link_local_ips") or [])
                netns_key = list(dns.namespace_key(netns_path))
                ep = {"ip": str(address), "mac": mac, "ifname": ifname, "host_veth": host_veth,
                      "netns": netns_path, "netns_key": netns_key,
                      "aliases": list(options.get("aliases") or []),
                      "container_name": options.get("container_name", ""),
                      "hostname": options.get("hostname", ""), "ports": []}
                if address6 is not None:
                    ep["ip6"] = str(address6)
                if self._has_dns(net):
                    ep["dns"] = {"names": dns_names(endpoint_id, options), "upstreams": upstreams,
                                 "netns_key": netns_key, "links": dict(options.get("links") or {})}
                net["endpoints"][endpoint_id] = ep
                self._start_dns(net, endpoint_id, ep)
                self._save(net)
            except BaseException as exc:
                self._stop_dns(network_id, endpoint_id)
                links.delete_link(ipr, host_veth)
                self._release(net, endpoint_id)
                net["endpoints"].pop(endpoint_id, None)
                self._save(net)
                if isinstance(exc, (BerthError, KeyboardInterrupt)):
                    raise
                raise DriverError(
                    f"network driver 'bridge': attaching endpoint {endpoint_id[:12]} to network "
                    f"{net['name']} failed: {exc}"
                ) from exc
            return self._endpoint_info(net, endpoint_id, ep)

    def _release(self, net: dict, endpoint_id: str) -> None:
        """Give ``endpoint_id``'s addresses back to the network's pools (the caller saves)."""
        pool, pool6 = self._pool(net), self._pool6(net)
        pool.release(endpoint_id)
        net["pool"] = pool.to_dict()
        if pool6 is not None:
            pool6.release(endpoint_id)
            net["pool6"] = pool6.to_dict()

    @staticmethod
    def _plumb(ipr, net: dict, host_veth: str, netns_path: str, mac: str, v4: tuple, v6: tuple,
               link_local: list[str]) -> str:
        """The veth pair from the bridge into the namespace, addressed and routed; the container-side name.
        ``v4``, ``v6``: (address, its pool), the IPv6 address None on a network without IPv6;
        ``link_local``: more addresses for it (``--link-local-ip``), each in 169.254.0.0/16.

        Nine netlink requests in all: the bridge's index, one dump of the namespace's interfaces
        (free name, ``lo``'s state), the pair made on the bridge and up with its MAC, hairpin, and
        in the namespace: ``lo`` up if it is down, the address, up, the default route (and the
        IPv6 address and default route); and the interface's ``disable_ipv6`` sysctl.
        """
        from berth.plugins.netdrivers import links
        from berth.plugins.netdrivers.netns import iproute, open_fd, set_ipv6

        (address, pool), (address6, pool6) = v4, v6
        ipv6 = None
        if address6 is not None:
            ipv6 = (address6, pool6.subnet.prefixlen, None if net["internal"] else pool6.gateway)

        bridge = links.index_of(ipr, net["bridge"])
        if bridge is None:
            raise DriverError(f"network driver 'bridge': bridge {net['bridge']} of network {net['name']} does not exist")
        fd = open_fd(netns_path)
        try:
            with iproute(netns_path) as cipr:
                present = links.names_and_flags(cipr)
                ifname = links.free_ifname(present)
                links.create_veth(ipr, host_veth, ifname, fd, bridge, net["mtu"], mac)
                # before it is up, as dockerd: without IPv6 on the network, not even a link-local address
                set_ipv6(ifname, ipv6 is not None, netns_path)
                links.configure_container_side(cipr, ifname, address, pool.subnet.prefixlen,
                                               None if net["internal"] else pool.gateway, present.get("lo"), ipv6)
                links.add_addresses(cipr, ifname, [(ipam.parse_address(ip, "link-local IP"), 16) for ip in link_local])
        finally:
            os.close(fd)
        return ifname

    def _rename(self, net: dict, endpoint_id: str, ep: dict, options: dict) -> None:
        """Take the names of a join of an endpoint that is already joined (the caller holds the lock)."""
        if not options.get("container_name"):
            return
        ep.update(container_name=options["container_name"], hostname=options.get("hostname", ep["hostname"]),
                  aliases=list(options.get("aliases") or []))
        if "dns" in ep:
            ep["dns"]["names"] = dns_names(endpoint_id, options)
            ep["dns"]["links"] = dict(options.get("links") or {})
        self._save(net)

    def _endpoint_info(self, net: dict, endpoint_id: str, ep: dict) -> EndpointInfo:
        pool = net["pool"]
        prefix = pool["subnet"].split("/")[1]
        extra = {"bridge": net["bridge"], "host_interface": ep["host_veth"]}
        info = EndpointInfo(
            endpoint_id=endpoint_id, interface=ep["ifname"], ipv4_address=f"{ep['ip']}/{prefix}",
            gateway="" if net["internal"] else pool["gateway"], mac_address=ep["mac"], extra=extra,
            resolver=dns.ADDRESS if "dns" in ep else "",  # the engine points the container's resolv.conf here
        )
        pool6 = net.get("pool6")
        if pool6 and ep.get("ip6"):
            info.ipv6_address = f"{ep['ip6']}/{pool6['subnet'].split('/')[1]}"
            info.ipv6_gateway = "" if net["internal"] else pool6["gateway"]
        return info

    def _drop_endpoint(self, net: dict, endpoint_id: str, ipr) -> None:
        """Remove an endpoint's forwards, veth and address from ``net`` (caller saves and reloads rules)."""
        from berth.plugins.netdrivers import links

        ep = net["endpoints"].pop(endpoint_id, None)
        # First: the resolver's sockets hold the container's namespace (and so its veth) alive.
        self._stop_dns(net["id"], endpoint_id)
        for key in [k for k in self._forwards if k[0] == net["id"] and k[1] == endpoint_id]:
            self._proxy.remove(self._forwards.pop(key))
        links.delete_link(ipr, _host_veth_name(net["id"], endpoint_id) if ep is None else ep["host_veth"])
        self._release(net, endpoint_id)

    @hookimpl
    def net_leave(self, network_id: str, endpoint_id: str) -> bool:
        with self._lock:
            net = self._networks.get(network_id)
            if net is None:
                return True
            ep = net["endpoints"].get(endpoint_id, {})
            pools_before = (net["pool"], net.get("pool6"))
            self._drop_endpoint(net, endpoint_id, self._host_netlink())
            if not ep and (net["pool"], net.get("pool6")) == pools_before:
                # left before (the teardown at exit, then again at rm): a veth a crash left behind went
                # above, and there is no state to write (each write is an fsync on the join's path)
                return True
            self._save(net)
            if ep.get("ports"):
                self._apply_rules()
            if ep.get("netns_key") and not net["internal"]:
                self._move_default_route(ep["netns_key"])
            return True

    def _move_default_route(self, netns_key: list[int]) -> None:
        """The container still runs and lost its default route with the endpoint that gave it: take the
        next of its networks that has a gateway, as libnetwork does."""
        from berth.plugins.netdrivers import links
        from berth.plugins.netdrivers.netns import iproute

        for net in self._networks.values():
            other = next((ep for ep in net["endpoints"].values() if ep.get("netns_key") == netns_key), None)
            if other is None or net["internal"]:
                continue
            try:  # the path may name another process by now: act only on the very same namespace
                if list(dns.namespace_key(other["netns"])) != netns_key:
                    return
                with iproute(other["netns"]) as cipr:
                    links.ensure_default_route(cipr, other["ifname"], net["pool"]["gateway"])
                    if net.get("pool6") and other.get("ip6"):
                        links.ensure_default_route(cipr, other["ifname"], net["pool6"]["gateway"])
            except (BerthError, OSError) as exc:
                log.info("network %s: no default route moved to endpoint %s: %s", net["name"], other["ifname"], exc)
            return

    # -- ports ---------------------------------------------------------------

    @staticmethod
    def _binding_key(p: dict) -> str:
        return f"{p['proto']}/{p['host_ip']}:{p['host_port']}->{p['container_port']}"

    @hookimpl
    def net_publish_port(self, network_id: str, endpoint_id: str, binding: PortBinding) -> PortBinding:
        with self._lock:
            net = self._get(network_id)
            ep = net["endpoints"].get(endpoint_id)
            if ep is None:
                raise NotFound(f"endpoint {endpoint_id[:12]} is not attached to network {net['name']}: join before publishing")
            proto = (binding.proto or "tcp").lower()
            if not 0 < binding.container_port < 65536 or not 0 <= binding.host_port < 65536:
                raise InvalidArgument(f"invalid port mapping {binding.host_port}:{binding.container_port}/{proto}")
            host_ip = binding.host_ip or "0.0.0.0"
            if host_ip not in ("0.0.0.0",):
                ipam.parse_address(host_ip, "host IP")
            for p in ep["ports"]:  # the same request again (daemon restart): answer the existing binding
                if (p["proto"], p["host_ip"], p["container_port"]) == (proto, host_ip, binding.container_port) \
                        and binding.host_port in (0, p["host_port"]):
                    return replace(binding, proto=proto, host_ip=host_ip, host_port=p["host_port"], container_ip=ep["ip"])
            fwd = self._proxy.add(proto, host_ip, binding.host_port, ep["ip"], binding.container_port)
            record = {"proto": proto, "host_ip": host_ip, "host_port": fwd.host_port, "container_port": binding.container_port}
            ep["ports"].append(record)
            key = (network_id, endpoint_id, self._binding_key(record))
            try:
                self._apply_rules()
                self._save(net)
            except BaseException:
                ep["ports"].remove(record)
                self._proxy.remove(fwd)
                self._apply_rules()
                raise
            self._forwards[key] = fwd
            return replace(binding, proto=proto, host_ip=host_ip, host_port=fwd.host_port, container_ip=ep["ip"])

    @hookimpl
    def net_unpublish_port(self, network_id: str, endpoint_id: str, binding: PortBinding) -> bool:
        with self._lock:
            net = self._networks.get(network_id)
            ep = net["endpoints"].get(endpoint_id) if net else None
            if ep is None:
                return True
            proto = (binding.proto or "tcp").lower()
            host_ip = binding.host_ip or "0.0.0.0"
            gone = [p for p in ep["ports"]
                    if (p["proto"], p["host_ip"], p["container_port"]) == (proto, host_ip, binding.container_port)
                    and binding.host_port in (0, p["host_port"])]
            if not gone:
                return True
            for p in gone:
                ep["ports"].remove(p)
                fwd = self._forwards.pop((network_id, endpoint_id, self._binding_key(p)), None)
                if fwd is not None:
                    self._proxy.remove(fwd)
            self._apply_rules()
            self._save(net)
            return True

    # -- reporting -----------------------------------------------------------

    @hookimpl
    def net_status(self) -> list[tuple[str, str]]:
        with self._lock:
            bridges = ", ".join(sorted(n["bridge"] for n in self._networks.values())) or "(none)"
            return [
                ("Bridges", bridges),
                ("Endpoints", str(sum(len(n["endpoints"]) for n in self._networks.values()))),
                ("Published ports", str(len(self._forwards))),
                ("Embedded DNS", f"{dns.ADDRESS} in {self._dns.listener_count()} containers"),
                ("Firewall", f"nftables table ip {nat.TABLE}"),
            ]

    @hookimpl
    def net_cleanup(self) -> bool:
        """Stop the port proxy and the embedded DNS (daemon shutdown). Kernel state stays for the next start to reconcile."""
        with self._lock:
            self._proxy.close()
            self._dns.close()
            self._forwards.clear()
            if self._ipr is not None:
                self._ipr.close()
                self._ipr = None
        return True
