"""A service spec as dockerd stores it: the request's spec after its trip through swarmkit.

dockerd converts the API's ServiceSpec into swarmkit's protobuf spec, stores that,
and converts it back for every answer. The trip normalises: empty lists and maps
become nil (and so vanish from the JSON), a mount without a type becomes a bind, an
isolation becomes ``default``, a restart policy always has ``MaxAttempts``, an update
config always has a failure action and an order, a replicated mode without a count
has one replica, a service without a name gets a generated one. :func:`canonical`
performs that trip on a decoded spec (:mod:`berth.swarm.apitypes`) and raises
dockerd's 400s for what the conversion refuses; :func:`with_defaults` is
``insertDefaults``; :func:`task_spec` is the spec a task of the service carries.
"""

from __future__ import annotations

import copy

from berth.errors import InvalidArgument
from berth.containers import names

SECOND = 1_000_000_000
MOUNT_TYPES = ("bind", "volume", "tmpfs", "npipe")
PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def _nil_if_empty(value):
    """Protobuf has no empty list or map: what crosses gRPC empty comes back nil."""
    return value if value else None


def canonical(spec: dict) -> dict:
    """The spec dockerd stores and shows for ``spec`` (a decoded ServiceSpec); 400 for what it refuses."""
    spec = copy.deepcopy(spec)
    template = spec["TaskTemplate"]
    runtime = template["Runtime"]
    if runtime == "plugin":  # dockerd: an untyped 500 without experimental features, which berth has not
        raise InvalidArgument('runtime type "plugin" only supported in experimental')
    if runtime not in ("", "container") or template["ContainerSpec"] is None:
        raise InvalidArgument("unsupported runtime" if runtime not in ("", "container")
                              else "mismatched Runtime and *Spec fields")
    return {
        "Name": spec["Name"] or names.generate(set()), "Labels": dict(spec["Labels"] or {}),
        "TaskTemplate": {**_task_template(template), "Runtime": "container"},
        "Mode": _mode(spec["Mode"]),
        "UpdateConfig": _update_config(spec["UpdateConfig"]), "RollbackConfig": _update_config(spec["RollbackConfig"]),
        "Networks": _nil_if_empty([_attachment(n) for n in spec["Networks"] or []]),
        "EndpointSpec": _endpoint_spec(spec["EndpointSpec"]),
    }


def task_spec(spec: dict) -> dict:
    """What a task of a service with the stored ``spec`` carries as its ``Spec`` (no ``Runtime``)."""
    return {**copy.deepcopy(spec["TaskTemplate"]), "Runtime": ""}


# ---------------------------------------------------------------------------
# the task template
# ---------------------------------------------------------------------------


def _task_template(t: dict) -> dict:
    return {
        "ContainerSpec": _container(t["ContainerSpec"]),
        "PluginSpec": None, "NetworkAttachmentSpec": None,
        "Resources": _resources(t["Resources"]),
        "RestartPolicy": _restart_policy(t["RestartPolicy"]),
        "Placement": _placement(t["Placement"]),
        "Networks": _nil_if_empty([_attachment(n) for n in t["Networks"] or []]),
        "LogDriver": _driver(t["LogDriver"]),
        "ForceUpdate": t["ForceUpdate"],
    }


def _attachment(n: dict) -> dict:
    return {"Target": n["Target"], "Aliases": _nil_if_empty(n["Aliases"]), "DriverOpts": _nil_if_empty(n["DriverOpts"])}


def _driver(d: dict | None) -> dict | None:
    return None if d is None else {"Name": d["Name"], "Options": _nil_if_empty(d["Options"])}


def _resources(r: dict | None) -> dict | None:
    """Limits keep CPUs and memory (the pids limit travels in the container spec and comes back here)."""
    if r is None:
        return None
    out = {"Limits": None, "Reservations": None}
    if r["Limits"] is not None:
        out["Limits"] = dict(r["Limits"])
    if r["Reservations"] is not None:
        res = r["Reservations"]
        out["Reservations"] = {"NanoCPUs": res["NanoCPUs"], "MemoryBytes": res["MemoryBytes"],
                               "GenericResources": _nil_if_empty(_generic(res["GenericResources"] or []))}
    return out


