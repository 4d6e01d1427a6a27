"""System verbs: version, info, inspect, plugins ls, and the ``system`` group (df, prune, info, events)."""

from __future__ import annotations

import sys

from berth.cli import fastjson, options
from berth.cli import format as fmt
from berth.cli.client import APIError, Client, quote_ref

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: inspect parses its flags without argparse (berth.cli.options)
    import argparse

# -- version ------------------------------------------------------------------


def setup_version(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="format output using a Go template ({{.Server.Version}}, json)")


def run_version(client: Client, opts: argparse.Namespace) -> int:
    import platform

    from berth import __version__
    from berth.cli.client import API_VERSION

    client_info = {"Version": __version__, "ApiVersion": API_VERSION, "DefaultAPIVersion": API_VERSION,
                   "GoVersion": f"python{platform.python_version()}", "GitCommit": "", "BuildTime": "",
                   "Os": "linux", "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(),
                                                                                     platform.machine()),
                   "Context": "default"}
    server, error = None, None
    try:
        server = client.get("/version")
    except APIError as exc:
        error = exc.message
    if opts.format:
        from berth.cli.templates import render

        data = {"Client": client_info, "Server": server}
        print(fastjson.dumps(data) if opts.format == "json" else render(opts.format, data))
        return 0 if server is not None else 1
    print(f"Client:\n Version:           {__version__}\n API version:       {API_VERSION}\n"
          f" Go version:        {client_info['GoVersion']}\n OS/Arch:           linux/{client_info['Arch']}\n"
          f" Context:           default\n")
    if server is None:
        print(f"Error response from daemon: {error}", file=sys.stderr)
        return 1
    name = (server.get("Platform") or {}).get("Name", "")
    print(f"Server: {name}\n Engine:\n  Version:          {server['Version']}\n"
          f"  API version:      {server['ApiVersion']} (minimum version {server['MinAPIVersion']})\n"
          f"  Go version:       {server.get('GoVersion', '')}\n  Git commit:       {server.get('GitCommit', '')}\n"
          f"  Built:            {server.get('BuildTime', '')}\n"
          f"  OS/Arch:          {server['Os']}/{server['Arch']}\n  Experimental:     false\n"
          f"  Kernel:           {server.get('KernelVersion', '')}")
    return 0


# -- info ---------------------------------------------------------------------


def setup_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="format output using a Go template, or 'json'")


def run_info(client: Client, opts: argparse.Namespace) -> int:
    i = client.get("/info")
    if opts.format:
        from berth.cli.templates import render

        print(fastjson.dumps(i) if opts.format == "json" else render(opts.format, i))
        return 0
    plugins = i.get("Plugins") or {}
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
        f" Exec Driver: {i.get('ExecDriver', '')}",
        *[f"  {k}: {v}" for k, v in i.get("ExecDriverStatus") or []],
        f" Network Drivers: {', '.join(sorted(i.get('NetworkDrivers') or {})) or '(none loaded)'}",
        f"  Default for new networks: {i.get('DefaultNetworkDriver', '')}",
        f" Logging Driver: {i['LoggingDriver']}",
        f" Cgroup Driver: {i['CgroupDriver']}",
        f" Cgroup Version: {i['CgroupVersion']}",
        " Plugins:",
        f"  Volume: {' '.join(plugins.get('Volume') or [])}",
        f"  Network: {' '.join(plugins.get('Network') or [])}",
        f"  Log: {' '.join(plugins.get('Log') or [])}",
        *_security_lines(i.get("SecurityOptions") or []),
        f" Kernel Version: {i['KernelVersion']}",
        f" Operating System: {i['OperatingSystem']}",
        f" OSType: {i['OSType']}",
        f" Architecture: {i['Architecture']}",
        f" CPUs: {i['NCPU']}",
        f" Total Memory: {fmt.bytes_size(i['MemTotal'])}",
        f" Name: {i['Name']}",
        f" ID: {i.get('ID', '')}",
        f" Docker Root Dir: {i['DockerRootDir']}",
        f" Exec Root Dir: {i.get('ExecRoot', '')}",
        f" Debug Mode: {str(bool(i.get('Debug'))).lower()}",
        f" Experimental: {str(bool(i.get('ExperimentalBuild'))).lower()}",
    ]
    print("\n".join(lines))
    for warning in i.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    return 0


