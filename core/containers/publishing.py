"""Published ports: on the container's gateway endpoint, moved when that endpoint leaves.

libnetwork programs a sandbox's port mappings on the endpoint that gives it its default
route; berth publishes them on the network-mode's network when the container is on it,
else on the first joined network with a gateway (``c.network`` names it while running).
"""

from __future__ import annotations

from dataclasses import replace

from berth import log
from berth.containers import endpoints, netmode, ports as portmap
from berth.containers.model import Container
from berth.errors import BerthError


class PublishingMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

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
