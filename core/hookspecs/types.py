"""Typed records passed across the driver contracts.

Drivers receive and return these instead of loose dicts, so a plugin author sees
every field in one place. Docker-API JSON never crosses a driver boundary.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypedDict


# ---------------------------------------------------------------------------
# graph
# ---------------------------------------------------------------------------


class ChangeKind(enum.IntEnum):
    """Docker's change kinds, with Docker's numeric values (``GET /containers/{id}/changes``)."""

    MODIFIED = 0
    ADDED = 1
    DELETED = 2

    @property
    def letter(self) -> str:
        return "CAD"[self.value]


@dataclass(frozen=True, order=True)
class Change:
    """One filesystem change of a layer against its parent; ``path`` is absolute ("/etc/passwd")."""

    path: str
    kind: ChangeKind


#: the id a user namespace shows for an id its map lacks (``/proc/sys/kernel/overflowuid``)
OVERFLOW_ID = 65534


@dataclass(frozen=True)
class IdRange:
    """``size`` consecutive ids from ``container`` inside a user namespace, ``host`` outside it."""

    container: int
    host: int
    size: int


@dataclass(frozen=True)
class IdMap:
    """How a user namespace maps ids (``/proc/PID/uid_map`` and ``gid_map``; OCI ``linux.uidMappings``).

    With ``--userns-remap`` every container's root is host uid/gid :attr:`root` (e.g. 100000),
    and container id ``n`` is host id ``root + n``. Graph drivers receive one to show layers
    stored with container ids as the container's processes must see them from the host.
    """

    uids: tuple[IdRange, ...]
    gids: tuple[IdRange, ...]

    @staticmethod
    def _lookup(ranges: tuple[IdRange, ...], value: int, inward: bool) -> int | None:
        for r in ranges:
            start, other = (r.host, r.container) if inward else (r.container, r.host)
            if start <= value < start + r.size:
                return other + value - start
        return None

    def host_uid(self, uid: int) -> int | None:
        """The host uid of container uid ``uid`` (None: not mapped)."""
        return self._lookup(self.uids, uid, inward=False)

    def host_gid(self, gid: int) -> int | None:
        return self._lookup(self.gids, gid, inward=False)

    def container_uid(self, uid: int) -> int | None:
        """The container uid of host uid ``uid`` (None: the container sees it as the overflow id)."""
        return self._lookup(self.uids, uid, inward=True)

    def container_gid(self, gid: int) -> int | None:
        return self._lookup(self.gids, gid, inward=True)

    def as_container(self, uid: int, gid: int) -> tuple[int, int]:
        """Host owner -> the owner the container sees (:data:`OVERFLOW_ID` for ids the map lacks, as the kernel shows)."""
        inside = self.container_uid(uid), self.container_gid(gid)
        return tuple(OVERFLOW_ID if i is None else i for i in inside)  # type: ignore[return-value]

    def as_host(self, uid: int, gid: int) -> tuple[int, int] | None:
        """Container owner -> host owner (None when the map lacks either id)."""
        uid_h, gid_h = self.host_uid(uid), self.host_gid(gid)
        return None if uid_h is None or gid_h is None else (uid_h, gid_h)

    @property
    def root(self) -> tuple[int, int]:
        """The host (uid, gid) of the container's root; (0, 0) when root is not mapped."""
        return self.host_uid(0) or 0, self.host_gid(0) or 0

    def proc_text(self, kind: str) -> str:
        """The text written to ``/proc/PID/uid_map`` (``kind`` "uid") or ``gid_map`` ("gid")."""
        ranges = self.uids if kind == "uid" else self.gids
        return "".join(f"{r.container} {r.host} {r.size}\n" for r in ranges)

    def oci(self) -> dict[str, list[dict[str, int]]]:
        """``linux.uidMappings`` and ``linux.gidMappings`` of an OCI spec."""
        def one(ranges: tuple[IdRange, ...]) -> list[dict[str, int]]:
            return [{"containerID": r.container, "hostID": r.host, "size": r.size} for r in ranges]
        return {"uidMappings": one(self.uids), "gidMappings": one(self.gids)}

    @classmethod
    def from_oci(cls, linux: dict) -> "IdMap | None":
        """The map an OCI spec's ``linux`` section gives its user namespace (None: no mappings)."""
        def ranges(key: str) -> tuple[IdRange, ...]:
            return tuple(IdRange(int(m["containerID"]), int(m["hostID"]), int(m["size"]))
                         for m in linux.get(key) or [])
        uids, gids = ranges("uidMappings"), ranges("gidMappings")
        return cls(uids, gids) if uids or gids else None


# ---------------------------------------------------------------------------
# execution
# ---------------------------------------------------------------------------


#: Annotation berth sets in the OCI spec for ``run --init``: value "true" asks the driver to run the
#: process under a small init as pid 1 that reaps orphans and forwards signals (Docker's docker-init,
#: tini), so the process is pid 2. A driver that cannot raises NotSupported from ``exec_create``.
INIT_ANNOTATION = "io.berth.init"


class RuntimeStatus(str, enum.Enum):
    """The OCI runtime states, as ``runc state`` reports them."""

    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass
class IOConfig:
    """How a container's (or an exec's) standard streams are wired.

    ``log_path``: the file the driver appends the process's stdout/stderr to (None:
    do not log; the ``none`` log driver, and execs). The ``log_*`` fields say how,
    and the daemon reads the files back for ``logs``, so a driver must follow them
    exactly (:func:`berth.containers.logwriter.open_writer` does it all):

    - ``log_driver``: the format, ``"json-file"`` (Docker's one JSON object per line)
      or ``"local"`` (:mod:`berth.containers.locallog`); an entry per line, a line
      over 16 KiB cut into pieces, each stamped with the time it was read.
    - ``log_max_size``: rotate before a write once the file holds this many bytes
      (-1: never); ``log_max_files``: files kept, the current one included
      (``log_path.1`` is the newest rotated one; 1 keeps none);
      ``log_compress``: gzip rotated files to ``log_path.N.gz``.
    - ``log_attrs``: (json-file) attributes written into every entry (``attrs``).
    - ``log_syslog``: also send every entry to this syslog endpoint (Docker's ``syslog``
      driver; ``log_path`` is then its local cache, or None): ``network`` (``udp``,
      ``tcp``, ``tcp+tls``, ``unix``, ``unixgram``; "" for the local syslog), ``address``,
      ``facility`` (0-23), ``format`` (Docker's ``syslog-format``), ``tag``, ``hostname``
      and ``tls`` (the ``syslog-tls-*`` options); see :mod:`berth.containers.syslogsink`.
    - ``log_max_buffer``: 0 writes each entry before reading more output (Docker's
      ``mode=blocking``); > 0 buffers up to that many bytes and drops entries that
      do not fit rather than stall the container (``mode=non-blocking``).

    The json-file format, as the daemon reads it back: one JSON object per line,
    ``{"log": TEXT, "stream": "stdout"|"stderr", "attrs": {...}, "time": TIME}``, with
    ``TEXT`` the entry's bytes decoded as UTF-8 (invalid bytes replaced) including its
    newline, ``attrs`` only when ``log_attrs`` is not empty, ``TIME`` RFC 3339 in UTC
    (``2024-01-02T03:04:05.123456789Z``, up to nine fraction digits) when the entry
    was read, increasing within a file. The ``local`` format is :mod:`berth.containers.locallog`'s.

    ``attach_socket``: the path of a unix stream socket the driver listens on from
    :func:`exec_create` (or :func:`exec_exec`) until the process has exited and its
    output is drained. The protocol, what the daemon relays to ``docker attach``:

    - a client receives all output produced after it connected: with ``tty`` the raw
      bytes of the pty; without, Docker's multiplexed frames, each an 8-byte header --
      the stream (1 stdout, 2 stderr), three zero bytes, the payload's length as a
      big-endian uint32 -- then the payload;
    - bytes a client sends go to the process's stdin when ``open_stdin``; without a
      ``tty``, a client shutting its writing side closes the process's stdin (Docker's
      ``StdinOnce``);
    - when the process has exited and its output was sent, the driver closes every
      connection; a client that falls megabytes behind may be dropped rather than
      stall the container.

    ``tty``: allocate a pty (stdout and stderr are then one stream). ``open_stdin``:
    keep stdin open for attachers (``-i``); otherwise stdin is ``/dev/null``.
    ``hold_until_attached``: (execs) do not run the process until the first client
    connected to ``attach_socket`` (or 10 seconds passed), so no early output is lost.

    :func:`berth.driverkit.open_log_writer` writes the log as these fields say and
    :func:`berth.driverkit.frame` makes the attach frames.
    """

    log_path: str | None = None
    log_driver: str = "json-file"
    log_max_size: int = -1
    log_max_files: int = 1
    log_compress: bool = False
    log_attrs: dict[str, str] = field(default_factory=dict)
    log_max_buffer: int = 0
    log_syslog: dict[str, object] | None = None
    attach_socket: str | None = None
    tty: bool = False
    open_stdin: bool = False
    hold_until_attached: bool = False


@dataclass
class RuntimeState:
    """What an exec driver knows about one container.

    ``pid`` is the container's init process as seen from the host (0 when none).
    ``exit_code`` is set once ``status`` is STOPPED. ``oom_killed`` says the kernel's
    OOM killer ended it. Times are RFC 3339 strings in UTC, or "" when unknown.
    ``supervised`` is False when the process still runs but nothing supervises it any
    more (its monitor died: no log, no exit code); ``exec_wait`` returns such a state
    instead of blocking, and the engine then stops the container and says why.
    """

    id: str
    status: RuntimeStatus
    pid: int = 0
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: str = ""
    finished_at: str = ""
    error: str = ""
    supervised: bool = True


@dataclass(frozen=True)
class ExecFeatures:
    """What an exec driver can enforce on this host, so the engine can warn or refuse at create.

    ``limits`` names the resource controls the driver applies here; the engine drops a
    requested limit that is not listed with Docker's "Your kernel does not support ..."
    warning. The names: ``memory``, ``memory_swap``, ``memory_reservation``,
    ``memory_swappiness``, ``kernel_memory``, ``kernel_memory_tcp``, ``oom_kill_disable``, ``pids``, ``cpu_shares``,
    ``cpu_cfs`` (period and quota), ``cpu_realtime``, ``cpuset``, ``blkio_weight``,
    ``blkio_weight_device``, ``blkio_read_bps``, ``blkio_write_bps``, ``blkio_read_iops``,
    ``blkio_write_iops``, ``devices`` (the ``linux.resources.devices`` allowlist).
    ``cgroup_version``: 1 or 2 (0: no cgroups). ``cgroup_namespaces``: a private cgroup
    namespace can be made. ``cpus`` and ``mems``: the CPUs and memory nodes a cpuset may
    name, in cpuset list syntax ("0-3"). ``security``: the LSMs and filters the driver
    applies from the spec ("seccomp", "apparmor", "selinux"). ``runtimes``: names a
    container's ``HostConfig.Runtime`` may use for this driver (the driver's own name first).
    ``user_namespaces``: the driver honours a ``user`` namespace in the spec (a new one with
    ``linux.uidMappings``/``gidMappings`` written before the container's process runs, or one
    joined by path); without it the daemon refuses ``--userns-remap``.
    """

    cgroup_version: int = 0
    limits: frozenset[str] = frozenset()
    cgroup_namespaces: bool = False
    cpus: str = ""
    mems: str = ""
    security: frozenset[str] = frozenset()
    runtimes: tuple[str, ...] = ()
    user_namespaces: bool = False


@dataclass
class ExecProcess:
    """A process started inside a running container by ``exec_exec``."""

    exec_id: str
    pid: int


# ---------------------------------------------------------------------------
# network
# ---------------------------------------------------------------------------


@dataclass
class NetworkConfig:
    """A network as the engine asks a network driver to create it (``network create``).

    ``id``: 64 hex digits, berth's; ``name``: the user's; ``subnet``, ``gateway``,
    ``ip_range``: what ``--subnet``/``--gateway``/``--ip-range`` asked (CIDR, address,
    CIDR), None to let the driver choose; ``internal``: ``--internal`` (no route out);
    ``options``: ``-o key=value`` (refuse keys you do not know); ``labels``: ``--label``;
    ``aux_addresses``: ``--aux-address name=ip``, addresses of the subnet the driver must
    never hand out (a driver that cannot keep them free refuses them with ``InvalidArgument``).

    IPv6 (contract 2.1): ``enable_ipv6`` is ``--ipv6``: the driver gives each endpoint an
    IPv6 address too, from ``subnet6`` (always set when ``enable_ipv6`` is, the engine
    refuses it otherwise) with ``gateway6``/``ip_range6`` as ``gateway``/``ip_range``; a
    driver without IPv6 refuses ``enable_ipv6`` with ``InvalidArgument``. ``subnet6`` given
    with ``enable_ipv6`` False is only recorded (as dockerd: no endpoint gets an IPv6 address).
    """

    id: str
    name: str
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    internal: bool = False
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    aux_addresses: dict[str, str] = field(default_factory=dict)
    enable_ipv6: bool = False
    subnet6: str | None = None
    gateway6: str | None = None
    ip_range6: str | None = None


