"""``HostConfig.SecurityOpt``: Docker's ``--security-opt`` values parsed into one record.

After moby's ``parseSecurityOpt`` (``daemon/daemon_unix.go``): ``no-new-privileges[=bool]``,
``seccomp=unconfined|<profile JSON>``, ``apparmor=<profile>``, ``label=<user|role|type|level:...
|disable>`` (and the deprecated ``key:value`` form, as ``label:disable``), plus
``systempaths=unconfined`` (which the docker CLI turns into empty MaskedPaths/ReadonlyPaths
before sending; berth takes it from any client). Anything else is refused with dockerd's
message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from berth.errors import InvalidArgument

_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
          "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}  # Go's ParseBool


@dataclass
class SecurityOptions:
    """What a container's ``SecurityOpt`` asks for."""

    no_new_privileges: bool = False
    #: None: the default profile; "unconfined"; or a profile's JSON text
    seccomp: str | None = None
    apparmor: str = ""
    labels: list[str] = field(default_factory=list)
    unconfined_system_paths: bool = False


def parse(host_config: dict[str, Any]) -> SecurityOptions:
    """Parse ``SecurityOpt``; a malformed or unknown option is a 400 with dockerd's wording."""
    opts = SecurityOptions()
    for opt in host_config.get("SecurityOpt") or []:
        if opt == "no-new-privileges":
            opts.no_new_privileges = True
            continue
        if opt == "disable":
            opts.labels.append("disable")
            continue
        sep = "=" if "=" in opt else ":" if ":" in opt else ""
        if not sep:
            raise InvalidArgument(f'invalid --security-opt 1: "{opt}"')
        key, _, value = opt.partition(sep)
        if key == "label":
            opts.labels.append(value)
        elif key == "apparmor":
            opts.apparmor = value
        elif key == "seccomp":
            opts.seccomp = None if value in ("", "builtin", "default") else value
        elif key == "no-new-privileges" and value in _BOOLS:
            opts.no_new_privileges = _BOOLS[value]
        elif key == "systempaths" and value == "unconfined":
            opts.unconfined_system_paths = True
        else:
            raise InvalidArgument(f'invalid --security-opt 2: "{opt}"')
    return opts


def host_warnings(opts: SecurityOptions, lsms: frozenset[str]) -> list[str]:
    """Warnings for LSM options this host (or exec driver) cannot apply: they are dropped, not silently."""
    warnings = []
    if opts.apparmor and "apparmor" not in lsms:
        warnings.append(f"AppArmor is not enabled on this host or not supported by its exec driver: "
                        f"--security-opt apparmor={opts.apparmor} discarded.")
    wanted = [label for label in opts.labels if label != "disable"]
    if wanted and "selinux" not in lsms:
        warnings.append(f"SELinux is not enabled on this host or not supported by its exec driver: "
                        f"--security-opt label={','.join(wanted)} discarded.")
    if opts.seccomp not in (None, "unconfined") and "seccomp" not in lsms:
        warnings.append("Seccomp is not supported by the exec driver: the seccomp profile is discarded.")
    return warnings


def with_default_label(host_config: dict[str, Any]) -> None:
    """dockerd adds ``label=disable`` to containers sharing the host's pid or ipc namespace and to
    privileged ones, unless a label option was given (``generateSecurityOpt``); inspect shows it."""
    opts = host_config.get("SecurityOpt") or []
    if any(o.partition("=")[0] == "label" or o.partition(":")[0] == "label" for o in opts):
        return
    if host_config.get("IpcMode") == "host" or host_config.get("PidMode") == "host" \
            or host_config.get("Privileged"):
        host_config["SecurityOpt"] = [*opts, "label=disable"]
