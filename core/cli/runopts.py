"""The flags of ``run``/``create`` and their translation into a ``POST /containers/create`` body.

Flag names, short forms and value syntax follow ``docker run``; each flag lands
where the Engine API expects it (``Config``, ``HostConfig`` or
``NetworkingConfig``), so the daemon sees the same request the docker CLI sends.
"""

from __future__ import annotations

import argparse
import os

from berth.cli import format as fmt


class UsageError(SystemExit):
    """A flag value the docker CLI would reject before talking to the daemon (exit 125)."""

    def __init__(self, message: str):
        import sys

        print(f"berth: {message}", file=sys.stderr)
        super().__init__(125)


def add_container_options(p: argparse.ArgumentParser) -> None:
    """Every flag shared by ``create`` and ``run``."""
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("--domainname", help="container NIS domain name")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-l", "--label", action="append", default=[], help="set meta data on a container")
    p.add_argument("--network", "--net", dest="network", help="connect a container to a network")
    p.add_argument("--network-alias", "--net-alias", dest="network_alias", action="append", default=[],
                   help="add network-scoped alias for the container")
    p.add_argument("--ip", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--mac-address", help="container MAC address (e.g., 92:d0:c6:0a:29:33)")
    p.add_argument("-p", "--publish", action="append", default=[],
                   help="publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/proto])")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish all exposed ports to random ports")
    p.add_argument("--expose", action="append", default=[], help="expose a port or a range of ports")
    p.add_argument("-v", "--volume", action="append", default=[],
                   help="bind mount a volume (name:/path[:ro], /host:/path[:ro] or /path)")
    p.add_argument("--mount", action="append", default=[],
                   help="attach a filesystem mount (type=bind|volume|tmpfs,source=...,target=...[,readonly])")
    p.add_argument("--restart", default="no", help="restart policy (no, always, unless-stopped, on-failure[:N])")
    p.add_argument("--init", action="store_true", help="run an init inside the container that forwards signals "
                                                        "and reaps processes")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to this container")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--security-opt", action="append", default=[], help="security options")
    p.add_argument("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs directory (/path[:options])")
    p.add_argument("--stop-signal", help="signal to stop the container")
    p.add_argument("--stop-timeout", type=int, help="timeout (in seconds) to stop a container")
    p.add_argument("-m", "--memory", help="memory limit")
    p.add_argument("--memory-swap", help="memory + swap limit; -1 for unlimited swap")
    p.add_argument("--cpus", type=float, help="number of CPUs")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    p.add_argument("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, help="tune container pids limit (-1 for unlimited)")
    p.add_argument("--dns", action="append", default=[], help="set custom DNS servers")
    p.add_argument("--dns-search", action="append", default=[], help="set custom DNS search domains")
    p.add_argument("--dns-option", "--dns-opt", dest="dns_option", action="append", default=[], help="set DNS options")
    p.add_argument("--add-host", action="append", default=[], help="add a custom host-to-IP mapping (host:ip)")
    p.add_argument("--log-driver", help="logging driver for the container (only json-file)")
    p.add_argument("--platform", help="set platform if server is multi-platform capable")
    p.add_argument("--pull", choices=["always", "missing", "never"], default="missing",
                   help="pull image before running")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the pull output")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


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
    from berth.containers import ports as portmap
    from berth.containers.restart import parse_cli as parse_restart
    from berth.errors import InvalidArgument

    try:
        port_bindings = portmap.parse_publish_all(opts.publish) if opts.publish else {}
        restart = parse_restart(opts.restart or "no")
    except InvalidArgument as exc:
        raise UsageError(exc.message) from None
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
