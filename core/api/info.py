"""``GET /info``: every field dockerd's answer has, with the same types, plus berth's driver inventory.

Fields describing parts berth does not have hold dockerd's value for "none": the
containerd/runc/init commits are empty. ``Swarm`` is :mod:`berth.swarm`'s answer. ``Images`` counts what ``images/json?all=1``
lists (intermediate images included), as dockerd does.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import platform
import threading
from datetime import datetime, timezone

from aiohttp import web

import berth
from berth import hostfacts
from berth.api import cgroupinfo
from berth.api.server import Routes, engine_of, json_response
from berth.containers import logdrivers
from berth.containers.model import State

routes = Routes()

NO_COMMIT = {"ID": "", "Expected": ""}
INDEX_SERVER = "https://index.docker.io/v1/"


@routes.add("GET", "/info")
async def info(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    inventory = await asyncio.to_thread(engine.driver_inventory)
    images = await asyncio.to_thread(engine.images.list, True)
    features = await asyncio.to_thread(engine.exec.features)
    return json_response({
        "ID": engine.data_root, "Name": platform.node(), "ServerVersion": berth.__version__,
        **_container_counts(engine), "Images": len(images),
        **_drivers(engine, inventory), **_host_facts(), **cgroupinfo.fields(features), **_daemon_facts(engine),
        "RegistryConfig": registry_config(engine.config.insecure_registries or []),
        "Swarm": engine.swarm.info(), "Warnings": [*engine.warnings, *cgroupinfo.warnings(features)],
        "CDISpecDirs": [],  # API 1.44: no CDI device specs are read (dockerd writes [] for none)
    })


def _container_counts(engine) -> dict:
    states = [c.state.status for c in engine.containers.store.containers.values()]
    return {"Containers": len(states),
            "ContainersRunning": sum(s in (State.RUNNING, State.RESTARTING) for s in states),
            "ContainersPaused": sum(s == State.PAUSED for s in states),
            "ContainersStopped": sum(s in (State.EXITED, State.CREATED, State.DEAD) for s in states)}


def _drivers(engine, inventory: list[dict]) -> dict:
    networks = engine.networks.loaded_drivers
    return {
        "Driver": engine.graph.name, "DriverStatus": [list(p) for p in engine.graph.status()],
        "ExecDriver": engine.exec.name, "ExecDriverStatus": [list(p) for p in engine.exec.status()],
        "NetworkDrivers": {name: [list(p) for p in d.status()] for name, d in networks.items()},
        "DefaultNetworkDriver": engine.default_network_driver(),
        "Plugins": {"Volume": ["local"], "Network": sorted(n["Name"] for n in inventory if n["Kind"] == "network"),
                    "Authorization": None, "Log": [d for d in logdrivers.DRIVERS if d != logdrivers.NONE]},
        "BerthDrivers": inventory, "DriverCalls": engine.stats.summary(),
        "LoggingDriver": engine.log_defaults.driver, "CgroupDriver": "cgroupfs",
        "DefaultRuntime": engine.exec.name,
        "Isolation": "", "InitBinary": "", "ContainerdCommit": dict(NO_COMMIT), "RuncCommit": dict(NO_COMMIT),
        "InitCommit": dict(NO_COMMIT), "GenericResources": None,
    }


def _host_facts() -> dict:
    os_release = hostfacts.os_release()
    return {
        "IPv4Forwarding": _sysctl_on("net/ipv4/ip_forward"),
        "BridgeNfIptables": _sysctl_on("net/bridge/bridge-nf-call-iptables"),
        "BridgeNfIp6tables": _sysctl_on("net/bridge/bridge-nf-call-ip6tables"),
        "KernelVersion": platform.release(), "OperatingSystem": os_release.get("PRETTY_NAME", "Linux"),
        "OSVersion": os_release.get("VERSION_ID", ""), "OSType": "linux", "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1, "MemTotal": hostfacts.memory_total(),
        "SystemTime": datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "HttpProxy": os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
        "HttpsProxy": os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
        "NoProxy": os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
    }


def _daemon_facts(engine) -> dict:
    return {
        "Debug": engine.config.log_level == "debug", "NFd": _open_fds(), "NGoroutines": threading.active_count(),
        "NEventsListener": len(engine.events.subscribers), "DockerRootDir": engine.data_root,
        "ExecRoot": engine.exec_root, "IndexServerAddress": INDEX_SERVER, "Labels": [], "ExperimentalBuild": False,
        # containers outlive berthd (each has its monitor), which is what dockerd's live-restore gives
        "LiveRestoreEnabled": True,
        # dockerd's order; name=userns when containers' root is remapped
        "SecurityOptions": ["name=seccomp,profile=builtin", *(["name=userns"] if engine.idmap else []), "name=cgroupns"],
    }


def registry_config(insecure: list[str]) -> dict:
    """dockerd's ``RegistryConfig``: loopback and CIDR entries are insecure CIDRs, host names index configs."""
    from berth.registry.transport import DEFAULT_INSECURE_CIDRS

    cidrs, hosts = [], []
    for entry in insecure:
        try:
            cidrs.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            hosts.append(entry)
    index_configs = {host: {"Name": host, "Mirrors": [], "Secure": False, "Official": False} for host in hosts}
    index_configs["docker.io"] = {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}
    return {"AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
            "InsecureRegistryCIDRs": [*DEFAULT_INSECURE_CIDRS, *cidrs], "IndexConfigs": index_configs, "Mirrors": []}


def _sysctl_on(name: str) -> bool:
    try:
        with open(f"/proc/sys/{name}") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0
