"""The swarm this node belongs to: init, join, leave, inspect, update, lock and unlock.

A single-node swarm: this node is the one manager (and leader) of the swarm it
initialises; no other node can join it, since berthd speaks no swarm protocol to
other nodes, and joining another swarm fails as dockerd's join fails when the remote
manager cannot be reached. Outside a swarm every cluster route answers dockerd's 503.
With ``AutoLockManagers`` the swarm comes back *locked* after a berthd restart and
needs ``swarm unlock`` with its key, as dockerd's does.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any, Callable

from berth.errors import BerthError, Conflict, InvalidArgument, Unavailable
from berth.swarm import addresses, apitypes, gojson, hostaddrs, ids, rootca, swarmspec
from berth.swarm.store import SwarmStore

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
                 'node to swarm and try again.')
NOT_PART_OF_A_SWARM = "This node is not part of a swarm"
ALREADY_PART = ('This node is already part of a swarm. Use "docker swarm leave" to leave this swarm and join '
                'another one.')
LOCKED = ('Swarm is encrypted and needs to be unlocked before it can be used. Please use "docker swarm unlock" to '
          'unlock it.')
LOCKED_LEAVE = "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message."
LAST_MANAGER = ("You are attempting to leave the swarm on a node that is participating as a manager. Removing the "
                "last manager erases all current state of the swarm. Use `--force` to ignore this message. ")
CANNOT_JOIN = ("berth cannot join a swarm managed by another node ({addr} answered): its swarm mode is a single "
               "node's; use swarm init on this node")


class Unauthorized(BerthError):
    status = 401


class Cluster:
    """The node's swarm membership and the cluster record (``swarm inspect``)."""

    def __init__(self, directory: str, node_facts: Callable[[], dict], managed_subnets: Callable[[], list[str]]):
        self.store = SwarmStore(directory)
        self.node_facts = node_facts  # hostname, platform, resources and engine of this node
        self.managed_subnets = managed_subnets  # subnets of the engine's own networks (skipped by address lookup)
        self.locked = bool(self.store.state and self.store.state["cluster"]["spec"]["AutoLockManagers"])
        self.on_leave: list[Callable[[], Any]] = []

    # -- state ----------------------------------------------------------------

    @property
    def local_state(self) -> str:
        if self.store.state is None:
            return "inactive"
        return "locked" if self.locked else "active"

    def require_manager(self) -> dict:
        """The swarm's state, or dockerd's 503 when this node cannot serve cluster requests."""
        if self.store.state is None:
            raise Unavailable(NOT_A_MANAGER)
        if self.locked:
            raise Unavailable(LOCKED)
        return self.store.state

    # -- init -----------------------------------------------------------------

    def _check_outside(self, request: dict) -> None:
        """Init and join need a node outside a swarm and a listen address (given the default host and port)."""
        if self.store.state is not None:
            raise Unavailable(ALREADY_PART)
        try:
            request["ListenAddr"] = addresses.sanitize(request["ListenAddr"])
        except ValueError as exc:
            raise InvalidArgument(f'invalid ListenAddr "{request["ListenAddr"]}": {exc}') from None

    def init(self, request: dict) -> str:
        """``swarm init``: the request (a decoded InitRequest) checked as dockerd does; the new node's ID."""
        self._check_outside(request)
        swarmspec.check_name(request["Spec"])
        found = hostaddrs.interfaces()
        listen_host, listen_port = addresses.resolve_listen(request["ListenAddr"], found)
        advertise_host, advertise_port = addresses.resolve_advertise(request["AdvertiseAddr"], listen_port, found,
                                                                     self.managed_subnets())
        data_path = addresses.resolve_data_path(request["DataPathAddr"], found)
        addresses.local_address(listen_host, advertise_host, found, self.managed_subnets())
        pools = addresses.check_default_addr_pool(request["DefaultAddrPool"], request["SubnetSize"])
        port = addresses.check_data_path_port(request["DataPathPort"])
        availability = request["Availability"] or "active"
        if availability.lower() not in ("active", "pause", "drain"):
            raise InvalidArgument(f'invalid Availability: "{request["Availability"]}"')
        _check_listen(listen_host, listen_port)
        spec = swarmspec.merge(request["Spec"], swarmspec.DEFAULTS)
        spec["AutoLockManagers"] = spec["AutoLockManagers"] or request["AutoLockManagers"]
        swarmspec.validate({**spec, "Name": "default"})
        listen = addresses.join_host_port(listen_host, listen_port)
        advertise = addresses.join_host_port(advertise_host, advertise_port)
        # without pools swarmkit keeps neither, and shows its own (10.0.0.0/8 in /24s)
        subnet_size = request["SubnetSize"] if pools is not None else 24
        return self._create(spec, listen, advertise, data_path, pools, subnet_size, port, availability.lower())

    def _create(self, spec: dict, listen: str, advertise: str, data_path: str, pools: list[str] | None,
                subnet_size: int, data_path_port: int, availability: str) -> str:
        os.makedirs(self.store.directory, mode=0o700, exist_ok=True)
        tls = rootca.create(self.store.directory)
        pem = tls["TrustRoot"].encode()
        cluster = {
            "ID": ids.new_id(), "spec": spec, "TLSInfo": gojson.encode(tls, apitypes.TLSInfo),
            "DefaultAddrPool": pools if pools is not None else ["10.0.0.0/8"], "SubnetSize": subnet_size, "DataPathPort": data_path_port,
            "JoinTokens": {"Worker": ids.join_token(pem), "Manager": ids.join_token(pem)},
            "UnlockKey": ids.unlock_key() if spec["AutoLockManagers"] else "",
        }
        node = {"ID": ids.new_id(), "Spec": {"Name": "", "Labels": {}, "Role": "manager",
                                             "Availability": availability},
                "Listen": listen, "Advertise": advertise, "DataPathAddr": data_path}
        self.store.create({"cluster": cluster, "node": node})
        self.store.stamp(node, created=True)
        self.store.stamp(cluster, created=True)
        self.store.save()
        self.locked = False
        return node["ID"]

    # -- join and leave -------------------------------------------------------

    def join(self, request: dict) -> None:
        """``swarm join``: checked as dockerd does; then the remote manager cannot be reached (no node can)."""
        self._check_outside(request)
        if not request["RemoteAddrs"]:
            raise InvalidArgument("at least 1 RemoteAddr is required to join")
        for addr in request["RemoteAddrs"]:
            try:
                addresses.sanitize(addr)
            except ValueError as exc:
                raise InvalidArgument(f'invalid remoteAddr "{addr}": {exc}') from None
        found = hostaddrs.interfaces()
        addresses.resolve_listen(request["ListenAddr"], found)
        addresses.resolve_data_path(request["DataPathAddr"], found)
        if request["JoinToken"]:
            _check_join_token(request["JoinToken"])
        _dial(addresses.sanitize(request["RemoteAddrs"][0]))

    def check_leave(self, force: bool) -> None:
        """``swarm leave`` is refused without ``force``: this node is the last manager."""
        if self.store.state is None:
            raise Unavailable(NOT_PART_OF_A_SWARM)
        if self.locked and not force:
            raise Unavailable(LOCKED_LEAVE)
        if not force:
            raise Unavailable(LAST_MANAGER)

    def clear(self) -> None:
        """Forget the swarm: its state and its root CA."""
        self.store.clear()
        self.locked = False

    # -- inspect and update ---------------------------------------------------

    def swarm_value(self) -> dict:
        """``swarm inspect`` as a Go value of :data:`apitypes.Swarm`."""
        cluster = self.require_manager()["cluster"]
        return {**self.cluster_info(cluster), "JoinTokens": dict(cluster["JoinTokens"])}

    def cluster_info(self, cluster: dict) -> dict:
        return {
            "ID": cluster["ID"], "Version": cluster["Version"], "CreatedAt": cluster["CreatedAt"],
            "UpdatedAt": cluster["UpdatedAt"], "Spec": swarmspec.to_api(cluster["spec"]),
            "TLSInfo": gojson.decode(cluster["TLSInfo"], apitypes.TLSInfo), "RootRotationInProgress": False,
            "DefaultAddrPool": list(cluster["DefaultAddrPool"]), "SubnetSize": cluster["SubnetSize"],
            "DataPathPort": cluster["DataPathPort"],
        }

    def update(self, version: int, api_spec: dict, rotate: dict[str, bool]) -> None:
        """``swarm update``: the request's spec replaces the swarm's; tokens and the unlock key rotate on request."""
        cluster = self.require_manager()["cluster"]
        swarmspec.check_name(api_spec)
        spec = swarmspec.merge(api_spec, swarmspec.EMPTY)
        spec["Name"] = spec["Name"] or "default"
        swarmspec.validate(spec)
        self.store.check_version(cluster, version)
        if spec["ForceRotate"] != cluster["spec"]["ForceRotate"]:
            self._rotate_root_ca(cluster)
        pem = gojson.decode(cluster["TLSInfo"], apitypes.TLSInfo)["TrustRoot"].encode()
        for flag, role in (("RotateWorkerToken", "Worker"), ("RotateManagerToken", "Manager")):
            if rotate.get(flag):
                cluster["JoinTokens"][role] = ids.join_token(pem)
        if not spec["AutoLockManagers"]:
            cluster["UnlockKey"] = ""
        elif not cluster["UnlockKey"] or rotate.get("RotateManagerUnlockKey"):
            cluster["UnlockKey"] = ids.unlock_key()
        cluster["spec"] = spec
        self.store.stamp(cluster)
        self.store.save()

    def _rotate_root_ca(self, cluster: dict) -> None:
        """A new ``ForceRotate`` value: a new root CA, and join tokens bound to it (one node: done at once)."""
        tls = rootca.create(self.store.directory)
        cluster["TLSInfo"] = gojson.encode(tls, apitypes.TLSInfo)
        pem = tls["TrustRoot"].encode()
        cluster["JoinTokens"] = {"Worker": ids.join_token(pem), "Manager": ids.join_token(pem)}

    # -- lock -----------------------------------------------------------------

    def unlock_key(self) -> str:
        return self.require_manager()["cluster"]["UnlockKey"]

    def unlock(self, key: str) -> None:
        if self.store.state is None:
            raise Unavailable(NOT_A_MANAGER)
        if not self.locked:
            raise Conflict("swarm is not locked")
        if not key.startswith("SWMKEY-1-"):
            raise InvalidArgument("invalid key string")
        if key != self.store.state["cluster"]["UnlockKey"]:
            raise Unauthorized("swarm could not be unlocked: invalid key provided")
        self.locked = False

    # -- info -----------------------------------------------------------------

    def info(self) -> dict:
        """``info.Swarm`` (a Go value of :data:`apitypes.SwarmInfo`)."""
        state = self.store.state
        out = {"NodeID": "", "NodeAddr": "", "LocalNodeState": self.local_state, "ControlAvailable": False,
               "Error": "", "RemoteManagers": None, "Nodes": 0, "Managers": 0, "Cluster": None, "Warnings": None}
        if state is None:
            return out
        node = state["node"]
        out["NodeAddr"] = addresses.split_host_port(node["Advertise"])[0]
        if self.locked:
            out["Error"] = LOCKED
            return out
        out.update({"NodeID": node["ID"], "ControlAvailable": True, "Nodes": 1, "Managers": 1,
                    "RemoteManagers": [{"NodeID": node["ID"], "Addr": node["Advertise"]}],
                    "Cluster": self.cluster_info(state["cluster"])})
        return out


