"""Typed facades over the plugin managers: engine code calls ``graph.mount(id)``, never ``pm.hook``.

One method per hook (tox's manager style). Every call goes through :meth:`_call`,
which holds the driver to the rules of :mod:`berth.hookspecs`: a ``NotSupported``
names the driver and the operation, a None result is reported as the driver's bug,
and any other unexpected exception becomes a :class:`DriverError` naming the
driver, the operation and the object. :func:`open_driver` builds a facade the way
the engine does (the kits use it too).
"""

from __future__ import annotations

from typing import Any, BinaryIO, Callable, Iterable

import pluggy

from berth.errors import BerthError, DriverError, NotSupported
from berth.hookspecs.types import (
    Change, EndpointInfo, ExecFeatures, ExecProcess, IdMap, IOConfig, NetworkConfig, PortBinding, RuntimeState, Sandbox,
)


class _Facade:
    kind = ""

    def __init__(self, pm: pluggy.PluginManager, name: str, driver: object):
        self.pm = pm
        self.name = name
        self.driver = driver

    def _call(self, hook: str, subject: str, **kwargs: Any) -> Any:
        try:
            result = getattr(self.pm.hook, hook)(**kwargs)
        except NotSupported as exc:
            prefix = f"{self.kind} driver {self.name!r}"
            raise NotSupported(exc.message if exc.message.startswith(prefix)
                               else f"{prefix} does not support {hook} ({subject}): {exc.message}") from exc
        except (BerthError, TimeoutError):
            raise
        except Exception as exc:
            raise DriverError(f"{self.kind} driver {self.name!r}: {hook} {subject}: {type(exc).__name__}: {exc}") from exc
        if result is None:
            raise DriverError(f"{self.kind} driver {self.name!r}: {hook} {subject} returned None; the contract "
                              "(berth.hookspecs) wants a value: True when there is nothing to return, "
                              "or raise NotSupported")
        return result


class GraphDriver(_Facade):
    kind = "graph"

    def create(self, layer_id: str, parent: str | None) -> None:
        self._call("graph_create", layer_id, layer_id=layer_id, parent=parent)

    def create_rw(self, layer_id: str, parent: str | None, options: dict | None = None) -> None:
        self._call("graph_create_rw", layer_id, layer_id=layer_id, parent=parent, options=options or {})

    def remove(self, layer_id: str) -> None:
        self._call("graph_remove", layer_id, layer_id=layer_id)

    def exists(self, layer_id: str) -> bool:
        return bool(self._call("graph_exists", layer_id, layer_id=layer_id))

    def mount(self, layer_id: str, mount_label: str = "") -> str:
        return self._call("graph_mount", layer_id, layer_id=layer_id, mount_label=mount_label)

    def unmount(self, layer_id: str) -> None:
        self._call("graph_unmount", layer_id, layer_id=layer_id)

    def idmap_check(self, idmap: IdMap) -> str:
        """"" when the driver can mount layers through ``idmap`` here, else why not."""
        return self._call("graph_idmap_check", "id map", idmap=idmap)

    def mount_idmapped(self, layer_id: str, idmap: IdMap, mount_label: str = "") -> str:
        return self._call("graph_mount_idmapped", layer_id, layer_id=layer_id, mount_label=mount_label, idmap=idmap)

    def unmount_idmapped(self, layer_id: str) -> None:
        self._call("graph_unmount_idmapped", layer_id, layer_id=layer_id)

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        return self._call("graph_diff", layer_id, layer_id=layer_id, parent=parent)

    def changes(self, layer_id: str, parent: str | None) -> list[Change]:
        return self._call("graph_changes", layer_id, layer_id=layer_id, parent=parent)

    def apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        return self._call("graph_apply_diff", layer_id, layer_id=layer_id, parent=parent, diff=diff)

    def apply_diff_early(self, layer_id: str, parent: str | None, diff: BinaryIO,
                         below_applied: Callable[[], None]) -> int:
        return self._call("graph_apply_diff_early", layer_id, layer_id=layer_id, parent=parent, diff=diff,
                          below_applied=below_applied)

    def applies_early(self) -> bool:
        """True when the driver implements ``graph_apply_diff_early``: a layer may be applied while the
        layers below it are (a pull extracts its layers at once)."""
        return self._implements("graph_apply_diff_early")

    def adopt_diff(self, layer_id: str, parent: str | None, source: str, source_parent: str | None) -> int:
        return self._call("graph_adopt_diff", layer_id, layer_id=layer_id, parent=parent, source=source,
                          source_parent=source_parent)

    def adopts_diffs(self) -> bool:
        """True when the driver implements ``graph_adopt_diff`` (not only the core's refusal answers it)."""
        return self._implements("graph_adopt_diff")

    def _implements(self, hook: str) -> bool:
        """True when the driver itself answers ``hook`` (not only the core's default)."""
        return any(not impl.trylast and not impl.hookwrapper and not impl.wrapper
                   for impl in getattr(self.pm.hook, hook).get_hookimpls())

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        return self._call("graph_diff_size", layer_id, layer_id=layer_id, parent=parent)

    def status(self) -> list[tuple[str, str]]:
        return self._call("graph_status", "status")

    def metadata(self, layer_id: str) -> dict[str, str]:
        return self._call("graph_metadata", layer_id, layer_id=layer_id)

    def cleanup(self) -> None:
        self._call("graph_cleanup", "cleanup")


