"""The graph workloads after Moby's graphbench, called on a driver's facade in this process.

Each workload has a set-up (untimed: the layers it needs), a sample (timed: the hook
calls it is about, and the timer's per-hook split of them) and a tear-down. Layer
contents come from :mod:`.dataset` (seeded) and are put in with ``graph_apply_diff``,
the way the engine fills layers.
"""

from __future__ import annotations

import io
import os
import secrets
import time
from typing import Callable

from berth.bench.storage import dataset
from berth.bench.storage.sample import Sample
from berth.bench.storage.settings import Sizes
from berth.drivers import GraphDriver
from berth.tracing import HookTimer


def new_id() -> str:
    return secrets.token_hex(32)


class DriverGraphWork:
    """The graph workloads on one driver (its facade, with the hook timer registered)."""

    def __init__(self, graph: GraphDriver, timer: HookTimer, sizes: Sizes, seed: int):
        self.graph, self.timer, self.sizes, self.seed = graph, timer, sizes, seed
        self.state: dict[str, object] = {}
        self._made: list[str] = []  # layers to remove at tear-down, children last

    # -- helpers ------------------------------------------------------------------------

    def _layer(self, parent: str | None, tar: bytes | None) -> str:
        layer = new_id()
        self.graph.create(layer, parent)
        self._made.append(layer)
        if tar is not None:
            self.graph.apply_diff(layer, parent, io.BytesIO(tar))
        return layer

    def _timed(self, work: Callable[[], object]) -> tuple[float, object, dict]:
        self.timer.take()  # set-up calls are not this sample's
        began = time.perf_counter()
        outcome = work()
        seconds = time.perf_counter() - began
        return seconds, outcome, Sample.hook_totals(self.timer.take())

    def _read_diff(self, layer: str, parent: str | None) -> int:
        total = 0
        with self.graph.diff(layer, parent) as stream:
            while chunk := stream.read(1 << 20):
                total += len(chunk)
        return total

    # -- set-up and tear-down ---------------------------------------------------------------

    def setup(self, workload: str) -> None:
        s = self.sizes
        if workload == "exists":
            self.state["base"] = self._layer(None, None)
        elif workload == "diff-base":
            self.state["base"] = self._layer(None, dataset.many_files(3, self.seed))
        elif workload in ("diff-n", "diff-apply-n"):
            base = self._layer(None, dataset.many_files(s.diff_files, self.seed))
            self.state["base"] = base
            self.state["upper"] = self._layer(base, dataset.many_files(s.diff_files, self.seed + 1_000_000))
        elif workload == "deep-read":
            layer = self._layer(None, dataset.deep_base())
            for index in range(s.deep_layers):
                layer = self._layer(layer, dataset.deep_layer(index))
            top = new_id()
            self.graph.create_rw(top, layer)
            self._made.append(top)
            self.state["root"] = self.graph.mount(top)
            self.state["mounted"] = top

    def teardown(self, workload: str) -> None:
        mounted = self.state.pop("mounted", None)
        if mounted:
            self.graph.unmount(mounted)
        for layer in reversed(self._made):
            self.graph.remove(layer)
        self._made.clear()
        self.state.clear()
        self.timer.take()

    # -- samples -------------------------------------------------------------------------

    def sample(self, workload: str) -> Sample:
        return getattr(self, "_" + workload.replace("-", "_"))()

    def _exists(self) -> Sample:
        base, calls = str(self.state["base"]), self.sizes.exists_calls

        def work() -> None:
            for _ in range(calls):
                if not self.graph.exists(base):
                    raise AssertionError(f"graph_exists says layer {base} does not exist")

        seconds, _, hooks = self._timed(work)
        return Sample(seconds, ops=calls, hooks=hooks)

    def _get_empty(self) -> Sample:
        layer = new_id()

        def work() -> None:
            self.graph.create(layer, None)
            self.graph.mount(layer)
            self.graph.unmount(layer)

        seconds, _, hooks = self._timed(work)
        self.graph.remove(layer)
        return Sample(seconds, ops=1, hooks=hooks)

    def _diff_base(self) -> Sample:
        seconds, size, hooks = self._timed(lambda: self._read_diff(str(self.state["base"]), None))
        return Sample(seconds, bytes=int(size), hooks=hooks)

    def _diff_n(self) -> Sample:
        base, upper = str(self.state["base"]), str(self.state["upper"])
        seconds, size, hooks = self._timed(lambda: self._read_diff(upper, base))
        return Sample(seconds, bytes=int(size), ops=self.sizes.diff_files, hooks=hooks)

    def _diff_apply_n(self) -> Sample:
        base, upper = str(self.state["base"]), str(self.state["upper"])
        target = new_id()
        self.graph.create(target, base)

        def work() -> int:
            with self.graph.diff(upper, base) as stream:
                return self.graph.apply_diff(target, base, stream)

        seconds, size, hooks = self._timed(work)
        self.graph.remove(target)
        return Sample(seconds, bytes=int(size), ops=self.sizes.diff_files, hooks=hooks)

    def _deep_read(self) -> Sample:
        return deep_read(str(self.state["root"]), self.sizes.deep_reads)


def deep_read(root: str, reads: int) -> Sample:
    """Read the deep file ``reads`` times through the mount at ``root`` (drivers and references alike)."""
    path = os.path.join(root, dataset.DEEP_FILE)
    began = time.perf_counter()
    for _ in range(reads):
        with open(path, "rb") as f:
            if f.read() != dataset.DEEP_CONTENT:
                raise AssertionError(f"{path} does not hold what the bottom layer holds")
    return Sample(time.perf_counter() - began, ops=reads)
