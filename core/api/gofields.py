"""dockerd's JSON is Go's encoding of its API structs; these tables let berth's views write the same.

Go writes every field of a struct, at its zero value when unset ("" for strings, false, 0, null for
slices, maps and pointers), except the fields tagged ``omitempty``, which it leaves out when empty.
Clients tell these apart (a missing ``Healthcheck`` vs ``null``, ``""`` vs ``null``), so a view renders
a record through the table of the struct it stands for: known fields in Go's order, each either
its value, its zero value, or absent.

The tables list field names, kinds and omitempty, as in Moby's ``api/types/container`` (API 1.41,
which the lab's dockerd 20.10 speaks, plus the fields 1.45 added).
"""

from __future__ import annotations

from typing import Any

# kinds: str, bool, int -> their zero value; list, map, ptr -> null. "omit" marks omitempty.
Table = tuple[tuple[str, str, bool], ...]
ZERO = {"str": "", "bool": False, "int": 0, "list": None, "map": None, "ptr": None}


def _fields(spec: str) -> Table:
    """``"Name:kind Other:kind:omit ..."`` as a table."""
    out = []
    for item in spec.split():
        name, kind, *flags = item.split(":")
        out.append((name, kind, "omit" in flags))
    return tuple(out)


# container.Config
CONFIG = _fields("""
    Hostname:str Domainname:str User:str AttachStdin:bool AttachStdout:bool AttachStderr:bool
    ExposedPorts:map:omit Tty:bool OpenStdin:bool StdinOnce:bool Env:list Cmd:list Healthcheck:ptr:omit
    ArgsEscaped:bool:omit Image:str Volumes:map WorkingDir:str Entrypoint:list NetworkDisabled:bool:omit
    MacAddress:str:omit OnBuild:list Labels:map StopSignal:str:omit StopTimeout:ptr:omit Shell:list:omit
""")

# container.HostConfig with its embedded Resources, in Go's order
HOST_CONFIG = _fields("""
    Binds:list ContainerIDFile:str LogConfig:ptr NetworkMode:str PortBindings:map RestartPolicy:ptr
    AutoRemove:bool VolumeDriver:str VolumesFrom:list CapAdd:list CapDrop:list
    CgroupnsMode:str Dns:list DnsOptions:list DnsSearch:list ExtraHosts:list GroupAdd:list IpcMode:str
    Cgroup:str Links:list OomScoreAdj:int PidMode:str Privileged:bool PublishAllPorts:bool
    ReadonlyRootfs:bool SecurityOpt:list StorageOpt:map:omit Tmpfs:map:omit UTSMode:str UsernsMode:str
    ShmSize:int Sysctls:map:omit Runtime:str:omit ConsoleSize:list Isolation:str
    CpuShares:int Memory:int NanoCpus:int CgroupParent:str BlkioWeight:int BlkioWeightDevice:list
    BlkioDeviceReadBps:list BlkioDeviceWriteBps:list BlkioDeviceReadIOps:list BlkioDeviceWriteIOps:list
    CpuPeriod:int CpuQuota:int CpuRealtimePeriod:int CpuRealtimeRuntime:int CpusetCpus:str CpusetMems:str
    Devices:list DeviceCgroupRules:list DeviceRequests:list KernelMemory:int KernelMemoryTCP:int
    MemoryReservation:int MemorySwap:int MemorySwappiness:ptr OomKillDisable:ptr PidsLimit:ptr Ulimits:list
    CpuCount:int CpuPercent:int IOMaximumIOps:int IOMaximumBandwidth:int
    Mounts:list:omit MaskedPaths:list ReadonlyPaths:list Init:ptr:omit Annotations:map:omit
""")

# the structs inside HostConfig
RESTART_POLICY = _fields("Name:str MaximumRetryCount:int")
LOG_CONFIG = _fields("Type:str Config:map")
PORT_BINDING = _fields("HostIp:str HostPort:str")

# Go fixes ConsoleSize as a [2]uint array: never null
HOST_CONFIG_ZERO = {"ConsoleSize": [0, 0]}


# types.StatsJSON's parts (JSON names are Go's tags). Its nested structs are never left out: Go's
# omitempty has no effect on a struct.
CPU_USAGE = _fields("total_usage:int percpu_usage:list:omit usage_in_kernelmode:int usage_in_usermode:int")
CPU_TOTALS = _fields("system_cpu_usage:int:omit online_cpus:int:omit")
THROTTLING = _fields("periods:int throttled_periods:int throttled_time:int")
MEMORY_STATS = _fields("usage:int:omit max_usage:int:omit stats:map:omit failcnt:int:omit limit:int:omit")
BLKIO_STATS = _fields("""
    io_service_bytes_recursive:list io_serviced_recursive:list io_queue_recursive:list
    io_service_time_recursive:list io_wait_time_recursive:list io_merged_recursive:list io_time_recursive:list
    sectors_recursive:list
""")
PIDS_STATS = _fields("current:int:omit limit:int:omit")


def render(table: Table, values: dict[str, Any] | None, zero: dict[str, Any] | None = None) -> dict[str, Any]:
    """``values`` as Go writes the struct ``table`` describes; keys the struct does not have are dropped.

    A scalar stored as null (berth's records keep what the client sent) is written as its zero value,
    since a Go string or bool cannot be null; slices, maps and pointers keep null, ``[]`` and ``{}``
    apart, as Go does.
    """
    values = values or {}
    out: dict[str, Any] = {}
    for name, kind, omitempty in table:
        value = values.get(name)
        if value is None and kind in ("str", "bool", "int"):
            value = ZERO[kind]
        if value is None and zero and name in zero:
            value = zero[name]
        if omitempty and _empty(kind, value):
            continue
        out[name] = value
    return out


def _empty(kind: str, value: Any) -> bool:
    """Go's omitempty: a nil pointer, or the zero value / no elements of anything else."""
    if kind == "ptr":
        return value is None
    return value is None or value == ZERO[kind] or (kind in ("list", "map") and not value)


def decode_names(table: Table, values: Any, *extra: str) -> Any:
    """``values`` with its keys read as Go's decoder reads them into the struct ``table`` (plus the
    ``extra`` field names): a key that names no field exactly names the field it matches ignoring
    case (docker-py sends ``CPURealtimePeriod`` for ``CpuRealtimePeriod``). Other keys are kept."""
    if not isinstance(values, dict):
        return values
    names = {name for name, _, _ in table} | set(extra)
    folded = {name.lower(): name for name in names}
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = key if key in names else folded.get(key.lower(), key)
        if name not in out or key == name:  # an exact name wins over a case-insensitive match
            out[name] = value
    return out
