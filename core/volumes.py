"""Named, anonymous and bind mounts: Docker's ``local`` volume driver and a container's mount table.

A volume is ``<data-root>/volumes/<name>/_data`` with its metadata beside it in
``meta.json`` (written atomically). A new named or anonymous volume mounted on a
path where the image has content gets a copy of that content on first use,
as Docker does. Anonymous volumes go with their container on ``rm -v``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import threading
from typing import Any, Callable

from berth import crashpoints, log
from berth.errors import BerthError, Conflict, InvalidArgument, NotFound
from berth.containers.propagation import DEFAULT as default_propagation
from berth.containers.propagation import MODES as propagation_modes
from berth.containers.propagation import bind_options
from berth.fsutil import atomic_write

VALID_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
SET_ASIDE = ".removing-"  # prefix of a volume directory being deleted (never a valid volume name)
# Docker 23+ marks every volume created without a name (by create or by a container) with this label;
# prune without ``all`` removes only volumes that have it.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


class CorruptVolume(BerthError):
    """A volume's metadata file exists but cannot be read (500: the daemon's state, not the request)."""


class VolumeStore:
    def __init__(self, root: str, now: Callable[[], str], in_use: Callable[[str], list[str]],
                 owner: tuple[int, int] = (0, 0)):
        self.root = root
        #: who owns a new volume: root, or with --userns-remap the remapped root (as dockerd's local driver)
        self.owner = owner
        self._now = now
        self._in_use = in_use  # volume name -> ids of containers using it
        self._lock = threading.Lock()
        #: (action, volume name, attributes) of dockerd's volume events; the engine sends them to /events
        self.on_event: Callable[[str, str, dict[str, str]], None] = lambda action, name, attributes: None
        os.makedirs(root, mode=0o701, exist_ok=True)

    # -- volumes ------------------------------------------------------------

    def _meta_path(self, name: str) -> str:
        return os.path.join(self.root, name, "meta.json")

    def data_path(self, name: str) -> str:
        return os.path.join(self.root, name, "_data")

    def create(self, name: str | None = None, labels: dict | None = None, driver: str = "local",
               options: dict | None = None, anonymous: bool = False) -> dict[str, Any]:
        if driver not in ("", "local"):
            raise NotFound(f"volume driver {driver!r} not found: only the local driver is built in")
        if options:
            raise InvalidArgument(f"the local volume driver takes no options here (got {', '.join(options)})")
        name = name or secrets.token_hex(32)
        if not VALID_NAME.match(name):
            raise InvalidArgument(f"{name!r} includes invalid characters for a local volume name, only "
                                  "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        with self._lock:
            if not os.path.exists(self._meta_path(name)):
                # labels and options are kept as sent: dockerd answers null for none sent, {} for an empty map
                os.makedirs(self.data_path(name), mode=0o755, exist_ok=True)
                for path in (os.path.dirname(self.data_path(name)), self.data_path(name)):
                    os.chown(path, *self.owner)
                meta = {"Name": name, "Driver": "local", "CreatedAt": self._now(), "Labels": labels,
                        "Options": options, "Scope": "local", "Anonymous": anonymous, "Populated": False}
                atomic_write(self._meta_path(name), json.dumps(meta).encode(), 0o600)
        self.on_event("create", name, {"driver": "local"})  # dockerd tells even when the volume existed
        return self.inspect(name)

    def _meta(self, name: str) -> dict[str, Any]:
        if not VALID_NAME.match(name):  # never let a name from a request walk out of the volumes root
            raise NotFound(f"get {name}: no such volume")
        path = self._meta_path(name)
        try:
            with open(path, encoding="utf-8") as f:
                meta = json.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(f"get {name}: no such volume") from None
        except ValueError as exc:  # damaged on disk (atomic writes rule out a torn one)
            raise CorruptVolume(f"volume {name}: its metadata {path} is corrupt ({exc}); repair it, "
                                "or remove the volume with `berth volume rm`") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("Name"), str) \
                or not isinstance(meta.get("CreatedAt"), str):
            raise CorruptVolume(f"volume {name}: its metadata {path} is corrupt (not a volume record); repair it, "
                                "or remove the volume with `berth volume rm`")
        return meta

    def inspect(self, name: str) -> dict[str, Any]:
        """The volume as the Engine API shows it: like dockerd, labels and options as the client sent them
        (``null`` when it sent none), and no ``Status`` (only drivers with something to report fill it)."""
        meta = self._meta(name)
        labels = meta.get("Labels")
        if meta.get("Anonymous"):
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        return {"Name": meta["Name"], "Driver": "local", "Mountpoint": self.data_path(name),
                "CreatedAt": meta["CreatedAt"], "Labels": labels, "Scope": "local", "Options": meta.get("Options")}

    def list(self) -> list[dict[str, Any]]:
        out = []
        for name in sorted(os.listdir(self.root)):
            try:
                out.append(self.inspect(name))
            except NotFound:
                continue
            except CorruptVolume as exc:  # one damaged record must not hide every other volume
                log.get().error("volume.record_corrupt", volume=name, error=exc.message)
                continue
        return out

    def remove(self, name: str, force: bool = False) -> None:
        try:
            self._meta(name)
        except CorruptVolume:
            pass  # the volume exists; removing it is how a user gets rid of a damaged one
        users = self._in_use(name)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self._destroy(name)

    def _destroy(self, name: str) -> None:
        # Set aside in one rename, then deleted: a crash in between leaves no half-deleted volume
        # that still lists, only a set-aside directory the next start deletes (remove_set_aside).
        doomed = os.path.join(self.root, f"{SET_ASIDE}{name}-{secrets.token_hex(4)}")
        try:
            os.rename(os.path.join(self.root, name), doomed)
        except FileNotFoundError:
            pass
        else:
            crashpoints.reached("volume_rm.mid_remove")
            shutil.rmtree(doomed, ignore_errors=True)
        self.on_event("destroy", name, {"driver": "local"})

    def remove_set_aside(self) -> None:
        """Delete what removals a crash cut short set aside, and volumes a crash left half-created (start-up)."""
        for entry in os.listdir(self.root):
            path = os.path.join(self.root, entry)
            if entry.startswith(SET_ASIDE) or self._half_created(entry):
                shutil.rmtree(path, ignore_errors=True)

    def _half_created(self, name: str) -> bool:
        """An empty ``_data`` without ``meta.json``: a create that died before its atomic metadata write."""
        data = self.data_path(name)
        return (VALID_NAME.match(name) is not None and not os.path.exists(self._meta_path(name))
                and os.path.isdir(data) and not os.listdir(data))

    def prune(self, selected: Callable[[dict[str, Any]], bool]) -> tuple[list[str], int]:
        """Remove the unused volumes for which ``selected(volume)`` is true (the API applies Docker's filters)."""
        removed, reclaimed = [], 0
        for vol in self.list():
            if selected(vol) and not self._in_use(vol["Name"]):
                reclaimed += disk_usage(self.data_path(vol["Name"]))
                self.remove(vol["Name"])
                removed.append(vol["Name"])
        return removed, reclaimed

    # -- a container's mounts ----------------------------------------------

    def prepare(self, container: Any, image_cfg: dict[str, Any], volumes_from: list[tuple[Any, str]] = ()) -> None:
        """Resolve --volumes-from, -v, --mount and VOLUME into the container's mount table, creating
        volumes (at create time). ``volumes_from``: (other container, mode) pairs, already looked up.

        Docker's order: the other containers' mounts first, then -v and --mount replace any on
        the same destination, then the image's VOLUMEs fill what is left.
        """
        hc = container.host_config
        driver = hc.get("VolumeDriver") or "local"
        table: dict[str, dict[str, Any]] = {}
        for other, mode in volumes_from:
            for entry in mounts_from(other, mode):
                table[entry["Destination"]] = entry
        for bind in hc.get("Binds") or []:
            entry = self._parse_bind(bind, driver)
            table[entry["Destination"]] = entry
        for m in hc.get("Mounts") or []:
            entry = self._parse_mount(m)
            table[entry["Destination"]] = entry
        for dest in {**(image_cfg.get("Volumes") or {}), **(container.config.get("Volumes") or {})}:
            dest = os.path.normpath(dest)
            if dest not in table:
                table[dest] = self._volume_entry(None, dest, True, anonymous=True, driver=driver)
        container.mounts = list(table.values())

    def _volume_entry(self, name: str | None, dest: str, rw: bool, anonymous: bool = False,
                      labels: dict | None = None, driver: str = "local") -> dict[str, Any]:
        if driver not in ("", "local"):  # --volume-driver: only the built-in driver exists
            wanted = name or secrets.token_hex(32)
            raise NotFound(f'create {wanted}: error looking up volume plugin {driver}: plugin "{driver}" not found')
        vol = self.create(name, labels=labels, anonymous=anonymous)
        return {"Type": "volume", "Name": vol["Name"], "Source": vol["Mountpoint"], "Destination": dest,
                "Driver": "local", "Mode": "" if rw else "ro", "RW": rw, "Propagation": "", "Anonymous": anonymous}

    def _parse_bind(self, spec: str, driver: str = "local") -> dict[str, Any]:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise InvalidArgument(f"invalid volume specification: {spec!r}")
        source, dest = parts[0], parts[1]
        mode = parts[2] if len(parts) == 3 else ""
        modes = _bind_modes(mode)
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid volume specification: {spec!r}: the mount destination must be absolute")
        rw = "ro" not in modes
        propagation = next(iter(modes & propagation_modes), "")
        if source.startswith("/"):
            if not os.path.exists(source):
                self._make_bind_source(source)
            return {"Type": "bind", "Source": source, "Destination": os.path.normpath(dest), "Mode": mode,
                    "RW": rw, "Propagation": propagation or default_propagation}
        if propagation:
            raise InvalidArgument(f"invalid volume specification: '{spec}': invalid mount config for type "
                                  '"volume": field BindOptions must not be specified')
        return self._volume_entry(source, os.path.normpath(dest), rw, driver=driver)

    def _make_bind_source(self, source: str) -> None:
        """Docker creates a missing ``-v`` bind source; the directories it makes belong to the remapped
        root under ``--userns-remap`` (those that existed keep their owner), as dockerd's."""
        missing = []
        path = source
        while not os.path.exists(path):
            missing.append(path)
            path = os.path.dirname(path)
        os.makedirs(source, mode=0o755)
        for path in missing:
            os.chown(path, *self.owner)

    def _parse_mount(self, m: dict[str, Any]) -> dict[str, Any]:
        kind = m.get("Type") or "volume"
        dest = m.get("Target") or m.get("Destination") or ""
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid mount config: target {dest!r} must be an absolute path")
        rw = not m.get("ReadOnly")
        if kind == "bind":
            source = m.get("Source") or ""
            if not os.path.exists(source):
                raise InvalidArgument(f"invalid mount config for type \"bind\": bind source path does not exist: {source}")
            options = m.get("BindOptions") or {}
            propagation = options.get("Propagation") or default_propagation
            if propagation not in propagation_modes:
                raise InvalidArgument(f"invalid mount config for type \"bind\": invalid propagation mode: {propagation}")
            return {"Type": "bind", "Source": source, "Destination": os.path.normpath(dest), "Mode": "",
                    "RW": rw, "Propagation": propagation, **({"NonRecursive": True} if options.get("NonRecursive") else {})}
        if m.get("BindOptions"):
            raise InvalidArgument(f'invalid mount config for type "{kind}": field BindOptions must not be specified')
        if kind == "volume":
            options = m.get("VolumeOptions") or {}
            driver = (options.get("DriverConfig") or {}).get("Name") or "local"
            return self._volume_entry(m.get("Source") or None, os.path.normpath(dest), rw,
                                      anonymous=not m.get("Source"), labels=options.get("Labels") or None,
                                      driver=driver)
        if kind == "tmpfs":
            opts = m.get("TmpfsOptions") or {}
            return {"Type": "tmpfs", "Source": "", "Destination": os.path.normpath(dest), "Mode": "", "RW": rw,
                    "Propagation": "", "SizeBytes": opts.get("SizeBytes"), "FileMode": opts.get("Mode")}
        raise InvalidArgument(f"invalid mount type {kind!r}: use bind, volume or tmpfs")

    def mounts(self, container: Any) -> list[dict[str, Any]]:
        """OCI mounts for the container's table; first use of a volume copies the image's content in."""
        out = []
        for m in container.mounts:
            ro = [] if m["RW"] else ["ro"]
            if m["Type"] == "tmpfs":
                opts = ["nosuid", "nodev", *ro]
                if m.get("SizeBytes"):
                    opts.append(f"size={int(m['SizeBytes'])}")
                if m.get("FileMode"):
                    opts.append(f"mode={int(m['FileMode']):o}")
                out.append({"destination": m["Destination"], "type": "tmpfs", "source": "tmpfs", "options": opts})
                continue
            if m["Type"] == "volume":
                self._copy_up(m["Name"], container.rootfs, m["Destination"])
            out.append({"destination": m["Destination"], "type": "bind", "source": m["Source"],
                        "options": bind_options(m)})
        return out

    def _copy_up(self, name: str, rootfs: str, dest: str) -> None:
        meta = self._meta(name)
        if meta.get("Populated") or not rootfs:
            return
        data = self.data_path(name)
        source = _dir_in_root(rootfs, dest)
        if source and not os.listdir(data):
            # cp -a keeps owners, modes, links; the source was resolved without following symlinks
            subprocess.run(["cp", "-a", source + "/.", data], check=True, capture_output=True)
            st = os.stat(source)
            os.chown(data, st.st_uid, st.st_gid)
            os.chmod(data, st.st_mode & 0o7777)
        meta["Populated"] = True
        atomic_write(self._meta_path(name), json.dumps(meta).encode(), 0o600)

    def release(self, container: Any, remove_anonymous: bool) -> None:
        """At container removal: drop its anonymous volumes when asked (``rm -v``)."""
        if not remove_anonymous:
            return
        for m in container.mounts:
            if m["Type"] == "volume" and m.get("Anonymous") and not [
                    c for c in self._in_use(m["Name"]) if c != container.id]:
                self._destroy(m["Name"])

    @staticmethod
    def inspect_mounts(container: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in m.items() if k not in ("Anonymous", "SizeBytes", "FileMode", "NonRecursive")}
                for m in container.mounts]


