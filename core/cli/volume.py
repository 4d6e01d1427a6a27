"""``berth volume``: create, ls, inspect, rm, prune."""

from __future__ import annotations

import argparse
import sys

from berth.cli import format as fmt
from berth.cli.client import APIError, Client, quote_ref


def setup_volume_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--driver", default="local", help="specify volume driver name")
    p.add_argument("--label", action="append", default=[], help="set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", default=[], help="set driver specific options")
    p.add_argument("--name", dest="name_flag", help="specify volume name")
    p.add_argument("name", nargs="?", metavar="VOLUME")


def run_volume_create(client: Client, opts: argparse.Namespace) -> int:
    if opts.name and opts.name_flag and opts.name != opts.name_flag:
        print("berth: conflicting options: either specify --name or provide positional arg, not both",
              file=sys.stderr)
        return 125
    body = {"Name": opts.name or opts.name_flag or "", "Driver": opts.driver,
            "Labels": dict(item.partition("=")[::2] for item in opts.label),
            "DriverOpts": dict(item.partition("=")[::2] for item in opts.opt)}
    print(client.post("/volumes/create", body)["Name"])
    return 0


VOLUME_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                  "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT"}


def setup_volume_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="only display volume names")
    p.add_argument("-f", "--filter", action="append", default=[], help="provide filter values (e.g. 'dangling=true')")
    p.add_argument("--format", help="format output using a Go template, 'table TEMPLATE' or 'json'")


def run_volume_ls(client: Client, opts: argparse.Namespace) -> int:
    volumes = (client.get("/volumes", filters=fmt.parse_filters(opts.filter) or None) or {}).get("Volumes") or []
    if opts.quiet and not opts.format:
        for v in volumes:
            print(v["Name"])
        return 0
    rows = [{"Name": v["Name"], "Driver": v.get("Driver", "local"), "Scope": v.get("Scope", "local"),
             "Mountpoint": v.get("Mountpoint", ""), "CreatedAt": v.get("CreatedAt", ""),
             "Labels": ",".join(f"{k}={val}" for k, val in (v.get("Labels") or {}).items()),
             "Links": "N/A", "Size": "N/A",
             "Label": lambda key, v=v: (v.get("Labels") or {}).get(key, "")} for v in volumes]
    fmt.emit(opts.format, "table {{.Driver}}\t{{.Name}}", rows, VOLUME_HEADERS)
    return 0


def setup_volume_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="format output using a Go template, or 'json'")
    p.add_argument("objects", nargs="+", metavar="VOLUME")


def run_volume_inspect(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli.system import inspect_objects

    return inspect_objects(client, opts.objects, ["volume"], opts.format)


def setup_volume_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="force the removal of one or more volumes")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")


def run_volume_rm(client: Client, opts: argparse.Namespace) -> int:
    failed = 0
    for name in opts.volumes:
        try:
            client.delete(f"/volumes/{quote_ref(name)}", force=opts.force or None)
            print(name)
        except APIError as exc:
            if opts.force and exc.status == 404:
                continue
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed = 1
    return failed


def setup_volume_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="remove all unused volumes, not just anonymous ones")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="provide filter values (e.g. 'label=<label>')")


def run_volume_prune(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli.containers import confirm

    what = "all local volumes" if opts.all else "anonymous local volumes"
    if not confirm(f"WARNING! This will remove {what} not used by at least one container.", opts.force):
        return 0
    filters = fmt.parse_filters(opts.filter)
    if opts.all:
        filters["all"] = ["true"]
    result = client.post("/volumes/prune", filters=filters or None) or {}
    deleted = result.get("VolumesDeleted") or []
    if deleted:
        print("Deleted Volumes:")
        for name in deleted:
            print(name)
        print()
    print(f"Total reclaimed space: {fmt.human_size(result.get('SpaceReclaimed') or 0)}")
    return 0


VOLUME_GROUP = {
    "create": ("volume", "volume_create", "Create a volume"),
    "inspect": ("volume", "volume_inspect", "Display detailed information on one or more volumes"),
    "ls": ("volume", "volume_ls", "List volumes"),
    "list": ("volume", "volume_ls", "List volumes"),
    "prune": ("volume", "volume_prune", "Remove unused local volumes"),
    "rm": ("volume", "volume_rm", "Remove one or more volumes"),
    "remove": ("volume", "volume_rm", "Remove one or more volumes"),
}


def setup_volume(p: argparse.ArgumentParser) -> None:
    from berth.cli.main import add_subcommands

    add_subcommands(p, VOLUME_GROUP)


def run_volume(client: Client, opts: argparse.Namespace) -> int:
    return opts._run(client, opts)
