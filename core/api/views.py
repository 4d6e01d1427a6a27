"""Engine records rendered as the Docker Engine API's JSON shapes (the only place they are built)."""

from __future__ import annotations

import time
from typing import Any

from berth.api import gofields
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
    address6, _, prefix6 = (record.get("ipv6_address") or "").partition("/") if joined else ("", "", "")
    aliases = record.get("aliases") or None
    return {
        "IPAMConfig": _ipam_config(record), "Links": record.get("links") or None,
        "Aliases": aliases, "MacAddress": record.get("mac_address", "") if joined else record.get("mac", ""),
        "NetworkID": record.get("network_id", ""), "EndpointID": record.get("endpoint_id", ""),
        "Gateway": record.get("gateway", "") if joined else "", "IPAddress": address,
        "IPPrefixLen": int(prefix) if prefix else 0, "IPv6Gateway": record.get("ipv6_gateway", "") if joined else "",
        "GlobalIPv6Address": address6, "GlobalIPv6PrefixLen": int(prefix6) if prefix6 else 0,
        "DriverOpts": record.get("driver_opts") or None,
        "DNSNames": list(dict.fromkeys([c.name, *(aliases or []), c.short_id, c.hostname]))
        if joined and record.get("dns") else None,
    }


def _ipam_config(record: dict[str, Any]) -> dict[str, Any] | None:
    """The endpoint's ``IPAMConfig`` as asked (Go leaves its empty fields out; none at all is null)."""
    config = {key: record[field] for key, field in (("IPv4Address", "ip"), ("IPv6Address", "ip6"),
                                                     ("LinkLocalIPs", "link_local_ips"))
              if record.get(field)}
    return config or None


def networks(c: Container) -> dict[str, Any]:
    return {name: network_entry(c, record) for name, record in c.endpoints.items()}


# what dockerd's container listing copies of an endpoint: its addresses, not the settings asked for
SUMMARY_BLANK = {"Links": None, "Aliases": None, "DriverOpts": None, "DNSNames": None}


def summary_networks(c: Container) -> dict[str, Any]:
    """``NetworkSettings.Networks`` of a listed container (``ps``, ``system df``): as dockerd's list
    view, without the links, aliases, driver options and DNS names that inspect shows."""
    return {name: {**entry, **SUMMARY_BLANK} for name, entry in networks(c).items()}


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
        "Gateway": bridge["Gateway"], "GlobalIPv6Address": bridge["GlobalIPv6Address"],
        "GlobalIPv6PrefixLen": bridge["GlobalIPv6PrefixLen"], "IPAddress": bridge["IPAddress"],
        "IPPrefixLen": bridge["IPPrefixLen"], "IPv6Gateway": bridge["IPv6Gateway"],
        "MacAddress": bridge["MacAddress"], "Networks": nets,
    }


def host_config(c: Container) -> dict[str, Any]:
    """``HostConfig`` of inspect: what the client set (and create filled in), every other field at
    Go's zero value, and the structs inside complete (a partial ``update`` of the restart policy
    still shows both of its fields)."""
    hc = {"NetworkMode": "default", **c.host_config}
    hc["RestartPolicy"] = gofields.render(gofields.RESTART_POLICY, hc.get("RestartPolicy") or {"Name": "no"})
    hc["LogConfig"] = gofields.render(gofields.LOG_CONFIG, hc.get("LogConfig") or {"Type": "json-file", "Config": {}})
    if isinstance(hc.get("PortBindings"), dict):
        hc["PortBindings"] = {port: [gofields.render(gofields.PORT_BINDING, b) for b in bindings]
                              if isinstance(bindings, list) else bindings
                              for port, bindings in hc["PortBindings"].items()}
    return gofields.render(gofields.HOST_CONFIG, hc, gofields.HOST_CONFIG_ZERO)


def container_summary(c: Container, image_ref: str, mounts: list | None = None,
                      link_names: list[str] = ()) -> dict[str, Any]:
    """One row of ``GET /containers/json``; ``link_names``: the ``/parent/alias`` names it also has."""
    return {
        "Id": c.id, "Names": ["/" + c.name, *link_names], "Image": image_ref or c.config.get("Image", ""),
        "ImageID": c.image_id, "Command": _command_text(c), "Created": int(parse_time(c.created)),
        "Ports": portmap.summary_ports(c.ports, c.config.get("ExposedPorts") or {}), "Labels": c.labels,
        "State": c.state.status.value, "Status": container_status(c),
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": summary_networks(c)}, "Mounts": mounts or [],
    }


