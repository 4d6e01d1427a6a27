"""A graph driver as ``--drivers`` names it: ``NAME``, or ``NAME:KEY=VALUE+KEY=VALUE`` for the driver
with storage options (berthd's ``--storage-opt``), so one run can set a driver's variants side by side::

    --drivers fuse-overlay,fuse-overlay:fuse-overlay.writeback=false

The whole item is the target's label in the results; the options go to the in-process
driver of the graph workloads and to the berthd of the container workloads alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DriverSpec:
    label: str  # how results and plots name this target
    name: str  # the installed graph driver
    options: dict[str, str] = field(default_factory=dict)

    def storage_opt_args(self) -> list[str]:
        """berthd's command-line flags for the options."""
        return [arg for key, value in self.options.items() for arg in ("--storage-opt", f"{key}={value}")]


def parse(item: str) -> DriverSpec:
    """The spec of one ``--drivers`` item; ValueError when an option is not KEY=VALUE."""
    name, _, rest = item.partition(":")
    options = {}
    for pair in filter(None, rest.split("+")):
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise ValueError(f"--drivers {item}: storage option {pair!r} is not KEY=VALUE")
        options[key] = value
    return DriverSpec(item, name, options)
