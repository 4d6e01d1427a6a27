"""A container's networks: its sandbox, joining its endpoints at start, connect and disconnect at any time.

Docker's endpoint model (see :mod:`berth.containers.endpoints`): ``HostConfig.NetworkMode``
says how the namespace is made (the host's, another container's, or a new one), and the
endpoints are whatever networks the container is connected to now, none included. Created
and stopped containers only have their endpoint settings edited; a running one joins or
leaves at once. Published ports live on one endpoint, the *gateway* one (``c.network``):
the network-mode's network when the container is on it, else the first network with a
gateway, as libnetwork picks the endpoint that gives a sandbox its default route.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import Any

from berth import log
from berth.containers import endpoints, etcfiles, legacylinks, netmode, ports as portmap
from berth.containers.model import Container, State
from berth.errors import BerthError, Conflict, Forbidden, InvalidArgument, NotFound, Unclassified
from berth.hookspecs.types import Sandbox


class NetworkingMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    # -- start -----------------------------------------------------------------

    def _network_of(self, name: str, record: dict[str, Any]):
        """The network an endpoint names, or None: a joined user-defined network by its id (so a network
        removed and made again under the same name is not silently another one, as in dockerd)."""
        if record.get("network_id") and netmode.is_user_defined(name):
            return next((n for n in self.networks.networks.values() if n.id == record["network_id"]), None)
        return self.networks.find(name, missing_ok=True)

    def _plan_networks(self, c: Container) -> list[tuple[str, Any, dict[str, Any]]]:
        """Resolve and check every endpoint before anything runs; the default bridge first, as dockerd joins it."""
        plan = []
        for name, record in sorted(c.endpoints.items(), key=lambda item: item[0] != "bridge"):
            network = self._network_of(name, record)
            if network is None:
                raise NotFound(f"network {record.get('network_id') or name} not found")
            endpoints.check_settings(network, record)
            if netmode.is_user_defined(network.name):
                endpoints.add_implicit_aliases(record, c.short_id, c.hostname)
            plan.append((name, network, record))
        return plan

    def _sandbox(self, c: Container) -> Sandbox:
        """The namespace the container lives in: the host's, another container's, or a new one."""
        mode = c.host_config.get("NetworkMode") or netmode.DEFAULT
        ref = netmode.container_ref(mode)
        if ref is not None:
            other = self._network_container(c, ref)
            if (other.host_config.get("NetworkMode") or "") == "host":
                return Sandbox(share_host=True)
            return Sandbox(netns_path=f"/proc/{other.state.pid}/ns/net")
        network = self.networks.find(netmode.network_name(mode, self.networks.default_network()), missing_ok=True)
        return self.networks.sandbox(network, c.id) if network is not None else Sandbox()

    def _network_container(self, c: Container, ref: str) -> Container:
        """X of ``container:X``, which must run (dockerd's errors)."""
        other = self.get(ref)
        if other.id == c.id:
            raise InvalidArgument("cannot join own network")
        if other.state.status == State.RESTARTING:
            raise Conflict(f"Container {other.id} is restarting, wait until the container is running")
        if other.state.status not in (State.RUNNING, State.PAUSED):
            raise Conflict(f"cannot join network of a non running container: {other.id}")
        return other

    def _join_networks(self, c: Container, netns: str | None, plan) -> list:
        """Join every planned endpoint, then write /etc files and publish ports (worker thread).

        Returns the networks joined, for the caller's ``network connect`` events.
        """
        joined = []
        for name, network, record in plan:
            if name != network.name:  # stored under the name given before the network existed
                c.endpoints[network.name] = c.endpoints.pop(name)
            self._join_one(c, network, record, netns)
            joined.append(network)
        if plan:
            self._write_etc_files(c, in_place=True)
        self._publish_ports(c)
        if "bridge" in c.endpoints:
            self._refresh_linking_containers(c)
        return joined

    def _join_one(self, c: Container, network, record: dict[str, Any], netns: str | None) -> None:
        info = self.networks.join(network, c.id, netns, self._join_options(c, record))
        record.update(network_id=network.id, endpoint_id=secrets.token_hex(32), interface=info.interface,
                      ipv4_address=info.ipv4_address, gateway=info.gateway, mac_address=info.mac_address,
                      dns=info.extra.get("dns", ""), netns=netns or "")

    def _join_options(self, c: Container, record: dict[str, Any]) -> dict[str, Any]:
        """What a network driver may use: names for its resolver, a requested address, upstream DNS, links."""
        options = {"container_name": c.name, "hostname": c.hostname, "aliases": record.get("aliases") or [],
                   "dns": c.host_config.get("Dns") or []}
        if record.get("ip"):
            options["ip"] = record["ip"]
        if record.get("mac"):
            options["mac_address"] = record["mac"]
        if record.get("links"):
            options["links"] = legacylinks.dns_aliases(record["links"])
        return options

    # -- /etc/hosts and /etc/resolv.conf -------------------------------------------

    def _write_etc_files(self, c: Container, in_place: bool = False) -> dict[str, str]:
        """Write the container's hostname, hosts and resolv.conf from its endpoints; return {container path: host path}.

        A container on a user-defined network asks the embedded resolver (127.0.0.11); once it
        did, it keeps doing so for the rest of the run, as dockerd never rewrites it back.
        """
        hc = c.host_config
        joined = [r for r in c.endpoints.values() if endpoints.is_joined(r)]
        addresses = [r["ipv4_address"].split("/")[0] for r in joined if r.get("ipv4_address")]
        embedded = any(r.get("dns") for r in joined) or (in_place and self._resolves_embedded(c))
        search = hc.get("DnsSearch") or self.dns.get("dns_search", [])
        options = hc.get("DnsOptions") or self.dns.get("dns_opts", [])
        if embedded:  # Docker's embedded resolver: the real servers are its upstreams, not the container's
            resolv = etcfiles.embedded_resolv_conf(search, options)
        else:
            resolv = etcfiles.resolv_conf_content(hc.get("Dns") or self.dns.get("dns", []), search, options)
        links = legacylinks.hosts_lines(c, self.get) if "bridge" in c.endpoints else []
        hosts = etcfiles.hosts_content(c.hostname, addresses, hc.get("ExtraHosts"), links,
                                       c.config.get("Domainname") or "")
        return etcfiles.write_etc_files(self.store.directory(c.id), c.hostname, hosts, resolv, in_place)

    def _resolves_embedded(self, c: Container) -> bool:
        return etcfiles.points_at_embedded_dns(self.store.directory(c.id))

    def _etc_files(self, c: Container) -> dict[str, str]:
        """The files to bind at start: the container's own, or those of X for ``container:X`` (shared, as in dockerd)."""
        ref = netmode.container_ref(c.host_config.get("NetworkMode") or "")
        if ref is None:
            return self._write_etc_files(c)
        other = self.get(ref)
        c.hostname = other.hostname
        c.config["Hostname"] = other.hostname
        c.config["Domainname"] = other.config.get("Domainname") or ""
        return etcfiles.paths(self.store.directory(other.id))

    def etc_paths(self, c: Container) -> dict[str, str]:
        """Where the container's hostname, hosts and resolv.conf are (X's for ``container:X``), for inspect."""
        ref = netmode.container_ref(c.host_config.get("NetworkMode") or "")
        try:
            owner = self.get(ref) if ref else c
        except NotFound:
            owner = c
        return etcfiles.paths(self.store.directory(owner.id))

    def _refresh_linking_containers(self, child: Container) -> None:
        """A container that others link to got a new address: rewrite their /etc/hosts (dockerd's parent update)."""
        for parent in list(self.store.containers.values()):
            if parent.id != child.id and parent.state.running and "bridge" in parent.endpoints \
                    and legacylinks.links_to(parent, child):
                try:
                    self._write_etc_files(parent, in_place=True)
                except OSError as exc:
                    log.get().warning("container.link_update", container_id=parent.short_id, error=str(exc))

    # -- ports ----------------------------------------------------------------------

    def _gateway(self, c: Container) -> str:
        """The endpoint that carries published ports: the network mode's, else the first with a gateway."""
        candidates = [name for name, r in c.endpoints.items()
                      if endpoints.is_joined(r) and r.get("ipv4_address") and r.get("gateway")]
        mode = netmode.network_name(c.host_config.get("NetworkMode") or "", self.networks.default_network())
        return mode if mode in candidates else next(iter(candidates), "")

    def _publish_ports(self, c: Container) -> None:
        """Publish the requested ports on the gateway endpoint (none without one, as in dockerd)."""
        c.network = self._gateway(c)
        wanted = portmap.requested(c.host_config, c.config.get("ExposedPorts") or {})
        if not wanted or not c.network:
            return
        network = self.networks.find(c.network)
        driver = self.networks.driver(network.driver)
        address = c.endpoints[c.network]["ipv4_address"].split("/")[0]
        c.ports = []
        for binding in wanted:
            done = driver.publish_port(network.id, c.id, replace(binding, container_ip=address))
            c.ports.append(portmap.to_record(done))

    def _unpublish_ports(self, c: Container) -> None:
        network = self.networks.find(c.network, missing_ok=True) if c.network else None
        for record in c.ports:
            if network is not None:
                self.networks.driver(network.driver).unpublish_port(network.id, c.id, portmap.from_record(record))
        c.ports = []

    def _republish(self, c: Container) -> None:
        """The daemon's userland proxy died with the old daemon: open the listeners again."""
        network = self.networks.find(c.network, missing_ok=True) if c.network else None
        if network is None:
            return
        driver = self.networks.driver(network.driver)
        for record in c.ports:
            binding = portmap.from_record(record)
            try:
                driver.unpublish_port(network.id, c.id, binding)
                driver.publish_port(network.id, c.id, binding)
            except BerthError as exc:
                log.get().warning("container.republish", container_id=c.short_id, error=exc.message)

    # -- leaving --------------------------------------------------------------------

    def _leave_one(self, c: Container, network, record: dict[str, Any]) -> None:
        """Detach one joined endpoint; its ports move to the next gateway endpoint, if any (worker thread)."""
        moves_ports = c.network == network.name
        if moves_ports:
            self._unpublish_ports(c)
        self.networks.leave(network, c.id)
        endpoints.clear_runtime(record)
        if moves_ports:
            self._publish_ports(c)

    def _leave_all(self, c: Container) -> tuple[list, list[str]]:
        """Release every endpoint and the ports of a run (teardown); return the networks left and the errors."""
        left, errors = [], []
        try:
            self._unpublish_ports(c)
        except Exception as exc:
            errors.append(str(exc))
        for name, record in c.endpoints.items():
            joined = endpoints.is_joined(record)
            network = self._network_of(name, record)
            try:
                if network is not None:
                    self.networks.leave(network, c.id)
            except Exception as exc:
                errors.append(str(exc))
            endpoints.clear_runtime(record)
            if joined and network is not None:
                left.append(network)
        c.network = ""
        return left, errors

    def publish_network_events(self, c: Container, action: str, networks: list) -> None:
        """``network connect``/``disconnect`` with dockerd's attributes."""
        for network in networks:
            self.events.publish("network", action, network.id,
                                {"container": c.id, "name": network.name, "type": network.docker_driver})

    # -- connect and disconnect -------------------------------------------------------

    async def connect(self, ref: str, network_ref: str, endpoint_cfg: dict[str, Any] | None) -> None:
        c = self.get(ref)
        record = endpoints.new_record(endpoint_cfg)
        async with self.lock(c.id):
            self._refuse_if_removing(c)
            if c.state.status in (State.RUNNING, State.PAUSED):
                network = await self._connect_running(c, network_ref, record)
            else:
                network = None
                self._connect_stopped(c, network_ref, record)
            self.store.save(c)
        if network is not None:  # dockerd reports a connect only when the endpoint is joined
            self.publish_network_events(c, "connect", [network])

    def _connect_stopped(self, c: Container, network_ref: str, record: dict[str, Any]) -> None:
        """Edit the settings only; a network that does not exist yet is kept by the name given (404 at start)."""
        network = self.networks.find(network_ref, missing_ok=True)
        if network is None:
            c.endpoints[network_ref] = record
            return
        if netmode.is_user_defined(network.name):
            endpoints.add_implicit_aliases(record, c.short_id, c.hostname)
        endpoints.check_settings(network, record)
        if not endpoints.check_connect(c, network, self._network_of):
            c.endpoints[network.name] = record  # connecting again keeps the first settings, as dockerd does

    async def _connect_running(self, c: Container, network_ref: str, record: dict[str, Any]):
        if netmode.container_ref(c.host_config.get("NetworkMode") or "") is not None:
            raise InvalidArgument(endpoints.ERR_SHARED)
        network = self.networks.find(network_ref)
        if netmode.is_user_defined(network.name):
            endpoints.add_implicit_aliases(record, c.short_id, c.hostname)
        endpoints.check_settings(network, record)
        if endpoints.check_connect(c, network, self._network_of):
            raise Forbidden(f"endpoint with name {c.name} already exists in network {network.name}")
        netns = None if (c.host_config.get("NetworkMode") or "") == "host" else f"/proc/{c.state.pid}/ns/net"
        c.endpoints[network.name] = record
        try:
            await asyncio.to_thread(self._join_one, c, network, record, netns)
        except BaseException:
            del c.endpoints[network.name]
            raise
        await asyncio.to_thread(self._after_endpoints_changed, c)
        return network

    def _after_endpoints_changed(self, c: Container) -> None:
        """A running container joined or left a network: its /etc/hosts, its ports, the hosts of those linking to it."""
        self._write_etc_files(c, in_place=True)
        if not c.ports:
            self._publish_ports(c)
        self._refresh_linking_containers(c)

    async def disconnect(self, ref: str, network_ref: str, force: bool = False) -> None:
        c = self.get(ref)
        network = self.networks.find(network_ref, missing_ok=True)
        async with self.lock(c.id):
            self._refuse_if_removing(c)
            running = c.state.status in (State.RUNNING, State.PAUSED)
            if not running or (network is None and force):
                key = network.name if network is not None else network_ref
                if key not in c.endpoints:
                    raise Unclassified(f"container {c.id} is not connected to the network {key}")
                del c.endpoints[key]
            elif network is None:
                raise NotFound(f"network {network_ref} not found")
            else:
                await self._disconnect_running(c, network)
            self.store.save(c)
        if network is not None:
            self.publish_network_events(c, "disconnect", [network])

    async def _disconnect_running(self, c: Container, network) -> None:
        if (c.host_config.get("NetworkMode") or "") == "host" and network.driver == "host":
            raise InvalidArgument(endpoints.ERR_HOST)
        record = c.endpoints.get(network.name)
        if record is None or not endpoints.is_joined(record):
            raise Unclassified(f"container {c.id} is not connected to network {network.name}")
        await asyncio.to_thread(self._leave_one, c, network, record)
        del c.endpoints[network.name]
        await asyncio.to_thread(self._after_endpoints_changed, c)

    @staticmethod
    def _refuse_if_removing(c: Container) -> None:
        if c.state.status in (State.REMOVING, State.DEAD):
            raise Unclassified(f"Container {c.id} is marked for removal and cannot be connected or disconnected "
                               "to the network")