def _security_lines(options: list[str]) -> list[str]:
    """``Security Options`` as the docker CLI prints them (``name=seccomp,profile=builtin`` ->
    ``seccomp`` and ``Profile: builtin`` under it; ``name=userns`` under remapping)."""
    if not options:
        return []
    lines = [" Security Options:"]
    for option in options:
        fields = dict(part.split("=", 1) for part in option.split(",") if "=" in part)
        lines.append(f"  {fields.pop('name', option)}")
        lines += [f"   {key.capitalize()}: {value}" for key, value in fields.items()]
    return lines


# -- inspect ------------------------------------------------------------------

#: kind -> API path of one object; ``inspect`` without --type tries them in this order, as docker does
INSPECT_PATHS = {"container": "/containers/{}/json", "image": "/images/{}/json", "network": "/networks/{}",
                 "volume": "/volumes/{}"}


INSPECT_OPTIONS: tuple[options.Option, ...] = (
    (("--type",), "string", "type", None, "only inspect objects of the given type", {"choices": sorted(INSPECT_PATHS)}),
    (("-f", "--format"), "string", "format", None, "format output using a Go template, or 'json'"),
    (("-s", "--size"), "bool", "size", False, "display total file sizes if the type is container"),
    ((), "args+", "objects", None, None, {"metavar": "NAME|ID"}),
)

#: verbs the fast path may parse without argparse (see berth.cli.options)
FAST_OPTIONS = {"inspect": INSPECT_OPTIONS}


def setup_inspect(p: argparse.ArgumentParser) -> None:
    from berth.cli.argparsing import add_options

    add_options(p, INSPECT_OPTIONS)


def inspect_objects(client: Client, refs: list[str], kinds: list[str], format_spec: str | None,
                    size: bool = False) -> int:
    """Print the inspect JSON (or ``-f`` template) of every reference; exit 1 if any is missing."""
    results, failed = [], 0
    for ref in refs:
        found, last_error = None, None
        for kind in kinds:
            try:
                params = {"size": True} if (size and kind == "container") else {}
                found = client.get(INSPECT_PATHS[kind].format(quote_ref(ref)), **params)
                break
            except APIError as exc:
                if exc.status != 404:
                    raise
                last_error = exc.message
        if found is None:
            label = kinds[0] if len(kinds) == 1 else "object"
            message = last_error if len(kinds) == 1 and last_error else f"No such {label}: {ref}"
            print(f"Error: {message}" if len(kinds) > 1 else f"Error response from daemon: {message}",
                  file=sys.stderr)
            failed = 1
        else:
            results.append(found)
    if format_spec and format_spec != "json":
        from berth.cli.templates import render

        for r in results:
            print(render(format_spec, r))
    else:
        print(fastjson.dumps_indented(results, indent=4))
    return failed


def run_inspect(client: Client, opts: argparse.Namespace) -> int:
    kinds = [opts.type] if opts.type else list(INSPECT_PATHS)
    return inspect_objects(client, opts.objects, kinds, opts.format, opts.size)


def setup_container_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="format output using a Go template, or 'json'")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("objects", nargs="+", metavar="CONTAINER")


def run_container_inspect(client: Client, opts: argparse.Namespace) -> int:
    return inspect_objects(client, opts.objects, ["container"], opts.format, opts.size)


# -- plugins ------------------------------------------------------------------


def setup_plugins(p: argparse.ArgumentParser) -> None:
    p.usage = "berth plugins ls [-q] | berth plugins new graph|network|exec NAME [DIR]"
    p.add_argument("action", choices=["ls", "new"],
                   help="ls: list installed drivers and extensions; new: write a new driver's distribution")
    p.add_argument("words", nargs="*", metavar="KIND NAME [DIR]", help="for new: the driver's kind, name, directory")
    p.add_argument("-q", "--quiet", action="store_true", help="only names")


