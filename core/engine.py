"""The engine: settings in, selected drivers and stores out.

Builds one plugin manager per driver kind (one per network driver in use),
checks that the data-root is opened by the graph driver that wrote it, and
assembles the image store, network manager and container manager.
"""

from __future__ import annotations

import os
from typing import Any

from berth import extensions as ext_mod, log, pluginmanager as plugins, usernsremap
from berth.config import DaemonConfig
from berth.drivers import ExecDriver, GraphDriver, NetworkDriver, open_driver
from berth.errors import BerthError, ConfigError
from berth.events import EventBus
from berth.fsutil import atomic_write, remove_path
from berth.tracing import DriverCallStats
from berth.trash import TRASH_DRAIN_TIMEOUT, Trash

GRAPH_MARKER = "graph-driver"  # <data-root>/graph-driver: the name of the driver that wrote the data-root


class Engine:
    def __init__(self, config: DaemonConfig):
        self.config = config
        self.remapping = usernsremap.resolve(config.userns_remap)
        #: the host ids containers' root and users become (--userns-remap), None without remapping
        self.idmap = self.remapping.idmap if self.remapping else None
        self.data_root = os.path.abspath(config.data_root)
        if self.remapping is not None:  # Docker's layout: a tree of its own per remapped root
            self.data_root = usernsremap.prepare_tree(self.data_root, self.remapping)
        self.exec_root = os.path.abspath(config.exec_root)
        for path in (self.data_root, self.exec_root):
            os.makedirs(path, mode=0o711, exist_ok=True)
        remove_path(os.path.join(self.data_root, "tmp"))  # build scratch space a crashed daemon left
        self.warnings: list[str] = []
        self.selected: dict[str, str] = {}
        self._inventory: list[dict[str, Any]] | None = None
        self.stats = DriverCallStats()
        self.extensions = ext_mod.load_extensions(config.disabled_extensions)
        self.warnings += [e.load_error for e in self.extensions if e.load_error]
        self.events = EventBus(self.loaded_extensions)
        self.log_defaults = self._log_defaults()
        self.graph = self._select_graph()
        self.exec = self._select_exec()
        self._check_remapping()
        from berth.networks import NetworkManager
        from berth.containers.manager import ContainerManager
        from berth.containers.model import now_rfc3339
        from berth.containers.store import ContainerStore
        from berth.images.store import ImageStore

        self.images = ImageStore(self.data_root, self.graph)
        self.images.layer_listeners.append(self.events.layer_applied)
        self.events.image_labels = self._image_labels
        self.networks = NetworkManager(os.path.join(self.data_root, "network"), self._load_network_driver,
                                       config.bridge, now_rfc3339)
        self.warnings += self.networks.problems + self.networks.ensure_predefined()
        from berth.containers.execs import ExecManager
        from berth.volumes import VolumeStore

        #: removed containers' directories, deleted in the background (what a crash left: at this start)
        self.trash = Trash(os.path.join(self.data_root, "trash"))
        store = ContainerStore(os.path.join(self.data_root, "containers"), self.trash)
        self.volumes = VolumeStore(
            os.path.join(self.data_root, "volumes"), now_rfc3339,
            lambda name: [c.id for c in store.containers.values() if any(m.get("Name") == name for m in c.mounts)],
            owner=self.idmap.root if self.idmap else (0, 0))
        self.volumes.remove_set_aside()
        self.volumes.on_event = lambda action, name, attributes: self.events.publish("volume", action, name, attributes)
        self.containers = ContainerManager(
            store=store, images=self.images, graph=self.graph, execd=self.exec, networks=self.networks,
            events=self.events, exec_root=self.exec_root, volumes=self.volumes, log_defaults=self.log_defaults,
            dns={"dns": list(config.dns), "dns_search": list(config.dns_search), "dns_opts": list(config.dns_opts)},
            idmap=self.idmap,
        )
        self.execs = ExecManager(self.containers)
        self.containers.health.run_probe = self.execs.probe
        from berth.swarm.manager import SwarmManager

        self.swarm = SwarmManager(self)

    def _log_defaults(self):
        """The containers' default log driver and options (``log-driver``/``log-opts``), checked as dockerd does."""
        from berth.containers.logdrivers import LogDefaults
        from berth.errors import InvalidArgument

        options = self.config.log_opts
        if isinstance(options, list):  # --log-opt key=value flags
            if not all("=" in item for item in options):
                raise ConfigError(f"--log-opt {next(i for i in options if '=' not in i)!r}: use key=value")
            options = dict(item.split("=", 1) for item in options)
        try:
            return LogDefaults.from_config(self.config.log_driver, options)
        except InvalidArgument as exc:
            raise ConfigError(f"default log driver {self.config.describe('log_driver')} with log-opts "
                              f"{options!r} (from {self.config.source('log_opts')}): {exc.message}") from None

    def _image_labels(self, ref: str) -> dict[str, str]:
        """The labels of the image ``ref`` names, for its events ({} once it is gone)."""
        try:
            image = self.images.get(ref)
        except BerthError:
            return {}
        return ((image.config or {}).get("config") or {}).get("Labels") or {}

    # -- graph --------------------------------------------------------------

    def _select_graph(self) -> GraphDriver:
        cfg = self.config
        requested, how = cfg.storage_driver, cfg.source("storage_driver")
        marker = os.path.join(self.data_root, GRAPH_MARKER)
        remembered = _read_marker(marker)
        if requested and remembered and plugins.normalise(requested) != remembered:
            raise ConfigError(
                f"data-root {self.data_root} was written by graph driver {remembered!r}, but graph driver "
                f"{plugins.normalise(requested)!r} was requested (from {how}). Start berthd with "
                f"--storage-driver {remembered} (or BERTH_STORAGE_DRIVER={remembered}) to use it, or choose "
                f"another --data-root for {plugins.normalise(requested)!r}; images are not shared between drivers."
            )
        if not requested and remembered:
            requested, how = remembered, f"{marker} (the driver that wrote this data-root)"
        selection = plugins.select(plugins.GRAPH, requested, how, self.data_root)
        name = selection.entry.name
        driver = selection.entry.cls(root=os.path.join(self.data_root, name), options=_storage_opts(cfg.storage_opts))
        facade: GraphDriver = open_driver("graph", driver, name, self.loaded_extensions)
        self.stats.install(facade.pm, "graph", name)
        if selection.how == "auto-detected" and name == "vfs":
            self.warnings.append("the vfs storage driver was auto-selected: every layer is a full copy, which uses "
                                 "a lot of disk; use --storage-driver overlay where the kernel supports it")
            log.get().warning("storage.vfs_autoselected", data_root=self.data_root)
        if remembered != name:
            atomic_write(marker, (name + "\n").encode(), 0o600)
        self.selected["graph"] = name
        log.get().info("driver.selected", kind="graph", driver=name, how=selection.how)
        return facade

    # -- user namespace remapping ----------------------------------------------

    def _check_remapping(self) -> None:
        """With --userns-remap both drivers must do their part, or the daemon does not start."""
        if self.idmap is None:
            return
        setting = self.config.describe("userns_remap")
        reason = self.graph.idmap_check(self.idmap)
        if reason:
            raise ConfigError(f"--userns-remap {setting}: {reason}; choose a graph driver that can (overlay, vfs) "
                              "with --storage-driver and another --data-root")
        if not self.exec.features().user_namespaces:
            raise ConfigError(f"--userns-remap {setting}: exec driver {self.exec.name!r} cannot run containers in "
                              "user namespaces; choose one that can with --exec-driver")

    # -- exec ---------------------------------------------------------------

    def _select_exec(self) -> ExecDriver:
        cfg = self.config
        selection = plugins.select(plugins.EXEC, cfg.exec_driver, cfg.source("exec_driver"), self.exec_root)
        name = selection.entry.name
        driver = selection.entry.cls(root=os.path.join(self.exec_root, name), options={})
        facade: ExecDriver = open_driver("exec", driver, name, self.loaded_extensions)
        self.stats.install(facade.pm, "exec", name)
        self.selected["exec"] = name
        log.get().info("driver.selected", kind="exec", driver=name, how=selection.how)
        return facade

    # -- network ------------------------------------------------------------

    def _load_network_driver(self, name: str) -> NetworkDriver:
        root = os.path.join(self.data_root, "network", plugins.normalise(name))
        selection = plugins.select(plugins.NETWORK, name, "network", root)
        name = selection.entry.name
        options: dict[str, Any] = {
            "bridge": self.config.bridge, "bip": self.config.bip,
            "default_address_pools": self.config.default_address_pools, "dns": self.config.dns,
            "exec_root": self.exec_root, "data_root": self.data_root,
        }
        driver = selection.entry.cls(root=root, options=options)
        facade: NetworkDriver = open_driver("network", driver, name, self.loaded_extensions)
        self.stats.install(facade.pm, "network", name)
        self.selected["network"] = ",".join(sorted({*self.selected.get("network", "").split(","), name} - {""}))
        return facade

    def driver_inventory(self) -> list[dict[str, Any]]:
        """Every installed driver per kind (``plugins ls``, ``info``); probed once, then kept.

        Probing imports drivers and may test-mount; installed drivers only change with a
        restart. The selected flags are refreshed since network drivers load on demand.
        """
        if self._inventory is None:
            self._inventory = plugins.inventory({
                "graph": self.data_root, "exec": self.exec_root, "network": os.path.join(self.data_root, "network")})
            self._inventory += ext_mod.inventory_rows(self.extensions)
        for row in self._inventory:
            if row["Kind"] != "extension":
                row["Selected"] = row["Name"] in self.selected.get(row["Kind"], "").split(",")
        return self._inventory

    @property
    def loaded_extensions(self) -> list[ext_mod.Extension]:
        """The extensions that loaded (not disabled, not broken)."""
        return [e for e in self.extensions if e.plugin is not None]

    def default_network_driver(self) -> str:
        return plugins.normalise(self.config.network_driver or "bridge")

    def close(self, containers_running: bool = False) -> None:
        """Release drivers at shutdown; with containers still running their mounts stay (live restore)."""
        closers = [self.images.close] if containers_running else [self.graph.cleanup, self.images.close]
        closers += [d.cleanup for d in self.networks.loaded_drivers.values()] + [self.exec.cleanup]
        closers.append(lambda: self.trash.drain(TRASH_DRAIN_TIMEOUT))
        for closer in closers:
            try:
                closer()
            except Exception as exc:
                log.get().warning("engine.close", error=str(exc))


def _read_marker(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return plugins.normalise(f.read()) or None
    except FileNotFoundError:
        return None


def _storage_opts(opts: Any) -> dict[str, str]:
    if isinstance(opts, dict):
        return {str(k): str(v) for k, v in opts.items()}
    out = {}
    for item in opts or []:
        key, sep, value = str(item).partition("=")
        if not sep:
            raise ConfigError(f"invalid storage option {item!r}: expected key=value")
        out[key.strip()] = value.strip()
    return out
