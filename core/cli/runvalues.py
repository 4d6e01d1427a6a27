"""The values of ``run``/``create`` flags, checked and shaped as the docker CLI checks and shapes them.

Each function takes one flag value and returns what the docker CLI keeps for it
(the string it validated, or the Engine API object it builds: a ``Mount``, an
``Ulimit``, a ``DeviceRequest``, a throttle device...), or raises ``ValueError``
with the docker CLI's message. They are named in :mod:`berth.cli.runopts` as a
flag's ``check`` and imported only when such a flag is used.
"""

from __future__ import annotations

import os

from berth.cli import flagvalues

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any


# -- plain validators (opts.Validate*) ----------------------------------------------------

def env_variable(value: str) -> str:
    """``-e NAME=value`` as given; ``-e NAME`` takes NAME's value from our environment when it is set."""
    name, eq, _ = value.partition("=")
    if not name:
        raise ValueError(f"invalid environment variable: {value}")
    if not eq and name in os.environ:
        return f"{name}={os.environ[name]}"
    return value


def label(value: str) -> str:
    """``-l key[=value]``: a non-empty key without blanks."""
    key = value.partition("=")[0].lstrip(" \t")
    if not key:
        raise ValueError(f"invalid label '{value}': empty name")
    if " " in key or "\t" in key:
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


def ip_address(value: str) -> str:
    """An IPv4 or IPv6 address (surrounding blanks allowed), in its canonical spelling."""
    import ipaddress

    text = value.strip(" \t\n\r\v\f")
    try:
        if "%" in text:
            raise ValueError(text)  # Go's net.ParseIP takes no zone
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"IP address is not correctly formatted: {value}") from None
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


#: Docker's domain pattern, "(:?" typos included (they allow a colon at a label's start)
_DOMAIN = (r"^(:?(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))"
           r"(:?\.(:?[a-zA-Z0-9]|(:?[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?[\t\n\f\r ]*$")


def dns_search(value: str) -> str:
    """A DNS search domain, or "." for none."""
    import re

    value = value.strip(" ")
    if value == ".":
        return value
    match = re.match(_DOMAIN, value) if re.search("[a-zA-Z]", value) else None
    if match and len(match.group(1)) < 255:
        return match.group(1)
    raise ValueError(f"{value} is not a valid domain")


def extra_host(value: str) -> str:
    """``--add-host name:ip`` (or ``name=ip``, ``[v6]`` brackets, ``host-gateway``) -> ``name:ip``."""
    name, sep, address = value.partition("=")
    if not sep:
        name, sep, address = value.partition(":")
    if not sep or not name or ":" in name:
        raise ValueError(f'bad format for add-host: "{value}"')
    if address != "host-gateway":
        if len(address) > 2 and address[0] == "[" and address[-1] == "]":
            address = address[1:-1]
        try:
            ip_address(address)
        except ValueError:
            raise ValueError(f'invalid IP address in add-host: "{address}"') from None
    return f"{name}:{address}"


def link(value: str) -> str:
    """``--link name[:alias]``."""
    if not value:
        raise ValueError("empty string specified for links")
    if value.count(":") > 1:
        raise ValueError("bad format for links: " + value)
    return value


def attach_stream(value: str) -> str:
    """``-a stdin|stdout|stderr`` (any case) -> lower case."""
    lowered = value.lower()
    if lowered not in ("stdin", "stdout", "stderr"):
        raise ValueError("valid streams are STDIN, STDOUT and STDERR")
    return lowered


def device_cgroup_rule(value: str) -> str:
    """``--device-cgroup-rule 'c 1:3 mr'``: type, major:minor (or *), access."""
    import re

    if not re.fullmatch(r"[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}", value):
        raise ValueError(f"invalid device cgroup format '{value}'")
    return value


_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
            "kernel.shmmni", "kernel.shm_rmid_forced")


def sysctl(value: str) -> str:
    """``--sysctl key=value`` for the namespaced sysctls the docker CLI lets through."""
    key, eq, _ = value.partition("=")
    if eq and key and (key in _SYSCTLS or key.startswith(("net.", "fs.mqueue."))):
        return value
    raise ValueError(f"sysctl '{value}' is not allowed")


# -- block IO devices -----------------------------------------------------------------------

def _device_path(value: str) -> tuple[str, str]:
    path, sep, rest = value.partition(":")
    if not sep or not path:
        raise ValueError(f"bad format: {value}")
    if not path.startswith("/dev/"):
        raise ValueError(f"bad format for device path: {value}")
    return path, rest


def _decimal(text: str, bits: int) -> int | None:
    """``strconv.ParseUint(text, 10, bits)``, None on any error."""
    if not (text.isdigit() and text.isascii()) or int(text) >= 1 << bits:
        return None
    return int(text)


def throttle_bps(value: str) -> dict[str, Any]:
    """``/dev/sda:10mb`` -> ``{"Path", "Rate"}`` in bytes per second."""
    path, rate = _device_path(value)
    try:
        number = flagvalues.parse_ram_bytes(rate)
    except ValueError:
        raise ValueError(f"invalid rate for device: {value}. The correct format is <device-path>:<number>[<unit>]. "
                         "Number must be a positive integer. Unit is optional and can be kb, mb, or gb") from None
    return {"Path": path, "Rate": number}


def throttle_iops(value: str) -> dict[str, Any]:
    """``/dev/sda:1000`` -> ``{"Path", "Rate"}`` in IO per second."""
    path, rate = _device_path(value)
    number = _decimal(rate, 64)
    if number is None:
        raise ValueError(f"invalid rate for device: {value}. The correct format is <device-path>:<number>. "
                         "Number must be a positive integer")
    return {"Path": path, "Rate": number}


def weight_device(value: str) -> dict[str, Any]:
    """``/dev/sda:200`` -> ``{"Path", "Weight"}`` (10 to 1000, or 0)."""
    path, weight = _device_path(value)
    number = _decimal(weight, 16)
    if number is None or 0 < number < 10 or number > 1000:
        raise ValueError(f"invalid weight for device: {value}")
    return {"Path": path, "Weight": number}


# -- ulimits ------------------------------------------------------------------------------

_ULIMITS = ("core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
            "rtprio", "rttime", "sigpending", "stack")


def _base10(text: str) -> int:
    """``strconv.ParseInt(text, 10, 64)``."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isdigit() and digits.isascii()):
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    number = int(text)
    if not -(1 << 63) <= number < 1 << 63:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return number


def ulimit(value: str) -> dict[str, Any]:
    """``nofile=1024[:2048]`` -> ``{"Name", "Hard", "Soft"}`` (hard defaults to soft)."""
    name, sep, limits = value.partition("=")
    if not sep:
        raise ValueError(f"invalid ulimit argument: {value}")
    if name not in _ULIMITS:
        raise ValueError(f"invalid ulimit type: {name}")
    parts = limits.split(":")
    if len(parts) > 2:
        raise ValueError(f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`")
    hard = _base10(parts[1]) if len(parts) == 2 else None
    soft = _base10(parts[0])
    hard = soft if hard is None else hard
    if hard != -1:
        if soft == -1:
            raise ValueError("ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), "
                             f"hard: {hard}")
        if soft > hard:
            raise ValueError(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return {"Name": name, "Hard": hard, "Soft": soft}
