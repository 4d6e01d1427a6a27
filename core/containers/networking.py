"""A container's networks: joining them at start, publishing ports, connect and disconnect."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from berth import log
from berth.containers import ports as portmap
from berth.containers.model import Container, State
from berth.errors import BerthError, Conflict


class NetworkingMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    def _join_networks(self, c: Container, netns: str | None) -> None:
        """Attach every network of the container, then publish its ports on the primary one (worker thread)."""
        address, embedded_dns = "", False
        for net_name, record in c.endpoints.items():
            network = self.networks.find(net_name)
            info = self.networks.join(network, c.id, netns, self._join_options(c, record))
            record.update(network_id=network.id, interface=info.interface, ipv4_address=info.ipv4_address,
                          gateway=info.gateway, mac_address=info.mac_address, dns=info.extra.get("dns", ""),
                          netns=netns or "")
            if net_name == c.network:
                address = info.ipv4_address.split("/")[0]
            embedded_dns = embedded_dns or bool(info.extra.get("dns"))
        if address or embedded_dns:
            self._write_etc_files(c, address, embedded_dns, in_place=True)
        self._publish_ports(c)

    @staticmethod
    def _join_options(c: Container, record: dict[str, Any]) -> dict[str, Any]:
        """What a network driver may use: names for its resolver, a requested address, upstream DNS."""
        return {"container_name": c.name, "hostname": c.hostname, "aliases": record.get("aliases") or [],
                "dns": c.host_config.get("Dns") or [], **({"ip": record["ip"]} if record.get("ip") else {})}

    def _publish_ports(self, c: Container) -> None:
        wanted = portmap.requested(c.host_config, c.config.get("ExposedPorts") or {})
        if not wanted or c.host_config.get("NetworkMode") in ("host", "none"):
            return  # Docker ignores published ports with --network host/none
        network = self.networks.find(c.network)
        driver = self.networks.driver(network.driver)
        address = (c.endpoints[c.network].get("ipv4_address") or "").split("/")[0]
        c.ports = []
        for binding in wanted:
            done = driver.publish_port(network.id, c.id, replace(binding, container_ip=address))
            c.ports.append(portmap.to_record(done))

    def _leave(self, net_name: str, container_id: str) -> None:
        network = self.networks.find(net_name, missing_ok=True)
        if network:
            self.networks.leave(network, container_id)

    def _republish(self, c: Container) -> None:
        """The daemon's userland proxy died with the old daemon: open the listeners again."""
        network = self.networks.find(c.network, missing_ok=True)
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

    async def connect(self, ref: str, network_ref: str, endpoint_cfg: dict[str, Any]) -> None:
        c = self.get(ref)
        network = self.networks.find(network_ref)
        if network.name in c.endpoints:
            raise Conflict(f"endpoint with name {c.name} already exists in network {network.name}")
        if c.network in ("host", "none") or network.driver in ("host", "none"):
            raise Conflict("container cannot be disconnected from host/none networks nor connected to them")
        async with self.lock(c.id):
            record = self._endpoint_record(network, endpoint_cfg or {})
            if c.state.status in (State.RUNNING, State.PAUSED):
                netns = next((r.get("netns") for r in c.endpoints.values() if r.get("netns")), None)
                info = await asyncio.to_thread(self.networks.join, network, c.id, netns,
                                               self._join_options(c, record))
                record.update(interface=info.interface, ipv4_address=info.ipv4_address, gateway=info.gateway,
                              mac_address=info.mac_address, dns=info.extra.get("dns", ""), netns=netns or "")
            c.endpoints[network.name] = record
            self.store.save(c)
        self.events.publish("network", "connect", network.id, {"container": c.id, "name": network.name})

    async def disconnect(self, ref: str, network_ref: str, force: bool = False) -> None:
        c = self.get(ref)
        network = self.networks.find(network_ref)
        if network.name not in c.endpoints:
            raise Conflict(f"container {c.id} is not connected to network {network.name}")
        if len(c.endpoints) == 1 and not force and c.state.running:
            raise Conflict(f"container {c.short_id} would be left without a network; use --force")
        async with self.lock(c.id):
            if c.state.status in (State.RUNNING, State.PAUSED):
                await asyncio.to_thread(self.networks.leave, network, c.id)
            del c.endpoints[network.name]
            if c.network == network.name:
                c.network = next(iter(c.endpoints), "none") if c.endpoints else "none"
                if not c.endpoints:
                    none = self.networks.find("none")
                    c.endpoints["none"] = self._endpoint_record(none, {})
            self.store.save(c)
        self.events.publish("network", "disconnect", network.id, {"container": c.id, "name": network.name})
