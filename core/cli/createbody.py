"""The ``POST /containers/create`` request for a parsed ``run``/``create`` command line.

The body is the one the docker CLI (v28, Engine API 1.45) sends for the same
flags: every field of its ``Config``, ``HostConfig`` and ``NetworkingConfig``
with the same zero values (``"Dns": []``, ``"Binds": null``, ``"MemorySwappiness": -1``...)
and the same client-side work: ports and exposed ports from ``-p``/``--expose``,
binds and anonymous volumes from ``-v``, devices, env and label files, proxy
variables from config.json, capabilities in ``CAP_`` form, a seccomp profile file
sent as its content, ``systempaths=unconfined`` as empty masked/read-only paths,
the network endpoint of ``--network``/``--ip``/``--network-alias``. A value the
docker CLI refuses here is refused with its message (:class:`UsageError`).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

    from berth.cli.options import Namespace


class UsageError(Exception):
    """A command line the docker CLI refuses after reading its flags ("docker: MESSAGE", exit 125)."""


def create_request(opts: Namespace, daemon_host: str, client_config: dict[str, Any]) -> tuple[dict, dict]:
    """(query, body) of the create request for the daemon at ``daemon_host`` (``unix:///path``...), with the
    settings of the client's config.json. (``--platform`` is added to the query by the caller: the docker CLI
    checks it later, as a failure of the create rather than of the command line.)"""
    proxies = {}
    if client_config.get("proxies"):
        from berth.cli import runfiles

        proxies = runfiles.proxy_variables(client_config, daemon_host)
    try:
        config = config_of(opts, proxies)
    except OSError as exc:  # runfiles.FileError: an env or label file the docker CLI would refuse
        raise UsageError(str(exc)) from None
    body = {**config, "HostConfig": host_config_of(opts), "NetworkingConfig": {"EndpointsConfig": endpoints(opts)}}
    if getattr(opts, "use_api_socket", False):
        add_api_socket(body, daemon_host)
    return {"name": opts.name} if opts.name else {}, body


# -- Config ----------------------------------------------------------------------------------

def config_of(opts: Namespace, proxies: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``Config`` half of the body (its fields in Go's order; the omitted-when-empty ones only when set)."""
    exposed, _ = ports_of(opts)
    binds_and_volumes = volumes_of(opts)
    attach = set(opts.attach)
    attached = {name: name in attach or (not attach and name != "stdin") for name in ("stdin", "stdout", "stderr")}
    attached["stdin"] = attached["stdin"] or opts.interactive
    if getattr(opts, "detach", False):
        attached = dict.fromkeys(attached, False)
    config: dict[str, Any] = {
        "Hostname": opts.hostname, "Domainname": opts.domainname, "User": opts.user,
        "AttachStdin": attached["stdin"], "AttachStdout": attached["stdout"], "AttachStderr": attached["stderr"],
    }
    if exposed:
        config["ExposedPorts"] = exposed
    config.update({"Tty": opts.tty, "OpenStdin": opts.interactive,
                   "StdinOnce": opts.interactive and attached["stdin"], "Env": _environment(opts, proxies),
                   "Cmd": opts.command or None})
    health = healthcheck_of(opts)
    if health is not None:
        config["Healthcheck"] = health
    config.update({"Image": opts.image, "Volumes": binds_and_volumes[1], "WorkingDir": opts.workdir,
                   "Entrypoint": None if opts.entrypoint is None else [opts.entrypoint], "OnBuild": None,
                   "Labels": _labels(opts)})
    if opts.stop_signal:
        config["StopSignal"] = opts.stop_signal
    if opts.stop_timeout is not None:
        config["StopTimeout"] = opts.stop_timeout
    return config


def _environment(opts: Namespace, proxies: dict[str, str] | None) -> list[str] | None:
    if not (opts.env_file or opts.env or proxies):
        return None
    from berth.cli import runfiles

    return runfiles.environment(opts.env_file, opts.env, proxies) or None


def _labels(opts: Namespace) -> dict[str, str]:
    if not (opts.label_file or opts.label):
        return {}
    from berth.cli import runfiles

    return runfiles.labels(opts.label_file, opts.label)


