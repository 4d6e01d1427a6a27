"""Engine records rendered as the Docker Engine API's JSON shapes (the only place they are built)."""

from __future__ import annotations

import time
from typing import Any

from berth.containers import ports as portmap
from berth.containers.health import STARTING, UNHEALTHY
from berth.containers.model import Container, State, parse_time
from berth.humanize import duration as human_duration


def container_status(c: Container, now: float | None = None) -> str:
    """The STATUS column: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created"..."""
    now = time.time() if now is None else now
    st = c.state
    if st.status == State.RUNNING:
        return f"Up {human_duration(now - parse_time(st.started_at))}" + _health_suffix(c)
    if st.status == State.PAUSED:
        return f"Up {human_duration(now - parse_time(st.started_at))} (Paused)"
    if st.status == State.RESTARTING:
        return f"Restarting ({st.exit_code}) {human_duration(now - parse_time(st.finished_at))} ago"
    if st.status == State.EXITED:
        return f"Exited ({st.exit_code}) {human_duration(now - parse_time(st.finished_at))} ago"
    return {State.CREATED: "Created", State.REMOVING: "Removal In Progress", State.DEAD: "Dead"}[st.status]


def _health_suffix(c: Container) -> str:
    """`` (healthy)``, `` (unhealthy)``, `` (health: starting)`` for a container with a healthcheck."""
    if c.state.health is None:
        return ""
    status = c.state.health.get("Status") or UNHEALTHY  # Docker's reading of a status not set yet
    return f" (health: {status})" if status == STARTING else f" ({status})"


def _command_text(c: Container) -> str:
    return " ".join([c.path, *c.args]).strip()


def network_entry(c: Container, record: dict[str, Any]) -> dict[str, Any]:
    """One of ``NetworkSettings.Networks``: the settings asked for, and the driver's report while joined."""
    joined = bool(record.get("endpoint_id"))
    address, _, prefix = (record.get("ipv4_address") or "").partition("/") if joined else ("", "", "")
    aliases = record.get("aliases") or None
    return {
        "IPAMConfig": {"IPv4Address": record["ip"]} if record.get("ip") else None, "Links": record.get("links") or None,
        "Aliases": aliases, "MacAddress": record.get("mac_address", "") if joined else record.get("mac", ""),
        "NetworkID": record.get("network_id", ""), "EndpointID": record.get("endpoint_id", ""),
        "Gateway": record.get("gateway", "") if joined else "", "IPAddress": address,
        "IPPrefixLen": int(prefix) if prefix else 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "DriverOpts": record.get("driver_opts") or None,
        "DNSNames": list(dict.fromkeys([c.name, *(aliases or []), c.short_id, c.hostname]))
        if joined and record.get("dns") else None,
    }


def networks(c: Container) -> dict[str, Any]:
    return {name: network_entry(c, record) for name, record in c.endpoints.items()}


def _network_settings(c: Container) -> dict[str, Any]:
    """``NetworkSettings`` of inspect. As dockerd 20.10: the top-level address fields are the default
    bridge's; ports and the sandbox are shown while the container runs."""
    nets = networks(c)
    bridge = nets.get("bridge") or network_entry(c, {})
    running = c.state.status in (State.RUNNING, State.PAUSED)
    shares = str(c.host_config.get("NetworkMode") or "").startswith("container:")
    netns = f"/proc/{c.state.pid}/ns/net" if running and c.state.pid and not shares else ""
    ports = portmap.inspect_ports(c.ports, c.config.get("ExposedPorts") or {}) if running and c.network else {}
    return {
        "Bridge": "", "SandboxID": c.id if netns else "", "SandboxKey": netns, "Ports": ports,
        "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None, "EndpointID": bridge["EndpointID"],
        "Gateway": bridge["Gateway"], "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge["IPAddress"], "IPPrefixLen": bridge["IPPrefixLen"], "IPv6Gateway": "",
        "MacAddress": bridge["MacAddress"], "Networks": nets,
    }


