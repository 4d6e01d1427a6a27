"""``HostConfig.Ulimits`` (``--ulimit``) as OCI ``process.rlimits``.

Docker sets no rlimits of its own: a container inherits the daemon's, and each
``--ulimit`` replaces one (moby ``withRlimits``). Names are go-units' (``nofile``,
``nproc``...); -1 means unlimited. A value above the daemon's hard limit is not clamped:
the exec driver fails the start, as runc does without CAP_SYS_RESOURCE.
"""

from __future__ import annotations

from typing import Any

from berth.errors import InvalidArgument

#: go-units' ulimit names (docker/go-units ulimit.go)
NAMES = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
         "rtprio", "rttime", "sigpending", "stack")
#: -1 ("unlimited") as the OCI spec's uint64: RLIM_INFINITY
INFINITY = 2**64 - 1


def check_ulimit(ulimit: dict[str, Any]) -> None:
    """A 400 for an unknown name, a non-integer value or soft above hard."""
    name = ulimit.get("Name")
    if name not in NAMES:
        raise InvalidArgument(f"invalid ulimit type: {name}")
    soft, hard = ulimit.get("Soft"), ulimit.get("Hard")
    for value in (soft, hard):
        if not isinstance(value, int) or isinstance(value, bool) or value < -1:
            raise InvalidArgument(f"invalid ulimit {name}: values must be integers (-1 for unlimited), "
                                  f"got soft={soft!r} hard={hard!r}")
    if hard != -1 and (soft == -1 or soft > hard):
        raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")


def oci_rlimits(ulimits: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The spec's rlimits for ``Ulimits`` (the last entry of a name wins)."""
    by_type: dict[str, dict[str, Any]] = {}
    for ulimit in ulimits or []:
        check_ulimit(ulimit)
        by_type["RLIMIT_" + ulimit["Name"].upper()] = {
            "type": "RLIMIT_" + ulimit["Name"].upper(),
            "soft": INFINITY if ulimit["Soft"] == -1 else ulimit["Soft"],
            "hard": INFINITY if ulimit["Hard"] == -1 else ulimit["Hard"],
        }
    return list(by_type.values())
