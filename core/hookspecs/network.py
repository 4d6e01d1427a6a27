"""Network driver contract: networks, endpoints and the sandboxes containers join.

After libnetwork's ``driverapi`` and CNI. A *network* is created once and lives
until deleted; an *endpoint* is one container's attachment to one network. The
engine asks the driver for a container's :class:`Sandbox` before the container
exists, creates the container (its init paused), then calls :func:`net_join` with
the container's network-namespace path, and only then starts the process.

A network driver is a class registered under the entry-point group
``berth.netdrivers``, instantiated as ``Driver(root=<data-root>/network/<name>,
options=<daemon options dict>)``. Unlike graph and exec drivers, several network
drivers are active at once (networks ``bridge``, ``host`` and ``none`` coexist),
each in a plugin manager of its own.

Required hooks: ``net_create_network``, ``net_delete_network``, ``net_sandbox``,
``net_join``, ``net_leave``. Port publishing hooks raise a clear error when the
driver has none (``host`` and ``none`` publish nothing).
"""

from __future__ import annotations

from berth import hookspec
from berth.hookspecs.types import EndpointInfo, NetworkConfig, PortBinding, Sandbox

# ---------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def net_create_network(network: NetworkConfig) -> dict | None:
    """Create ``network`` (bridge device, IPAM pool, rules...). Return driver options to persist.

    Idempotent for a network that already exists with the same id (daemon restart).
    """


@hookspec(firstresult=True)
def net_delete_network(network_id: str) -> bool | None:
    """Delete the network and everything the driver made for it. Idempotent."""


# ---------------------------------------------------------------------------
# containers
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def net_sandbox(network_id: str, container_id: str) -> Sandbox:
    """Say which network namespace the container must be created in (see :class:`Sandbox`)."""


@hookspec(firstresult=True)
def net_join(network_id: str, endpoint_id: str, netns_path: str | None, options: dict) -> EndpointInfo:
    """Attach the container whose namespace is ``netns_path`` to the network.

    ``netns_path`` is None for containers sharing the host's namespace. One container may
    join several networks (one endpoint each, all in the same namespace); the first one with
    a gateway gives it its default route, and when that endpoint leaves while the container
    runs the next one should take over (libnetwork's behaviour).
    ``options`` may carry ``ip`` (a requested address), ``mac_address``, ``aliases`` and the
    names a resolver answers for the endpoint (``container_name``, ``hostname``), upstream
    ``dns`` servers, and ``links`` ({alias: container name}: names that only this endpoint's
    container resolves, Docker's links on user-defined networks). A driver ignores what it
    has no use for. Return the endpoint's interface, address, gateway and MAC.

    Joining an endpoint that is already joined changes nothing but its names (the engine
    joins again with the new names when a running container is renamed) and answers as
    the first join did.
    """


@hookspec(firstresult=True)
def net_leave(network_id: str, endpoint_id: str) -> bool | None:
    """Detach the endpoint: remove its interfaces, addresses and rules. Idempotent."""


@hookspec(firstresult=True)
def net_publish_port(network_id: str, endpoint_id: str, binding: PortBinding) -> PortBinding:
    """Publish a container port on the host; return the binding with the host port chosen.

    A host port already in use raises ``Conflict`` and leaves nothing configured.
    """


@hookspec(firstresult=True)
def net_unpublish_port(network_id: str, endpoint_id: str, binding: PortBinding) -> bool | None:
    """Undo :func:`net_publish_port`. Idempotent."""


@hookspec(firstresult=True)
def net_status() -> list[tuple[str, str]]:
    """Return ``(key, value)`` pairs shown for the driver in ``berth info``."""
