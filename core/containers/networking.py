"""A container's networks: its sandbox, joining its endpoints at start, connect and disconnect at any time.

Docker's endpoint model (see :mod:`berth.containers.endpoints`): ``HostConfig.NetworkMode``
says how the namespace is made (the host's, another container's, or a new one), and the
endpoints are whatever networks the container is connected to now, none included. Created
and stopped containers only have their endpoint settings edited; a running one joins or
leaves at once. Its /etc files follow (:mod:`berth.containers.resolution`), and so do its
published ports (:mod:`berth.containers.publishing`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any

from berth import crashpoints
from berth.containers import endpoints, legacylinks, netmode
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
                      ipv6_address=info.ipv6_address, ipv6_gateway=info.ipv6_gateway,
                      dns=info.resolver, external_dns=info.external_dns, netns=netns or "")

    def _rename_endpoints(self, c: Container) -> None:
        """A running container was renamed: its networks' resolvers answer for the new name, not the old.

        A container that exited meanwhile (its namespace gone) is left alone: its exit's teardown
        takes the endpoints away, and the rename itself stands, as with dockerd."""
        for name, record in c.endpoints.items():
            network = self._network_of(name, record) if endpoints.is_joined(record) else None
            if network is None:
                continue
            netns = record.get("netns") or None
            try:
                self.networks.join(network, c.id, netns, self._join_options(c, record))
            except BerthError:
                if netns and not os.path.exists(netns):
                    return
                raise

    def _join_options(self, c: Container, record: dict[str, Any]) -> dict[str, Any]:
        """What a network driver may use: names for its resolver, a requested address, upstream DNS, links."""
        options = {"container_name": c.name, "hostname": c.hostname, "aliases": record.get("aliases") or [],
                   "dns": c.host_config.get("Dns") or []}
        if record.get("ip"):
            options["ip"] = record["ip"]
        if record.get("ip6"):
            options["ip6"] = record["ip6"]
        if record.get("mac"):
            options["mac_address"] = record["mac"]
        if record.get("links"):
            options["links"] = legacylinks.dns_aliases(record["links"])
        if record.get("link_local_ips"):
            options["link_local_ips"] = list(record["link_local_ips"])
        return options

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
        self.store.save(c)  # the intent first: a crash during the join is undone at restart (restore.py)
        try:
            await asyncio.to_thread(self._join_one, c, network, record, netns)
        except BaseException:
            del c.endpoints[network.name]
            raise
        crashpoints.reached("connect.after_join")
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
