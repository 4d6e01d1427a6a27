"""Networks: the records, the predefined ``bridge``/``host``/``none``, and their drivers.

Each network names its driver; each network driver in use gets its own plugin
manager (several network drivers are active at once, unlike graph and exec).
Records are one JSON file, written atomically.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from berth.errors import ConfigError, Conflict, Forbidden, NotFound
from berth.fsutil import atomic_write
from berth.drivers import NetworkDriver
from berth.hookspecs.types import EndpointInfo, NetworkConfig, Sandbox
from berth import log

PREDEFINED = ("bridge", "host", "none")


@dataclass
class Network:
    id: str
    name: str
    driver: str
    created: str
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    internal: bool = False
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    driver_data: dict[str, Any] = field(default_factory=dict)
    aux_addresses: dict[str, str] = field(default_factory=dict)
    enable_ipv6: bool = False
    subnet6: str | None = None  # the IPv6 pool as asked (dockerd records it even with IPv6 off)
    gateway6: str | None = None
    ip_range6: str | None = None

    @property
    def docker_driver(self) -> str:
        """The driver's name as Docker's API shows it: its ``none`` network's driver is called ``null``."""
        return "null" if self.driver == "none" else self.driver

    def as_config(self) -> NetworkConfig:
        return NetworkConfig(self.id, self.name, self.subnet, self.gateway, self.ip_range, self.internal,
                             dict(self.options), dict(self.labels), dict(self.aux_addresses),
                             self.enable_ipv6, self.subnet6, self.gateway6, self.ip_range6)


