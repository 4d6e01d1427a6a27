"""Operations on a container's record and running process: rename, update, resize, top, stats."""

from __future__ import annotations

import asyncio
from typing import Any

from berth.containers import legacylinks, limits, names, spec as ocispec
from berth.containers.model import State
from berth.containers.restart import RestartPolicy
from berth.errors import Conflict


class RuntimeMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    async def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        new_name = names.validate(new_name)
        if new_name == c.name:
            raise Conflict("Renaming a container with the same name as its current name")
        self.store.check_name_free(new_name)
        old = c.name
        c.name = new_name
        for linking in legacylinks.rename(self.store.containers.values(), old, new_name):
            if linking.id != c.id:
                self.store.save(linking)
        self.store.save(c)
        if c.state.status in (State.RUNNING, State.PAUSED):
            await asyncio.to_thread(self._rename_endpoints, c)
        self.event(c, "rename", oldName="/" + old)

    async def update(self, ref: str, resources: dict[str, Any]) -> list[str]:
        """Docker's ``update``: new resource limits and/or restart policy, applied live when running;
        returns the warnings for what the host cannot enforce (checked as at create)."""
        c = self.get(ref)
        fields = ("Memory", "MemorySwap", "MemoryReservation", "KernelMemory", "CpuShares", "NanoCpus", "CpuQuota",
                  "CpuPeriod", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "PidsLimit",
                  "BlkioWeight")
        changes = {k: resources[k] for k in fields if resources.get(k) is not None}
        warnings = limits.check_resources(changes, self.exec.features(), update=True)
        old_swap = int(c.host_config.get("MemorySwap") or 0)
        if changes.get("Memory", 0) > 0 and not changes.get("MemorySwap") and 0 < old_swap < changes["Memory"]:
            raise Conflict(f"Cannot update container {c.id}: Memory limit should be smaller than already set "
                           "memoryswap limit, update the memoryswap at the same time")
        merged = {**c.host_config, **changes}
        if resources.get("RestartPolicy"):
            merged["RestartPolicy"] = resources["RestartPolicy"]
            RestartPolicy.from_host_config(merged)
        if changes and c.state.status in (State.RUNNING, State.PAUSED):
            # the kernel may refuse (a limit below current use): then nothing is recorded either
            await asyncio.to_thread(self.exec.update, c.id, ocispec.resources(merged))
        c.host_config = merged
        self.store.save(c)
        self.event(c, "update")
        return warnings

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        self._require_running(c, "resize")
        await asyncio.to_thread(self.exec.resize, c.id, height, width)
        self.event(c, "resize", height=str(height), width=str(width))

    async def top(self, ref: str) -> list[int]:
        c = self.get(ref)
        self._require_running(c, "top")
        pids = await asyncio.to_thread(self.exec.top, c.id)
        self.event(c, "top")
        return pids

    async def stats(self, ref: str) -> dict[str, Any]:
        c = self.get(ref)
        if c.state.status not in (State.RUNNING, State.PAUSED):
            return {}
        return await asyncio.to_thread(self.exec.stats, c.id)
