"""Docker's log drivers as berth offers them: names, options, defaults and dockerd's checks.

The monitors of berth's exec drivers write four of Docker's drivers
(:mod:`berth.containers.logwriter`): ``json-file`` (the default), ``local``, ``syslog``
and ``none``. Any other name is refused at create with the message dockerd gives for a
driver it does not have. ``syslog`` cannot be read back, so as in dockerd (dual
logging) its entries are also kept in a ``local`` cache, ``container-cached.log``
(``cache-max-size``, ``cache-max-file``, ``cache-compress`` with local's defaults;
``cache-disabled=true`` keeps none), which ``logs`` reads.

As in dockerd, a container's ``HostConfig.LogConfig`` is settled at create
(:meth:`LogDefaults.settle`): an empty ``Type`` takes the daemon's default driver
(daemon.json ``log-driver``), the daemon's ``log-opts`` fill in options when the
driver is the default one (its ``cache-*`` ones whatever the driver), and the option
*keys* are checked (a 400 naming the key). Option *values* are parsed when the
container starts (:func:`io_settings`, with :mod:`~berth.containers.logoptions`); a
bad one fails the start with dockerd's ``failed to initialize logging driver: ...``,
leaving the container created, as dockerd does (as a 400: it is the user's input).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from berth.containers import jsonlog, locallog, logoptions, syslogoptions
from berth.containers.logs import LogSource
from berth.errors import BerthError, InvalidArgument
from berth.humanize import ram_in_bytes

DEFAULT_DRIVER = jsonlog.NAME
NONE = "none"
DRIVERS = (jsonlog.NAME, locallog.NAME, syslogoptions.NAME, NONE)
CACHE_FILE = "container-cached.log"  # dual logging: the local cache of a driver that cannot be read

#: the local cache's options (cache- and one of local's keys), taken from the daemon's defaults for any driver
CACHE_OPTIONS = frozenset({"cache-disabled", "cache-max-file", "cache-max-size", "cache-compress"})
#: options every driver takes (dockerd's built-in ones and its log cache's)
COMMON_OPTIONS = frozenset({"mode", "max-buffer-size", *CACHE_OPTIONS})
ATTRIBUTE_OPTIONS = ("labels", "labels-regex", "env", "env-regex", "tag")
#: each driver's own option keys (Docker 20.10)
DRIVER_OPTIONS = {
    jsonlog.NAME: frozenset({"max-file", "max-size", "compress", *ATTRIBUTE_OPTIONS}),
    locallog.NAME: frozenset({"max-file", "max-size", "compress"}),
    syslogoptions.NAME: syslogoptions.OPTIONS,
}
DEFAULT_MAX_BUFFER = 1_000_000  # dockerd's ring buffer for mode=non-blocking


class ReadLogsNotSupported(BerthError):
    """``logs`` of a container whose driver keeps nothing (dockerd's ErrReadLogsNotSupported)."""

    status = 501

    def __init__(self) -> None:
        super().__init__("configured logging driver does not support reading")


class LogDriverInitError(InvalidArgument):
    """A log option's value is wrong: the container cannot start (dockerd's message, as a 400)."""

    def __init__(self, reason: str):
        super().__init__(f"failed to initialize logging driver: {reason}")


# -- create: the driver and the option keys ----------------------------------------------


def _check_common(options: dict[str, str]) -> None:
    mode = options.get("mode", "")
    if mode not in ("", "blocking", "non-blocking"):
        raise InvalidArgument(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in options:
        if mode != "non-blocking":
            raise InvalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
        try:
            ram_in_bytes(options["max-buffer-size"])
        except ValueError as exc:
            raise InvalidArgument(f"error parsing option max-buffer-size: {exc}") from None
    if options.get("cache-disabled", "") and logoptions.go_bool(options["cache-disabled"]) is None:
        raise InvalidArgument(f"invalid value for option cache-disabled: {options['cache-disabled']}")


def check_options(driver: str, options: dict[str, str]) -> None:
    """dockerd's ``ValidateLogOpts``, in its order: common options, then the driver, then its keys."""
    if driver == NONE:
        return
    _check_common(options)
    if driver not in DRIVER_OPTIONS:
        raise InvalidArgument(f'error looking up logging plugin {driver}: plugin "{driver}" not found')
    for key in options:
        if key not in COMMON_OPTIONS and key not in DRIVER_OPTIONS[driver]:
            where = f"log driver {driver}" if driver == locallog.NAME else f"{driver} log driver"
            raise InvalidArgument(f"unknown log opt '{key}' for {where}")
    if driver == syslogoptions.NAME:
        try:
            syslogoptions.check(options)
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None


@dataclass
class LogDefaults:
    """The daemon's default log driver and options (daemon.json ``log-driver``/``log-opts``)."""

    driver: str = DEFAULT_DRIVER
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, driver: Any, options: Any) -> "LogDefaults":
        """Validated as dockerd validates them at start-up; raises InvalidArgument."""
        if not isinstance(driver, str) or not isinstance(options, dict) \
                or not all(isinstance(v, str) for v in options.values()):
            raise InvalidArgument("log-driver must be a string and log-opts an object of strings")
        defaults = cls(driver or DEFAULT_DRIVER, dict(options))
        check_options(defaults.driver, defaults.options)
        return defaults

    def settle(self, log_config: Any) -> dict[str, Any]:
        """``HostConfig.LogConfig`` as the container keeps it: defaults applied, keys checked (InvalidArgument)."""
        log_config = log_config or {}
        if not isinstance(log_config, dict):
            raise InvalidArgument("invalid container config: HostConfig.LogConfig must be an object")
        driver, options = log_config.get("Type") or "", log_config.get("Config") or {}
        if not isinstance(driver, str) or not isinstance(options, dict) \
                or not all(isinstance(v, str) for v in options.values()):
            raise InvalidArgument("invalid container config: HostConfig.LogConfig needs a string Type "
                                  "and a Config object of strings")
        driver = driver or self.driver
        options = dict(options)
        for key, value in self.options.items():
            if driver == self.driver or key in CACHE_OPTIONS:
                options.setdefault(key, value)
        check_options(driver, options)
        return {"Type": driver, "Config": options}


# -- where a log is ------------------------------------------------------------------


def driver_of(host_config: dict[str, Any]) -> str:
    """The container's driver (records made before LogConfig was settled at create are json-file)."""
    return (host_config.get("LogConfig") or {}).get("Type") or DEFAULT_DRIVER


def options_of(host_config: dict[str, Any]) -> dict[str, str]:
    return dict((host_config.get("LogConfig") or {}).get("Config") or {})


def _cached(driver: str, options: dict[str, str]) -> bool:
    """True when a driver that cannot be read keeps a local cache (unless ``cache-disabled``)."""
    return driver == syslogoptions.NAME and not logoptions.go_bool(options.get("cache-disabled", "") or "false")


def _cache_options(options: dict[str, str]) -> dict[str, str]:
    return {key[len("cache-"):]: value for key, value in options.items() if key in CACHE_OPTIONS}


def _file(directory: str, container_id: str, driver: str, options: dict[str, str]) -> tuple[str, str] | None:
    """(path, format) of the file a container's entries go to (Docker's names), or None."""
    if driver == jsonlog.NAME:
        return os.path.join(directory, f"{container_id}-json.log"), jsonlog.NAME
    if driver == locallog.NAME:
        return os.path.join(directory, "local-logs", locallog.FILE_NAME), locallog.NAME
    if _cached(driver, options):
        return os.path.join(directory, CACHE_FILE), locallog.NAME
    return None


def _file_options(driver: str, options: dict[str, str]) -> dict[str, str]:
    return _cache_options(options) if driver == syslogoptions.NAME else options


def source(host_config: dict[str, Any], directory: str, container_id: str) -> LogSource:
    """Where ``logs`` reads a container's log; ReadLogsNotSupported when nothing is kept (``none``)."""
    driver, options = driver_of(host_config), options_of(host_config)
    found = _file(directory, container_id, driver, options)
    if found is None:
        raise ReadLogsNotSupported()
    path, fmt = found
    try:
        max_files = logoptions.rotation(fmt, _file_options(driver, options))[1]
    except ValueError:
        max_files = 1  # never started: nothing was rotated
    return LogSource(path, fmt, max(max_files, 1))


def inspect_log_path(host_config: dict[str, Any], directory: str, container_id: str) -> str:
    """``LogPath`` as dockerd shows it: the json-file log once it exists (after a start), else ""."""
    if driver_of(host_config) != jsonlog.NAME:
        return ""
    path = os.path.join(directory, f"{container_id}-json.log")
    return path if os.path.exists(path) else ""


# -- start: the values ------------------------------------------------------------------


def _file_settings(c: Any, driver: str, options: dict[str, str], path: str, fmt: str) -> dict[str, Any]:
    """The IOConfig's file fields (ValueError in dockerd's words)."""
    try:
        max_size, max_files, compress = logoptions.rotation(fmt, _file_options(driver, options))
    except ValueError as exc:
        if driver == syslogoptions.NAME:
            raise ValueError(f"error setting up local container log cache: error initializing local log cache "
                             f"driver: {exc}") from None
        raise
    attrs = {}
    if driver == jsonlog.NAME:
        attrs = logoptions.attributes(options, c.labels, c.config.get("Env") or [])
        if options.get("tag"):
            attrs["tag"] = logoptions.render_tag(options["tag"], logoptions.tag_fields(c, path))
    os.makedirs(os.path.dirname(path), mode=0o710, exist_ok=True)
    return {"log_path": path, "log_driver": fmt, "log_max_size": max_size, "log_max_files": max_files,
            "log_compress": compress, "log_attrs": attrs}


def io_settings(c: Any, directory: str) -> dict[str, Any]:
    """The ``log_*`` fields of the IOConfig that starts container ``c``; LogDriverInitError for a bad value."""
    driver, options = driver_of(c.host_config), options_of(c.host_config)
    io: dict[str, Any] = {"log_path": None}
    try:
        if driver == syslogoptions.NAME:
            tag = logoptions.render_tag(options.get("tag") or "{{.ID}}", logoptions.tag_fields(c, ""))
            io["log_syslog"] = syslogoptions.settings(options, tag)
        found = _file(directory, c.id, driver, options)
        if found is not None:
            io.update(_file_settings(c, driver, options, *found))
    except ValueError as exc:
        raise LogDriverInitError(str(exc)) from None
    if options.get("mode") == "non-blocking" and (io["log_path"] or io.get("log_syslog")):
        size = options.get("max-buffer-size")
        io["log_max_buffer"] = max(1, ram_in_bytes(size)) if size else DEFAULT_MAX_BUFFER
    return io