def run_plugins(client: Client, opts: argparse.Namespace) -> int:
    if opts.action == "new":
        return _new_plugin(opts.words)
    if opts.words:
        print(f"berth plugins ls: unexpected argument(s) {' '.join(opts.words)}", file=sys.stderr)
        return 125
    rows = client.get("/info").get("BerthDrivers") or []
    if opts.quiet:
        for r in rows:
            print(f"{r['Kind']}/{r['Name']}")
        return 0
    fmt.table(["KIND", "NAME", "ORIGIN", "SELECTED", "STATUS"],
              [[r["Kind"], r["Name"], r["Origin"], "*" if r["Selected"] else "", _plugin_status(r)] for r in rows])
    return 0


def _new_plugin(words: list[str]) -> int:
    """``plugins new KIND NAME [DIR]``: the scaffold of a driver distribution (no daemon needed)."""
    from berth import scaffold

    if len(words) not in (2, 3):
        print("berth plugins new: give the driver's kind (graph, network or exec), its name, and optionally a "
              "directory\nUsage: berth plugins new graph|network|exec NAME [DIR]", file=sys.stderr)
        return 125
    try:
        target = scaffold.write(*words)
    except scaffold.ScaffoldError as exc:
        print(f"berth plugins new: {exc}", file=sys.stderr)
        return 125
    kit = scaffold.KINDS[words[0]][1]
    print(f"{target}\n\nNext, as root in berth's environment:\n  pip install -e {target}\n"
          f"  cd {target} && pytest        # berth's conformance kit (--{kit}={words[1]})")
    return 0


def _plugin_status(row: dict) -> str:
    """Why a plugin is unavailable, or "available" (with what an extension wraps)."""
    if row["Unavailable"]:
        return "unavailable: " + row["Unavailable"]
    return f"available; wraps {row['Wraps']}" if row.get("Wraps") else "available"


# -- system df / prune --------------------------------------------------------


def setup_df(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="show detailed information on space usage")
    p.add_argument("--format", help="format output using a Go template, or 'json'")


def _size(n: int) -> str:
    return fmt.human_size(n, 4)  # docker's disk-usage view uses units.HumanSize


def _reclaimable(size: int, total: int) -> str:
    if total <= 0:
        return _size(size)
    return f"{_size(size)} ({int(size * 100 / total)}%)"


