"""LoopbackDriver: each container in a network namespace of its own, with only ``lo``.

A container on a loopback network reaches nothing but itself. The driver says so
(``external_dns=False``), so the engine gives the container no nameserver instead
of the host's unreachable ones. It makes no device on the host: its state is the
list of its networks, kept in ``networks.json`` under its root.

The five hooks the contract requires (``berth.hookspecs.network``) and a status line;
publishing ports is refused by berth's default until the driver implements it. Start
here; berth's ``docs/plugins.md`` explains each rule the kit checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

from berth.driverkit import InvalidArgument, NotFound, atomic_write, hookimpl
from berth.hookspecs.types import EndpointInfo, JoinOptions, NetworkConfig, Sandbox


class LoopbackDriver:
    name = "loopback"
    description = "a namespace of its own with only lo per container (made by berth plugins new)"
    priority = 0
    contract = "2.3"  # the berth driver contract this driver was written for

    @classmethod
    def probe(cls, root: str) -> str | None:
        missing = [tool for tool in ("nsenter", "ip") if shutil.which(tool) is None]
        return f"needs {' and '.join(missing)} (util-linux, iproute2)" if missing else None

    def __init__(self, root: str, options: dict):
        # options are the daemon's network settings (NetDriverOptions): none concern this driver
        self.path = os.path.join(root, "networks.json")
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.lock = threading.Lock()  # hooks run in several threads at once

    def _networks(self) -> dict[str, str]:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def _save(self, networks: dict[str, str]) -> None:
        atomic_write(self.path, json.dumps(networks).encode(), 0o600)

    @hookimpl
    def net_create_network(self, network: NetworkConfig) -> dict:
        if network.subnet or network.gateway or network.ip_range or network.subnet6 or network.enable_ipv6:
            raise InvalidArgument(f"{self.name} network {network.name}: it has no addresses; leave out --subnet, "
                                  "--gateway, --ip-range and --ipv6")
        if network.options:
            raise InvalidArgument(f"{self.name} network {network.name}: unknown option(s) "
                                  f"{', '.join(sorted(network.options))}; the {self.name} driver takes none")
        with self.lock:
            networks = self._networks()
            networks[network.id] = network.name  # the same id again (daemon start) changes nothing
            self._save(networks)
        return {}

    @hookimpl
    def net_delete_network(self, network_id: str) -> bool:
        with self.lock:
            networks = self._networks()
            if networks.pop(network_id, None) is not None:
                self._save(networks)
        return True

    @hookimpl
    def net_sandbox(self, network_id: str, container_id: str) -> Sandbox:
        return Sandbox()  # a new, empty namespace made by the exec driver

    @hookimpl
    def net_join(self, network_id: str, endpoint_id: str, netns_path: str | None,
                 options: JoinOptions) -> EndpointInfo:
        if network_id not in self._networks():
            raise NotFound(f"{self.name} network {network_id} does not exist")
        if netns_path is None:
            raise InvalidArgument(f"a container sharing the host's network namespace cannot join a {self.name} network")
        done = subprocess.run(["nsenter", f"--net={netns_path}", "ip", "link", "set", "lo", "up"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise OSError(f"bringing lo up in {netns_path} failed: {done.stderr.strip()}")
        return EndpointInfo(endpoint_id=endpoint_id, external_dns=False)  # no device of its own: lo is all

    @hookimpl
    def net_leave(self, network_id: str, endpoint_id: str) -> bool:
        return True  # lo goes with the namespace

    @hookimpl
    def net_status(self) -> list[tuple[str, str]]:
        return [("Networks", str(len(self._networks())))]
