"""System verbs: version, info, inspect, plugins ls."""

from __future__ import annotations

import argparse
import json
import sys

from berth.cli import format as fmt
from berth.cli.client import APIError, Client


def setup_version(p: argparse.ArgumentParser) -> None:
    pass


def run_version(client: Client, opts: argparse.Namespace) -> int:
    from berth import __version__
    from berth.cli.client import API_PREFIX

    print(f"Client:\n Version:           {__version__}\n API version:       {API_PREFIX[2:]}\n")
    v = client.get("/version")
    print(f"Server: berth\n Engine:\n  Version:          {v['Version']}\n"
          f"  API version:      {v['ApiVersion']} (minimum version {v['MinAPIVersion']})\n"
          f"  OS/Arch:          {v['Os']}/{v['Arch']}\n  Kernel:           {v['KernelVersion']}\n"
          f"  Runtime:          {v['GoVersion']}")
    return 0


def setup_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="'json' for the raw API answer")


def run_info(client: Client, opts: argparse.Namespace) -> int:
    i = client.get("/info")
    if opts.format == "json" or opts.format == "{{json .}}":
        print(json.dumps(i, indent=2))
        return 0
    lines = [
        "Server:",
        f" Containers: {i['Containers']}",
        f"  Running: {i['ContainersRunning']}",
        f"  Paused: {i['ContainersPaused']}",
        f"  Stopped: {i['ContainersStopped']}",
        f" Images: {i['Images']}",
        f" Server Version: {i['ServerVersion']}",
        f" Storage Driver: {i['Driver']}",
        *[f"  {k}: {v}" for k, v in i.get("DriverStatus") or []],
        f" Exec Driver: {i['ExecDriver']}",
        *[f"  {k}: {v}" for k, v in i.get("ExecDriverStatus") or []],
        f" Network Drivers: {', '.join(sorted(i.get('NetworkDrivers') or {})) or '(none loaded)'}",
        f"  Default for new networks: {i.get('DefaultNetworkDriver', '')}",
        f" Logging Driver: {i['LoggingDriver']}",
        f" Cgroup Driver: {i['CgroupDriver']}",
        f" Cgroup Version: {i['CgroupVersion']}",
        f" Kernel Version: {i['KernelVersion']}",
        f" Operating System: {i['OperatingSystem']}",
        f" OSType: {i['OSType']}",
        f" Architecture: {i['Architecture']}",
        f" CPUs: {i['NCPU']}",
        f" Total Memory: {fmt_binary(i['MemTotal'])}",
        f" Name: {i['Name']}",
        f" Berth Root Dir: {i['DockerRootDir']}",
        f" Exec Root Dir: {i.get('ExecRoot', '')}",
    ]
    print("\n".join(lines))
    for warning in i.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


def fmt_binary(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.4g}{unit}"
        n /= 1024
    return str(n)


def setup_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", choices=["container", "image"], help="only inspect objects of this type")
    p.add_argument("-f", "--format", help="Go-template subset: {{json .}} or {{.Field.Sub}}")
    p.add_argument("objects", nargs="+")


def run_inspect(client: Client, opts: argparse.Namespace) -> int:
    results, failed = [], 0
    for ref in opts.objects:
        found = None
        for kind, path in (("container", f"/containers/{ref}/json"), ("image", f"/images/{ref}/json")):
            if opts.type and opts.type != kind:
                continue
            try:
                found = client.get(path)
                break
            except APIError as exc:
                if exc.status != 404:
                    raise
        if found is None:
            print(f"Error: No such object: {ref}", file=sys.stderr)
            failed = 1
        else:
            results.append(found)
    if opts.format:
        from berth.cli.templates import render

        for r in results:
            print(render(opts.format, r))
    else:
        print(json.dumps(results, indent=4))
    return failed


def setup_plugins(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["ls"], help="ls: list installed drivers")
    p.add_argument("-q", "--quiet", action="store_true", help="only names")


def run_plugins(client: Client, opts: argparse.Namespace) -> int:
    rows = client.get("/info").get("BerthDrivers") or []
    if opts.quiet:
        for r in rows:
            print(f"{r['Kind']}/{r['Name']}")
        return 0
    fmt.table(["KIND", "NAME", "ORIGIN", "SELECTED", "STATUS"],
              [[r["Kind"], r["Name"], r["Origin"], "*" if r["Selected"] else "",
                ("unavailable: " + r["Unavailable"]) if r["Unavailable"] else "available"] for r in rows])
    return 0
