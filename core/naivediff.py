"""The core's default diff operations, for drivers that only know how to mount (Moby's NaiveDiffDriver).

Registered ``trylast`` in the graph manager for the diff hooks a driver does not
implement. Everything here works on mounted trees obtained through the engine's
:class:`berth.drivers.GraphDriver` facade, so wrappers (tracing, quotas) see those
mounts too. A driver whose own diff applies only sometimes (overlay: against its
parent) calls one made with :meth:`NaiveDiff.over_driver` for the other cases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from berth import hookimpl
from berth.hookspecs.types import Change, ChangeKind
from berth.images.changes import changes_size, tree_changes
from berth.images.layertar import LayerTarWriter, walk
from berth.images.pipestream import producer_stream
from berth.images.tarsafe import DeleteWhiteouts, extract_layer

if TYPE_CHECKING:
    from berth.drivers import GraphDriver


class NaiveDiff:
    """``graph_diff``, ``graph_changes``, ``graph_apply_diff``, ``graph_diff_size`` over two mounted trees.

    Constructed as ``NaiveDiff(graph_facade)``; the facade may also be assigned
    later to :attr:`graph` (it needs the manager this object is registered in).
    """

    def __init__(self, graph: "GraphDriver | None" = None):
        self.graph = graph

    @classmethod
    def over_driver(cls, driver: object) -> "NaiveDiff":
        """A naive diff that mounts through ``driver``'s own ``graph_mount``/``graph_unmount`` hooks."""
        return cls(_OwnMounts(driver))  # type: ignore[arg-type]

    def _facade(self) -> "GraphDriver":
        if self.graph is None:
            raise RuntimeError("NaiveDiff used before its graph driver facade was set (NaiveDiff.graph)")
        return self.graph

    def _changes_mounted(self, layer_id: str, layer_path: str, parent: str | None) -> list[Change]:
        if parent is None:
            return tree_changes(layer_path, None)
        graph = self._facade()
        parent_path = graph.mount(parent)
        try:
            return tree_changes(layer_path, parent_path)
        finally:
            graph.unmount(parent)

    @hookimpl(trylast=True)
    def graph_diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        graph = self._facade()
        path = graph.mount(layer_id)
        try:
            if parent is None:
                entries = [(rel, None) for rel, _ in walk(path)]
            else:
                entries = [(c.path.lstrip("/"), c) for c in self._changes_mounted(layer_id, path, parent)]
        except BaseException:
            graph.unmount(layer_id)
            raise

        def produce(out: BinaryIO) -> None:
            writer = LayerTarWriter(out)
            for rel, change in entries:
                if change is not None and change.kind is ChangeKind.DELETED:
                    writer.add_whiteout(rel)
                else:
                    writer.add(path, rel)
            writer.close()

        return producer_stream(produce, release=lambda: graph.unmount(layer_id), what=f"diff of layer {layer_id}")

    @hookimpl(trylast=True)
    def graph_changes(self, layer_id: str, parent: str | None) -> list[Change]:
        graph = self._facade()
        path = graph.mount(layer_id)
        try:
            return self._changes_mounted(layer_id, path, parent)
        finally:
            graph.unmount(layer_id)

    @hookimpl(trylast=True)
    def graph_apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        graph = self._facade()
        path = graph.mount(layer_id)
        try:
            # The mounted tree is the full view, so whiteouts simply delete
            return extract_layer(diff, path, DeleteWhiteouts()).size
        finally:
            graph.unmount(layer_id)

    @hookimpl(trylast=True)
    def graph_diff_size(self, layer_id: str, parent: str | None) -> int:
        graph = self._facade()
        path = graph.mount(layer_id)
        try:
            return changes_size(path, self._changes_mounted(layer_id, path, parent))
        finally:
            graph.unmount(layer_id)


class _OwnMounts:
    """A driver's mount hooks with the facade's method names, for :meth:`NaiveDiff.over_driver`."""

    def __init__(self, driver: object):
        self.driver = driver

    def mount(self, layer_id: str, mount_label: str = "") -> str:
        return self.driver.graph_mount(layer_id, mount_label)  # type: ignore[attr-defined]

    def unmount(self, layer_id: str) -> None:
        self.driver.graph_unmount(layer_id)  # type: ignore[attr-defined]
