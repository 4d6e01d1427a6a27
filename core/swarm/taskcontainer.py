"""A task's container: the create request dockerd's executor makes from a task's container spec.

``Command`` replaces the image's entrypoint (``Args`` are then its arguments), else
``Args`` replaces the image's command; ``Dir`` is the working directory; ``Hosts``
(``IP name`` lines) become extra hosts; ``DNSConfig`` the DNS settings;
``Privileges`` security options; ``Resources.Limits`` the memory and CPU limits; the
log driver is the task template's. The container carries the task's labels
(``com.docker.swarm.*`` last, so the spec's cannot override them), is named as the
task, and has no restart policy of its own: the orchestrator restarts tasks, not
containers. Secrets and configs come as read-only files (see :mod:`berth.swarm.taskfiles`).
"""

from __future__ import annotations

import base64

from berth.errors import BerthError
from berth.images import reference

SYSTEM_LABEL = "com.docker.swarm"


def labels(task: dict, service_name: str, task_name: str) -> dict[str, str]:
    container = task["Spec"]["ContainerSpec"]
    out = dict(container.get("Labels") or {})
    out.update(task.get("Labels") or {})
    out.update({f"{SYSTEM_LABEL}.{k}": v for k, v in (
        ("task", ""), ("task.id", task["ID"]), ("task.name", task_name), ("node.id", task["NodeID"]),
        ("service.id", task["ServiceID"]), ("service.name", service_name))})
    return out


def create_body(task: dict, service_name: str, task_name: str, files: list[dict], network: str | None,
                endpoint: dict, host_ports: list[dict]) -> dict:
    """The ``POST /containers/create`` body for ``task`` (``files``: bind mounts of its secrets and configs;
    ``network`` and ``endpoint``: the first network it joins, its settings there, the container's network mode
    (dockerd says ``default`` and joins the same); ``host_ports``: its ``host``-mode published ports)."""
    spec = task["Spec"]
    c = spec["ContainerSpec"]
    body = {
        "Image": _image(c["Image"]), "Labels": dict(sorted(labels(task, service_name, task_name).items())),
        "StopSignal": c.get("StopSignal", ""), "Tty": bool(c.get("TTY")), "OpenStdin": bool(c.get("OpenStdin")),
        "User": c.get("User", ""), "Env": list(c.get("Env") or []), "Hostname": c.get("Hostname", ""),
        "WorkingDir": c.get("Dir", ""), "Healthcheck": c.get("Healthcheck"),
        "ExposedPorts": {f"{p['TargetPort']}/{p.get('Protocol', 'tcp')}": {} for p in host_ports},
        "HostConfig": _host_config(spec, files, network, host_ports),
        "NetworkingConfig": {"EndpointsConfig": {network: endpoint} if network else {}},
    }
    if c.get("Command"):
        body["Entrypoint"], body["Cmd"] = list(c["Command"]), list(c.get("Args") or []) or None
    elif c.get("Args"):
        body["Cmd"] = list(c["Args"])
    return {k: v for k, v in body.items() if v not in (None, "", [], {}) or k in ("Tty", "OpenStdin")}


def _image(ref: str) -> str:
    """The image as the executor names it: familiar, with ``latest`` when it names no tag (``busybox:latest``)."""
    try:
        return reference.familiar(ref)
    except BerthError:
        return ref


def _host_config(spec: dict, files: list[dict], network: str | None, host_ports: list[dict]) -> dict:
    c = spec["ContainerSpec"]
    limits = (spec.get("Resources") or {}).get("Limits") or {}
    dns = c.get("DNSConfig") or {}
    host = {
        "GroupAdd": c.get("Groups"), "ReadonlyRootfs": bool(c.get("ReadOnly")), "Init": c.get("Init"),
        "Sysctls": c.get("Sysctls"), "CapAdd": c.get("CapabilityAdd"), "CapDrop": c.get("CapabilityDrop"),
        "Mounts": [_mount(m) for m in c.get("Mounts") or []] + files,
        "Ulimits": [dict(u) for u in c.get("Ulimits") or []],
        "Memory": max(limits.get("MemoryBytes", 0), 0), "NanoCpus": max(limits.get("NanoCPUs", 0), 0),
        "Dns": dns.get("Nameservers"), "DnsSearch": dns.get("Search"), "DnsOptions": dns.get("Options"),
        "ExtraHosts": [f"{parts[1]}:{parts[0]}" for parts in (h.split() for h in c.get("Hosts") or [])
                       if len(parts) > 1],
        "SecurityOpt": _security_options(c.get("Privileges")),
        "PortBindings": {f"{p['TargetPort']}/{p.get('Protocol', 'tcp')}":
                         [{"HostIp": "", "HostPort": str(p.get("PublishedPort") or "")}] for p in host_ports},
        "NetworkMode": network or "default",
        "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
    }
    if limits.get("Pids", 0) > 0:
        host["PidsLimit"] = limits["Pids"]
    if spec.get("LogDriver"):
        host["LogConfig"] = {"Type": spec["LogDriver"].get("Name", ""),
                             "Config": spec["LogDriver"].get("Options") or {}}
    return {k: v for k, v in host.items() if v not in (None, [], {}, "") or k == "NetworkMode"}


def _mount(m: dict) -> dict:
    out = {"Type": m.get("Type", "bind"), "Source": m.get("Source", ""), "Target": m.get("Target", ""),
           "ReadOnly": bool(m.get("ReadOnly"))}
    for key in ("BindOptions", "VolumeOptions", "TmpfsOptions"):
        if m.get(key) is not None:
            out[key] = m[key]
    return out


def _security_options(privileges: dict | None) -> list[str] | None:
    if not privileges:
        return None
    out = []
    credential = privileges.get("CredentialSpec") or {}
    for source, scheme in (("File", "file"), ("Registry", "registry"), ("Config", "config")):
        if credential.get(source):
            out.append(f"credentialspec={scheme}://{credential[source]}")
    selinux = privileges.get("SELinuxContext") or {}
    if selinux.get("Disable"):
        out.append("label=disable")
    for key in ("User", "Role", "Level", "Type"):
        if selinux.get(key):
            out.append(f"label={key.lower()}:{selinux[key]}")
    seccomp = privileges.get("Seccomp") or {}
    if seccomp.get("Mode") == "unconfined":
        out.append("seccomp=unconfined")
    elif seccomp.get("Mode") == "custom":
        out.append("seccomp=" + base64.b64decode(seccomp.get("Profile") or "").decode())
    if (privileges.get("AppArmor") or {}).get("Mode") == "disabled":
        out.append("apparmor=unconfined")
    if privileges.get("NoNewPrivileges"):
        out.append("no-new-privileges=true")
    return out or None
