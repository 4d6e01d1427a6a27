"""The flags of ``run``/``create`` and their translation into a ``POST /containers/create`` body.

Flag names, short forms and value syntax follow ``docker run``; each flag lands
where the Engine API expects it (``Config``, ``HostConfig`` or
``NetworkingConfig``), so the daemon sees the same request the docker CLI sends.
"""

from __future__ import annotations

import os

from berth.cli import format as fmt
from berth.cli import options

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: run and create parse their flags without argparse (berth.cli.options)
    import argparse


class UsageError(SystemExit):
    """A flag value the docker CLI would reject before talking to the daemon (exit 125)."""

    def __init__(self, message: str):
        import sys

        print(f"berth: {message}", file=sys.stderr)
        super().__init__(125)


#: every flag shared by ``create`` and ``run``, in ``--help`` order (see :mod:`berth.cli.options`)
CONTAINER_OPTIONS: tuple[options.Option, ...] = (
    (("--help",), "help", "help", None, "show this help message and exit"),
    (("--name",), "str", "name", None, "assign a name to the container"),
    (("-e", "--env"), "append", "env", (), "set environment variables"),
    (("--env-file",), "append", "env_file", (), "read in a file of environment variables"),
    (("-w", "--workdir"), "str", "workdir", None, "working directory inside the container"),
    (("--entrypoint",), "str", "entrypoint", None, "overwrite the default ENTRYPOINT of the image"),
    (("-u", "--user"), "str", "user", None, "username or UID (format: <name|uid>[:<group|gid>])"),
    (("-h", "--hostname"), "str", "hostname", None, "container host name"),
    (("--domainname",), "str", "domainname", None, "container NIS domain name"),
    (("-i", "--interactive"), "flag", "interactive", False, "keep STDIN open even if not attached"),
    (("-t", "--tty"), "flag", "tty", False, "allocate a pseudo-TTY"),
    (("-l", "--label"), "append", "label", (), "set meta data on a container"),
    (("--network", "--net"), "str", "network", None, "connect a container to a network"),
    (("--network-alias", "--net-alias"), "append", "network_alias", (),
     "add network-scoped alias for the container"),
    (("--ip",), "str", "ip", None, "IPv4 address (e.g., 172.30.100.104)"),
    (("--mac-address",), "str", "mac_address", None, "container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    (("-p", "--publish"), "append", "publish", (),
     "publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])"),
    (("-P", "--publish-all"), "flag", "publish_all", False, "publish all exposed ports to random ports"),
    (("--expose",), "append", "expose", (), "expose a port or a range of ports"),
    (("-v", "--volume"), "append", "volume", (), "bind mount a volume (name:/path[:ro], /host:/path[:ro] or /path)"),
    (("--mount",), "append", "mount", (),
     "attach a filesystem mount (type=bind|volume|tmpfs,source=...,target=...[,readonly])"),
    (("--restart",), "str", "restart", "no", "restart policy (no, always, unless-stopped, on-failure[:N])"),
    (("--init",), "flag", "init", False, "run an init inside the container that forwards signals and reaps processes"),
    (("--privileged",), "flag", "privileged", False, "give extended privileges to this container"),
    (("--cap-add",), "append", "cap_add", (), "add Linux capabilities"),
    (("--cap-drop",), "append", "cap_drop", (), "drop Linux capabilities"),
    (("--security-opt",), "append", "security_opt", (), "security options"),
    (("--read-only",), "flag", "read_only", False, "mount the container's root filesystem as read only"),
    (("--tmpfs",), "append", "tmpfs", (), "mount a tmpfs directory (/path[:options])"),
    (("--stop-signal",), "str", "stop_signal", None, "signal to stop the container"),
    (("--stop-timeout",), "int", "stop_timeout", None, "timeout (in seconds) to stop a container"),
    (("-m", "--memory"), "str", "memory", None, "memory limit"),
    (("--memory-swap",), "str", "memory_swap", None, "memory + swap limit; -1 for unlimited swap"),
    (("--cpus",), "float", "cpus", None, "number of CPUs"),
    (("-c", "--cpu-shares"), "int", "cpu_shares", None, "CPU shares (relative weight)"),
    (("--cpuset-cpus",), "str", "cpuset_cpus", None, "CPUs in which to allow execution (0-3, 0,1)"),
    (("--pids-limit",), "int", "pids_limit", None, "tune container pids limit (-1 for unlimited)"),
    (("--dns",), "append", "dns", (), "set custom DNS servers"),
    (("--dns-search",), "append", "dns_search", (), "set custom DNS search domains"),
    (("--dns-option", "--dns-opt"), "append", "dns_option", (), "set DNS options"),
    (("--add-host",), "append", "add_host", (), "add a custom host-to-IP mapping (host:ip)"),
    (("--log-driver",), "str", "log_driver", None, "logging driver for the container (only json-file)"),
    (("--platform",), "str", "platform", None, "set platform if server is multi-platform capable"),
    (("--pull",), "str", "pull", "missing", "pull image before running", {"choices": ["always", "missing", "never"]}),
    (("-q", "--quiet"), "flag", "quiet", False, "suppress the pull output"),
    ((), "arg", "image", None, None),
    ((), "remainder", "command", (), None),
)