def _generic(items: list[dict]) -> list[dict]:
    """Each generic resource is discrete or named (discrete first); one that is neither comes back empty."""
    out = []
    for item in items:
        discrete, named = item["DiscreteResourceSpec"], item["NamedResourceSpec"]
        if discrete is not None:
            out.append({"NamedResourceSpec": None, "DiscreteResourceSpec": dict(discrete)})
        elif named is not None:
            out.append({"NamedResourceSpec": dict(named), "DiscreteResourceSpec": None})
        else:
            out.append({"NamedResourceSpec": None, "DiscreteResourceSpec": None})
    return out


def _restart_policy(p: dict | None) -> dict | None:
    if p is None:
        return None
    condition = p["Condition"] or "any"
    if condition not in ("none", "on-failure", "any"):
        raise InvalidArgument(f'invalid RestartCondition: "{p["Condition"]}"')
    return {"Condition": condition, "Delay": p["Delay"], "MaxAttempts": p["MaxAttempts"] or 0, "Window": p["Window"]}


def _placement(p: dict | None) -> dict | None:
    if p is None:
        return None
    preferences = [{"Spread": {"SpreadDescriptor": pref["Spread"]["SpreadDescriptor"]}}
                   for pref in p["Preferences"] or [] if pref["Spread"] is not None]
    return {"Constraints": _nil_if_empty(p["Constraints"]), "Preferences": _nil_if_empty(preferences),
            "MaxReplicas": p["MaxReplicas"],
            "Platforms": _nil_if_empty([dict(pl) for pl in p["Platforms"] or []])}


# ---------------------------------------------------------------------------
# the container spec
# ---------------------------------------------------------------------------

KEPT = ("Image", "Hostname", "Dir", "User", "StopSignal", "TTY", "OpenStdin", "ReadOnly", "Init",
        "StopGracePeriod")
LISTS = ("Labels", "Command", "Args", "Env", "Groups", "Hosts", "Sysctls", "CapabilityAdd", "CapabilityDrop")


def _container(c: dict) -> dict:
    out = {name: c[name] for name in KEPT}
    out.update({name: _nil_if_empty(c[name]) for name in LISTS})
    out["Isolation"] = _isolation(c["Isolation"])
    out["Privileges"] = _privileges(c["Privileges"])
    out["Mounts"] = _nil_if_empty([_mount(m) for m in c["Mounts"] or []])
    out["Healthcheck"] = _healthcheck(c["Healthcheck"])
    dns = c["DNSConfig"]
    out["DNSConfig"] = None if dns is None else {k: _nil_if_empty(v) for k, v in dns.items()}
    # a reference without a file target is kept for swarmkit's check to refuse it
    out["Secrets"] = _nil_if_empty([_file_reference(r, "Secret") for r in c["Secrets"] or [] if r])
    out["Configs"] = _nil_if_empty(_config_references(c["Configs"]))
    out["Ulimits"] = _nil_if_empty([dict(u) for u in c["Ulimits"] or [] if u])
    return out


def _isolation(value: str) -> str:
    lowered = value.lower()
    return lowered if lowered in ("process", "hyperv") else "default"


