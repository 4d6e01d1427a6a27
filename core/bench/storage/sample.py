"""One measurement: what a target did for one repetition of one workload."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sample:
    seconds: float  # the workload's own time (its file system work, or its hook calls)
    wall: float | None = None  # container workloads: create + start + run + exit of the container
    bytes: int | None = None  # data moved, for throughput
    ops: int | None = None  # operations done, for rates
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase, for workloads with phases
    hooks: dict[str, tuple[int, float]] = field(default_factory=dict)  # hook -> (calls, seconds)

    @staticmethod
    def hook_totals(timed: dict[str, list[float]]) -> dict[str, tuple[int, float]]:
        """A :class:`~berth.tracing.HookTimer`'s per-call seconds as (calls, total seconds) per hook."""
        return {hook: (len(times), sum(times)) for hook, times in timed.items()}
