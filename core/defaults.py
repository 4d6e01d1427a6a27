"""Core default implementations registered ``trylast`` in every manager.

They answer only when the selected driver has no implementation of a hook:
reporting hooks answer "nothing to report", optional operations raise a clear
"not supported by driver X" error instead of silently doing nothing.
"""

from __future__ import annotations

from berth import hookimpl
from berth.errors import NotImplementedYet
from berth.hookspecs.types import ExecFeatures


class GraphDefaults:
    """Reporting defaults for graph drivers; id-mapped views are refused naming the driver."""

    def __init__(self, driver_name: str = ""):
        self.driver_name = driver_name

    def _no_idmaps(self) -> str:
        return (f"graph driver {self.driver_name!r} does not support id-mapped layers "
                "(user namespace remapping needs a driver that implements graph_mount_idmapped)")

    @hookimpl(trylast=True)
    def graph_idmap_check(self, idmap):
        return self._no_idmaps()

    @hookimpl(trylast=True)
    def graph_mount_idmapped(self, layer_id, mount_label, idmap):
        raise NotImplementedYet(self._no_idmaps())

    @hookimpl(trylast=True)
    def graph_unmount_idmapped(self, layer_id):
        return True

    @hookimpl(trylast=True)
    def graph_status(self):
        return []

    @hookimpl(trylast=True)
    def graph_metadata(self, layer_id):
        return {}

    @hookimpl(trylast=True)
    def graph_cleanup(self):
        return True


class _Unsupported:
    """Optional hooks of a driver kind, each raising a 501 naming the driver and the operation."""

    kind = ""

    def __init__(self, driver_name: str):
        self.driver_name = driver_name

    def _refuse(self, operation: str):
        raise NotImplementedYet(f"{self.kind} driver {self.driver_name!r} does not support {operation}")


class ExecDefaults(_Unsupported):
    kind = "exec"

    @hookimpl(trylast=True)
    def exec_exec(self, container_id, exec_id, process, io):
        self._refuse("exec")

    @hookimpl(trylast=True)
    def exec_exec_wait(self, container_id, exec_id, timeout):
        self._refuse("exec")

    @hookimpl(trylast=True)
    def exec_exec_kill(self, container_id, exec_id, signal):
        self._refuse("killing an exec")

    @hookimpl(trylast=True)
    def exec_exec_delete(self, container_id, exec_id):
        return True  # a driver without this hook keeps nothing per exec beyond the container's own state

    @hookimpl(trylast=True)
    def exec_pause(self, container_id):
        self._refuse("pause")

    @hookimpl(trylast=True)
    def exec_resume(self, container_id):
        self._refuse("unpause")

    @hookimpl(trylast=True)
    def exec_stats(self, container_id):
        self._refuse("stats")

    @hookimpl(trylast=True)
    def exec_resize(self, container_id, exec_id, height, width):
        self._refuse("resize")

    @hookimpl(trylast=True)
    def exec_update(self, container_id, resources):
        self._refuse("update")

    @hookimpl(trylast=True)
    def exec_top(self, container_id):
        self._refuse("top")

    @hookimpl(trylast=True)
    def exec_list(self):
        return []

    @hookimpl(trylast=True)
    def exec_restore(self, container_id):
        self._refuse("re-adopting containers after a daemon restart")

    @hookimpl(trylast=True)
    def exec_status(self):
        return []

    @hookimpl(trylast=True)
    def exec_features(self):
        return ExecFeatures(runtimes=(self.driver_name,))


class NetDefaults(_Unsupported):
    kind = "network"

    @hookimpl(trylast=True)
    def net_publish_port(self, network_id, endpoint_id, binding):
        self._refuse("publishing ports")

    @hookimpl(trylast=True)
    def net_unpublish_port(self, network_id, endpoint_id, binding):
        return True

    @hookimpl(trylast=True)
    def net_status(self):
        return []
