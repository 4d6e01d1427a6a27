"""Container routes: create, list, inspect, start, wait, attach, logs, kill, stop, delete."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from berth.api import gofields, views
from berth.api.server import (Routes, api_version, engine_of, json_response, query_bool, query_filters, query_int,
                              query_time_ns,
                              read_json)
from berth.api.streams import log_message, stream_type, unless_client_leaves
from berth.containers import legacylinks, listing, logdrivers
from berth.containers.logs import read_log
from berth.containers.model import State, now_rfc3339
from berth.containers.validate import check_create_body, check_update_body
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.hostfacts import memory_total

routes = Routes()


def _manager(request: web.Request):
    return engine_of(request).containers


@routes.add("POST", "/containers/create")
async def create(request: web.Request) -> web.StreamResponse:
    body = gofields.decode_names(gofields.CONFIG, await read_json(request), "HostConfig", "NetworkingConfig")
    if isinstance(body, dict) and "HostConfig" in body:
        body["HostConfig"] = gofields.decode_names(gofields.HOST_CONFIG, body["HostConfig"])
    body = check_create_body(body)
    if api_version(request) < (1, 44) and isinstance(body.get("Healthcheck"), dict):
        # StartInterval came with API 1.44: older clients' requests are read as Docker reads them
        body["Healthcheck"] = {k: v for k, v in body["Healthcheck"].items() if k != "StartInterval"}
    endpoints = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    if api_version(request) < (1, 44) and isinstance(endpoints, dict) and len(endpoints) > 1:
        # one network at create before API 1.44; the others are connected afterwards
        raise InvalidArgument(f"Container cannot be connected to network endpoints: {', '.join(endpoints)}")
    c, warnings = await _manager(request).create(body, request.query.get("name") or None)
    return json_response({"Id": c.id, "Warnings": warnings}, status=201)


def _filters(request: web.Request) -> dict[str, list[str]]:
    return query_filters(request)


@routes.add("GET", "/containers/json")
async def list_containers(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    containers = list(engine.containers.store.containers.values())
    query = listing.plan(_filters(request), query_bool(request, "all"), query_int(request, "limit", -1) or -1,
                         containers, engine.images)
    rows = listing.select(query, containers, _network_ids)
    out = []
    for c in rows:
        row = views.container_summary(c, c.config.get("Image", ""), engine.volumes.inspect_mounts(c),
                                      legacylinks.link_names(c, containers))
        if query_bool(request, "size"):
            # the list leaves a zero size out (omitempty), inspect shows it
            row.update({k: v for k, v in (await asyncio.to_thread(sizes, engine, c)).items() if v})
        out.append(row)
    return json_response(out)


def _network_ids(c) -> dict[str, str]:
    """{network name: network ID} as the listing shows them (what dockerd's network filter matches)."""
    return {name: entry["NetworkID"] for name, entry in views.networks(c).items()}


def sizes(engine, c) -> dict[str, int]:
    """``SizeRw`` (the container's own layer) and ``SizeRootFs`` (that plus its image), as ``ps -s`` shows."""
    try:
        image = engine.images.get(c.image_id)
    except Exception:  # the image may be gone (rmi -f): report what we can
        return {"SizeRw": -1, "SizeRootFs": -1}
    try:
        # against the layer right beneath (the init layer): the driver's own size, no tree comparison
        rw = engine.graph.diff_size(c.layer_id, engine.images.container_base_layer(c.layer_id, image.layer_id))
    except Exception:
        rw = -1
    return {"SizeRw": rw, "SizeRootFs": max(rw, 0) + (image.size or 0)}


@routes.add("GET", "/containers/{id}/json")
async def inspect(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    c = engine.containers.get(request.match_info["id"])
    etc = engine.containers.etc_paths(c)
    try:
        graph_data = await asyncio.to_thread(engine.graph.metadata, c.layer_id)
    except NotFound:  # a dead container whose removal was cut short after its layers went
        graph_data = {}
    body = views.container_inspect(
        c, graph_data, logdrivers.inspect_log_path(c.host_config, engine.containers.store.directory(c.id), c.id),
        etc["/etc/resolv.conf"], etc["/etc/hosts"], etc["/etc/hostname"], engine.volumes.inspect_mounts(c),
        engine.execs.live_ids(c.id))
    if query_bool(request, "size"):
        body.update(await asyncio.to_thread(sizes, engine, c))
    return json_response(body)


@routes.add("POST", "/containers/{id}/start")
async def start(request: web.Request) -> web.StreamResponse:
    await _manager(request).start(request.match_info["id"])
    return web.Response(status=204)


@routes.add("POST", "/containers/{id}/wait")
async def wait(request: web.Request) -> web.StreamResponse:
    manager = _manager(request)
    c = manager.get(request.match_info["id"])
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):  # refuse before the 200 headers go out
        raise InvalidArgument(f"invalid condition: {condition!r}; use not-running, next-exit or removed")
    waiter = asyncio.ensure_future(manager.wait(c.id, condition))
    # Docker sends the headers at once so that a client can start the container after them.
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    outcome = await unless_client_leaves(request, waiter)
    if outcome is None:  # the client left: nobody to answer
        return response
    code, error = outcome
    body = {"StatusCode": code, "Error": {"Message": error} if error else None}
    try:
        await response.write(json.dumps(body).encode() + b"\n")
        await response.write_eof()
    except ConnectionError:  # it left as the answer came
        pass
    return response


@routes.add("GET", "/containers/{id}/logs")
async def logs(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    manager = engine.containers
    streams = {s for s in ("stdout", "stderr") if query_bool(request, s)}
    if not streams:  # dockerd checks the request before it looks for the container
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    c = manager.get(request.match_info["id"])
    if c.state.status in (State.REMOVING, State.DEAD):
        raise Conflict("can not get logs from container which is dead or marked for removal")
    source = logdrivers.source(c.host_config, manager.store.directory(c.id), c.id)
    tail = None if request.query.get("tail", "all") in ("all", "") else query_int(request, "tail")
    if tail is not None and tail < 0:
        tail = None  # Docker: a negative count means every line
    since, until = query_time_ns(request, "since"), query_time_ns(request, "until")
    timestamps, details = query_bool(request, "timestamps"), query_bool(request, "details")
    tty = bool(c.config.get("Tty"))
    response = web.StreamResponse(status=200, headers={"Content-Type": stream_type(request, tty)})
    await response.prepare(request)
    cid = c.id

    def running() -> bool:
        current = manager.store.containers.get(cid)
        return current is not None and current.state.running

    async for batch in read_log(source, follow=query_bool(request, "follow"), tail=tail, since_ns=since,
                                until_ns=until, streams=streams, running=running):
        await response.write(b"".join(log_message(e, e.attrs, tty, timestamps, details) for e in batch))
    await response.write_eof()
    return response


@routes.add("POST", "/containers/{id}/kill")
async def kill(request: web.Request) -> web.StreamResponse:
    await _manager(request).kill(request.match_info["id"], request.query.get("signal") or "SIGKILL")
    return web.Response(status=204)


@routes.add("POST", "/containers/{id}/stop")
async def stop(request: web.Request) -> web.StreamResponse:
    await _manager(request).stop(request.match_info["id"], query_int(request, "t"), request.query.get("signal"))
    return web.Response(status=204)


@routes.add("DELETE", "/containers/{id}")
async def remove(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    c = engine.containers.get(request.match_info["id"])
    if query_bool(request, "link"):
        engine.containers.remove_link(c.name)  # a plain name is no link name: dockerd's refusal
    await engine.containers.remove(c.id, force=query_bool(request, "force"), volumes=query_bool(request, "v"))
    engine.execs.forget_container(c.id)
    return web.Response(status=204)


@routes.add("DELETE", "/containers/{parent}/{alias}")
async def remove_link(request: web.Request) -> web.StreamResponse:
    """A legacy link's name (``parent/alias``): ``link=1`` removes the link; otherwise the name stands for
    the linked container, which is removed, as dockerd resolves it."""
    name = f"{request.match_info['parent']}/{request.match_info['alias']}"
    engine = engine_of(request)
    if query_bool(request, "link"):
        engine.containers.remove_link(name)
        return web.Response(status=204)
    child = engine.containers.linked_child(name)
    await engine.containers.remove(child.id, force=query_bool(request, "force"), volumes=query_bool(request, "v"))
    engine.execs.forget_container(child.id)
    return web.Response(status=204)


@routes.add("POST", "/containers/{id}/restart")
async def restart(request: web.Request) -> web.StreamResponse:
    await _manager(request).restart(request.match_info["id"], query_int(request, "t"))
    return web.Response(status=204)


@routes.add("POST", "/containers/{id}/pause")
async def pause(request: web.Request) -> web.StreamResponse:
    await _manager(request).pause(request.match_info["id"])
    return web.Response(status=204)


@routes.add("POST", "/containers/{id}/unpause")
async def unpause(request: web.Request) -> web.StreamResponse:
    await _manager(request).unpause(request.match_info["id"])
    return web.Response(status=204)


@routes.add("POST", "/containers/{id}/rename")
async def rename(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name")
    if not name:
        raise InvalidArgument("rename needs a new name (?name=)")
    await _manager(request).rename(request.match_info["id"], name)
    return web.Response(status=204)


@routes.add("POST", "/containers/{id}/resize")
async def resize(request: web.Request) -> web.StreamResponse:
    await _manager(request).resize(request.match_info["id"], query_int(request, "h", 0) or 0,
                                   query_int(request, "w", 0) or 0)
    return web.Response(status=200)


@routes.add("POST", "/containers/{id}/update")
async def update(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_update_body(body)
    warnings = await _manager(request).update(request.match_info["id"], body)
    return json_response({"Warnings": warnings})


@routes.add("POST", "/containers/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    removed, reclaimed = await _manager(request).prune(_filters(request))
    return json_response({"ContainersDeleted": removed or None, "SpaceReclaimed": reclaimed})


@routes.add("GET", "/containers/{id}/top")
async def top(request: web.Request) -> web.StreamResponse:
    pids = set(await _manager(request).top(request.match_info["id"]))
    args = (request.query.get("ps_args") or "-ef").split()
    result = await asyncio.create_subprocess_exec("ps", *args, stdout=asyncio.subprocess.PIPE,
                                                  stderr=asyncio.subprocess.PIPE)
    out, err = await result.communicate()
    if result.returncode != 0:
        raise InvalidArgument(f"ps {' '.join(args)} failed: {err.decode().strip()}")
    lines = out.decode().splitlines()
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument(f"couldn't find PID field in ps output for ps_args {' '.join(args)}")
    pid_col = titles.index("PID")
    processes = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
            processes.append(fields)
    return json_response({"Titles": titles, "Processes": processes})


def _net_dev(pid: int) -> dict:
    """Per-interface counters of the container's network namespace, in Docker's ``networks`` shape."""
    out = {}
    try:
        with open(f"/proc/{pid}/net/dev", encoding="ascii") as f:
            lines = f.readlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, counters = line.partition(":")
        name = name.strip()
        values = counters.split()
        if name == "lo" or len(values) < 16:
            continue
        v = [int(x) for x in values]
        out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                     "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


async def _stats_sample(manager, c) -> dict:
    sample = dict(await manager.stats(c.id))
    memory = dict(sample.get("memory_stats") or {})
    host = memory_total()
    # an unlimited cgroup reports ~2**63; Docker shows the host's memory as the limit then
    if memory and host and (not memory.get("limit") or memory["limit"] > host):
        memory["limit"] = host
        sample["memory_stats"] = memory
    if c.state.pid and "networks" not in sample:
        nets = _net_dev(c.state.pid)
        if nets:
            sample["networks"] = nets
    return sample


ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time: no sample yet


@routes.add("GET", "/containers/{id}/stats")
async def stats(request: web.Request) -> web.StreamResponse:
    """Docker's stats: one JSON object per second; ``stream=false`` waits for a second sample so that
    ``precpu_stats`` is filled (as dockerd's collector does), ``one-shot=true`` answers at once."""
    manager = _manager(request)
    c = manager.get(request.match_info["id"])
    one_shot = query_bool(request, "one-shot")
    stream = query_bool(request, "stream", True) and not one_shot
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    previous: dict = {}
    if not stream and not one_shot and c.state.running:
        previous = {"read": now_rfc3339(), **(await _stats_sample(manager, c))}
        await asyncio.sleep(1)
    while True:
        sample = await _stats_sample(manager, c) if c.state.running else {}
        read = now_rfc3339() if sample else ZERO_TIME
        body = views.container_stats(c, sample, previous, read, previous.get("read", ZERO_TIME))
        await response.write(json.dumps(body).encode() + b"\n")
        if not stream or not c.state.running:
            break
        previous = {**sample, "read": read}
        await asyncio.sleep(1)
    await response.write_eof()
    return response