def _check_listen(host: str, port: str) -> None:
    """swarmkit listens on the listen address; an address it cannot bind fails ``init`` with its message."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, int(port)))
    except (OSError, ValueError) as exc:
        reason = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = (f"manager stopped: failed to listen on remote API address: listen tcp "
                   f"{addresses.join_host_port(host, port)}: bind: {reason}")
        # dockerd's untyped 500; here the request's fault (an address not on this node) or the port's (in use)
        raise (Conflict if getattr(exc, "errno", None) == errno.EADDRINUSE else InvalidArgument)(message) from None


def _check_join_token(token: str) -> None:
    """A join token must have swarmkit's shape before the remote is tried."""
    parts = token.split("-")
    if (len(parts) != 4 or parts[0] != "SWMTKN" or parts[1] not in ("1", "2") or len(parts[2]) != 50
            or not all(c in ids.DIGITS for c in parts[2] + parts[3])):
        raise InvalidArgument("invalid join token")


def _dial(remote: str) -> None:
    """Try the remote manager as dockerd's join does; an unreachable one is dockerd's 503, a reachable one cannot
    be joined by berth (it speaks no swarm protocol to other nodes)."""
    host, port = addresses.split_host_port(remote)
    try:
        with socket.create_connection((host, int(port)), timeout=10):
            pass
    except OSError as exc:
        reason = _dial_error(exc)
        raise Unavailable(f'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
                          f'dialing dial tcp {remote}: {reason}"') from None
    raise Unavailable(CANNOT_JOIN.format(addr=remote))


def _dial_error(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return "i/o timeout"
    if isinstance(exc, socket.gaierror):
        return f"lookup {exc}: no such host"
    return f"connect: {(exc.strerror or str(exc)).lower()}"
