"""``berth network``: create, ls, inspect, rm, prune, connect, disconnect."""

from __future__ import annotations

import argparse
import sys

from berth.cli import format as fmt
from berth.cli.client import APIError, Client, quote_ref


def _labels(items: list[str]) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in items)


def setup_network_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--driver", default="bridge", help="driver to manage the network (default bridge)")
    p.add_argument("--subnet", action="append", default=[], help="subnet in CIDR format of a network segment")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 gateway for the master subnet")
    p.add_argument("--ip-range", action="append", default=[], help="allocate container IPs from a sub-range")
    p.add_argument("--internal", action="store_true", help="restrict external access to the network")
    p.add_argument("--label", action="append", default=[], help="set metadata on a network")
    p.add_argument("-o", "--opt", action="append", default=[], help="set driver specific options")
    p.add_argument("--attachable", action="store_true", help="enable manual container attachment")
    p.add_argument("--ipv6", action="store_true", help="enable IPv6 networking (needs an IPv6 --subnet)")
    p.add_argument("name", metavar="NETWORK")


def run_network_create(client: Client, opts: argparse.Namespace) -> int:
    if len(opts.gateway) > len(opts.subnet) or len(opts.ip_range) > len(opts.subnet):
        print("berth: every --gateway and --ip-range needs a --subnet it belongs to", file=sys.stderr)
        return 125
    config = []
    for i, subnet in enumerate(opts.subnet):
        entry = {"Subnet": subnet}
        if i < len(opts.gateway):
            entry["Gateway"] = opts.gateway[i]
        if i < len(opts.ip_range):
            entry["IPRange"] = opts.ip_range[i]
        config.append(entry)
    body = {"Name": opts.name, "Driver": opts.driver, "CheckDuplicate": True, "Internal": opts.internal,
            "Attachable": opts.attachable, "EnableIPv6": opts.ipv6, "Labels": _labels(opts.label),
            "Options": _labels(opts.opt), "IPAM": {"Driver": "default", "Config": config, "Options": {}}}
    print(client.post("/networks/create", body)["Id"])
    return 0


NETWORK_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
                   "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def setup_network_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="only display network IDs")
    p.add_argument("-f", "--filter", action="append", default=[], help="provide filter values (e.g. 'driver=bridge')")
    p.add_argument("--format", help="format output using a Go template, 'table TEMPLATE' or 'json'")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate the output")


def run_network_ls(client: Client, opts: argparse.Namespace) -> int:
    nets = client.get("/networks", filters=fmt.parse_filters(opts.filter) or None)
    trunc = not opts.no_trunc
    if opts.quiet and not opts.format:
        for n in nets:
            print(n["Id"][:12] if trunc else n["Id"])
        return 0
    rows = [{"ID": n["Id"][:12] if trunc else n["Id"], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n.get("Scope", "local"), "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
             "Internal": str(bool(n.get("Internal"))).lower(), "CreatedAt": n.get("Created", ""),
             "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items()),
             "Label": lambda key, n=n: (n.get("Labels") or {}).get(key, "")} for n in nets]
    fmt.emit(opts.format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows, NETWORK_HEADERS)
    return 0


def setup_network_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="format output using a Go template, or 'json'")
    p.add_argument("-v", "--verbose", action="store_true", help="verbose output for diagnostics")
    p.add_argument("objects", nargs="+", metavar="NETWORK")


def run_network_inspect(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli.system import inspect_objects

    return inspect_objects(client, opts.objects, ["network"], opts.format)


def setup_network_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="do not error if the network does not exist")
    p.add_argument("networks", nargs="+", metavar="NETWORK")


def run_network_rm(client: Client, opts: argparse.Namespace) -> int:
    failed = 0
    for ref in opts.networks:
        try:
            client.delete(f"/networks/{quote_ref(ref)}")
            print(ref)
        except APIError as exc:
            if opts.force and exc.status == 404:
                continue
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed = 1
    return failed


def setup_network_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="provide filter values (e.g. 'until=<timestamp>')")


def run_network_prune(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli.containers import confirm

    if not confirm("WARNING! This will remove all custom networks not used by at least one container.", opts.force):
        return 0
    result = client.post("/networks/prune", filters=fmt.parse_filters(opts.filter) or None) or {}
    deleted = result.get("NetworksDeleted") or []
    if deleted:
        print("Deleted Networks:")
        for name in deleted:
            print(name)
    return 0


def setup_network_connect(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alias", action="append", default=[], help="add network-scoped alias for the container")
    p.add_argument("--ip", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("--link", action="append", default=[], help="add link to another container")
    p.add_argument("--driver-opt", action="append", default=[], help="driver options for the network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")


def run_network_connect(client: Client, opts: argparse.Namespace) -> int:
    endpoint: dict = {"Aliases": opts.alias or None, "Links": opts.link or None,
                      "DriverOpts": _labels(opts.driver_opt) or None}
    if opts.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": opts.ip}
    client.post(f"/networks/{quote_ref(opts.network)}/connect", {"Container": opts.container,
                                                                 "EndpointConfig": endpoint})
    return 0


def setup_network_disconnect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="force the container to disconnect from a network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")


def run_network_disconnect(client: Client, opts: argparse.Namespace) -> int:
    client.post(f"/networks/{quote_ref(opts.network)}/disconnect", {"Container": opts.container,
                                                                    "Force": opts.force})
    return 0


NETWORK_GROUP = {
    "connect": ("network", "network_connect", "Connect a container to a network"),
    "create": ("network", "network_create", "Create a network"),
    "disconnect": ("network", "network_disconnect", "Disconnect a container from a network"),
    "inspect": ("network", "network_inspect", "Display detailed information on one or more networks"),
    "ls": ("network", "network_ls", "List networks"),
    "list": ("network", "network_ls", "List networks"),
    "prune": ("network", "network_prune", "Remove all unused networks"),
    "rm": ("network", "network_rm", "Remove one or more networks"),
    "remove": ("network", "network_rm", "Remove one or more networks"),
}


def setup_network(p: argparse.ArgumentParser) -> None:
    from berth.cli.main import add_subcommands

    add_subcommands(p, NETWORK_GROUP)


def run_network(client: Client, opts: argparse.Namespace) -> int:
    return opts._run(client, opts)
