"""What a berthd left behind, read from the host: the crash tests' and the load bench's leak scan.

Two questions, each answered with a list of problems (empty when all is well):

* :func:`store_problems`: is the data-root consistent? No half-created layer (``pending``),
  no layer nothing references, reference counts that add up, graph-driver directories,
  tar-split records and config blobs exactly for what the metadata DB lists, no scratch
  files, every container directory with its record, no half-removed volume.
* :func:`runtime_leftovers`: with the container ids ``ids`` a daemon made and the ones of
  them still ``running``, is anything else held? Mounts under the daemon's directory,
  cgroups and processes of the others, their exec-driver state and bundles, and in the
  daemon's network namespace veths, DNAT rules, endpoints and addresses, port listeners.

Only the standard library and the host's ``ip``/``nft``/``ss``: bench/load.py uses it too.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sqlite3
import subprocess

INIT_SUFFIX = "-init"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# ---------------------------------------------------------------------------
# the data-root
# ---------------------------------------------------------------------------


def _db_rows(data_root: str, sql: str) -> list[tuple]:
    path = os.path.join(data_root, "image", "metadata.db")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def graph_dirs(data_root: str, driver: str) -> set[str]:
    """The layer ids the graph driver has directories for (vfs: ``vfs/dir``; overlay: ``overlay`` but ``l`` and ``.trash``)."""
    root = os.path.join(data_root, "vfs", "dir") if driver == "vfs" else os.path.join(data_root, driver)
    try:
        entries = set(os.listdir(root))
    except FileNotFoundError:
        return set()
    return entries - {"l", ".trash"}  # overlay's own: links, removed layers being deleted


def store_problems(data_root: str, driver: str) -> list[str]:
    """Everything inconsistent in the image store, the container records and the volumes of ``data_root``."""
    problems = []
    if pending := _db_rows(data_root, "SELECT cache_id FROM pending"):
        problems.append(f"half-created graph layers still listed as pending: {pending}")
    layers = {row[0]: row for row in _db_rows(data_root, "SELECT chain_id, cache_id, parent, refs FROM layers")}
    expected_refs = {chain: 0 for chain in layers}
    for (top,) in _db_rows(data_root, "SELECT top_layer FROM images WHERE top_layer IS NOT NULL"):
        expected_refs[top] = expected_refs.get(top, 0) + 1
    for _, _, parent, _ in layers.values():
        if parent:
            expected_refs[parent] = expected_refs.get(parent, 0) + 1
    mounts = _db_rows(data_root, "SELECT container_id, init_id, parent_chain FROM mounts")
    for _, _, parent in mounts:
        if parent:
            expected_refs[parent] = expected_refs.get(parent, 0) + 1
    for chain, (_, _, _, refs) in layers.items():
        if refs != expected_refs.get(chain, 0):
            problems.append(f"layer {chain[7:19]} has refs={refs}, but {expected_refs.get(chain, 0)} things use it")
    wanted = {row[1] for row in layers.values()}
    # each container's read-write layer and its init layer (its own, or the one shared on its image layer)
    wanted |= {cid for cid, _, _ in mounts} | {init or cid + INIT_SUFFIX for cid, init, _ in mounts}
    inits = _db_rows(data_root, "SELECT parent_chain, init_id FROM inits")
    wanted |= {init for _, init in inits}
    if stray := sorted(chain[7:19] for chain, _ in inits if chain and chain not in layers):
        problems.append(f"init layers on layers that are gone: {stray}")
    have = graph_dirs(data_root, driver)
    if extra := sorted(have - wanted):
        problems.append(f"graph driver directories nothing records: {extra}")
    if missing := sorted(wanted - have):
        problems.append(f"recorded layers without a graph driver directory: {missing}")
    problems += _file_problems(data_root, {row[1] for row in layers.values()}, {cid for cid, _, _ in mounts})
    return problems


def _file_problems(data_root: str, cache_ids: set[str], container_layers: set[str]) -> list[str]:
    problems = []
    splits = {name[:-3] for name in _listdir(os.path.join(data_root, "image", "tarsplit")) if name.endswith(".gz")}
    if extra := sorted(splits - cache_ids):
        problems.append(f"tar-split records of no layer: {extra}")
    images = {row[0] for row in _db_rows(data_root, "SELECT id FROM images")}
    blobs = {"sha256:" + name for name in _listdir(os.path.join(data_root, "image", "blobs", "sha256"))}
    if extra := sorted(blobs - images):
        problems.append(f"config blobs of no image: {extra}")
    for scratch in (os.path.join(data_root, "tmp"), os.path.join(data_root, "image", "tmp")):
        if left := _listdir(scratch):
            problems.append(f"scratch files left in {scratch}: {left}")
    records = set()
    for cid in _listdir(os.path.join(data_root, "containers")):
        if os.path.exists(os.path.join(data_root, "containers", cid, "config.json")):
            records.add(cid)
        else:
            problems.append(f"container directory without a record: {cid}")
    if extra := sorted(container_layers - records):
        problems.append(f"read-write layers of no container: {extra}")
    if extra := sorted(records - container_layers):
        problems.append(f"containers without read-write layers: {extra}")
    for name in _listdir(os.path.join(data_root, "volumes")):
        if name.startswith(".") or not os.path.exists(os.path.join(data_root, "volumes", name, "meta.json")):
            problems.append(f"half-created or half-removed volume directory: {name}")
    return problems


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def container_ids(data_root: str, exec_root: str) -> set[str]:
    """Every container id a daemon has made and not forgotten: records, read-write layers, runtime state, bundles."""
    ids = {cid for cid in _listdir(os.path.join(data_root, "containers")) if _HEX64.match(cid)}
    ids |= {row[0] for row in _db_rows(data_root, "SELECT container_id FROM mounts")}
    for kind in ("native", "oci", "containers"):
        ids |= {cid for cid in _listdir(os.path.join(exec_root, kind)) if _HEX64.match(cid)}
    return ids


# ---------------------------------------------------------------------------
# the host
# ---------------------------------------------------------------------------


def mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def cgroups_of(ids: set[str]) -> list[str]:
    return sorted(p for cid in ids for p in glob.glob(f"/sys/fs/cgroup/*/berth/{cid}"))


def processes_in(ids: set[str]) -> list[int]:
    """Processes in the cgroup of one of ``ids`` (a container's or an exec's)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                text = f.read()
        except OSError:
            continue
        if any(f"/berth/{cid}" in text for cid in ids):
            found.append(int(entry))
    return found