#: the flags only ``run`` has, listed before the shared ones
RUN_ONLY_OPTIONS: tuple[options.Option, ...] = (
    (("-d", "--detach"), "flag", "detach", False, "run container in background and print container ID"),
    (("--rm",), "flag", "rm", False, "automatically remove the container when it exits"),
    (("--detach-keys",), "str", "detach_keys", None,
     "override the key sequence for detaching a container (ctrl-p,ctrl-q)"),
    (("--sig-proxy",), "str", "sig_proxy", "true", "proxy received signals to the process (true/false)"),
    (("-a", "--attach"), "append", "attach", (), "attach to STDIN, STDOUT or STDERR"),
)
RUN_OPTIONS = RUN_ONLY_OPTIONS + CONTAINER_OPTIONS


def add_container_options(p: argparse.ArgumentParser) -> None:
    """Every flag shared by ``create`` and ``run``."""
    options.add(p, CONTAINER_OPTIONS)


def read_env_files(paths: list[str]) -> list[str]:
    env = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        env.extend(expand_env([line]))
        except OSError as exc:
            raise UsageError(f"cannot read env file {path}: {exc.strerror}") from None
    return env


def expand_env(items: list[str]) -> list[str]:
    """``-e NAME`` without a value takes the value from our own environment, as Docker does."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def parse_mount(spec: str) -> dict:
    """``--mount type=volume,source=data,target=/data,readonly`` -> an API ``Mount`` object."""
    mount: dict = {"Type": "volume"}
    for field in spec.split(","):
        key, sep, value = field.partition("=")
        key = key.strip().lower()
        if key == "type":
            mount["Type"] = value
        elif key in ("source", "src"):
            mount["Source"] = value
        elif key in ("target", "destination", "dst"):
            mount["Target"] = value
        elif key in ("readonly", "ro"):
            mount["ReadOnly"] = not sep or value.lower() in ("1", "true")
        elif key == "volume-label":
            label, _, label_value = value.partition("=")
            mount.setdefault("VolumeOptions", {}).setdefault("Labels", {})[label] = label_value
        elif key == "volume-nocopy":
            mount.setdefault("VolumeOptions", {})["NoCopy"] = not sep or value.lower() in ("1", "true")
        elif key == "bind-propagation":
            mount["BindOptions"] = {"Propagation": value}
        elif key == "tmpfs-size":
            mount.setdefault("TmpfsOptions", {})["SizeBytes"] = fmt.parse_bytes(value)
        elif key == "tmpfs-mode":
            mount.setdefault("TmpfsOptions", {})["Mode"] = int(value, 8)
        elif key == "consistency":
            continue  # macOS-only in Docker; accepted and ignored there too
        else:
            raise UsageError(f"invalid argument {spec!r} for \"--mount\" flag: unexpected key {key!r} in {field!r}")
    if not mount.get("Target"):
        raise UsageError(f"invalid argument {spec!r} for \"--mount\" flag: target is required")
    return mount


def split_volumes(specs: list[str]) -> tuple[list[str], dict[str, dict]]:
    """``-v`` values -> (``HostConfig.Binds``, ``Config.Volumes`` for anonymous ``-v /path``)."""
    binds, anonymous = [], {}
    for spec in specs:
        if ":" in spec:
            binds.append(spec)
        elif spec.startswith("/"):
            anonymous[spec] = {}
        else:
            raise UsageError(f"invalid volume specification {spec!r}: use name:/path, /host/path:/path or /path")
    return binds, anonymous


def _exposed(specs: list[str]) -> dict[str, dict]:
    out = {}
    for spec in specs:
        port, _, proto = spec.partition("/")
        low, _, high = port.partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise UsageError(f"invalid range format for --expose: {spec}")
        for n in range(int(low), int(high or low) + 1):
            out[f"{n}/{proto or 'tcp'}"] = {}
    return out


def create_body(opts: argparse.Namespace) -> dict:
    """The ``POST /containers/create`` body for ``opts`` (a parsed ``run``/``create`` command line)."""
    if opts.publish or (opts.restart or "no") != "no":
        from berth.containers import ports as portmap
        from berth.containers.restart import parse_cli as parse_restart
        from berth.errors import InvalidArgument

        try:
            port_bindings = portmap.parse_publish_all(opts.publish) if opts.publish else {}
            restart = parse_restart(opts.restart or "no")
        except InvalidArgument as exc:
            raise UsageError(exc.message) from None
    else:
        # parse_cli("no"), without importing berth.containers.restart (its dataclass costs ~8 ms)
        port_bindings, restart = {}, {"Name": "no", "MaximumRetryCount": 0}
    binds, anonymous = split_volumes(opts.volume)
    host_config: dict = {
        "AutoRemove": bool(getattr(opts, "rm", False)), "Privileged": opts.privileged,
        "CapAdd": opts.cap_add or None, "CapDrop": opts.cap_drop or None, "ReadonlyRootfs": opts.read_only,
        "NetworkMode": opts.network or "default", "Dns": opts.dns or None, "DnsSearch": opts.dns_search or None,
        "DnsOptions": opts.dns_option or None, "ExtraHosts": opts.add_host or None,
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in opts.tmpfs} or None,
        "PortBindings": port_bindings or None, "PublishAllPorts": opts.publish_all,
        "Binds": binds or None, "Mounts": [parse_mount(m) for m in opts.mount] or None,
        "RestartPolicy": restart, "SecurityOpt": [security_opt(o) for o in opts.security_opt] or None,
    }
    if opts.init:
        host_config["Init"] = True
    if opts.log_driver:
        host_config["LogConfig"] = {"Type": opts.log_driver, "Config": {}}
    if opts.memory:
        host_config["Memory"] = fmt.parse_bytes(opts.memory)
    if opts.memory_swap:
        host_config["MemorySwap"] = -1 if opts.memory_swap == "-1" else fmt.parse_bytes(opts.memory_swap)
    if opts.cpus:
        host_config["NanoCpus"] = int(opts.cpus * 1e9)
    if opts.cpu_shares:
        host_config["CpuShares"] = opts.cpu_shares
    if opts.cpuset_cpus:
        host_config["CpusetCpus"] = opts.cpuset_cpus
    if opts.pids_limit:
        host_config["PidsLimit"] = opts.pids_limit
    exposed = _exposed(opts.expose)
    for key in port_bindings:
        exposed.setdefault(key, {})
    body = {
        "Image": opts.image, "Cmd": opts.command or None,
        "Env": read_env_files(opts.env_file) + expand_env(opts.env),
        "WorkingDir": opts.workdir or "", "User": opts.user or "", "Hostname": opts.hostname or "",
        "Domainname": opts.domainname or "",
        "Tty": opts.tty, "OpenStdin": opts.interactive, "StdinOnce": opts.interactive,
        "AttachStdin": opts.interactive, "AttachStdout": not getattr(opts, "detach", False),
        "AttachStderr": not getattr(opts, "detach", False),
        "Labels": dict(label.partition("=")[::2] for label in opts.label),
        "StopSignal": opts.stop_signal, "StopTimeout": opts.stop_timeout, "HostConfig": host_config,
        "ExposedPorts": exposed or None, "Volumes": anonymous or None,
    }
    if opts.mac_address:
        body["MacAddress"] = opts.mac_address
    if opts.entrypoint is not None:
        body["Entrypoint"] = [opts.entrypoint] if opts.entrypoint else [""]
    network = opts.network or ""
    if opts.network_alias or opts.ip:
        if network in ("", "default", "bridge", "host", "none"):
            raise UsageError("network-scoped aliases and --ip are only supported for user-defined networks: "
                             "pass --network NAME")
        endpoint: dict = {"Aliases": opts.network_alias or None}
        if opts.ip:
            endpoint["IPAMConfig"] = {"IPv4Address": opts.ip}
        body["NetworkingConfig"] = {"EndpointsConfig": {network: endpoint}}
    return body


def security_opt(option: str) -> str:
    """``seccomp=PATH`` is sent as the profile's content, as the docker CLI does; other options as given."""
    key, sep, value = option.partition("=" if "=" in option else ":")
    if key != "seccomp" or value in ("unconfined", "builtin", "default", ""):
        return option
    try:
        with open(value, encoding="utf-8") as f:
            return f"seccomp={f.read()}"
    except OSError as exc:
        raise SystemExit(f"berth: opening seccomp profile ({value}) failed: {exc.strerror}") from None
