"""The ``none`` network driver: a container gets a network namespace of its own with only ``lo``.

As Docker's ``--network none``: no interface other than loopback, which is brought
up at join time so that programs inside can still talk to 127.0.0.1.
"""

from __future__ import annotations

import socket

from berth.driverkit import InvalidArgument, hookimpl
from berth.hookspecs import CONTRACT
from berth.hookspecs.types import EndpointInfo, NetworkConfig, Sandbox


class NoneDriver:
    """Isolated containers: a fresh network namespace, loopback only."""

    name = "none"
    contract = CONTRACT  # built-ins follow the contract of the berth they ship with
    description = "no networking: a private network namespace with only the loopback interface"
    priority = 0

    @classmethod
    def probe(cls, root: str) -> str | None:
        try:
            import pyroute2  # noqa: F401
        except ImportError as exc:
            return f"pyroute2 is not importable ({exc}); install berth's dependencies"
        return None

    def __init__(self, root: str, options: dict):
        self.root = root
        self.options = options

    @hookimpl
    def net_create_network(self, network: NetworkConfig) -> dict:
        # Nothing exists outside the containers' own namespaces, so creation is trivially idempotent.
        return {}

    @hookimpl
    def net_delete_network(self, network_id: str) -> bool:
        return True

    @hookimpl
    def net_sandbox(self, network_id: str, container_id: str) -> Sandbox:
        # Neither a path nor share_host: the exec driver makes a new, empty namespace.
        return Sandbox()

    @hookimpl
    def net_join(self, network_id: str, endpoint_id: str, netns_path: str | None, options: dict) -> EndpointInfo:
        if netns_path is None:
            raise InvalidArgument(
                f"network driver 'none': endpoint {endpoint_id} has no network namespace to join; "
                "a container on the none network must get a namespace of its own"
            )
        import errno

        from berth.plugins.linux import loopback
        from berth.plugins.netdrivers.netns import entered

        with entered(netns_path):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)  # of that namespace
        with sock:
            try:
                loopback.bring_up(sock)
            except OSError as exc:
                if exc.errno == errno.ENODEV:
                    raise InvalidArgument(f"network namespace {netns_path} has no loopback interface") from None
                raise
        return EndpointInfo(endpoint_id=endpoint_id)

    @hookimpl
    def net_leave(self, network_id: str, endpoint_id: str) -> bool:
        # The namespace (and its lo) goes away with the container; nothing of ours remains.
        return True

    @hookimpl
    def net_status(self) -> list[tuple[str, str]]:
        return []
