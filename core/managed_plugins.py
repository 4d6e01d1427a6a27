"""Docker's managed (v2) plugins: installed from a rootfs and a ``config.json``, listed, configured, removed.

This is the store behind ``/plugins``, not berth's driver plugins (those are Python
packages, see :mod:`berth.pluginmanager`). berth keeps a managed plugin exactly as
dockerd describes it (``docker plugin inspect``), but cannot *run* one: enabling is
refused, so a plugin here is always disabled.

On disk: ``<data-root>/plugins/<id>/plugin.json`` (the record the API shows, written
atomically) and ``<id>/rootfs`` (the plugin's files). The ID is the SHA-256 of the
plugin's config, as in dockerd; the name is normalised to ``repo:tag``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
from typing import Any, BinaryIO

import berth
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.fsutil import atomic_write
from berth.images import reference as refs

# The plugin config fields dockerd always shows, with its values for "not set"
CONFIG_DEFAULTS: dict[str, Any] = {
    "Args": {"Description": "", "Name": "", "Settable": None, "Value": None}, "Description": "",
    "Documentation": "", "Entrypoint": None, "Env": None, "Interface": {"Socket": "", "Types": None},
    "IpcHost": False, "Linux": {"AllowAllDevices": False, "Capabilities": None, "Devices": None}, "Mounts": None,
    "Network": {"Type": ""}, "PidHost": False, "PropagatedMount": "", "User": {}, "WorkDir": "",
}


# dockerd shows every field of each environment variable, mount and device a plugin declares
ENTRY_DEFAULTS: dict[str, dict[str, Any]] = {
    "Env": {"Description": "", "Name": "", "Settable": None, "Value": None},
    "Mounts": {"Description": "", "Destination": "", "Name": "", "Options": None, "Settable": None, "Source": None,
               "Type": ""},
}
DEVICE_DEFAULTS = {"Description": "", "Name": "", "Path": None, "Settable": None}


def normalise_name(name: str) -> str:
    """``vieux/sshfs`` -> ``vieux/sshfs:latest``: the name a plugin is stored and shown under."""
    try:
        ref = refs.parse(name)
    except InvalidArgument:
        raise InvalidArgument(f"invalid reference format: {name!r}") from None
    if ref.digest:
        raise InvalidArgument(f"invalid plugin name {name!r}: a plugin is named repo:tag, not by digest")
    return str(ref)


def plugin_config(raw: dict[str, Any], rootfs_diff_id: str) -> dict[str, Any]:
    """dockerd's view of a plugin's ``config.json``: its lower-case keys capitalised, defaults filled in."""
    config = json.loads(json.dumps(CONFIG_DEFAULTS))
    for key, value in raw.items():
        config[key[:1].upper() + key[1:]] = _capitalised(value)
    for key, defaults in ENTRY_DEFAULTS.items():
        if config[key]:
            config[key] = [{**defaults, **entry} for entry in config[key]]
    if config["Linux"].get("Devices"):
        config["Linux"]["Devices"] = [{**DEVICE_DEFAULTS, **device} for device in config["Linux"]["Devices"]]
    config["DockerVersion"] = berth.__version__  # the engine that installed it, as dockerd records its own
    config["rootfs"] = {"diff_ids": [rootfs_diff_id], "type": "layers"}
    return config


def _capitalised(value: Any) -> Any:
    """config.json spells keys in lower case (``settable``); the API shows Go's field names (``Settable``)."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: _capitalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_capitalised(v) for v in value]
    return value