def container_inspect(c: Container, graph_data: dict[str, str], log_path: str, resolv: str, hosts: str,
                      hostname_path: str, mounts: list | None = None, exec_ids: list[str] | None = None) -> dict[str, Any]:
    """``GET /containers/{id}/json``; ``exec_ids`` are its execs that have not ended (null for none)."""
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
        "ExecIDs": exec_ids or None,
        "HostConfig": host_config(c),
        "GraphDriver": {"Name": c.graph_driver, "Data": graph_data},
        "Mounts": mounts or [],
        "Config": gofields.render(gofields.CONFIG, {**c.config, "Hostname": c.hostname}),
        "NetworkSettings": _network_settings(c),
        "ExecDriver": c.exec_driver,
    }


def cpu_stats(sample: dict[str, Any]) -> dict[str, Any]:
    """``cpu_stats`` (or ``precpu_stats``) of a stats sample, every field dockerd writes."""
    return {"cpu_usage": gofields.render(gofields.CPU_USAGE, sample.get("cpu_usage")),
            **gofields.render(gofields.CPU_TOTALS, sample),
            "throttling_data": gofields.render(gofields.THROTTLING, sample.get("throttling_data"))}


def container_stats(c: Container, sample: dict[str, Any], previous: dict[str, Any], read: str,
                    preread: str) -> dict[str, Any]:
    """One object of ``GET /containers/{id}/stats`` from an exec driver's sample (empty when not running).

    As dockerd: a running container's block I/O lists are ``[]`` when the cgroup had nothing to say,
    a stopped container's are null; zero memory figures are left out.
    """
    blkio = sample.get("blkio_stats") or {}
    if sample:
        blkio = {name: blkio.get(name) or [] for name, _, _ in gofields.BLKIO_STATS}
    stats = {
        "read": read, "preread": preread,
        "pids_stats": gofields.render(gofields.PIDS_STATS, sample.get("pids_stats")),
        "blkio_stats": gofields.render(gofields.BLKIO_STATS, blkio),
        "num_procs": 0, "storage_stats": {},
        "cpu_stats": cpu_stats(sample.get("cpu_stats") or {}),
        "precpu_stats": cpu_stats(previous.get("cpu_stats") or {}),
        "memory_stats": gofields.render(gofields.MEMORY_STATS, sample.get("memory_stats")),
        "name": "/" + c.name, "id": c.id,
    }
    if sample.get("networks"):
        stats["networks"] = sample["networks"]
    return stats


def image_summary(image: Any, containers: int = -1, api: tuple[int, ...] = (1, 45)) -> dict[str, Any]:
    """One row of ``GET /images/json`` (and of ``system df``) for a client of API version ``api``.

    As dockerd: no labels is null; since API 1.43 no tags or digests is ``[]``, before it null, and
    an image with neither shows ``<none>:<none>`` / ``<none>@<none>``; ``VirtualSize`` went in 1.44.
    """
    cfg = (image.config or {}).get("config") or {}
    tags, digests = list(image.repo_tags) or None, list(image.repo_digests) or None
    if api < (1, 43):
        if not tags and not digests:
            tags, digests = ["<none>:<none>"], ["<none>@<none>"]
    else:
        tags, digests = tags or [], digests or []
    summary = {
        "Id": image.id, "ParentId": image.parent or "", "RepoTags": tags, "RepoDigests": digests,
        "Created": int(parse_time(image.created)), "Size": image.size, "SharedSize": -1,
        "Labels": cfg.get("Labels") or None, "Containers": containers,
    }
    if api < (1, 44):
        summary["VirtualSize"] = image.size
    return summary


def image_inspect(image: Any, diff_ids: list[str], driver: str, graph_data: dict[str, str],
                  api: tuple[int, ...] = (1, 45)) -> dict[str, Any]:
    """``GET /images/{name}/json`` for a client of API ``api``; the configs as dockerd writes its
    ``container.Config``. As dockerd, ``VirtualSize`` went in API 1.44, ``Container`` and
    ``ContainerConfig`` in 1.45."""
    config = image.config or {}
    inspect = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": image.parent or "",
        "Comment": config.get("comment", ""),
        "Created": config.get("created", image.created),
        "Container": config.get("container", ""),
        # an image without one still shows an empty one: dockerd's is a struct, not a pointer
        "ContainerConfig": gofields.render(gofields.CONFIG, config.get("container_config")),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": gofields.render(gofields.CONFIG, config["config"]) if config.get("config") is not None else None,
        "Architecture": config.get("architecture", ""),
        "Variant": config.get("variant", ""),
        "Os": config.get("os", ""),
        "OsVersion": config.get("os.version", ""),
        "Size": image.size,
        "VirtualSize": image.size,
        "GraphDriver": {"Name": driver, "Data": graph_data},
        "RootFS": {"Type": (config.get("rootfs") or {}).get("type", "layers"), "Layers": diff_ids},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    }
    for omitempty in ("Variant", "OsVersion"):  # dockerd leaves them out when the image does not set them
        if not inspect[omitempty]:
            del inspect[omitempty]
    if api >= (1, 44):
        del inspect["VirtualSize"]
    if api >= (1, 45):
        del inspect["Container"], inspect["ContainerConfig"]
    return inspect
