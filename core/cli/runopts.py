"""The flags of ``run`` and ``create``: docker's names, short forms, value kinds and defaults, in one table.

Every row is an :data:`berth.cli.options.Option`; the kind is the docker CLI's
value type (``list``, ``map``, ``bytes``, ``duration``, ``mount``...), so
``berth run --help`` shows what ``docker run --help`` shows, and
:mod:`berth.cli.flags` reads each value exactly as docker's flag parser does.
``check`` names the function (``module.function`` under ``berth.cli``) that
validates and converts one value, imported only when that flag is used.
:mod:`berth.cli.createbody` turns the parsed options into the
``POST /containers/create`` request the docker CLI sends for them.
"""

from __future__ import annotations

import os

from berth.cli import options

_B = "bool"
_S = "string"
_L = "list"


#: flags the docker CLI accepts only for a Windows daemon (berth's are Linux): refused when given
_WINDOWS = {"ostype": "windows"}


def _check(name: str, **extra) -> dict:
    return {"check": name, **extra}


#: every flag shared by ``create`` and ``run`` (``--help`` lists them sorted by name)
CONTAINER_OPTIONS: tuple[options.Option, ...] = (
    (("--help",), "help", "help", None, "Print usage"),
    (("--add-host",), _L, "add_host", (), "Add a custom host-to-IP mapping (host:ip)", _check("runvalues.extra_host")),
    (("--annotation",), "map", "annotation", (), "Add an annotation to the container (handed to the OCI runtime)"),
    (("-a", "--attach"), _L, "attach", (), "Attach to STDIN, STDOUT or STDERR", _check("runvalues.attach_stream")),
    (("--blkio-weight",), "uint16", "blkio_weight", 0,
     "Block IO (relative weight), between 10 and 1000, or 0 to disable", {"shown_default": "0"}),
    (("--blkio-weight-device",), _L, "blkio_weight_device", (), "Block IO weight (relative device weight)",
     _check("runvalues.weight_device", shown_default="[]")),
    (("--cap-add",), _L, "cap_add", (), "Add Linux capabilities"),
    (("--cap-drop",), _L, "cap_drop", (), "Drop Linux capabilities"),
    (("--cgroup-parent",), _S, "cgroup_parent", "", "Optional parent cgroup for the container"),
    (("--cgroupns",), _S, "cgroupns", "", "Cgroup namespace to use (host|private)\n"
     "'host':    the host's cgroup namespace\n'private': a cgroup namespace of its own\n"
     "'':        the daemon's default-cgroupns-mode (default)"),
    (("--cidfile",), _S, "cidfile", "", "Write the container ID to the file"),
    (("--cpu-count",), "int", "cpu_count", 0, "CPU count (Windows only)", _WINDOWS),
    (("--cpu-percent",), "int", "cpu_percent", 0, "CPU percent (Windows only)", _WINDOWS),
    (("--cpu-period",), "int", "cpu_period", 0, "Limit CPU CFS (Completely Fair Scheduler) period"),
    (("--cpu-quota",), "int", "cpu_quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota"),
    (("--cpu-rt-period",), "int", "cpu_rt_period", 0, "Limit CPU real-time period in microseconds"),
    (("--cpu-rt-runtime",), "int", "cpu_rt_runtime", 0, "Limit CPU real-time runtime in microseconds"),
    (("-c", "--cpu-shares"), "int", "cpu_shares", 0, "CPU shares (relative weight)"),
    (("--cpus",), "decimal", "cpus", 0, "Number of CPUs"),
    (("--cpuset-cpus",), _S, "cpuset_cpus", "", "CPUs in which to allow execution (0-3, 0,1)"),
    (("--cpuset-mems",), _S, "cpuset_mems", "", "MEMs in which to allow execution (0-3, 0,1)"),
    (("--device",), _L, "device", (), "Add a host device to the container"),
    (("--device-cgroup-rule",), _L, "device_cgroup_rule", (), "Add a rule to the cgroup allowed devices list",
     _check("runvalues.device_cgroup_rule")),
    (("--device-read-bps",), _L, "device_read_bps", (), "Limit read rate (bytes per second) from a device",
     _check("runvalues.throttle_bps", shown_default="[]")),
    (("--device-read-iops",), _L, "device_read_iops", (), "Limit read rate (IO per second) from a device",
     _check("runvalues.throttle_iops", shown_default="[]")),
    (("--device-write-bps",), _L, "device_write_bps", (), "Limit write rate (bytes per second) to a device",
     _check("runvalues.throttle_bps", shown_default="[]")),
    (("--device-write-iops",), _L, "device_write_iops", (), "Limit write rate (IO per second) to a device",
     _check("runvalues.throttle_iops", shown_default="[]")),
    (("--disable-content-trust",), _B, "disable_content_trust",
     os.environ.get("DOCKER_CONTENT_TRUST", "") not in ("1", "t", "T", "TRUE", "true", "True"),
     "Skip image verification (berth has no content trust: verification is refused)"),
    (("--dns",), _L, "dns", (), "Set custom DNS servers", _check("runvalues.ip_address")),
    (("--dns-option", "--dns-opt"), _L, "dns_option", (), "Set DNS options", {"hidden": ("--dns-opt",)}),
    (("--dns-search",), _L, "dns_search", (), "Set custom DNS search domains", _check("runvalues.dns_search")),
    (("--domainname",), _S, "domainname", "", "Container NIS domain name"),
    (("--entrypoint",), _S, "entrypoint", None, "Overwrite the default ENTRYPOINT of the image"),
    (("-e", "--env"), _L, "env", (), "Set environment variables", _check("runvalues.env_variable")),
    (("--env-file",), _L, "env_file", (), "Read in a file of environment variables"),
    (("--expose",), _L, "expose", (), "Expose a port or a range of ports"),
    (("--gpus",), "gpu-request", "gpus", (), "GPU devices to add to the container ('all' to pass all GPUs)"),
    (("--group-add",), _L, "group_add", (), "Add additional groups to join"),
    (("--health-cmd",), _S, "health_cmd", "", "Command to run to check health"),
    (("--health-interval",), "duration", "health_interval", 0, "Time between running the check (ms|s|m|h)",
     {"shown_default": "0s"}),
    (("--health-retries",), "int", "health_retries", 0, "Consecutive failures needed to report unhealthy"),
    (("--health-start-interval",), "duration", "health_start_interval", 0,
     "Time between running the check during the start period (ms|s|m|h)", {"shown_default": "0s"}),
    (("--health-start-period",), "duration", "health_start_period", 0,
     "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h)",
     {"shown_default": "0s"}),
    (("--health-timeout",), "duration", "health_timeout", 0, "Maximum time to allow one check to run (ms|s|m|h)",
     {"shown_default": "0s"}),
    (("-h", "--hostname"), _S, "hostname", "", "Container host name"),
    (("--init",), _B, "init", None, "Run an init inside the container that forwards signals and reaps processes"),
    (("-i", "--interactive"), _B, "interactive", False, "Keep STDIN open even if not attached"),
    (("--io-maxbandwidth",), "bytes", "io_maxbandwidth", 0, "Maximum IO bandwidth limit for the system drive "
     "(Windows only)", _WINDOWS),
    (("--io-maxiops",), "uint", "io_maxiops", 0, "Maximum IOps limit for the system drive (Windows only)", _WINDOWS),
    (("--ip",), _S, "ip", "", "IPv4 address (e.g., 172.30.100.104)"),
    (("--ip6",), _S, "ip6", "", "IPv6 address (e.g., 2001:db8::33)"),
    (("--ipc",), _S, "ipc", "", "IPC mode to use"),
    (("--isolation",), _S, "isolation", "", "Container isolation technology"),
    (("--kernel-memory",), "bytes", "kernel_memory", 0, "Kernel memory limit"),
    (("-l", "--label"), _L, "label", (), "Set meta data on a container", _check("runvalues.label")),
    (("--label-file",), _L, "label_file", (), "Read in a line delimited file of labels"),
    (("--link",), _L, "link", (), "Add link to another container", _check("runvalues.link")),
    (("--link-local-ip",), _L, "link_local_ip", (), "Container IPv4/IPv6 link-local addresses"),
    (("--log-driver",), _S, "log_driver", "", "Logging driver for the container"),
    (("--log-opt",), _L, "log_opt", (), "Log driver options"),
    (("--mac-address",), _S, "mac_address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    (("-m", "--memory"), "bytes", "memory", 0, "Memory limit"),
    (("--memory-reservation",), "bytes", "memory_reservation", 0, "Memory soft limit"),
    (("--memory-swap",), "bytes", "memory_swap", 0, "Swap limit equal to memory plus swap: '-1' to enable "
     "unlimited swap", _check("flagvalues.parse_swap_bytes")),
    (("--memory-swappiness",), "int", "memory_swappiness", -1, "Tune container memory swappiness (0 to 100)"),
    (("--mount",), "mount", "mount", (), "Attach a filesystem mount to the container"),
    (("--name",), _S, "name", "", "Assign a name to the container"),
    (("--network", "--net"), "network", "network", (), "Connect a container to a network", {"hidden": ("--net",)}),
    (("--network-alias", "--net-alias"), _L, "network_alias", (), "Add network-scoped alias for the container",
     {"hidden": ("--net-alias",)}),
    (("--no-healthcheck",), _B, "no_healthcheck", False, "Disable any container-specified HEALTHCHECK"),
    (("--oom-kill-disable",), _B, "oom_kill_disable", False, "Disable OOM Killer"),
    (("--oom-score-adj",), "int", "oom_score_adj", 0, "Tune host's OOM preferences (-1000 to 1000)"),
    (("--pid",), _S, "pid", "", "PID namespace to use"),
    (("--pids-limit",), "int", "pids_limit", 0, "Tune container pids limit (set -1 for unlimited)"),
    (("--platform",), _S, "platform", os.environ.get("DOCKER_DEFAULT_PLATFORM", ""),
     "Set platform if server is multi-platform capable"),
    (("--privileged",), _B, "privileged", False, "Give extended privileges to this container"),
    (("-p", "--publish"), _L, "publish", (), "Publish a container's port(s) to the host"),
    (("-P", "--publish-all"), _B, "publish_all", False, "Publish all exposed ports to random ports"),
    (("--pull",), _S, "pull", "missing", 'Pull image before creating the container ("always", "missing", "never")'),
    (("-q", "--quiet"), _B, "quiet", False, "Suppress the pull output"),
    (("--read-only",), _B, "read_only", False, "Mount the container's root filesystem as read only"),
    (("--restart",), _S, "restart", "no", "Restart policy to apply when a container exits"),
    (("--rm",), _B, "rm", False, "Automatically remove the container and its anonymous volumes when it exits"),
    (("--runtime",), _S, "runtime", "", "Runtime to use for this container"),
    (("--security-opt",), _L, "security_opt", (), "Security Options"),
    (("--shm-size",), "bytes", "shm_size", 0, "Size of /dev/shm"),
    (("--stop-signal",), _S, "stop_signal", "", "Signal to stop the container"),
    (("--stop-timeout",), "int", "stop_timeout", None, "Timeout (in seconds) to stop a container"),
    (("--storage-opt",), _L, "storage_opt", (), "Storage driver options for the container"),
    (("--sysctl",), "map", "sysctl", (), "Sysctl options", _check("runvalues.sysctl")),
    (("--tmpfs",), _L, "tmpfs", (), "Mount a tmpfs directory"),
    (("-t", "--tty"), _B, "tty", False, "Allocate a pseudo-TTY"),
    (("--ulimit",), "ulimit", "ulimit", (), "Ulimit options", {"shown_default": "[]"}),
    (("--use-api-socket",), _B, "use_api_socket", False, "Bind mount the engine's API socket and required auth"),
    (("-u", "--user"), _S, "user", "", "Username or UID (format: <name|uid>[:<group|gid>])"),
    (("--userns",), _S, "userns", "", "User namespace to use"),
    (("--uts",), _S, "uts", "", "UTS namespace to use"),
    (("-v", "--volume"), _L, "volume", (), "Bind mount a volume"),
    (("--volume-driver",), _S, "volume_driver", "", "Optional volume driver for the container"),
    (("--volumes-from",), _L, "volumes_from", (), "Mount volumes from the specified container(s)"),
    (("-w", "--workdir"), _S, "workdir", "", "Working directory inside the container"),
    ((), "arg", "image", None, None),
    ((), "remainder", "command", (), None),
)

#: the flags only ``run`` has
RUN_ONLY_OPTIONS: tuple[options.Option, ...] = (
    (("-d", "--detach"), _B, "detach", False, "Run container in background and print container ID"),
    (("--detach-keys",), _S, "detach_keys", "", "Override the key sequence for detaching a container"),
    (("--sig-proxy",), _B, "sig_proxy", True, "Proxy received signals to the process"),
)
RUN_OPTIONS = RUN_ONLY_OPTIONS + CONTAINER_OPTIONS
