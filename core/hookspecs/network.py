"""Network driver contract: networks, endpoints and the sandboxes containers join.

After libnetwork's ``driverapi`` and CNI. A *network* is created once and lives
until deleted; an *endpoint* is one container's attachment to one network.

The driver class
    Registered under the entry-point group ``berth.netdrivers``, instantiated as
    ``Driver(root, options)``: ``root`` is ``<data-root>/network/<driver name>``,
    the driver's alone (it survives restarts); ``options`` is the daemon's network
    settings, :class:`~berth.hookspecs.types.NetDriverOptions` (its keys are listed
    there). Unlike graph and exec drivers, several network drivers are active at
    once (networks ``bridge``, ``host`` and ``none`` coexist), each in a plugin
    manager of its own, loaded when a network of that driver is first used.

Lifecycle of a container's networking
    1. :func:`net_sandbox` -- before the container exists: which network namespace
       it will get (a new empty one, an existing one, or the host's);
    2. the exec driver creates the container (its process not yet started);
    3. :func:`net_join` -- with the namespace's path (``/proc/<pid>/ns/net``), once
       per network the container is on; then the engine writes /etc/hosts and
       /etc/resolv.conf from the :class:`~berth.hookspecs.types.EndpointInfo`\\ s and
       calls :func:`net_publish_port` for its published ports;
    4. the process starts; when it has stopped: :func:`net_unpublish_port`,
       :func:`net_leave` per endpoint (also for ``network disconnect`` of a running
       container).

    At daemon start the engine calls :func:`net_create_network` again for every
    network it knows, so a driver rebuilds what a reboot lost (a bridge device, rules).

Hooks
    Required: ``net_create_network``, ``net_delete_network``, ``net_sandbox``,
    ``net_join``, ``net_leave``. Optional, with a core default used only when the
    driver does not implement the hook: ``net_publish_port`` (refused: the driver
    publishes nothing, as ``host`` and ``none``), ``net_unpublish_port`` (True),
    ``net_status`` (``[]``), ``net_cleanup`` (True).

Threads and safety
    Hooks are called from worker threads, several at once (two containers joining
    one network). A driver changes network devices, routes and firewall rules only
    inside the container's namespace and in what it created for its networks --
    never the host's own interfaces. The kit runs every test inside network
    namespaces it creates.

Results and errors follow :mod:`berth.hookspecs`: one answer per hook, never None
(``True`` when there is nothing to return), :class:`~berth.hookspecs.NotSupported`
for what the driver cannot do, :mod:`berth.errors` types for the user's mistakes.
"""

from __future__ import annotations

from berth import hookspec
from berth.hookspecs.types import EndpointInfo, JoinOptions, NetworkConfig, PortBinding, Sandbox

# ---------------------------------------------------------------------------
# networks (required)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def net_create_network(network: NetworkConfig) -> dict:
    """Create ``network`` (a bridge device, an address pool, rules...); return driver data to persist.

    The returned dict (``{}`` for none) is stored with the network; its ``subnet`` and
    ``gateway`` keys, when the driver chose the addresses (``network.subnet`` None),
    are what ``network inspect`` shows as the network's IPAM config. Idempotent for a network that already exists
    with the same id (the engine calls it again at every daemon start). A network
    option the driver does not know is refused with ``InvalidArgument``.

    Required; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def net_delete_network(network_id: str) -> bool:
    """Delete the network and everything the driver made for it, endpoints included.

    Idempotent: an unknown id succeeds.

    Required; stops at the first non-None result. Return True.
    """


# ---------------------------------------------------------------------------
# containers (required)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def net_sandbox(network_id: str, container_id: str) -> Sandbox:
    """Say which network namespace the container must be created in (see :class:`Sandbox`).

    Required; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def net_join(network_id: str, endpoint_id: str, netns_path: str | None, options: JoinOptions) -> EndpointInfo:
    """Attach the container whose namespace is ``netns_path`` to the network; return the endpoint.

    ``netns_path`` is None for containers sharing the host's namespace. The driver
    brings ``lo`` up inside the namespace (a new namespace has it down, and
    containers expect 127.0.0.1 to work); the kit checks it. One container may join
    several networks (one endpoint each, all in the same namespace); the first one
    with a gateway gives it its default route, and when that endpoint leaves while
    the container runs the next one should take over (libnetwork's behaviour).
    ``options`` are described by :class:`~berth.hookspecs.types.JoinOptions`.
    Joining an endpoint that is already joined changes nothing but its names (the engine
    joins again with the new names when a running container is renamed) and answers as
    the first join did.
    Say in :class:`EndpointInfo` whether the container can reach DNS servers
    outside it (``external_dns``) or asks one the driver serves (``resolver``).

    Required; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def net_leave(network_id: str, endpoint_id: str) -> bool:
    """Detach the endpoint: remove its interfaces, addresses and rules. Idempotent.

    Required; stops at the first non-None result. Return True.
    """


# ---------------------------------------------------------------------------
# ports, reporting, shutdown (optional)
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def net_publish_port(network_id: str, endpoint_id: str, binding: PortBinding) -> PortBinding:
    """Publish a container port on the host; return the binding with the host port chosen.

    ``binding.host_port`` 0 asks the driver to choose a free port. A host port already
    in use raises ``Conflict`` and leaves nothing configured.

    Optional (core default: refused with NotSupported); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def net_unpublish_port(network_id: str, endpoint_id: str, binding: PortBinding) -> bool:
    """Undo :func:`net_publish_port`; the host port is free again on return. Idempotent.

    Optional (core default: nothing to undo); stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def net_status() -> list[tuple[str, str]]:
    """Return ``(key, value)`` string pairs shown for the driver in ``berth info``.

    Optional (core default: ``[]``); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def net_cleanup() -> bool:
    """Release what the driver instance holds (threads, sockets, helper processes) when the daemon stops.

    Networks, endpoints and running containers' connectivity stay: containers keep
    running without the daemon, and the next instance is given the same ``root``.

    Optional (core default: nothing to release); stops at the first non-None result.
    Return True.
    """