class ExecDriver(_Facade):
    kind = "exec"

    def create(self, container_id: str, bundle: str, spec: dict, io: IOConfig) -> RuntimeState:
        return self._call("exec_create", container_id, container_id=container_id, bundle=bundle, spec=spec, io=io)

    def start(self, container_id: str) -> RuntimeState:
        return self._call("exec_start", container_id, container_id=container_id)

    def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        self._call("exec_kill", container_id, container_id=container_id, signal=signal, all_processes=all_processes)

    def wait(self, container_id: str, timeout: float | None = None) -> RuntimeState:
        return self._call("exec_wait", container_id, container_id=container_id, timeout=timeout)

    def state(self, container_id: str) -> RuntimeState:
        return self._call("exec_state", container_id, container_id=container_id)

    def delete(self, container_id: str, force: bool = False) -> None:
        self._call("exec_delete", container_id, container_id=container_id, force=force)

    def exec(self, container_id: str, exec_id: str, process: dict, io: IOConfig) -> ExecProcess:
        return self._call("exec_exec", container_id, container_id=container_id, exec_id=exec_id, process=process, io=io)

    def exec_wait(self, container_id: str, exec_id: str, timeout: float | None = None) -> int:
        """The exec's exit code; TimeoutError when ``timeout`` seconds pass first."""
        return self._call("exec_exec_wait", exec_id, container_id=container_id, exec_id=exec_id, timeout=timeout)

    def exec_kill(self, container_id: str, exec_id: str, signal: int) -> None:
        self._call("exec_exec_kill", exec_id, container_id=container_id, exec_id=exec_id, signal=signal)

    def exec_delete(self, container_id: str, exec_id: str) -> None:
        self._call("exec_exec_delete", exec_id, container_id=container_id, exec_id=exec_id)

    def pause(self, container_id: str) -> None:
        self._call("exec_pause", container_id, container_id=container_id)

    def resume(self, container_id: str) -> None:
        self._call("exec_resume", container_id, container_id=container_id)

    def stats(self, container_id: str) -> dict:
        return self._call("exec_stats", container_id, container_id=container_id)

    def resize(self, container_id: str, height: int, width: int, exec_id: str | None = None) -> None:
        self._call("exec_resize", container_id, container_id=container_id, exec_id=exec_id, height=height, width=width)

    def update(self, container_id: str, resources: dict) -> None:
        self._call("exec_update", container_id, container_id=container_id, resources=resources)

    def top(self, container_id: str) -> list[int]:
        return self._call("exec_top", container_id, container_id=container_id)

    def list(self) -> list[str]:
        return self._call("exec_list", "list")

    def restore(self, container_id: str) -> RuntimeState:
        return self._call("exec_restore", container_id, container_id=container_id)

    def status(self) -> list[tuple[str, str]]:
        return self._call("exec_status", "status")

    def cleanup(self) -> None:
        self._call("exec_cleanup", "cleanup")

    def features(self) -> ExecFeatures:
        """What the driver enforces here, asked once (the host does not change under a running daemon)."""
        cached = getattr(self, "_features", None)
        if cached is None:
            cached = self._features = self._call("exec_features", "features")
        return cached


class NetworkDriver(_Facade):
    kind = "network"

    def create_network(self, network: NetworkConfig) -> dict:
        return self._call("net_create_network", network.name, network=network)

    def delete_network(self, network_id: str) -> None:
        self._call("net_delete_network", network_id, network_id=network_id)

    def sandbox(self, network_id: str, container_id: str) -> Sandbox:
        return self._call("net_sandbox", container_id, network_id=network_id, container_id=container_id)

    def join(self, network_id: str, endpoint_id: str, netns_path: str | None, options: dict | None = None) -> EndpointInfo:
        return self._call("net_join", endpoint_id, network_id=network_id, endpoint_id=endpoint_id,
                          netns_path=netns_path, options=options or {})

    def leave(self, network_id: str, endpoint_id: str) -> None:
        self._call("net_leave", endpoint_id, network_id=network_id, endpoint_id=endpoint_id)

    def publish_port(self, network_id: str, endpoint_id: str, binding: PortBinding) -> PortBinding:
        return self._call("net_publish_port", endpoint_id, network_id=network_id, endpoint_id=endpoint_id, binding=binding)

    def unpublish_port(self, network_id: str, endpoint_id: str, binding: PortBinding) -> None:
        self._call("net_unpublish_port", endpoint_id, network_id=network_id, endpoint_id=endpoint_id, binding=binding)

    def status(self) -> list[tuple[str, str]]:
        return self._call("net_status", "status")

    def cleanup(self) -> None:
        self._call("net_cleanup", "cleanup")


FACADES: dict[str, type[_Facade]] = {"graph": GraphDriver, "exec": ExecDriver, "network": NetworkDriver}


def open_driver(kind_name: str, driver: object, name: str, extensions: Iterable[object] = ()) -> Any:
    """The facade over ``driver`` (an instance of a driver of kind ``kind_name``) as the engine builds it:
    its manager holds the driver, the core defaults for the optional hooks it lacks, and the extensions
    wrapping this kind's hooks. Raises ConfigError when the driver breaks the contract's hook rules."""
    from berth import pluginmanager
    from berth.defaults import core_defaults

    facade = FACADES[kind_name](None, name, driver)  # type: ignore[arg-type]
    kind = pluginmanager.KINDS[kind_name]
    facade.pm = pluginmanager.build_manager(kind, driver, name, core_defaults(kind_name, name, facade), extensions)
    return facade