def _privileges(p: dict | None) -> dict | None:
    if p is None:
        return None
    out = {"CredentialSpec": None, "SELinuxContext": None, "Seccomp": None, "AppArmor": None}
    credential = p["CredentialSpec"]
    if credential is not None:
        given = [k.lower() for k in ("Config", "File", "Registry") if credential[k]]
        if not given:
            raise InvalidArgument('invalid CredentialSpec: must either provide "file", "registry", or "config" '
                                  'for credential spec')
        if len(given) > 1:
            quoted = [f'"{g}"' for g in given]
            joined = f"{quoted[0]} and {quoted[1]}" if len(quoted) == 2 else f"{', '.join(quoted[:-1])}, and {quoted[-1]}"
            raise InvalidArgument(f"invalid CredentialSpec: cannot specify both {joined} credential specs")
        out["CredentialSpec"] = {k: (credential[k] if k.lower() == given[0] else "") for k in ("Config", "File",
                                                                                              "Registry")}
    if p["SELinuxContext"] is not None:
        out["SELinuxContext"] = dict(p["SELinuxContext"])
    if p["Seccomp"] is not None:
        out["Seccomp"] = {"Mode": p["Seccomp"]["Mode"] or "default", "Profile": p["Seccomp"]["Profile"] or None}
    if p["AppArmor"] is not None:
        out["AppArmor"] = {"Mode": p["AppArmor"]["Mode"] or "default"}
    out["NoNewPrivileges"] = p["NoNewPrivileges"]
    return out


def _mount(m: dict) -> dict:
    kind = m["Type"].lower() if m["Type"] else "bind"
    if kind not in MOUNT_TYPES:
        raise InvalidArgument(f'invalid MountType: "{m["Type"]}"')
    out = {"Type": kind, "Source": m["Source"], "Target": m["Target"], "ReadOnly": m["ReadOnly"], "Consistency": "",
           "BindOptions": None, "VolumeOptions": None, "TmpfsOptions": None}
    bind = m["BindOptions"]
    if bind is not None:
        propagation = bind["Propagation"].lower()
        if bind["Propagation"] and propagation not in PROPAGATIONS:
            raise InvalidArgument(f'invalid MountPropagation: "{bind["Propagation"]}"')
        # dockerd keeps the propagation and NonRecursive; berth also keeps API 1.42+'s flags, which it honours
        newer = {k: bind[k] for k in ("CreateMountpoint", "ReadOnlyNonRecursive", "ReadOnlyForceRecursive")}
        if bind["Propagation"] or bind["NonRecursive"] or any(newer.values()):
            out["BindOptions"] = {"Propagation": propagation or "rprivate", "NonRecursive": bind["NonRecursive"],
                                  **newer}
    volume = m["VolumeOptions"]
    if volume is not None:
        out["VolumeOptions"] = {"NoCopy": volume["NoCopy"], "Labels": _nil_if_empty(volume["Labels"]),
                                "Subpath": volume["Subpath"], "DriverConfig": _driver(volume["DriverConfig"])}
    if m["TmpfsOptions"] is not None:
        out["TmpfsOptions"] = dict(m["TmpfsOptions"])
    return out


def _healthcheck(h: dict | None) -> dict | None:
    if h is None:
        return None
    return {"Test": _nil_if_empty(h["Test"]), "Interval": h["Interval"], "Timeout": h["Timeout"],
            "StartPeriod": h["StartPeriod"], "Retries": h["Retries"]}


def _file_reference(ref: dict, kind: str) -> dict:
    return {"File": dict(ref["File"]) if ref["File"] else None, f"{kind}ID": ref[f"{kind}ID"],
            f"{kind}Name": ref[f"{kind}Name"]}


def _config_references(refs: list | None) -> list[dict]:
    out = []
    for ref in refs or []:
        ref = ref or {"File": None, "Runtime": None, "ConfigID": "", "ConfigName": ""}
        if ref["File"] is None and ref["Runtime"] is None:
            raise InvalidArgument("invalid Config: either File or Runtime should be set")
        if ref["File"] is not None and ref["Runtime"] is not None:
            raise InvalidArgument("invalid Config: cannot specify both File and Runtime")
        out.append({"File": None if ref["Runtime"] is not None else dict(ref["File"]),
                    "Runtime": {} if ref["Runtime"] is not None else None,
                    "ConfigID": ref["ConfigID"], "ConfigName": ref["ConfigName"]})
    return out


# ---------------------------------------------------------------------------
# mode, update and rollback configs, endpoint
# ---------------------------------------------------------------------------