class NetworkManager:
    """Owns the network records and hands out each network's driver facade."""

    def __init__(self, root: str, load_driver: Callable[[str], NetworkDriver], default_bridge: str,
                 now: Callable[[], str]):
        self.root = root
        self.path = os.path.join(root, "networks.json")
        self._load_driver = load_driver
        self._drivers: dict[str, NetworkDriver] = {}
        self._lock = threading.Lock()
        self._now = now
        self.default_bridge = default_bridge  # "" or a device name; "none" disables the default bridge
        #: called before a container joins a network; may refuse it (swarm networks that are not attachable)
        self.admission: Callable[[Network, str], None] | None = None
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.networks: dict[str, Network] = self._read()

    def _read(self) -> dict[str, Network]:
        """The saved networks. A damaged file does not stop the daemon: its readable records are
        kept, the file is copied aside (the next save would overwrite it) and :attr:`problems` says so."""
        self.problems: list[str] = []
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return {}
        try:
            records = json.loads(raw)
            if not isinstance(records, list):
                raise ValueError(f"expected a list of networks, found {type(records).__name__}")
        except ValueError as exc:
            self._set_aside(raw, f"cannot parse it ({exc})")
            return {}
        networks: dict[str, Network] = {}
        bad = 0
        for record in records:
            try:
                net = Network(**record)
                if not (isinstance(net.id, str) and isinstance(net.name, str) and isinstance(net.driver, str)):
                    raise TypeError("id, name and driver must be strings")
            except TypeError as exc:  # not a mapping, unknown or missing fields, wrong types
                bad += 1
                log.get().error("network.record_corrupt", path=self.path, error=str(exc))
                continue
            networks[net.id] = net
        if bad:
            self._set_aside(raw, f"{bad} of its records are unreadable and were skipped")
        return networks

    def _set_aside(self, raw: bytes, why: str) -> None:
        kept = f"{self.path}.corrupt-{int(time.time())}"
        atomic_write(kept, raw, 0o600)
        message = f"network records in {self.path}: {why}; the original was kept as {kept}"
        log.get().error("network.records_corrupt", path=self.path, kept=kept, reason=why)
        self.problems.append(message)

    def _save(self) -> None:
        atomic_write(self.path, json.dumps([asdict(n) for n in self.networks.values()], indent=1).encode(), 0o600)

    def driver(self, name: str) -> NetworkDriver:
        with self._lock:
            if name not in self._drivers:
                self._drivers[name] = self._load_driver(name)
            return self._drivers[name]

    @property
    def loaded_drivers(self) -> dict[str, NetworkDriver]:
        return dict(self._drivers)

    @property
    def bridge_disabled(self) -> bool:
        """``--bridge none``: dockerd's "no default bridge network" (containers it would attach get only lo)."""
        return self.default_bridge == "none"

    def ensure_predefined(self) -> list[str]:
        """Create host, none and (unless disabled or impossible) bridge; return warnings."""
        warnings = []
        if self.bridge_disabled:
            self._clear_stale_bridge()
        for name in PREDEFINED:
            if name == "bridge" and self.bridge_disabled:
                continue
            try:
                existing = self.find(name, missing_ok=True)
                net = existing or Network(secrets.token_hex(32), name, name, self._now())
                if name == "bridge" and self.default_bridge:
                    net.options.setdefault("com.docker.network.bridge.name", self.default_bridge)
                net.driver_data = self.driver(net.driver).create_network(net.as_config()) or net.driver_data
                self.networks[net.id] = net
            except ConfigError as exc:
                warnings.append(f"network {name!r} is unavailable: {exc.message}")
        for net in self.networks.values():  # user-defined ones: drivers rebuild what a restart lost
            if net.name not in PREDEFINED:
                try:
                    net.driver_data = self.driver(net.driver).create_network(net.as_config()) or net.driver_data
                except Exception as exc:  # one broken network must not keep the daemon down
                    warnings.append(f"network {net.name!r} could not be restored: {exc}")
        self._save()
        return warnings

    def _clear_stale_bridge(self) -> None:
        """A default bridge network left by a run without ``--bridge none`` goes, device included, as
        dockerd clears it when the bridge is disabled."""
        stale = self.find("bridge", missing_ok=True)
        if stale is not None:
            self.driver(stale.driver).delete_network(stale.id)
            del self.networks[stale.id]
            self._save()
            log.get().info("network.default_bridge_removed", network_id=stale.id[:12], reason="--bridge none")

    def find(self, ref: str, missing_ok: bool = False) -> Network | None:
        """By full name, full id or unique id prefix (Docker's lookup order)."""
        for net in self.networks.values():
            if net.name == ref or net.id == ref:
                return net
        matches = [n for n in self.networks.values() if ref and n.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if missing_ok:
            return None
        raise NotFound(f"network {ref} not found")

    def default_network(self) -> str:
        return "bridge" if self.find("bridge", missing_ok=True) else "none"

    def sandbox(self, network: Network, container_id: str) -> Sandbox:
        return self.driver(network.driver).sandbox(network.id, container_id)

    def join(self, network: Network, container_id: str, netns_path: str | None, options: dict) -> EndpointInfo:
        if self.admission is not None:
            self.admission(network, container_id)
        with log.job("network.join", network=network.name, container_id=container_id[:12], driver=network.driver):
            return self.driver(network.driver).join(network.id, container_id, netns_path, options)

    def leave(self, network: Network, container_id: str) -> None:
        self.driver(network.driver).leave(network.id, container_id)

    def create(self, *, name: str, driver: str, subnet: str | None = None, gateway: str | None = None,
               ip_range: str | None = None, internal: bool = False, labels: dict | None = None,
               options: dict | None = None, network_id: str | None = None,
               aux_addresses: dict | None = None, ipv6: dict | None = None) -> Network:
        """A user-defined network; the driver makes its devices and rules before it is recorded.
        ``network_id``: the ID to give it (a swarm network's), else a new one. ``ipv6``: the
        Network fields ``enable_ipv6``, ``subnet6``, ``gateway6``, ``ip_range6`` (absent: no IPv6)."""
        driver = driver.strip().lower()
        if driver in ("host", "none", "null"):
            raise Conflict(f'only one instance of "{driver}" network is allowed')
        if self.find(name, missing_ok=True):
            raise Conflict(f"network with name {name} already exists")
        net = Network(network_id or secrets.token_hex(32), name, driver, self._now(), subnet, gateway, ip_range,
                      internal, dict(options or {}), dict(labels or {}), aux_addresses=dict(aux_addresses or {}),
                      **(ipv6 or {}))
        try:
            facade = self.driver(driver)
        except ConfigError as exc:  # a client naming an unknown driver is a 404, as Docker's "plugin not found"
            raise NotFound(f'plugin "{driver}" not found: {exc.message}') from None
        with log.job("network.create", network=name, driver=driver):
            net.driver_data = facade.create_network(net.as_config()) or {}
        self.networks[net.id] = net
        self._save()
        return net

    def remove(self, ref: str, in_use: bool) -> None:
        net = self.find(ref)
        if net.name in PREDEFINED:
            raise Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        if in_use:
            raise Forbidden(f"error while removing network: network {net.name} id {net.id} has active endpoints")
        self.driver(net.driver).delete_network(net.id)
        del self.networks[net.id]
        self._save()