def _bind_modes(mode: str) -> set[str]:
    """The options of a ``-v`` mode, read by dockerd's rules: known words only, at most one of each
    kind (ro/rw, a label, a propagation, a copy mode, a consistency)."""
    words = [w for w in mode.split(",") if w] if mode else []
    kinds = ({"ro", "rw"}, {"z", "Z"}, propagation_modes, {"nocopy"}, {"consistent", "cached", "delegated"})
    if any(not any(w in kind for kind in kinds) for w in words) or any(
            sum(w in kind for w in words) > 1 for kind in kinds):
        raise InvalidArgument(f"invalid mode: {mode}")
    return set(words)


def parse_volumes_from(item: str) -> tuple[str, str]:
    """``name[:mode]`` of --volumes-from; the mode is ``ro`` or ``rw`` (with Docker's ``z``/``Z`` labels)."""
    ref, _, mode = item.partition(":")
    if mode and not set(mode.split(",")) <= {"ro", "rw", "z", "Z"} or {"ro", "rw"} <= set(mode.split(",")):
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, mode


def mounts_from(other: Any, mode: str) -> list[dict[str, Any]]:
    """The volume and bind mounts of container ``other`` for --volumes-from: read-only with ``ro``,
    else as writable as they are there (``rm -v`` removes an anonymous one only once no container uses it)."""
    read_only = "ro" in mode.split(",")
    out = []
    for m in other.mounts:
        if m["Type"] not in ("volume", "bind"):
            continue  # a tmpfs is the other container's own memory, not something to share
        entry = {**m, "RW": m["RW"] and not read_only}
        entry["Mode"] = "ro" if not entry["RW"] else m.get("Mode", "")
        out.append(entry)
    return out


def _dir_in_root(root: str, path: str) -> str | None:
    """``root + path`` if every component is a real directory (no symlink may lead out of the rootfs)."""
    current = root
    for part in [p for p in path.split("/") if p]:
        current = os.path.join(current, part)
        if os.path.islink(current) or not os.path.isdir(current):
            return None
    return current


def disk_usage(path: str) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total