def runtime_leftovers(base: str, exec_root: str, ids: set[str], running: set[str] = frozenset(),
                      netns: str | None = None) -> list[str]:
    """What is still held for containers of ``ids`` that are not ``running`` (all of them gone: ``running`` empty)."""
    gone = set(ids) - set(running)
    problems = []
    if mounts := [m for m in mounts_under(base) if not any(cid in m for cid in running)]:
        problems.append(f"mounts left: {mounts}")
    if cgroups := cgroups_of(gone):
        problems.append(f"cgroups left: {cgroups}")
    if pids := processes_in(gone):
        problems.append(f"processes left: {pids}")
    for kind in ("native", "oci"):
        if left := sorted(set(_listdir(os.path.join(exec_root, kind))) & gone):
            problems.append(f"exec-root state left in {kind}/: {left}")
    removed = gone - set(_listdir(os.path.join(base, "data", "containers")))
    if left := sorted(set(_listdir(os.path.join(exec_root, "containers"))) & removed):
        problems.append(f"bundles of removed containers left: {left}")
    if left := [cid for cid in gone if os.path.exists(os.path.join(exec_root, "containers", cid, "starting"))]:
        problems.append(f"start markers left: {left}")
    if netns:
        endpoints, ports = _held_by(os.path.join(base, "data"), running)
        problems += network_leftovers(netns, endpoints, ports)
        for name, net in bridge_endpoint_records(os.path.join(base, "data")).items():
            if extra := sorted(set(net["endpoints"]) - set(running)):
                problems.append(f"bridge network {name} keeps endpoints of containers that are gone: {extra}")
            if extra := sorted(set(net["allocated"].values()) - set(running)):
                problems.append(f"bridge network {name} keeps addresses of containers that are gone: {extra}")
    return problems


def _held_by(data_root: str, running: set[str]) -> tuple[int, int]:
    """(joined endpoints with an interface, published ports) of the ``running`` containers, from their records."""
    endpoints = ports = 0
    for cid in running:
        try:
            with open(os.path.join(data_root, "containers", cid, "config.json")) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        endpoints += sum(1 for ep in record.get("endpoints", {}).values() if ep.get("endpoint_id") and ep.get("interface"))
        ports += len(record.get("ports") or [])
    return endpoints, ports


def _in_netns(netns: str, *command: str) -> str:
    return subprocess.run(["nsenter", f"--net=/run/netns/{netns}", *command], capture_output=True, text=True,
                          timeout=30).stdout


def network_leftovers(netns: str, endpoints: int = 0, ports: int = 0) -> list[str]:
    """Host-side veths, DNAT rules and port listeners in ``netns`` beyond ``endpoints`` and ``ports``."""
    problems = []
    veths = [line.split(":")[1].strip().split("@")[0] for line in _in_netns(netns, "ip", "-o", "link").splitlines()
             if ": veth" in line]
    if len(veths) != endpoints:
        problems.append(f"{len(veths)} host-side veths for {endpoints} joined endpoints: {veths}")
    rules = [line.strip() for line in _in_netns(netns, "nft", "list", "table", "ip", "berth").splitlines()
             if " dnat to " in line]
    if len(rules) != ports:
        problems.append(f"{len(rules)} DNAT rules for {ports} published ports: {rules}")
    listeners = _in_netns(netns, "ss", "-Hltun").splitlines()
    if len(listeners) != ports:
        problems.append(f"{len(listeners)} port listeners for {ports} published ports: {listeners}")
    return problems


def bridge_endpoint_records(data_root: str) -> dict[str, dict]:
    """The bridge driver's endpoints (with their addresses and DNS names) per network name."""
    out = {}
    for path in glob.glob(os.path.join(data_root, "network", "bridge", "networks", "*.json")):
        with open(path) as f:
            net = json.load(f)
        out[net["name"]] = {"endpoints": net.get("endpoints", {}), "allocated": net["pool"].get("allocated", {})}
    return out


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