class PluginStore:
    """The installed managed plugins, one directory each under ``root``."""

    def __init__(self, root: str):
        self.root = root
        self._lock = threading.Lock()

    def list(self) -> list[dict[str, Any]]:
        if not os.path.isdir(self.root):
            return []
        return [self._record(entry) for entry in sorted(os.listdir(self.root))
                if os.path.exists(self._record_path(entry))]

    def get(self, name: str) -> dict[str, Any]:
        """A plugin by name (``:latest`` implied) or by a unique ID prefix; 404 as dockerd words it."""
        plugins = self.list()
        try:
            wanted = normalise_name(name)
        except InvalidArgument:
            wanted = None
        for plugin in plugins:
            if plugin["Name"] == wanted or plugin["Id"] == name:
                return plugin
        matches = [p for p in plugins if p["Id"].startswith(name)] if len(name) >= 3 else []
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f'plugin "{name}" not found')

    def create(self, name: str, context: BinaryIO) -> dict[str, Any]:
        """Install ``name`` from a tar holding ``config.json`` and ``rootfs/`` (``docker plugin create``)."""
        full_name = normalise_name(name)
        with tempfile.TemporaryDirectory(dir=self._make_root(), prefix="create-") as work:
            raw_config = _extract_plugin_context(context, work)
            diff_id = _tree_digest(os.path.join(work, "rootfs"))
            config = plugin_config(raw_config, diff_id)
            plugin_id = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
            record = {"Config": config, "Enabled": False, "Id": plugin_id, "Name": full_name,
                      "PluginReference": full_name, "Settings": _initial_settings(config)}
            with self._lock:
                if any(p["Name"] == full_name for p in self.list()):
                    raise Conflict(f"plugin {full_name} already exists")
                target = os.path.join(self.root, plugin_id)
                os.makedirs(target, mode=0o700)
                os.rename(os.path.join(work, "rootfs"), os.path.join(target, "rootfs"))
                atomic_write(self._record_path(plugin_id), json.dumps(record).encode(), 0o600)
        return record

    def configure(self, name: str, settings: list[str]) -> dict[str, Any]:
        """``docker plugin set NAME KEY=VALUE...``: the values of settable environment variables."""
        with self._lock:
            record = self.get(name)
            env = dict(item.split("=", 1) for item in record["Settings"]["Env"])
            settable = {e["Name"] for e in record["Config"]["Env"] or [] if "value" in (e.get("Settable") or [])}
            for item in settings:
                key, has_value, value = item.partition("=")
                if not has_value:
                    raise InvalidArgument(f"invalid setting {item!r}: use KEY=VALUE")
                if key not in settable:
                    raise InvalidArgument(f'setting "{key}" not found in the plugin configuration'
                                          if key not in env else f'setting "{key}" is not settable')
                env[key] = value
            record["Settings"]["Env"] = [f"{k}={v}" for k, v in env.items()]
            atomic_write(self._record_path(record["Id"]), json.dumps(record).encode(), 0o600)
        return record

    def remove(self, name: str) -> None:
        with self._lock:
            record = self.get(name)
            shutil.rmtree(os.path.join(self.root, record["Id"]))

    def _record_path(self, plugin_id: str) -> str:
        return os.path.join(self.root, plugin_id, "plugin.json")

    def _record(self, plugin_id: str) -> dict[str, Any]:
        with open(self._record_path(plugin_id), encoding="utf-8") as f:
            return json.load(f)

    def _make_root(self) -> str:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        return self.root


def _initial_settings(config: dict[str, Any]) -> dict[str, Any]:
    env = [f"{e['Name']}={e['Value']}" for e in config["Env"] or [] if e.get("Value") is not None]
    return {"Args": [], "Devices": [], "Env": env, "Mounts": []}


def _extract_plugin_context(context: BinaryIO, work: str) -> dict[str, Any]:
    """Unpack the upload (plain, gzip or zstd tar) into ``work``; returns the parsed config.json."""
    from berth.images.compression import decompressed
    from berth.images.tarsafe import extract_tree

    extract_tree(decompressed(context), work)  # refuses what is not a tar, and paths leaving ``work``
    try:
        with open(os.path.join(work, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:
        raise InvalidArgument("the plugin context has no config.json") from None
    except ValueError as exc:
        raise InvalidArgument(f"the plugin's config.json is not JSON: {exc}") from None
    if not isinstance(config, dict):
        raise InvalidArgument("the plugin's config.json must hold a JSON object")
    if not os.path.isdir(os.path.join(work, "rootfs")):
        raise InvalidArgument("the plugin context has no rootfs directory")
    return config


def _tree_digest(root: str) -> str:
    """The digest of ``root`` as one layer: a tar of its files in name order (stable for equal trees)."""
    digest = hashlib.sha256()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(files) + dirs:
                path = os.path.join(directory, name)
                info = tar.gettarinfo(path, os.path.relpath(path, root))
                info.mtime = 0
                if info.isfile():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    digest.update(buffer.getvalue())
    return "sha256:" + digest.hexdigest()