@dataclass
class Sandbox:
    """The network namespace a container will live in.

    ``netns_path``: a path to an existing namespace to join (``setns``), or None.
    ``share_host``: True when the container uses the host's namespace (``--network host``);
    when both are None/False the exec driver creates a new, empty namespace.
    """

    netns_path: str | None = None
    share_host: bool = False


@dataclass
class EndpointInfo:
    """A container's attachment to a network, as reported by the driver's ``net_join``.

    ``interface``: the device's name inside the container ("" when the driver made
    none); ``ipv4_address``: its address in CIDR form ("172.17.0.2/16"), shown by
    ``inspect`` and written to the container's /etc/hosts; ``gateway``: the default
    route's next hop ("" when the endpoint gives none); ``mac_address``;
    ``ipv6_address`` and ``ipv6_gateway``: the same for IPv6 ("2001:db8::2/64"; "" on a
    network without IPv6), shown by ``inspect`` and written to /etc/hosts (contract 2.1).

    DNS, which the engine turns into the container's /etc/resolv.conf:

    - ``resolver``: the address of a DNS server the driver itself serves inside the
      container for this endpoint (the bridge driver's embedded resolver, Docker's
      127.0.0.11); the container then asks only it, with ``ndots:0``;
    - ``external_dns``: False when no server outside the container can be reached
      from this endpoint (a loopback-only network). A container whose every endpoint
      says so gets no nameserver unless the user named some (``--dns``); otherwise it
      gets the daemon's ``--dns`` servers or the host's.

    ``extra``: anything else the driver wants wrappers and extensions to see; the
    engine does not read it.
    """

    endpoint_id: str
    interface: str = ""
    ipv4_address: str = ""
    gateway: str = ""
    mac_address: str = ""
    resolver: str = ""
    external_dns: bool = True
    extra: dict[str, str] = field(default_factory=dict)
    ipv6_address: str = ""
    ipv6_gateway: str = ""


class JoinOptions(TypedDict, total=False):
    """What ``net_join`` may receive in ``options`` (a plain dict; any key may be absent).

    ``ip``: an address the user asked for (``--ip``), without prefix length;
    ``mac_address``: the one asked for (``--mac-address``); ``aliases``: more names
    the endpoint answers to on this network (``--network-alias``); ``container_name``
    and ``hostname``: the names a resolver answers for this endpoint (the container's
    name without its leading "/", and its hostname); ``dns``: upstream servers the user
    asked for (``--dns``), for a resolver the driver serves; ``links``: ``{alias:
    container name}``, names that only this endpoint's container resolves (Docker's
    ``--link`` on user-defined networks); ``link_local_ips``: more addresses for the
    container's interface (``--link-local-ip``, IPv4 169.254.0.0/16; a driver that cannot add
    them raises ``InvalidArgument``); ``ip6``: the IPv6 address asked for (``--ip6``), for a
    network with IPv6 enabled (contract 2.1). A driver ignores the other keys it has no use for.
    """

    ip: str
    ip6: str
    mac_address: str
    aliases: list[str]
    container_name: str
    hostname: str
    dns: list[str]
    links: dict[str, str]
    link_local_ips: list[str]


class NetDriverOptions(TypedDict):
    """The ``options`` a network driver is constructed with: the daemon's network settings.

    ``bridge``: ``berthd --bridge``/daemon.json ``bridge``, the device name of the
    default ``bridge`` network ("" when not set; "none" means berthd made no default
    bridge network); ``bip``: ``--bip``, the default bridge's gateway address in CIDR
    form ("" when not set); ``default_address_pools``: ``--default-address-pool``
    entries, ``[{"base": "10.10.0.0/16", "size": 24}, ...]`` ([] when not set);
    ``dns``: the daemon's ``--dns`` servers; ``exec_root``: berthd's run-time
    directory (sockets, pid files; on tmpfs-like storage, gone at reboot);
    ``data_root``: berthd's data-root. Drivers read what they need and ignore the rest.
    """

    bridge: str
    bip: str
    default_address_pools: list[dict]
    dns: list[str]
    exec_root: str
    data_root: str


@dataclass(frozen=True)
class PortBinding:
    """One published port: ``host_ip:host_port -> container_ip:container_port/proto``.

    ``proto``: "tcp" or "udp"; ``host_ip`` "" means every address; ``host_port`` 0 asks
    the driver to choose one (``net_publish_port`` returns the binding with it set);
    ``container_ip``: the endpoint's address, filled in by the engine.
    """

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    container_ip: str = ""
