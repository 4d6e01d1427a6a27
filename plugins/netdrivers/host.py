"""The ``host`` network driver: the container shares the daemon's network namespace.

As Docker's ``--network host``: no isolation, nothing to create or remove, and no
port publishing (the container's ports already are the host's).
"""

from __future__ import annotations

from berth.driverkit import hookimpl
from berth.hookspecs import CONTRACT
from berth.hookspecs.types import EndpointInfo, NetworkConfig, Sandbox


class HostDriver:
    """Containers use the host's interfaces, addresses and routes directly."""

    name = "host"
    contract = CONTRACT  # built-ins follow the contract of the berth they ship with
    description = "share the host's network namespace (no isolation)"
    priority = 0

    @classmethod
    def probe(cls, root: str) -> str | None:
        return None

    def __init__(self, root: str, options: dict):
        self.root = root
        self.options = options

    @hookimpl
    def net_create_network(self, network: NetworkConfig) -> dict:
        return {}

    @hookimpl
    def net_delete_network(self, network_id: str) -> bool:
        return True

    @hookimpl
    def net_sandbox(self, network_id: str, container_id: str) -> Sandbox:
        return Sandbox(share_host=True)

    @hookimpl
    def net_join(self, network_id: str, endpoint_id: str, netns_path: str | None, options: dict) -> EndpointInfo:
        # Nothing is attached: the container sees the host's own interfaces, so there is
        # no interface, address or gateway of the endpoint's own to report.
        return EndpointInfo(endpoint_id=endpoint_id)

    @hookimpl
    def net_leave(self, network_id: str, endpoint_id: str) -> bool:
        return True

    @hookimpl
    def net_status(self) -> list[tuple[str, str]]:
        return []
