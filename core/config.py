"""Daemon settings and their precedence.

Highest first: command-line flag > environment variable > config file
(``/etc/berth/daemon.json`` or ``--config-file``, with Docker's key names) >
built-in default. Every resolved value remembers where it came from so that
errors can say "storage driver 'zfs' (from BERTH_STORAGE_DRIVER) ...".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from berth.errors import ConfigError

DEFAULT_CONFIG_FILE = "/etc/berth/daemon.json"
DEFAULT_DATA_ROOT = "/var/lib/berth"
DEFAULT_EXEC_ROOT = "/run/berth"
DEFAULT_SOCKET = "unix:///run/berth/berth.sock"

#: environment variables per setting, first match wins. DOCKER_DRIVER is Docker's
#: historical alias of the storage driver variable.
ENVIRONMENT = {
    "storage_driver": ("BERTH_STORAGE_DRIVER", "DOCKER_DRIVER"),
    "exec_driver": ("BERTH_EXEC_DRIVER",),
    "network_driver": ("BERTH_NETWORK_DRIVER",),
}

#: daemon.json keys (Docker's names) per setting; later names are aliases.
CONFIG_KEYS = {
    "storage_driver": ("storage-driver",),
    "exec_driver": ("exec-driver",),
    "network_driver": ("network-driver",),
    "data_root": ("data-root", "graph"),
    "exec_root": ("exec-root",),
    "hosts": ("hosts",),
    "log_level": ("log-level",),
    "log_driver": ("log-driver",),
    "log_opts": ("log-opts",),
    "storage_opts": ("storage-opts",),
    "dns": ("dns",),
    "dns_search": ("dns-search",),
    "dns_opts": ("dns-opts",),
    "bridge": ("bridge",),
    "bip": ("bip",),
    "default_address_pools": ("default-address-pools",),
    "insecure_registries": ("insecure-registries",),
    "disabled_extensions": ("disabled-extensions",),
    "userns_remap": ("userns-remap",),
    "tls": ("tls",),
    "tlsverify": ("tlsverify",),
    "tlscacert": ("tlscacert",),
    "tlscert": ("tlscert",),
    "tlskey": ("tlskey",),
}

DEFAULTS: dict[str, Any] = {
    "storage_driver": None,
    "exec_driver": None,
    "network_driver": "bridge",
    "data_root": DEFAULT_DATA_ROOT,
    "exec_root": DEFAULT_EXEC_ROOT,
    "hosts": [DEFAULT_SOCKET],
    "log_level": "info",
    "log_driver": "json-file",
    "log_opts": {},
    "storage_opts": [],
    "dns": [],
    "dns_search": [],
    "dns_opts": [],
    "bridge": "",
    "bip": "",
    "default_address_pools": [],
    "insecure_registries": [],
    "disabled_extensions": [],
    "userns_remap": "",
    "tls": False,
    "tlsverify": False,
    "tlscacert": "",
    "tlscert": "",
    "tlskey": "",
}


@dataclass
class Setting:
    value: Any
    source: str  # "flag --storage-driver", "env BERTH_STORAGE_DRIVER", "/etc/berth/daemon.json", "default"


@dataclass
class DaemonConfig:
    """Resolved settings; ``sources`` says where each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    config_file: str | None = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def source(self, name: str) -> str:
        return self.sources.get(name, "default")

    def describe(self, name: str) -> str:
        """``'vfs' (from env BERTH_STORAGE_DRIVER)``: for error messages."""
        return f"{self.values.get(name)!r} (from {self.source(name)})"


def read_config_file(path: str, required: bool) -> dict[str, Any]:
    """Read daemon.json; a missing default file is fine, a broken one never is."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    known = {key for keys in CONFIG_KEYS.values() for key in keys}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"config file {path}: unknown keys {', '.join(unknown)}; known keys: {', '.join(sorted(known))}")
    return data


def resolve(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
) -> DaemonConfig:
    """Merge flags (already parsed; None = not given), environment, config file and defaults."""
    environ = os.environ if environ is None else environ
    path = config_file or DEFAULT_CONFIG_FILE
    file_values = read_config_file(path, required=config_file is not None)
    config = DaemonConfig(config_file=path)
    for name, default in DEFAULTS.items():
        config.values[name], config.sources[name] = default, "default"
        for key in reversed(CONFIG_KEYS.get(name, ())):  # the canonical key wins over its alias
            if key in file_values:
                config.values[name], config.sources[name] = file_values[key], f"{path} key {key!r}"
        for var in reversed(ENVIRONMENT.get(name, ())):
            if environ.get(var):
                config.values[name], config.sources[name] = environ[var], f"env {var}"
        flag = flags.get(name)
        if flag not in (None, [], ""):
            config.values[name], config.sources[name] = flag, f"flag --{name.replace('_', '-')}"
    return config
