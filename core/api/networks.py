"""Network routes: list, inspect, create, connect, disconnect, delete, prune."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from berth.containers.validate import check_fields
from berth.api.server import Routes, engine_of, json_response, query_filters, read_json
from berth.errors import Conflict, InvalidArgument, NotFound

routes = Routes()


def _attached(engine, net) -> list[tuple[Any, dict[str, Any]]]:
    """(container, endpoint record) of every endpoint joined to ``net`` now: dockerd's active endpoints."""
    out = []
    for c in engine.containers.store.containers.values():
        for name, record in c.endpoints.items():
            if record.get("endpoint_id") and (record.get("network_id") == net.id or name == net.name):
                out.append((c, record))
    return out


def _network_json(engine, net, verbose: bool = True) -> dict[str, Any]:
    """A network as inspect shows it; the list leaves ``Containers`` empty, as dockerd 20.10 does. A swarm
    network (the swarm's overlay networks, realised here as local ones) is shown as the swarm describes it."""
    containers = {}
    for c, record in _attached(engine, net) if verbose else []:
        containers[c.id] = {"Name": c.name, "EndpointID": record["endpoint_id"],
                            "MacAddress": record.get("mac_address", ""),
                            "IPv4Address": record.get("ipv4_address", ""),
                            "IPv6Address": record.get("ipv6_address", "")}
    swarm_record = engine.swarm.networking.networks.record(net.id)
    if swarm_record is not None:
        return engine.swarm.networking.networks.view(swarm_record, containers, listing=not verbose)
    return {
        "Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local", "Driver": net.docker_driver,
        "EnableIPv6": net.enable_ipv6, "IPAM": {"Driver": "default", "Options": None, "Config": _ipam_view(net)},
        "Internal": net.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": containers, "Options": net.options, "Labels": net.labels,
    }


def _ipam_view(net) -> list[dict[str, Any]]:
    """IPAM ``Config`` as dockerd shows it: each pool as it was asked (IPv4, then IPv6), with its own
    auxiliary addresses; an IPv4 pool the driver chose is shown with the gateway it chose."""
    aux: dict[int, dict[str, str]] = {4: {}, 6: {}}
    for name, address in (net.aux_addresses or {}).items():
        aux[6 if ":" in address else 4][name] = address
    chosen = (net.driver_data.get("subnet"), None, net.driver_data.get("gateway"))
    pools = [((net.subnet, net.ip_range, net.gateway) if net.subnet else chosen) + (aux[4],),
             (net.subnet6, net.ip_range6, net.gateway6, aux[6])]
    return [{k: v for k, v in (("Subnet", subnet), ("IPRange", ip_range), ("Gateway", gateway),
                               ("AuxiliaryAddresses", extra)) if v}
            for subnet, ip_range, gateway, extra in pools if subnet]


def _matches(net, filters: dict, shown: dict) -> bool:
    """Docker's network filters, on the record and on how it is shown (``shown``: its driver and scope)."""
    for key, values in filters.items():
        values = list(values)
        if key == "name" and not any(v in net.name for v in values):
            return False
        if key == "id" and not any(net.id.startswith(v) for v in values):
            return False
        if key == "driver" and shown["Driver"] not in values:
            return False
        if key == "scope" and shown["Scope"] not in values:
            return False
        if key == "type" and not any((v == "builtin") == (net.name in ("bridge", "host", "none")) for v in values):
            return False
        if key == "label":
            for v in values:
                k, sep, want = v.partition("=")
                if k not in net.labels or (sep and net.labels[k] != want):
                    return False
    return True