def run_df(client: Client, opts: argparse.Namespace) -> int:
    df = client.get("/system/df")
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    image_size = df.get("LayersSize") or sum(i.get("Size", 0) for i in images)
    image_active = sum(1 for i in images if (i.get("Containers") or 0) > 0)
    image_reclaim = sum(i.get("Size", 0) for i in images if not (i.get("Containers") or 0) > 0)
    c_size = sum(max(c.get("SizeRw") or 0, 0) for c in containers)
    c_active = sum(1 for c in containers if c.get("State") in ("running", "paused", "restarting"))
    c_reclaim = sum(max(c.get("SizeRw") or 0, 0) for c in containers
                    if c.get("State") not in ("running", "paused", "restarting"))
    v_size = sum(max((v.get("UsageData") or {}).get("Size") or 0, 0) for v in volumes)
    v_active = sum(1 for v in volumes if ((v.get("UsageData") or {}).get("RefCount") or 0) > 0)
    v_reclaim = sum(max((v.get("UsageData") or {}).get("Size") or 0, 0) for v in volumes
                    if not ((v.get("UsageData") or {}).get("RefCount") or 0))
    b_size = sum(b.get("Size", 0) for b in cache)
    rows = [
        {"Type": "Images", "TotalCount": str(len(images)), "Active": str(image_active),
         "Size": _size(image_size), "Reclaimable": _reclaimable(image_reclaim, image_size)},
        {"Type": "Containers", "TotalCount": str(len(containers)), "Active": str(c_active),
         "Size": _size(c_size), "Reclaimable": _reclaimable(c_reclaim, c_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)), "Active": str(v_active),
         "Size": _size(v_size), "Reclaimable": _reclaimable(v_reclaim, v_size)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)), "Active": "0",
         "Size": _size(b_size), "Reclaimable": _size(b_size)},
    ]
    if opts.verbose and not opts.format:
        return _df_verbose(images, containers, volumes)
    fmt.emit(opts.format, "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}", rows,
             {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"})
    return 0


def _df_verbose(images: list, containers: list, volumes: list) -> int:
    print("Images space usage:\n")
    rows = []
    for i in images:
        for tag in i.get("RepoTags") or ["<none>:<none>"]:
            repo, _, name = tag.rpartition(":")
            rows.append([repo, name, i["Id"].split(":")[-1][:12], fmt.ago(i.get("Created") or 0),
                         fmt.human_size(i.get("Size") or 0), fmt.human_size(max(i.get("SharedSize") or 0, 0)),
                         fmt.human_size(i.get("Size") or 0), str(i.get("Containers") or 0)])
    fmt.table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"], rows)
    print("\nContainers space usage:\n")
    fmt.table(["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"],
              [[c["Id"][:12], c.get("Image", ""), fastjson.dumps(fmt.truncate(c.get("Command", ""), 20)),
                str(sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")),
                fmt.human_size(max(c.get("SizeRw") or 0, 0)), fmt.ago(c.get("Created") or 0), c.get("Status", ""),
                ",".join(n.lstrip("/") for n in c.get("Names") or [])] for c in containers])
    print("\nLocal Volumes space usage:\n")
    fmt.table(["VOLUME NAME", "LINKS", "SIZE"],
              [[v["Name"], str((v.get("UsageData") or {}).get("RefCount", 0)),
                fmt.human_size(max((v.get("UsageData") or {}).get("Size") or 0, 0))] for v in volumes])
    print("\nBuild cache usage: 0B")
    return 0


def setup_system_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="remove all unused images not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="prune anonymous volumes")
    p.add_argument("--filter", action="append", default=[], help="provide filter values (e.g. 'label=<key>=<value>')")


def run_system_prune(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli.containers import confirm

    items = ["all stopped containers", "all networks not used by at least one container"]
    if opts.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items += ["all images without at least one container associated to them" if opts.all else "all dangling images",
              "unused build cache"]
    warning = "WARNING! This will remove:\n" + "".join(f"  - {item}\n" for item in items)
    if not confirm(warning, opts.force):
        return 0
    filters = fmt.parse_filters(opts.filter)
    reclaimed = 0
    sections = [("/containers/prune", "ContainersDeleted", "Deleted Containers:", filters),
                ("/networks/prune", "NetworksDeleted", "Deleted Networks:", filters)]
    if opts.volumes:
        sections.append(("/volumes/prune", "VolumesDeleted", "Deleted Volumes:", filters))
    sections.append(("/images/prune", "ImagesDeleted", "Deleted Images:",
                     {**filters, "dangling": ["false" if opts.all else "true"]}))
    sections.append(("/build/prune", "CachesDeleted", "Deleted build cache objects:", {}))
    for path, key, title, section_filters in sections:
        result = client.post(path, filters=section_filters or None) or {}
        reclaimed += result.get("SpaceReclaimed") or 0
        deleted = result.get(key) or []
        if deleted:
            print(title)
            for item in deleted:
                if isinstance(item, dict):  # images: {"Untagged": ...} / {"Deleted": ...}
                    for verb, value in item.items():
                        print(f"{verb.lower()}: {value}")
                else:
                    print(item)
            print()
    print(f"Total reclaimed space: {fmt.human_size(reclaimed)}")
    return 0


SYSTEM_GROUP: dict[str, tuple[str, str, str]] = {
    "df": ("system", "df", "Show berth disk usage"),
    "events": ("monitoring", "events", "Get real time events from the server"),
    "info": ("system", "info", "Display system-wide information"),
    "prune": ("system", "system_prune", "Remove unused data"),
}


def setup_system(p: argparse.ArgumentParser) -> None:
    from berth.cli.main import add_subcommands

    add_subcommands(p, SYSTEM_GROUP)


def run_system(client: Client, opts: argparse.Namespace) -> int:
    return opts._run(client, opts)
