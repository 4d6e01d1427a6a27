"""``--storage-opt`` (``HostConfig.StorageOpt``): the per-container options a graph driver's
``graph_create_rw`` receives, and the refusal for drivers that take none.

The one key Docker defines is ``size`` (the most the container's writable layer may hold,
e.g. "10G"). dockerd's overlay2 and vfs enforce it only with project quotas (xfs with
``pquota``); berth's built-in drivers have no per-container quota, so they refuse it with
an error that says so, and any other key as dockerd's overlay2 does ("Unknown option").
"""

from __future__ import annotations

from berth.errors import InvalidArgument

KNOWN_KEYS = ("size",)


def refuse_all(driver_name: str, options: dict[str, str]) -> None:
    """For a driver without per-container options: a 400 naming the first option and why."""
    for key in sorted(options):
        if key.lower() not in KNOWN_KEYS:
            raise InvalidArgument(f"Unknown option {key}")
        raise InvalidArgument(f"--storage-opt {key} is not supported by the {driver_name} storage driver: "
                              "it has no per-container disk quota")
