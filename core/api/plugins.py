"""``/plugins``: Docker's managed plugins, and ``/distribution/{name}/json``.

Plugins are installed (``create`` from a context), listed, inspected, configured
and removed as in dockerd (:mod:`berth.managed_plugins`); enabling one is refused,
because berth cannot run plugin containers, so pulling, pushing and upgrading
(which exist to get a plugin running) are refused too. ``privileges`` reads the
plugin's config from its registry and lists what it asks for; like dockerd it
answers an empty list when the registry cannot be reached.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from berth import log
from berth.api.filesystem import request_body
from berth.api.server import Routes, engine_of, json_response, query_filters
from berth.errors import BerthError, Conflict, InvalidArgument, NotImplementedYet
from berth.filtermatch import check_filter_names
from berth.managed_plugins import PluginStore
from berth.registry import auth
from berth.registry import reference as refs

routes = Routes()

NOT_RUNNABLE = ("berth cannot run managed plugins (it has no plugin runtime); a plugin can be installed, "
                "inspected, configured and removed, but not enabled")
_STORES: dict[int, PluginStore] = {}


def store_of(engine: Any) -> PluginStore:
    """The engine's plugin store (``<data-root>/plugins``)."""
    store = _STORES.get(id(engine))
    if store is None or not store.root.startswith(engine.data_root):
        store = _STORES[id(engine)] = PluginStore(f"{engine.data_root}/plugins")
    return store


def _name(request: web.Request) -> str:
    return request.match_info["name"]


@routes.add("GET", "/plugins")
async def list_plugins(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    check_filter_names(filters, {"capability", "enable"})
    plugins = await asyncio.to_thread(store_of(engine_of(request)).list)
    return json_response([p for p in plugins if _listed(p, filters)])


def _listed(plugin: dict, filters: dict[str, list[str]]) -> bool:
    if "enable" in filters and str(plugin["Enabled"]).lower() not in [v.lower() for v in filters["enable"]]:
        return False
    capabilities = {t.split(".", 1)[-1].split("/")[0] for t in plugin["Config"]["Interface"]["Types"] or []}
    return "capability" not in filters or bool(capabilities & set(filters["capability"]))


@routes.add("GET", "/plugins/privileges")
async def privileges(request: web.Request) -> web.StreamResponse:
    from berth.registry.inspect import plugin_config
    from berth.registry.service import service_of

    remote = request.query.get("remote", "")
    try:
        ref = refs.parse(remote)
    except InvalidArgument:
        raise InvalidArgument("invalid reference format") from None
    creds = auth.decode_header(request.headers.get("X-Registry-Auth"))
    try:
        config = await plugin_config(service_of(engine_of(request)), ref, creds)
    except BerthError as exc:  # as dockerd: a plugin whose config cannot be fetched asks for nothing
        log.get().info("plugin.privileges_unavailable", remote=remote, error=exc.message)
        return json_response([])
    return json_response(plugin_privileges(config))


def plugin_privileges(config: dict[str, Any]) -> list[dict[str, Any]]:
    """What a plugin's config asks the user to grant, in dockerd's order and words."""
    found = []
    network = (config.get("network") or {}).get("type", "")
    if network not in ("", "null", "bridge"):
        found.append(("network", "permissions to access a network", [network]))
    if config.get("ipchost"):
        found.append(("host ipc namespace", "allow access to host ipc namespace", ["true"]))
    if config.get("pidhost"):
        found.append(("host pid namespace", "allow access to host pid namespace", ["true"]))
    for mount in config.get("mounts") or []:
        if mount.get("source"):
            found.append(("mount", "host path to mount", [mount["source"]]))
    linux = config.get("linux") or {}
    for device in linux.get("devices") or []:
        if device.get("path"):
            found.append(("device", "host device to access", [device["path"]]))
    if linux.get("allowAllDevices"):
        found.append(("allow-all-devices", "allow 'rwm' access to all devices", ["true"]))
    if linux.get("capabilities"):
        found.append(("capabilities", "list of additional capabilities required", linux["capabilities"]))
    return [{"Name": name, "Description": description, "Value": value} for name, description, value in found]


@routes.add("POST", "/plugins/create")
async def create(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name", "")
    if not name:
        raise InvalidArgument("name is required: POST /plugins/create?name=NAME with the plugin context as the body")
    store = store_of(engine_of(request))
    body = request_body(request)
    with log.job("plugin.create", name=name):
        await asyncio.to_thread(store.create, name, body)
    return web.Response(status=204)


@routes.add("GET", "/plugins/{name:.+}/json")
async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(await asyncio.to_thread(store_of(engine_of(request)).get, _name(request)))


@routes.add("POST", "/plugins/{name:.+}/set")
async def configure(request: web.Request) -> web.StreamResponse:
    settings = await request.json() if (await request.read()).strip() else []
    if not isinstance(settings, list) or not all(isinstance(s, str) for s in settings):
        raise InvalidArgument('the body must be a JSON array of "KEY=VALUE" strings')
    await asyncio.to_thread(store_of(engine_of(request)).configure, _name(request), settings)
    return web.Response(status=204)


@routes.add("DELETE", "/plugins/{name:.+}")
async def remove(request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(store_of(engine_of(request)).remove, _name(request))
    return web.Response(status=200)


@routes.add("POST", "/plugins/{name:.+}/disable")
async def disable(request: web.Request) -> web.StreamResponse:
    plugin = await asyncio.to_thread(store_of(engine_of(request)).get, _name(request))
    raise Conflict(f"plugin is already disabled: plugin {plugin['Name']} found but disabled")


@routes.add("POST", "/plugins/{name:.+}/enable")
async def enable(request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(store_of(engine_of(request)).get, _name(request))  # an unknown plugin is a 404 first
    raise NotImplementedYet(NOT_RUNNABLE)


@routes.add("POST", "/plugins/pull")
@routes.add("POST", "/plugins/{name:.+}/upgrade")
@routes.add("POST", "/plugins/{name:.+}/push")
async def transfer(request: web.Request) -> web.StreamResponse:
    if "name" in request.match_info:  # as dockerd: an unknown plugin is a 404 before anything else
        await asyncio.to_thread(store_of(engine_of(request)).get, _name(request))
    raise NotImplementedYet("berth does not pull, push or upgrade managed plugins: " + NOT_RUNNABLE)


@routes.add("GET", "/distribution/{name:.+}/json")
async def distribution(request: web.Request) -> web.StreamResponse:
    """The manifest descriptor and platforms of an image on its registry, without pulling it."""
    from berth.registry.inspect import distribution_inspect
    from berth.registry.service import service_of

    ref = refs.parse(_name(request))
    creds = auth.decode_header(request.headers.get("X-Registry-Auth"))
    return json_response(await distribution_inspect(service_of(engine_of(request)), ref, creds))