def _mode(mode: dict) -> dict:
    out = {"Replicated": None, "Global": None, "ReplicatedJob": None, "GlobalJob": None}
    if sum(v is not None for v in mode.values()) > 1:
        raise InvalidArgument("must specify only one service mode")
    if mode["Global"] is not None:
        out["Global"] = {}
    elif mode["GlobalJob"] is not None:
        out["GlobalJob"] = {}
    elif mode["ReplicatedJob"] is not None:
        job = mode["ReplicatedJob"]
        concurrent = job["MaxConcurrent"] if job["MaxConcurrent"] is not None else 1
        total = job["TotalCompletions"] if job["TotalCompletions"] is not None else concurrent
        out["ReplicatedJob"] = {"MaxConcurrent": concurrent, "TotalCompletions": total}
    else:
        replicas = (mode["Replicated"] or {}).get("Replicas")
        out["Replicated"] = {"Replicas": replicas if replicas is not None else 1}
    return out


def _update_config(u: dict | None) -> dict | None:
    if u is None:
        return None
    action = u["FailureAction"] or "pause"
    if action not in ("pause", "continue", "rollback"):
        raise InvalidArgument(f"unrecognized update failure action {u['FailureAction']}")
    order = u["Order"] or "stop-first"
    if order not in ("stop-first", "start-first"):
        raise InvalidArgument(f"unrecognized update order {u['Order']}")
    return {"Parallelism": u["Parallelism"], "Delay": u["Delay"], "FailureAction": action, "Monitor": u["Monitor"],
            "MaxFailureRatio": u["MaxFailureRatio"], "Order": order}


def _endpoint_spec(e: dict | None) -> dict | None:
    if e is None:
        return None
    if e["Mode"] not in ("", "vip", "dnsrr"):
        raise InvalidArgument(f'invalid resolution mode: "{e["Mode"]}"')
    ports = [{"Name": p["Name"],
              "Protocol": p["Protocol"].lower() if p["Protocol"].lower() in ("tcp", "udp", "sctp") else "tcp",
              "TargetPort": p["TargetPort"], "PublishedPort": p["PublishedPort"],
              "PublishMode": "host" if p["PublishMode"].lower() == "host" else "ingress"} for p in e["Ports"] or []]
    return {"Mode": e["Mode"] or "vip", "Ports": _nil_if_empty(ports)}


# ---------------------------------------------------------------------------
# insertDefaults
# ---------------------------------------------------------------------------

DEFAULT_UPDATE = {"Parallelism": 1, "Delay": 0, "FailureAction": "pause", "Monitor": 5 * SECOND,
                  "MaxFailureRatio": 0.0, "Order": "stop-first"}


def with_defaults(spec: dict) -> dict:
    """``insertDefaults=true``: every unset part of the stored spec filled with swarmkit's defaults."""
    spec = copy.deepcopy(spec)
    template = spec["TaskTemplate"]
    container = template["ContainerSpec"]
    if container is not None:
        if container["StopGracePeriod"] is None:
            container["StopGracePeriod"] = 10 * SECOND
        if container["DNSConfig"] is None:
            container["DNSConfig"] = {"Nameservers": None, "Search": None, "Options": None}
    if template["Resources"] is None:
        template["Resources"] = {"Limits": None, "Reservations": None}
    if template["RestartPolicy"] is None:
        template["RestartPolicy"] = {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0, "Window": None}
    elif template["RestartPolicy"]["Delay"] is None:
        template["RestartPolicy"]["Delay"] = 5 * SECOND
    if template["Placement"] is None:
        template["Placement"] = {"Constraints": None, "Preferences": None, "MaxReplicas": 0, "Platforms": None}
    for key in ("UpdateConfig", "RollbackConfig"):
        if spec[key] is None:
            spec[key] = dict(DEFAULT_UPDATE)
        elif not spec[key]["Monitor"]:
            spec[key]["Monitor"] = 5 * SECOND
    return spec