def healthcheck_of(opts: Namespace) -> dict[str, Any] | None:
    """``Config.Healthcheck`` from ``--health-*`` / ``--no-healthcheck``, or None to keep the image's."""
    timing = {"Interval": opts.health_interval, "Timeout": opts.health_timeout,
              "StartPeriod": opts.health_start_period, "StartInterval": opts.health_start_interval}
    given = opts.health_cmd or opts.health_retries or any(timing.values())
    if opts.no_healthcheck:
        if given:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    for flag, value in (("interval", opts.health_interval), ("timeout", opts.health_timeout),
                        ("retries", opts.health_retries), ("start-period", opts.health_start_period),
                        ("start-interval", opts.health_start_interval)):
        if value < 0:
            raise UsageError(f"--health-{flag} cannot be negative")
    health: dict[str, Any] = {"Test": ["CMD-SHELL", opts.health_cmd]} if opts.health_cmd else {}
    health.update({key: value for key, value in timing.items() if value})
    if opts.health_retries:
        health["Retries"] = opts.health_retries
    return health


# -- ports and volumes ------------------------------------------------------------------------

def ports_of(opts: Namespace) -> tuple[dict[str, dict], dict[str, list[dict[str, str]]]]:
    """(``ExposedPorts``, ``PortBindings``) from ``-p`` and ``--expose``."""
    if not opts.publish and not opts.expose:
        return {}, {}
    from berth.cli import portspec

    try:
        exposed, bindings = portspec.publish(opts.publish)
        for spec in opts.expose:
            for key in portspec.expose(spec):
                exposed.setdefault(key, {})
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return exposed, bindings


def volumes_of(opts: Namespace) -> tuple[list[str] | None, dict[str, dict]]:
    """(``HostConfig.Binds``, ``Config.Volumes``): ``-v`` values with a source bind, the others are anonymous."""
    if not opts.volume:
        return None, {}
    from berth.cli import volumespec

    binds, volumes = [], {}
    for spec in dict.fromkeys(opts.volume):  # the docker CLI keeps each distinct value once
        try:
            parsed = volumespec.parse(spec)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not parsed["Source"]:
            volumes[spec] = {}
        elif parsed["Type"] == "bind" and ":" in spec and spec.startswith("."):
            source, _, target = spec.partition(":")
            binds.append(f"{os.path.abspath(source)}:{target}")
        else:
            binds.append(spec)
    return binds or None, volumes


# -- HostConfig -----------------------------------------------------------------------------

def host_config_of(opts: Namespace) -> dict[str, Any]:
    """The ``HostConfig`` half of the body, in Go's field order."""
    from berth.cli import hostconfig

    _, bindings = ports_of(opts)
    try:
        return hostconfig.build(opts, bindings, volumes_of(opts)[0])
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- NetworkingConfig ---------------------------------------------------------------------------

#: ``EndpointSettings`` as the docker CLI serialises a fresh one (Go's field order)
EMPTY_ENDPOINT = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
                  "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
                  "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                  "DNSNames": None}


def endpoints(opts: Namespace) -> dict[str, Any]:
    """``NetworkingConfig.EndpointsConfig`` from ``--network`` (plain or advanced) and the per-endpoint flags."""
    if not (opts.network or opts.network_alias or opts.ip or opts.ip6 or opts.mac_address or opts.link_local_ip):
        return {"default": dict(EMPTY_ENDPOINT)}  # no --network: the "default" endpoint, with nothing set
    from berth.cli import netendpoints

    try:
        return netendpoints.build(opts)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- --use-api-socket ---------------------------------------------------------------------------

def add_api_socket(body: dict[str, Any], daemon_host: str) -> None:
    """Bind-mount the daemon's unix socket at /var/run/docker.sock, as docker 28 does for its own socket."""
    if not daemon_host.startswith("unix://"):
        raise UsageError(f"flag --use-api-socket can only be used with unix sockets: docker endpoint {daemon_host} "
                         "incompatible")
    mounts = body["HostConfig"].setdefault("Mounts", [])
    mounts.append({"Type": "bind", "Source": daemon_host[len("unix://"):], "Target": "/var/run/docker.sock",
                   "BindOptions": {}})
