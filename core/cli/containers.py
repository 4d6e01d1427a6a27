"""Container verbs: run, create, start, stop, kill, wait, rm, ps, logs, attach."""

from __future__ import annotations

import argparse
import json
import sys

from berth.cli import format as fmt
from berth.cli.client import APIError, Client


def _exit_code_for_start_error(message: str) -> int:
    """Docker's CLI maps runtime errors to 127 (not found) and 126 (cannot invoke)."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    if "permission denied" in lowered or "exec format error" in lowered or "not executable" in lowered:
        return 126
    return 125


# -- create / run -------------------------------------------------------------


def _container_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--help", action="help", help="show this help message and exit")
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("--env-file", action="append", default=[], help="read in a file of environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open even if not attached")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-l", "--label", action="append", default=[], help="set meta data on a container")
    p.add_argument("--network", "--net", dest="network", help="connect a container to a network")
    p.add_argument("--privileged", action="store_true", help="give extended privileges to this container")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--read-only", action="store_true", help="mount the container's root filesystem as read only")
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs directory")
    p.add_argument("--stop-signal", help="signal to stop the container")
    p.add_argument("--stop-timeout", type=int, help="timeout (in seconds) to stop a container")
    p.add_argument("-m", "--memory", help="memory limit")
    p.add_argument("--memory-swap", help="memory + swap limit; -1 for unlimited swap")
    p.add_argument("--cpus", type=float, help="number of CPUs")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    p.add_argument("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, help="tune container pids limit (-1 for unlimited)")
    p.add_argument("--dns", action="append", default=[], help="set custom DNS servers")
    p.add_argument("--dns-search", action="append", default=[], help="set custom DNS search domains")
    p.add_argument("--dns-option", action="append", default=[], help="set DNS options")
    p.add_argument("--add-host", action="append", default=[], help="add a custom host-to-IP mapping (host:ip)")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def _read_env_files(paths: list[str]) -> list[str]:
    env = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        env.append(line)
        except OSError as exc:
            raise SystemExit(f"berth: cannot read env file {path}: {exc.strerror}") from None
    return env


def _expand_env(items: list[str]) -> list[str]:
    """``-e NAME`` without a value takes the value from our own environment, as Docker does."""
    import os

    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def create_body(opts: argparse.Namespace) -> dict:
    host_config: dict = {
        "AutoRemove": bool(getattr(opts, "rm", False)), "Privileged": opts.privileged,
        "CapAdd": opts.cap_add or None, "CapDrop": opts.cap_drop or None, "ReadonlyRootfs": opts.read_only,
        "NetworkMode": opts.network or "default", "Dns": opts.dns or None, "DnsSearch": opts.dns_search or None,
        "DnsOptions": opts.dns_option or None, "ExtraHosts": opts.add_host or None,
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in opts.tmpfs} or None,
    }
    if opts.memory:
        host_config["Memory"] = fmt.parse_bytes(opts.memory)
    if opts.memory_swap:
        host_config["MemorySwap"] = -1 if opts.memory_swap == "-1" else fmt.parse_bytes(opts.memory_swap)
    if opts.cpus:
        host_config["NanoCpus"] = int(opts.cpus * 1e9)
    if opts.cpu_shares:
        host_config["CpuShares"] = opts.cpu_shares
    if opts.cpuset_cpus:
        host_config["CpusetCpus"] = opts.cpuset_cpus
    if opts.pids_limit:
        host_config["PidsLimit"] = opts.pids_limit
    body = {
        "Image": opts.image, "Cmd": opts.command or None, "Env": _read_env_files(opts.env_file) + _expand_env(opts.env),
        "WorkingDir": opts.workdir or "", "User": opts.user or "", "Hostname": opts.hostname or "",
        "Tty": opts.tty, "OpenStdin": opts.interactive, "StdinOnce": opts.interactive,
        "AttachStdin": opts.interactive, "AttachStdout": True, "AttachStderr": True,
        "Labels": dict(label.partition("=")[::2] for label in opts.label),
        "StopSignal": opts.stop_signal, "StopTimeout": opts.stop_timeout, "HostConfig": host_config,
    }
    if opts.entrypoint is not None:
        body["Entrypoint"] = [opts.entrypoint] if opts.entrypoint else [""]
    return body


OWN_HELP = ("run", "create")


def create_container(client: Client, opts: argparse.Namespace) -> dict:
    """POST /containers/create; a missing image is pulled first, as the docker CLI does."""
    body = create_body(opts)
    try:
        return client.post("/containers/create", body, name=opts.name)
    except APIError as exc:
        if exc.status != 404 or "No such image" not in exc.message:
            raise
    from berth.cli.registry import pull_image

    print(f"Unable to find image '{opts.image}' locally", file=sys.stderr)
    if pull_image(client, opts.image, platform=getattr(opts, "platform", None), out=sys.stderr) != 0:
        raise SystemExit(125)
    return client.post("/containers/create", body, name=opts.name)


def setup_create(p: argparse.ArgumentParser) -> None:
    _container_options(p)


def run_create(client: Client, opts: argparse.Namespace) -> int:
    result = create_container(client, opts)
    for warning in result.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(result["Id"])
    return 0


def setup_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("-d", "--detach", action="store_true", help="run container in background and print container ID")
    p.add_argument("--rm", action="store_true", help="automatically remove the container when it exits")
    _container_options(p)


def run_run(client: Client, opts: argparse.Namespace) -> int:
    result = create_container(client, opts)
    cid = result["Id"]
    for warning in result.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    if opts.detach:
        _start(client, cid)
        print(cid)
        return 0
    from berth.cli import streams

    sock = client.hijack(f"/containers/{cid}/attach",
                         {"stream": True, "stdin": opts.interactive, "stdout": True, "stderr": True})
    # Docker's order: attach, then wait (headers return at once), then start.
    waiter = client.open("POST", f"/containers/{cid}/wait", {"condition": "removed" if opts.rm else "next-exit"})
    code = _start(client, cid)
    if code:
        sock.close()
        return code
    with streams.RawTerminal(opts.tty and opts.interactive):
        if opts.tty:
            _resize(client, cid)
        if opts.interactive:
            streams.pump_stdin(sock)
        streams.pump_output(sock, opts.tty)
    sock.close()
    status = json.loads(waiter.read() or b"{}")
    if status.get("Error") and status["Error"].get("Message"):
        print(status["Error"]["Message"], file=sys.stderr)
    return int(status.get("StatusCode", 125))


def _resize(client: Client, cid: str) -> None:
    from berth.cli import streams

    height, width = streams.terminal_size()
    if height and width:
        try:
            client.post(f"/containers/{cid}/resize", h=height, w=width)
        except APIError:
            pass


def _start(client: Client, cid: str) -> int:
    try:
        client.post(f"/containers/{cid}/start")
    except APIError as exc:
        print(f"berth: Error response from daemon: {exc.message}", file=sys.stderr)
        return _exit_code_for_start_error(exc.message)
    return 0


# -- start / stop / kill / wait / rm ------------------------------------------


def setup_start(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="attach container's STDIN")
    p.add_argument("containers", nargs="+")


def run_start(client: Client, opts: argparse.Namespace) -> int:
    if opts.attach or opts.interactive:
        from berth.cli import streams

        info = client.get(f"/containers/{opts.containers[0]}/json")
        tty = bool(info["Config"].get("Tty"))
        sock = client.hijack(f"/containers/{info['Id']}/attach",
                             {"stream": True, "stdin": opts.interactive, "stdout": True, "stderr": True})
        waiter = client.open("POST", f"/containers/{info['Id']}/wait", {"condition": "next-exit"})
        code = _start(client, info["Id"])
        if code:
            return code
        with streams.RawTerminal(tty and opts.interactive):
            if opts.interactive:
                streams.pump_stdin(sock)
            streams.pump_output(sock, tty)
        return int(json.loads(waiter.read() or b"{}").get("StatusCode", 0))
    failed = 0
    for ref in opts.containers:
        try:
            client.post(f"/containers/{ref}/start")
            print(ref)
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed = 1
    return failed


def _each(client: Client, refs: list[str], action) -> int:
    failed = 0
    for ref in refs:
        try:
            action(ref)
            print(ref)
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed = 1
    return failed


def setup_stop(p: argparse.ArgumentParser) -> None:
    p.add_argument("-t", "--time", type=int, help="seconds to wait before killing the container")
    p.add_argument("-s", "--signal", help="signal to send to the container")
    p.add_argument("containers", nargs="+")


def run_stop(client: Client, opts: argparse.Namespace) -> int:
    return _each(client, opts.containers, lambda ref: client.post(f"/containers/{ref}/stop", t=opts.time, signal=opts.signal))


def setup_kill(p: argparse.ArgumentParser) -> None:
    p.add_argument("-s", "--signal", default="KILL", help="signal to send to the container")
    p.add_argument("containers", nargs="+")


def run_kill(client: Client, opts: argparse.Namespace) -> int:
    return _each(client, opts.containers, lambda ref: client.post(f"/containers/{ref}/kill", signal=opts.signal))


def setup_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+")


def run_wait(client: Client, opts: argparse.Namespace) -> int:
    failed = 0
    for ref in opts.containers:
        try:
            result = client.post(f"/containers/{ref}/wait")
            print(result["StatusCode"])
        except APIError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed = 1
    return failed


def setup_rm(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="force the removal of a running container (uses SIGKILL)")
    p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes associated with the container")
    p.add_argument("containers", nargs="+")


def run_rm(client: Client, opts: argparse.Namespace) -> int:
    return _each(client, opts.containers,
                 lambda ref: client.delete(f"/containers/{ref}", force=opts.force, v=opts.volumes))


# -- ps / logs / attach -------------------------------------------------------


def setup_ps(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    p.add_argument("-l", "--latest", action="store_true", help="show the latest created container")
    p.add_argument("-n", "--last", type=int, default=-1, help="show n last created containers")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output (status=, name=, id=, label=)")


def run_ps(client: Client, opts: argparse.Namespace) -> int:
    filters: dict[str, list[str]] = {}
    for item in opts.filter:
        key, _, value = item.partition("=")
        filters.setdefault(key, []).append(value)
    limit = 1 if opts.latest else opts.last
    rows = client.get("/containers/json", all=opts.all or limit > 0, limit=limit if limit > 0 else None,
                      filters=filters or None)
    if opts.quiet:
        for c in rows:
            print(c["Id"] if opts.no_trunc else c["Id"][:12])
        return 0
    table_rows = []
    for c in rows:
        command = c["Command"] if opts.no_trunc else fmt.truncate(c["Command"], 20)
        table_rows.append([c["Id"] if opts.no_trunc else c["Id"][:12], c["Image"], f'"{command}"',
                           fmt.ago(c["Created"]), c["Status"], _ports(c.get("Ports") or []),
                           ",".join(n.lstrip("/") for n in c["Names"])])
    fmt.table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], table_rows)
    return 0


def _ports(ports: list[dict]) -> str:
    out = []
    for p in ports:
        if p.get("PublicPort"):
            out.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}")
        else:
            out.append(f"{p['PrivatePort']}/{p['Type']}")
    return ", ".join(out)


def setup_logs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    p.add_argument("-n", "--tail", default="all", help="number of lines to show from the end of the logs")
    p.add_argument("--since", help="show logs since timestamp or relative (e.g. 42m)")
    p.add_argument("--until", help="show logs before a timestamp or relative (e.g. 42m)")
    p.add_argument("container")


def _time_arg(text: str | None) -> str | None:
    """``42m``/``10s``/``2h`` relative, unix seconds, or RFC 3339 -> unix seconds string."""
    if not text:
        return None
    import calendar
    import time

    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units and text[:-1].replace(".", "").isdigit():
        return str(time.time() - float(text[:-1]) * units[text[-1]])
    if text.replace(".", "").isdigit():
        return text
    head = text.rstrip("Z").split(".")[0]
    try:
        return str(calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        raise SystemExit(f"invalid time value {text!r}: use 10m, unix seconds or 2006-01-02T15:04:05Z") from None


def run_logs(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli import streams

    info = client.get(f"/containers/{opts.container}/json")
    resp = client.open("GET", f"/containers/{info['Id']}/logs", {
        "stdout": True, "stderr": True, "follow": opts.follow, "timestamps": opts.timestamps,
        "tail": opts.tail, "since": _time_arg(opts.since), "until": _time_arg(opts.until)})
    streams.pump_output(resp, bool(info["Config"].get("Tty")))
    return 0


def setup_attach(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-stdin", action="store_true", help="do not attach STDIN")
    p.add_argument("container")


def run_attach(client: Client, opts: argparse.Namespace) -> int:
    from berth.cli import streams

    info = client.get(f"/containers/{opts.container}/json")
    tty = bool(info["Config"].get("Tty"))
    stdin = bool(info["Config"].get("OpenStdin")) and not opts.no_stdin
    sock = client.hijack(f"/containers/{info['Id']}/attach", {"stream": True, "stdin": stdin, "stdout": True, "stderr": True})
    waiter = client.open("POST", f"/containers/{info['Id']}/wait", {"condition": "not-running"})
    with streams.RawTerminal(tty and stdin):
        if stdin:
            streams.pump_stdin(sock)
        streams.pump_output(sock, tty)
    return int(json.loads(waiter.read() or b"{}").get("StatusCode", 0))
