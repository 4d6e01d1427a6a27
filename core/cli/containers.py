"""Container verbs: start, stop, restart, kill, pause, unpause, wait, rm, rename, update, ps, logs, attach,
exec, and ``container prune`` (``run`` and ``create`` live in :mod:`berth.cli.runcreate`)."""

from __future__ import annotations

import sys
import time

from berth.cli import format as fmt
from berth.cli import fastjson, options
from berth.cli.client import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: ps and the other light verbs never import argparse
    import argparse

    from berth.cli.client import Client


def _error(message: str) -> None:
    print(f"Error response from daemon: {message}", file=sys.stderr)


# -- start / stop / restart / kill / pause / unpause / wait / rm --------------


def setup_start(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="attach container's STDIN")
    p.add_argument("--detach-keys", help="override the key sequence for detaching a container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_start(client: Client, opts: argparse.Namespace) -> int:
    if opts.attach or opts.interactive:
        if len(opts.containers) > 1:
            print("berth: you cannot start and attach multiple containers at once", file=sys.stderr)
            return 1
        from berth.cli import streams

        info = client.get(f"/containers/{opts.containers[0]}/json")
        cid, tty = info["Id"], bool(info["Config"].get("Tty"))
        stdin = opts.interactive and bool(info["Config"].get("OpenStdin"))
        sock = client.hijack(f"/containers/{cid}/attach", {"stream": True, "stdin": stdin, "stdout": True,
                                                           "stderr": True, "detachKeys": opts.detach_keys})
        waiter = client.open("POST", f"/containers/{cid}/wait", {"condition": "next-exit"})
        try:
            client.post(f"/containers/{cid}/start")
        except APIError as exc:
            if exc.status != 304:
                sock.close()
                raise
        detached = streams.interact(sock, tty, stdin, opts.detach_keys,
                                    lambda h, w: client.post(f"/containers/{cid}/resize", h=h, w=w))
        return 0 if detached else streams.exit_status(waiter)
    return _each(opts.containers, lambda ref: client.post(f"/containers/{ref}/start"))


def _each(refs: list[str], action) -> int:
    """Apply ``action`` to every reference, printing it on success and the daemon's error otherwise."""
    failed = 0
    for ref in refs:
        try:
            action(ref)
            print(ref)
        except APIError as exc:
            _error(exc.message)
            failed = 1
    return failed


def setup_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int,
                   help="seconds to wait before killing the container")
    p.add_argument("-s", "--signal", help="signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_stop(client: Client, opts: argparse.Namespace) -> int:
    return _each(opts.containers, lambda ref: client.post(f"/containers/{ref}/stop", t=opts.time, signal=opts.signal))


def setup_restart(p: argparse.ArgumentParser) -> None:
    setup_stop(p)


def run_restart(client: Client, opts: argparse.Namespace) -> int:
    return _each(opts.containers, lambda ref: client.post(f"/containers/{ref}/restart", t=opts.time,
                                                          signal=opts.signal))


def setup_kill(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", default="KILL", help="signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_kill(client: Client, opts: argparse.Namespace) -> int:
    return _each(opts.containers, lambda ref: client.post(f"/containers/{ref}/kill", signal=opts.signal))


def setup_pause(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_pause(client: Client, opts: argparse.Namespace) -> int:
    return _each(opts.containers, lambda ref: client.post(f"/containers/{ref}/pause"))


def setup_unpause(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_unpause(client: Client, opts: argparse.Namespace) -> int:
    return _each(opts.containers, lambda ref: client.post(f"/containers/{ref}/unpause"))


def setup_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_wait(client: Client, opts: argparse.Namespace) -> int:
    failed = 0
    for ref in opts.containers:
        try:
            result = client.post(f"/containers/{ref}/wait")
            print(result["StatusCode"])
        except APIError as exc:
            _error(exc.message)
            failed = 1
    return failed


def setup_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="force the removal of a running container (uses SIGKILL)")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes associated with the container")
    p.add_argument("-l", "--link", action="store_true", help="remove the specified link (not supported)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_rm(client: Client, opts: argparse.Namespace) -> int:
    return _each(opts.containers, lambda ref: client.delete(f"/containers/{ref}", force=opts.force, v=opts.volumes))


def setup_rename(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")


def run_rename(client: Client, opts: argparse.Namespace) -> int:
    client.post(f"/containers/{opts.container}/rename", name=opts.new_name)
    return 0


def setup_update(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--memory", help="memory limit")
    p.add_argument("--memory-swap", help="swap limit equal to memory plus swap: -1 to enable unlimited swap")
    p.add_argument("--cpus", type=float, help="number of CPUs")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    p.add_argument("--cpu-period", type=int, help="limit CPU CFS period")
    p.add_argument("--cpu-quota", type=int, help="limit CPU CFS quota")
    p.add_argument("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, help="tune container pids limit (-1 for unlimited)")
    p.add_argument("--blkio-weight", type=int, help="block IO (relative weight), between 10 and 1000, or 0")
    p.add_argument("--restart", help="restart policy to apply when a container exits")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run_update(client: Client, opts: argparse.Namespace) -> int:
    body: dict = {}
    if opts.memory:
        body["Memory"] = fmt.parse_bytes(opts.memory)
    if opts.memory_swap:
        body["MemorySwap"] = -1 if opts.memory_swap == "-1" else fmt.parse_bytes(opts.memory_swap)
    if opts.cpus:
        body["NanoCpus"] = int(opts.cpus * 1e9)
    for key, value in (("CpuShares", opts.cpu_shares), ("CpuPeriod", opts.cpu_period), ("CpuQuota", opts.cpu_quota),
                       ("CpusetCpus", opts.cpuset_cpus), ("CpusetMems", opts.cpuset_mems),
                       ("PidsLimit", opts.pids_limit), ("BlkioWeight", opts.blkio_weight)):
        if value is not None:
            body[key] = value
    if opts.restart:
        from berth.containers.restart import parse_cli
        from berth.errors import InvalidArgument

        try:
            body["RestartPolicy"] = parse_cli(opts.restart)
        except InvalidArgument as exc:
            print(f"berth: {exc.message}", file=sys.stderr)
            return 125
    if not body:
        print("berth: you must provide one or more flags when using this command", file=sys.stderr)
        return 125
    return _each(opts.containers, lambda ref: client.post(f"/containers/{ref}/update", body))


def setup_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="provide filter values (e.g. 'until=<timestamp>')")


def confirm(question: str, force: bool) -> bool:
    """Docker's prune prompt: "Are you sure you want to continue? [y/N]"."""
    if force:
        return True
    sys.stdout.write(f"{question}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def run_prune(client: Client, opts: argparse.Namespace) -> int:
    if not confirm("WARNING! This will remove all stopped containers.", opts.force):
        return 0
    result = client.post("/containers/prune", filters=fmt.parse_filters(opts.filter) or None) or {}
    deleted = result.get("ContainersDeleted") or []
    if deleted:
        print("Deleted Containers:")
        for cid in deleted:
            print(cid)
        print()
    print(f"Total reclaimed space: {fmt.human_size(result.get('SpaceReclaimed') or 0)}")
    return 0


# -- ps -----------------------------------------------------------------------

PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "RunningFor": "CREATED",
              "CreatedAt": "CREATED AT", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "State": "STATE",
              "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS",
              "LocalVolumes": "LOCAL VOLUMES", "Label": "LABEL"}
PS_DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


PS_OPTIONS: tuple[options.Option, ...] = (
    (("-a", "--all"), "bool", "all", False, "show all containers (default shows just running)"),
    (("-q", "--quiet"), "bool", "quiet", False, "only display container IDs"),
    (("-l", "--latest"), "bool", "latest", False, "show the latest created container (includes all states)"),
    (("-n", "--last"), "int", "last", -1, "show n last created containers (includes all states)"),
    (("-s", "--size"), "bool", "size", False, "display total file sizes"),
    (("--no-trunc",), "bool", "no_trunc", False, "don't truncate output"),
    (("-f", "--filter"), "list", "filter", (),
     "filter output based on conditions provided (status=, name=, id=, label=, exited=, ancestor=)"),
    (("--format",), "string", "format", None, "format output using a Go template, 'table', 'table TEMPLATE' or 'json'"),
)

#: verbs whose options main() may read with options.fast_parse instead of building an argparse parser
FAST_OPTIONS = {"ps": PS_OPTIONS}


def setup_ps(p: argparse.ArgumentParser) -> None:
    from berth.cli.argparsing import add_options

    add_options(p, PS_OPTIONS)


def format_ports(ports: list[dict]) -> str:
    """The PORTS column: ``0.0.0.0:8080->80/tcp, 443/tcp`` (docker sorts and groups the same way)."""
    out = []
    for p in sorted(ports, key=lambda p: (p.get("PrivatePort", 0), p.get("Type", ""), p.get("IP", ""))):
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            out.append(f"{ip}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}")
        else:
            out.append(f"{p['PrivatePort']}/{p['Type']}")
    return ", ".join(dict.fromkeys(out))


def container_context(c: dict, trunc: bool) -> dict:
    """One ``ps`` row as docker's formatter context (every value as the table shows it)."""
    command = c.get("Command") or ""
    labels = c.get("Labels") or {}
    size = ""
    if "SizeRw" in c or "SizeRootFs" in c:
        size = f"{fmt.human_size(c.get('SizeRw') or 0)} (virtual {fmt.human_size(c.get('SizeRootFs') or 0)})"
    image = c.get("Image") or ""
    if trunc and image.startswith("sha256:"):
        image = image[7:19]
    return {
        "ID": c["Id"][:12] if trunc else c["Id"], "Image": image,
        "Command": fastjson.quote_string(fmt.truncate(command, 20) if trunc else command),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(c.get("Created") or 0)),
        "RunningFor": fmt.ago(c.get("Created") or 0), "Ports": format_ports(c.get("Ports") or []),
        "State": c.get("State", ""), "Status": c.get("Status", ""), "Size": size,
        "Names": ",".join(n.lstrip("/") for n in c.get("Names") or []),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "Mounts": ",".join((m.get("Name") or m.get("Source") or "")[:15 if trunc else None] for m in c.get("Mounts") or []),
        "Networks": ",".join(sorted(((c.get("NetworkSettings") or {}).get("Networks") or {}))),
        "LocalVolumes": str(sum(1 for m in c.get("Mounts") or [] if m.get("Type") == "volume")),
        "Label": lambda key: labels.get(key, ""),
    }


def run_ps(client: Client, opts: argparse.Namespace) -> int:
    filters = fmt.parse_filters(opts.filter)
    limit = 1 if opts.latest else opts.last
    rows = client.get("/containers/json", all=opts.all or limit > 0, limit=limit if limit > 0 else None,
                      size=opts.size or None, filters=filters or None)
    if opts.quiet and not opts.format:
        for c in rows:
            print(c["Id"] if opts.no_trunc else c["Id"][:12])
        return 0
    default = PS_DEFAULT + ("\t{{.Size}}" if opts.size else "")
    fmt.emit(opts.format, default, [container_context(c, not opts.no_trunc) for c in rows], PS_HEADERS)
    return 0


# -- logs / attach / exec -------------------------------------------------------


def setup_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("-n", "--tail", default="all", help="number of lines to show from the end of the logs")
    p.add_argument("--since", help="show logs since timestamp (2013-01-02T13:23:37Z) or relative (42m)")
    p.add_argument("--until", help="show logs before a timestamp (2013-01-02T13:23:37Z) or relative (42m)")
    p.add_argument("--details", action="store_true", help="show extra details provided to logs")
    p.add_argument("container", metavar="CONTAINER")


def run_logs(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli import streams

    info = client.get(f"/containers/{opts.container}/json")
    resp = client.open("GET", f"/containers/{info['Id']}/logs", {
        "stdout": True, "stderr": True, "follow": opts.follow, "timestamps": opts.timestamps,
        "details": opts.details, "tail": opts.tail, "since": fmt.parse_time(opts.since), "until": fmt.parse_time(opts.until)})
    streams.pump_output(resp, bool(info["Config"].get("Tty")))
    return 0


def setup_attach(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", help="proxy all received signals to the process")
    p.add_argument("--detach-keys", help="override the key sequence for detaching a container")
    p.add_argument("container", metavar="CONTAINER")


def run_attach(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli import streams

    info = client.get(f"/containers/{opts.container}/json")
    cid = info["Id"]
    if not info["State"].get("Running"):
        print("You cannot attach to a stopped container, start it first", file=sys.stderr)
        return 1
    if info["State"].get("Paused"):
        print("You cannot attach to a paused container, unpause it first", file=sys.stderr)
        return 1
    tty = bool(info["Config"].get("Tty"))
    stdin = bool(info["Config"].get("OpenStdin")) and not opts.no_stdin
    sock = client.hijack(f"/containers/{cid}/attach", {"stream": True, "stdin": stdin, "stdout": True,
                                                       "stderr": True, "detachKeys": opts.detach_keys})
    waiter = client.open("POST", f"/containers/{cid}/wait", {"condition": "not-running"})
    detached = streams.interact(sock, tty, stdin, opts.detach_keys,
                                lambda h, w: client.post(f"/containers/{cid}/resize", h=h, w=w))
    if detached:
        waiter.close()
        return 0
    return streams.exit_status(waiter)


def setup_exec(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="detached mode: run command in the background")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to the command")
    p.add_argument("--detach-keys", help="override the key sequence for detaching a container")
    p.add_argument("container", metavar="CONTAINER")
    import argparse

    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND [ARG...]")


def _exec_environment(opts: argparse.Namespace) -> list[str]:
    """``exec``'s env files then ``-e`` values (a bare NAME takes our value), as the docker CLI reads them."""
    from berth.cli.runfiles import FileError, env_files
    from berth.cli.runvalues import env_variable

    try:
        return env_files(opts.env_file) + [env_variable(item) for item in opts.env]
    except (FileError, ValueError) as exc:
        print(f"berth: {exc}", file=sys.stderr)
        raise SystemExit(125) from None


def run_exec(client: Client, opts: argparse.Namespace) -> int:
    if not opts.command:
        print("berth exec: requires at least 2 arguments.\nSee 'berth exec --help'.", file=sys.stderr)
        return 125
    body = {"AttachStdin": opts.interactive and not opts.detach, "AttachStdout": not opts.detach,
            "AttachStderr": not opts.detach, "Tty": opts.tty, "Cmd": opts.command,
            "Env": _exec_environment(opts), "WorkingDir": opts.workdir or "",
            "User": opts.user or "", "Privileged": opts.privileged}
    if opts.detach_keys:
        body["DetachKeys"] = opts.detach_keys
    exec_id = client.post(f"/containers/{opts.container}/exec", body)["Id"]
    if opts.detach:
        client.post(f"/exec/{exec_id}/start", {"Detach": True, "Tty": opts.tty})
        return 0
    from berth.cli import streams

    sock = client.hijack(f"/exec/{exec_id}/start", body={"Detach": False, "Tty": opts.tty})
    detached = streams.interact(sock, opts.tty, opts.interactive, opts.detach_keys,
                                lambda h, w: client.post(f"/exec/{exec_id}/resize", h=h, w=w))
    if detached:
        return 0
    return exec_exit_code(client, exec_id)


def exec_exit_code(client: Client, exec_id: str) -> int:
    """The exec's exit code; the stream can end a moment before the daemon has reaped the process."""
    delay = 0.005
    for _ in range(200):
        info = client.get(f"/exec/{exec_id}/json")
        if not info.get("Running") and info.get("ExitCode") is not None:
            return int(info["ExitCode"])
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return 126


# -- the "container" management group ------------------------------------------

#: ``berth container SUB`` -> (module, function suffix, help); filesystem verbs come from their own module
CONTAINER_GROUP: dict[str, tuple[str, str, str]] = {
    "attach": ("containers", "attach", "Attach local standard input, output, and error streams to a running container"),
    "create": ("runcreate", "create", "Create a new container"),
    "exec": ("containers", "exec", "Execute a command in a running container"),
    "inspect": ("system", "container_inspect", "Display detailed information on one or more containers"),
    "kill": ("containers", "kill", "Kill one or more running containers"),
    "logs": ("containers", "logs", "Fetch the logs of a container"),
    "ls": ("containers", "ps", "List containers"),
    "ps": ("containers", "ps", "List containers"),
    "list": ("containers", "ps", "List containers"),
    "pause": ("containers", "pause", "Pause all processes within one or more containers"),
    "port": ("monitoring", "port", "List port mappings or a specific mapping for the container"),
    "prune": ("containers", "prune", "Remove all stopped containers"),
    "rename": ("containers", "rename", "Rename a container"),
    "restart": ("containers", "restart", "Restart one or more containers"),
    "rm": ("containers", "rm", "Remove one or more containers"),
    "run": ("runcreate", "run", "Create and run a new container from an image"),
    "start": ("containers", "start", "Start one or more stopped containers"),
    "stats": ("monitoring", "stats", "Display a live stream of container(s) resource usage statistics"),
    "stop": ("containers", "stop", "Stop one or more running containers"),
    "top": ("monitoring", "top", "Display the running processes of a container"),
    "unpause": ("containers", "unpause", "Unpause all processes within one or more containers"),
    "update": ("containers", "update", "Update configuration of one or more containers"),
    "wait": ("containers", "wait", "Block until one or more containers stop, then print their exit codes"),
}
_FILESYSTEM_VERBS = {"cp": "Copy files/folders between a container and the local filesystem",
                     "diff": "Inspect changes to files or directories on a container's filesystem",
                     "export": "Export a container's filesystem as a tar archive",
                     "commit": "Create a new image from a container's changes"}


def setup_container(p: argparse.ArgumentParser) -> None:
    from berth.cli.main import add_subcommands

    table = dict(CONTAINER_GROUP)
    try:
        from berth.cli import filesystem
    except ImportError:
        filesystem = None
    for verb, text in _FILESYSTEM_VERBS.items():
        if filesystem is not None and hasattr(filesystem, "setup_" + verb):
            table[verb] = ("filesystem", verb, text)
    add_subcommands(p, dict(sorted(table.items())))


def run_container(client: Client, opts: argparse.Namespace) -> int:
    return opts._run(client, opts)