def container_summary(c: Container, image_ref: str, mounts: list | None = None) -> dict[str, Any]:
    """One row of ``GET /containers/json``."""
    return {
        "Id": c.id, "Names": ["/" + c.name], "Image": image_ref or c.config.get("Image", ""),
        "ImageID": c.image_id, "Command": _command_text(c), "Created": int(parse_time(c.created)),
        "Ports": portmap.summary_ports(c.ports, c.config.get("ExposedPorts") or {}), "Labels": c.labels,
        "State": c.state.status.value, "Status": container_status(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": networks(c)}, "Mounts": mounts or [],
    }


def container_inspect(c: Container, graph_data: dict[str, str], log_path: str, resolv: str, hosts: str,
                      hostname_path: str, mounts: list | None = None) -> dict[str, Any]:
    """``GET /containers/{id}/json``."""
    st = c.state
    return {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": {
            "Status": st.status.value, "Running": st.status in (State.RUNNING, State.PAUSED),
            "Paused": st.status == State.PAUSED, "Restarting": st.status == State.RESTARTING,
            "OOMKilled": st.oom_killed, "Dead": st.status == State.DEAD, "Pid": st.pid,
            "ExitCode": st.exit_code, "Error": st.error, "StartedAt": st.started_at, "FinishedAt": st.finished_at,
            **({"Health": st.health} if st.health is not None else {}),  # only with a healthcheck, as in Docker
        },
        "Image": c.image_id,
        "ResolvConfPath": resolv,
        "HostnamePath": hostname_path,
        "HostsPath": hosts,
        "LogPath": log_path,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": c.graph_driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {"NetworkMode": "default", "Links": None, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                       "AutoRemove": False, "Privileged": False, "LogConfig": {"Type": "json-file", "Config": {}},
                       **c.host_config},
        "GraphDriver": {"Name": c.graph_driver, "Data": graph_data},
        "Mounts": mounts or [],
        "Config": {**c.config, "Hostname": c.hostname},
        "NetworkSettings": _network_settings(c),
        "ExecDriver": c.exec_driver,
    }


def image_summary(image: Any, containers: int = -1) -> dict[str, Any]:
    """One row of ``GET /images/json``."""
    cfg = (image.config or {}).get("config") or {}
    return {
        "Id": image.id, "ParentId": image.parent or "", "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests), "Created": int(parse_time(image.created)),
        "Size": image.size, "SharedSize": -1, "VirtualSize": image.size, "Labels": cfg.get("Labels") or {},
        "Containers": containers,
    }


# The fields dockerd always shows in an image's Config and ContainerConfig (its container.Config without omitempty)
IMAGE_CONFIG_DEFAULTS = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
    "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
    "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}


def image_config_view(config: dict[str, Any] | None) -> dict[str, Any]:
    """An image's run config as dockerd shows it: every always-present field, then what the image sets."""
    return {**IMAGE_CONFIG_DEFAULTS, **(config or {})}


def image_inspect(image: Any, diff_ids: list[str], driver: str, graph_data: dict[str, str]) -> dict[str, Any]:
    """``GET /images/{name}/json``."""
    config = image.config or {}
    # dockerd leaves Variant and OsVersion out when the image does not set them
    platform_extras = {key: config[field] for key, field in (("Variant", "variant"), ("OsVersion", "os.version"))
                       if config.get(field)}
    return {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": image.parent or "",
        "Comment": config.get("comment", ""),
        "Created": config.get("created", image.created),
        "Container": config.get("container", ""),
        "ContainerConfig": image_config_view(config.get("container_config")),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": image_config_view(config.get("config")),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        **platform_extras,
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Name": driver, "Data": graph_data},
        "RootFS": {"Type": (config.get("rootfs") or {}).get("type", "layers"), "Layers": diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }
