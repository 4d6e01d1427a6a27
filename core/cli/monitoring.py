"""Looking at running containers: top, port, stats, events."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from berth.cli import format as fmt
from berth.cli.client import APIError, Client

# -- top ----------------------------------------------------------------------


def setup_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="[ps OPTIONS]")


def run_top(client: Client, opts: argparse.Namespace) -> int:
    params = {"ps_args": " ".join(opts.ps_args)} if opts.ps_args else {}
    result = client.get(f"/containers/{opts.container}/top", **params)
    fmt.align([result.get("Titles") or [], *(result.get("Processes") or [])])
    return 0


# -- port ---------------------------------------------------------------------


def setup_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def _port_sort_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    return (int(port) if port.isdigit() else 0, proto)


def _host_address(binding: dict) -> str:
    ip = binding.get("HostIp") or "0.0.0.0"
    return f"[{ip}]:{binding.get('HostPort', '')}" if ":" in ip else f"{ip}:{binding.get('HostPort', '')}"


def run_port(client: Client, opts: argparse.Namespace) -> int:
    info = client.get(f"/containers/{opts.container}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if opts.private_port:
        port, _, proto = opts.private_port.partition("/")
        key = f"{port}/{proto or 'tcp'}"
        bindings = ports.get(key)
        if not bindings:
            print(f"Error: No public port '{key}' published for {opts.container}", file=sys.stderr)
            return 1
        for binding in bindings:
            print(_host_address(binding))
        return 0
    for key in sorted(ports, key=_port_sort_key):
        for binding in ports[key] or []:
            print(f"{key} -> {_host_address(binding)}")
    return 0


# -- stats --------------------------------------------------------------------

STATS_HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                 "PIDs": "PIDS"}
STATS_DEFAULT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
                 "\t{{.PIDs}}")


def setup_stats(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("--no-stream", action="store_true", help="disable streaming stats and only pull the first result")
    p.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    p.add_argument("--format", help="format output using a Go template, 'table TEMPLATE' or 'json'")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def _memory_used(mem: dict) -> int:
    """Docker subtracts the page cache: ``total_inactive_file`` (cgroup v1) or ``inactive_file`` (v2)."""
    usage = mem.get("usage") or 0
    stats = mem.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in stats and stats[key] < usage:
            return usage - stats[key]
    return usage


def stats_context(sample: dict, ref: str, trunc: bool) -> dict:
    """One ``stats`` row from one API sample (docker's ``calculateCPUPercentUnix`` and friends)."""
    cid = sample.get("id") or ref
    name = (sample.get("name") or "").lstrip("/")
    row = {"Container": ref, "ID": cid[:12] if trunc else cid, "Name": name or "--"}
    cpu, pre = sample.get("cpu_stats") or {}, sample.get("precpu_stats") or {}
    if not cpu:
        return {**row, "CPUPerc": "--", "MemUsage": "-- / --", "MemPerc": "--", "NetIO": "--", "BlockIO": "--",
                "PIDs": "--"}
    usage = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    pre_usage = (pre.get("cpu_usage") or {}).get("total_usage") or 0
    system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_percent = (usage - pre_usage) / system_delta * online * 100.0 if system_delta > 0 and usage > pre_usage else 0.0
    mem = sample.get("memory_stats") or {}
    used, limit = _memory_used(mem), mem.get("limit") or 0
    rx = sum((n.get("rx_bytes") or 0) for n in (sample.get("networks") or {}).values())
    tx = sum((n.get("tx_bytes") or 0) for n in (sample.get("networks") or {}).values())
    read = write = 0
    for entry in (sample.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (entry.get("op") or "").lower()
        if op == "read":
            read += entry.get("value") or 0
        elif op == "write":
            write += entry.get("value") or 0
    return {**row, "CPUPerc": f"{cpu_percent:.2f}%",
            "MemUsage": f"{fmt.bytes_size(used)} / {fmt.bytes_size(limit)}",
            "MemPerc": f"{used / limit * 100.0 if limit else 0.0:.2f}%",
            "NetIO": f"{fmt.human_size(rx)} / {fmt.human_size(tx)}",
            "BlockIO": f"{fmt.human_size(read)} / {fmt.human_size(write)}",
            "PIDs": str((sample.get("pids_stats") or {}).get("current") or 0)}


def _targets(client: Client, opts: argparse.Namespace) -> list[str]:
    if opts.containers:
        return list(opts.containers)
    return [c["Id"] for c in client.get("/containers/json", all=opts.all)]


def _one_sample(client: Client, ref: str) -> dict:
    try:
        return client.get(f"/containers/{ref}/stats", stream=False) or {}
    except APIError as exc:
        return {"error": exc.message}


def run_stats(client: Client, opts: argparse.Namespace) -> int:
    refs = _targets(client, opts)
    trunc = not opts.no_trunc
    if opts.no_stream:
        samples: dict[str, dict] = {}
        threads = [threading.Thread(target=lambda r=r: samples.__setitem__(r, _one_sample(client, r)))
                   for r in refs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        failed = [r for r in refs if "error" in samples[r]]
        for r in failed:
            print(f"Error response from daemon: {samples[r]['error']}", file=sys.stderr)
        fmt.emit(opts.format, STATS_DEFAULT, [stats_context(samples[r], r, trunc) for r in refs if r not in failed],
                 STATS_HEADERS)
        return 1 if failed else 0
    return _stream_stats(client, refs, opts, trunc)


def _stream_stats(client: Client, refs: list[str], opts: argparse.Namespace, trunc: bool) -> int:
    latest: dict[str, dict] = {}

    def follow(ref: str) -> None:
        try:
            resp = client.open("GET", f"/containers/{ref}/stats", {"stream": True})
            for line in resp.lines():
                if line.strip():
                    latest[ref] = json.loads(line)
        except (APIError, OSError, ValueError):
            latest.pop(ref, None)

    for ref in refs:
        threading.Thread(target=follow, args=(ref,), daemon=True).start()
    tty = sys.stdout.isatty()
    while True:
        time.sleep(1)
        if tty:
            sys.stdout.write("\033[2J\033[H")
        fmt.emit(opts.format, STATS_DEFAULT, [stats_context(latest[r], r, trunc) for r in refs if r in latest],
                 STATS_HEADERS)
        sys.stdout.flush()


# -- events -------------------------------------------------------------------


def setup_events(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="show all events created since timestamp")
    p.add_argument("--until", help="stream events until this timestamp")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output based on conditions provided")
    p.add_argument("--format", help="format the output using a Go template, or 'json'")


def _event_line(event: dict) -> str:
    """``2024-05-01T10:00:00.123456789+00:00 container start <id> (image=busybox, name=web)``."""
    nanos = int(event.get("timeNano") or int(event.get("time", 0)) * 10**9)
    seconds, fraction = divmod(nanos, 10**9)
    local = time.localtime(seconds)
    offset = time.strftime("%z", local)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{fraction:09d}" + offset[:3] + ":" + offset[3:]
    actor = event.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    text = f"{stamp} {event.get('Type', '')} {event.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        text += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())) + ")"
    return text


def run_events(client: Client, opts: argparse.Namespace) -> int:
    params = {"since": fmt.parse_time(opts.since), "until": fmt.parse_time(opts.until),
              "filters": fmt.parse_filters(opts.filter) or None}
    resp = client.open("GET", "/events", params)
    for line in resp.lines():
        if not line.strip():
            continue
        event = json.loads(line)
        if opts.format == "json":
            print(json.dumps(event, separators=(",", ":")))
        elif opts.format:
            from berth.cli.templates import render

            print(render(opts.format, event))
        else:
            print(_event_line(event))
        sys.stdout.flush()
    return 0