@routes.add("GET", "/networks")
async def list_networks(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    filters = query_filters(request)
    networks = [n for n in engine.networks.networks.values() if not engine.swarm.networking.networks.hides(n.id)]
    shown = [_network_json(engine, n, verbose=False) for n in networks]
    nets = [view for n, view in zip(networks, shown) if _matches(n, filters, view)]
    return json_response(sorted(nets, key=lambda view: view["Name"]))


@routes.add("GET", "/networks/{id}")
async def inspect_network(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    ref = request.match_info["id"]
    net = engine.networks.find(ref)
    shown = _network_json(engine, net)
    if engine.swarm.networking.networks.hides(net.id) or (
            request.query.get("scope") and request.query["scope"] != shown["Scope"]):
        raise NotFound(f"network {ref} not found")  # dockerd looks for it in that scope only
    return json_response(shown)


@routes.add("POST", "/networks/create")
async def create_network(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    engine = engine_of(request)
    check_fields("network config", body, {"Name": "str", "Driver": "str", "Internal": "bool", "IPAM": "dict",
                                          "Labels": "str_dict", "Options": "str_dict", "EnableIPv6": "bool"})
    check_fields("network config", body.get("IPAM") or {}, {"Config": "dict_list"})
    name = body.get("Name")
    if not name:
        raise InvalidArgument("network name is required")
    if (body.get("Driver") or "").lower() == "overlay" or body.get("Scope") == "swarm":
        record = await asyncio.to_thread(engine.swarm.networking.networks.create, body)
        return json_response({"Id": record["ID"], "Warning": ""}, 201)
    if engine.networks.find(name, missing_ok=True):
        raise Conflict(f"network with name {name} already exists")
    first, second = _ipam_config(body)
    net = await asyncio.to_thread(
        engine.networks.create, name=name, driver=body.get("Driver") or engine.default_network_driver(),
        subnet=first.get("Subnet"), gateway=first.get("Gateway"), ip_range=first.get("IPRange"),
        aux_addresses={**(first.get("AuxiliaryAddresses") or {}), **(second.get("AuxiliaryAddresses") or {})},
        ipv6={"enable_ipv6": bool(body.get("EnableIPv6")), "subnet6": second.get("Subnet"),
              "gateway6": second.get("Gateway"), "ip_range6": second.get("IPRange")},
        internal=bool(body.get("Internal")), labels=body.get("Labels") or {}, options=body.get("Options") or {})
    engine.events.publish("network", "create", net.id, {"name": net.name, "type": net.docker_driver})
    return json_response({"Id": net.id, "Warning": ""}, 201)


def _ipam_config(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The IPv4 and the IPv6 IPAM pool a local network takes (one per family, either may be empty);
    what berth's networks cannot do is refused, not dropped."""
    ipam = body.get("IPAM") or {}
    if (ipam.get("Driver") or "default") != "default":
        raise NotFound(f'plugin "{ipam["Driver"]}" not found')  # dockerd's: only the default IPAM exists here
    if ipam.get("Options"):
        raise InvalidArgument("IPAM options are not supported: the default IPAM driver takes none")
    pools: dict[int, dict[str, Any]] = {}
    for config in ipam.get("Config") or []:
        check_fields("IPAM config", config, {"Subnet": "str", "AuxiliaryAddresses": "str_dict"})
        if config.get("AuxiliaryAddresses") and not config.get("Subnet"):
            raise InvalidArgument("auxiliary addresses need the subnet they belong to (IPAM Config Subnet)")
        family = 6 if ":" in (config.get("Subnet") or "") else 4
        if family in pools:
            raise InvalidArgument(f"{body.get('Driver') or 'bridge'} driver doesn't support multiple subnets")
        pools[family] = config
    if body.get("EnableIPv6") and not pools.get(6, {}).get("Subnet"):
        # dockerd has no default IPv6 pools: the pool must be given
        raise NotFound("could not find an available, non-overlapping IPv6 address pool among the defaults "
                       "to assign to the network")
    return pools.get(4, {}), pools.get(6, {})


@routes.add("DELETE", "/networks/{id}")
async def remove_network(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    net = engine.networks.find(request.match_info["id"])
    # endpoints of stopped containers do not count: they fail at start instead (404), as in dockerd
    swarm_record = engine.swarm.networking.networks.record(net.id)
    if swarm_record is not None:  # the swarm's own "remove" event, scope swarm
        attached = [c for c, _ in _attached(engine, net)]
        await asyncio.to_thread(engine.swarm.networking.networks.remove, swarm_record, attached)
        return web.Response(status=204)
    await asyncio.to_thread(engine.networks.remove, net.id, bool(_attached(engine, net)))
    engine.events.publish("network", "destroy", net.id, {"name": net.name, "type": net.docker_driver})
    return web.Response(status=204)


def _container_ref(body: dict[str, Any]) -> str:
    ref = body.get("Container")
    if not ref or not isinstance(ref, str):
        raise InvalidArgument("the request body needs \"Container\": the id or name of a container")
    return ref


@routes.add("POST", "/networks/{id}/connect")
async def connect(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    endpoint = body.get("EndpointConfig") or {}
    if not isinstance(endpoint, dict):
        raise InvalidArgument("EndpointConfig must be a JSON object")
    await engine_of(request).containers.connect(_container_ref(body), request.match_info["id"], endpoint)
    return web.Response(status=200)


@routes.add("POST", "/networks/{id}/disconnect")
async def disconnect(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    await engine_of(request).containers.disconnect(_container_ref(body), request.match_info["id"],
                                                   bool(body.get("Force")))
    return web.Response(status=200)


PRUNE_FILTERS = {"label", "label!", "until"}  # what dockerd's network prune takes


def _prune_cutoff(filters: dict[str, list[str]]) -> float:
    """The ``until`` filter as a time (the earliest of several); no filter is no bound. Checked before any
    network is looked at, so a bad value is a 400 even when nothing would be pruned."""
    from berth.humanize import point_in_time

    try:
        return min((point_in_time(value) for value in filters.get("until", [])), default=float("inf"))
    except ValueError as exc:
        raise InvalidArgument(f"invalid value for 'until' filter: {exc}") from None


def _prune_selects(net, filters: dict[str, list[str]], cutoff: float) -> bool:
    """Whether ``net`` is one the prune's filters pick: every ``label``, no ``label!``, created before ``until``."""
    from berth.containers.model import parse_time
    from berth.filtermatch import labels_excluded, labels_match

    labels = net.labels or {}
    return (labels_match(filters.get("label", []), labels) and not labels_excluded(filters.get("label!", []), labels)
            and parse_time(net.created) < cutoff)


@routes.add("POST", "/networks/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    from berth.filtermatch import check_filter_names

    engine = engine_of(request)
    filters = query_filters(request)
    check_filter_names(filters, PRUNE_FILTERS)
    cutoff = _prune_cutoff(filters)
    removed = []
    for net in list(engine.networks.networks.values()):
        if net.name in ("bridge", "host", "none"):
            continue
        if _attached(engine, net) or not _prune_selects(net, filters, cutoff):
            continue
        swarm_record = engine.swarm.networking.networks.record(net.id)
        if swarm_record is not None:  # as dockerd: the swarm's networks no service uses, ingress kept
            if swarm_record["Ingress"] or engine.swarm.networking.networks.in_use(swarm_record):
                continue
            await asyncio.to_thread(engine.swarm.networking.networks.remove, swarm_record, [])
            removed.append(net.name)
            continue
        await asyncio.to_thread(engine.networks.remove, net.id, False)
        engine.events.publish("network", "destroy", net.id, {"name": net.name, "type": net.docker_driver})
        removed.append(net.name)
    engine.events.publish("network", "prune", "", {"reclaimed": "0"})
    return json_response({"NetworksDeleted": removed or None})


