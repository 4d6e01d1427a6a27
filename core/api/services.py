"""Service and task routes: create, list, inspect, update, delete, logs — :mod:`berth.swarm.services` and tasks."""

from __future__ import annotations

from aiohttp import web

from berth.api.server import Routes, api_version, json_response, query_filters, query_time_ns
from berth.api.streams import log_message, stream_type
from berth.api.swarm import empty_response, form_bool, query_go_bool, query_version, read_go_body, swarm_of
from berth.errors import InvalidArgument
from berth.swarm import apitypes, tasklogs, tasks as tasks_mod

routes = Routes()


def _manager(request: web.Request):
    swarm = swarm_of(request)
    swarm.cluster.require_manager()
    return swarm


def _adjust_for_version(request: web.Request, spec: dict) -> None:
    """Fields older API versions did not have are dropped, as dockerd drops them."""
    version = api_version(request)
    container, template = spec["TaskTemplate"]["ContainerSpec"], spec["TaskTemplate"]
    if container is not None and version < (1, 45):
        for mount in container["Mounts"] or []:
            _drop_newer_mount_options(mount, version)
        if version < (1, 44) and container["Privileges"] is not None:
            container["Privileges"].update({"Seccomp": None, "AppArmor": None, "NoNewPrivileges": False})
    if version < (1, 40):
        if container is not None:
            container["Sysctls"] = None
            for config in container["Configs"] or []:
                if config:
                    config["Runtime"] = None
        if template["Placement"] is not None:
            template["Placement"]["MaxReplicas"] = 0
    if version < (1, 41):
        if container is not None:
            container["CapabilityAdd"] = container["CapabilityDrop"] = container["Ulimits"] = None
        if template["Resources"] is not None and template["Resources"]["Limits"] is not None:
            template["Resources"]["Limits"]["Pids"] = 0
        spec["Mode"]["ReplicatedJob"] = spec["Mode"]["GlobalJob"] = None


def _drop_newer_mount_options(mount: dict, version: tuple[int, ...]) -> None:
    """A mount's options newer than the client's API version, dropped (as newer dockerds drop them)."""
    if mount["BindOptions"] is not None:
        if version < (1, 42):
            mount["BindOptions"]["CreateMountpoint"] = False
        if version < (1, 44):
            mount["BindOptions"]["ReadOnlyNonRecursive"] = mount["BindOptions"]["ReadOnlyForceRecursive"] = False
    if mount["VolumeOptions"] is not None:
        mount["VolumeOptions"]["Subpath"] = ""


@routes.add("GET", "/services")
async def list_services(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    status = False
    if request.query.get("status") and api_version(request) >= (1, 41):
        status = query_go_bool(request, "status")
    return json_response(_manager(request).services.list(filters, status))


@routes.add("GET", "/services/{id}")
async def inspect_service(request: web.Request) -> web.StreamResponse:
    defaults = query_go_bool(request, "insertDefaults")
    services = _manager(request).services
    return json_response(services.view(services.get(request.match_info["id"]), insert_defaults=defaults))


@routes.add("POST", "/services/create")
async def create_service(request: web.Request) -> web.StreamResponse:
    spec = await read_go_body(request, apitypes.ServiceSpec)
    _adjust_for_version(request, spec)
    service_id, warnings = _manager(request).services.create(spec, request.headers.get("X-Registry-Auth", ""))
    return json_response({"ID": service_id, **({"Warnings": warnings} if warnings else {})}, 201)


@routes.add("POST", "/services/{id}/update")
async def update_service(request: web.Request) -> web.StreamResponse:
    spec = await read_go_body(request, apitypes.ServiceSpec)
    version = query_version(request, "service")
    _adjust_for_version(request, spec)
    warnings = _manager(request).services.update(
        request.match_info["id"], version, spec, request.headers.get("X-Registry-Auth", ""),
        request.query.get("registryAuthFrom", ""), request.query.get("rollback", ""))
    return json_response({"Warnings": warnings})


@routes.add("DELETE", "/services/{id}")
async def remove_service(request: web.Request) -> web.StreamResponse:
    _manager(request).services.remove(request.match_info["id"])
    return empty_response()


# ---------------------------------------------------------------------------
# tasks
# ---------------------------------------------------------------------------


def _task_names(swarm) -> dict[str, str]:
    services = swarm.store.objects("services")
    return {t["ID"]: tasks_mod.name(t, services.get(t["ServiceID"], {}).get("Spec", {}).get("Name", ""))
            for t in swarm.store.objects("tasks").values()}


def find_task(swarm, ref: str) -> dict:
    from berth.swarm import lookup

    names = _task_names(swarm)
    return lookup.find(swarm.store.objects("tasks"), ref, "task", lambda t: names[t["ID"]])


@routes.add("GET", "/tasks")
async def list_tasks(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    swarm = _manager(request)
    from berth.swarm import lookup

    lookup.check_filters(filters, tasks_mod.FILTERS)
    service_ids = [swarm.services.get(ref)["ID"] for ref in filters.get("service", [])]
    node_ids = [swarm.nodes.get(ref)["ID"] for ref in filters.get("node", [])]
    records = list(swarm.store.objects("tasks").values())
    selected = tasks_mod.matching(records, filters, service_ids, node_ids, _task_names(swarm))
    return json_response([tasks_mod.json(t) for t in selected])


@routes.add("GET", "/tasks/{id}")
async def inspect_task(request: web.Request) -> web.StreamResponse:
    return json_response(tasks_mod.json(find_task(_manager(request), request.match_info["id"])))


# ---------------------------------------------------------------------------
# logs
# ---------------------------------------------------------------------------


def _log_options(request: web.Request) -> tuple[set[str], int | None]:
    streams = {s for s in ("stdout", "stderr") if form_bool(request, s)}
    if not streams:  # checked before anything else, as dockerd does
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    raw_tail = request.query.get("tail", "")
    if raw_tail in ("", "all"):
        return streams, None
    if not raw_tail.lstrip("-").isdigit():
        raise InvalidArgument('error making log selector: tail value must be a positive integer or "all"')
    if int(raw_tail) < 0:
        raise InvalidArgument("negative tail values not supported")
    return streams, int(raw_tail)


async def _stream_logs(request: web.Request, selected, tty: bool) -> web.StreamResponse:
    swarm = swarm_of(request)
    streams, tail = _log_options(request)
    since = query_time_ns(request, "since")
    timestamps, details = form_bool(request, "timestamps"), form_bool(request, "details")
    response = web.StreamResponse(status=200, headers={"Content-Type": stream_type(request, tty)})
    await response.prepare(request)
    async for batch in tasklogs.messages(swarm.engine, selected, form_bool(request, "follow"), tail, since, streams):
        await response.write(b"".join(log_message(e, attrs, tty, timestamps, details) for e, attrs in batch))
    await response.write_eof()
    return response


@routes.add("GET", "/services/{id}/logs")
async def service_logs(request: web.Request) -> web.StreamResponse:
    _log_options(request)
    swarm = _manager(request)
    service = swarm.services.get(request.match_info["id"])
    tty = bool(((service["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("TTY"))
    service_id = service["ID"]
    return await _stream_logs(request, lambda: [t for t in swarm.store.objects("tasks").values()
                                                if t["ServiceID"] == service_id], tty)


@routes.add("GET", "/tasks/{id}/logs")
async def task_logs(request: web.Request) -> web.StreamResponse:
    _log_options(request)
    swarm = _manager(request)
    task = find_task(swarm, request.match_info["id"])
    tty = bool((task["Spec"].get("ContainerSpec") or {}).get("TTY"))
    return await _stream_logs(request, lambda: [task], tty)

