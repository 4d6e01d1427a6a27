"""Core default implementations of the optional hooks, registered ``trylast``.

The plugin manager registers a default only for a hook the selected driver does
not implement, so a default never answers in a driver's place. Reporting hooks
answer "nothing to report", optional operations raise :class:`NotSupported`
naming the driver and the operation instead of silently doing nothing.
"""

from __future__ import annotations

from berth import hookimpl
from berth.errors import NotSupported
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
        raise NotSupported(self._no_idmaps())

    @hookimpl(trylast=True)
    def graph_unmount_idmapped(self, layer_id):
        return True

    @hookimpl(trylast=True)
    def graph_adopt_diff(self, layer_id, parent, source, source_parent):
        raise NotSupported(f"graph driver {self.driver_name!r} cannot adopt a layer's files (graph_adopt_diff); "
                           "its changes are diffed and applied instead")

    @hookimpl(trylast=True)
    def graph_apply_diff_early(self, layer_id, parent, diff, below_applied):
        raise NotSupported(f"graph driver {self.driver_name!r} applies a layer only once the layers below are "
                           "complete (it does not implement graph_apply_diff_early)")

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
        raise NotSupported(f"{self.kind} driver {self.driver_name!r} does not support {operation}")


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

    @hookimpl(trylast=True)
    def exec_cleanup(self):
        return True


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

    @hookimpl(trylast=True)
    def net_cleanup(self):
        return True


def core_defaults(kind: str, driver_name: str, facade) -> list[object]:
    """The default plugins of driver kind ``kind`` for the driver behind ``facade`` (the naive diff mounts
    through the facade, so wrappers see its mounts)."""
    if kind == "graph":
        from berth.naivediff import NaiveDiff

        return [GraphDefaults(driver_name), NaiveDiff(facade)]
    return [ExecDefaults(driver_name) if kind == "exec" else NetDefaults(driver_name)]
