"""Docker's log drivers as berth offers them: names, options, defaults and dockerd's checks.

The monitors of berth's exec drivers write three of Docker's drivers
(:mod:`berth.containers.logwriter`): ``json-file`` (the default), ``local`` and
``none``. Any other name is refused at create with the message dockerd gives for a
driver it does not have.

As in dockerd, a container's ``HostConfig.LogConfig`` is settled at create
(:meth:`LogDefaults.settle`): an empty ``Type`` takes the daemon's default driver
(daemon.json ``log-driver``), the daemon's ``log-opts`` fill in options when the
driver is the default one, and the option *keys* are checked (a 400 naming the key).
Option *values* are parsed when the container starts (:func:`io_settings`); a bad
one fails the start with dockerd's ``failed to initialize logging driver: ...``,
leaving the container created, as dockerd does (as a 400: it is the user's input).
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from typing import Any

from berth.containers import jsonlog, locallog
from berth.containers.logs import LogSource
from berth.errors import BerthError, InvalidArgument
from berth.humanize import from_human_size, ram_in_bytes

DEFAULT_DRIVER = jsonlog.NAME
NONE = "none"
DRIVERS = (jsonlog.NAME, locallog.NAME, NONE)

#: options every driver takes (dockerd's built-in ones and its log cache's; the cache only
#: serves drivers that cannot be read, which berth does not have, so the cache-* ones change nothing)
COMMON_OPTIONS = frozenset({"mode", "max-buffer-size", "cache-disabled", "cache-max-file", "cache-max-size",
                            "cache-compress"})
ATTRIBUTE_OPTIONS = ("labels", "labels-regex", "env", "env-regex", "tag")
#: each driver's own option keys (Docker 20.10)
DRIVER_OPTIONS = {
    jsonlog.NAME: frozenset({"max-file", "max-size", "compress", *ATTRIBUTE_OPTIONS}),
    locallog.NAME: frozenset({"max-file", "max-size", "compress"}),
}
DEFAULT_MAX_BUFFER = 1_000_000  # dockerd's ring buffer for mode=non-blocking
LOCAL_DEFAULTS = {"max-size": 20 * 1024 * 1024, "max-file": 5, "compress": True}
DAEMON_NAME = "docker"  # {{.DaemonName}} in a tag: what dockerd answers, so log pipelines keyed on it still match


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


def check_options(driver: str, options: dict[str, str]) -> None:
    """dockerd's ``ValidateLogOpts``, in its order: common options, then the driver, then its keys."""
    if driver == NONE:
        return
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
    if options.get("cache-disabled", "") and _go_bool(options["cache-disabled"]) is None:
        raise InvalidArgument(f"invalid value for option cache-disabled: {options['cache-disabled']}")
    if driver not in DRIVER_OPTIONS:
        raise InvalidArgument(f'error looking up logging plugin {driver}: plugin "{driver}" not found')
    for key in options:
        if key not in COMMON_OPTIONS and key not in DRIVER_OPTIONS[driver]:
            where = "json-file log driver" if driver == jsonlog.NAME else f"log driver {driver}"
            raise InvalidArgument(f"unknown log opt '{key}' for {where}")


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
        if driver == self.driver:
            for key, value in self.options.items():
                options.setdefault(key, value)
        check_options(driver, options)
        return {"Type": driver, "Config": options}


# -- start: the values ---------------------------------------------------------------


def _go_bool(text: str) -> bool | None:
    """Go's ``strconv.ParseBool``; None when it would fail."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _parse_bool(text: str) -> bool:
    value = _go_bool(text)
    if value is None:
        raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')
    return value


def _atoi(text: str) -> int:
    """Go's ``strconv.Atoi``, with its error texts."""
    if not re.fullmatch(r"[+-]?\d+", text):
        raise ValueError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    value = int(text)
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(f'strconv.Atoi: parsing "{text}": value out of range')
    return value


def _json_file_rotation(options: dict[str, str]) -> tuple[int, int, bool]:
    """max-size, max-file, compress of json-file, checked as its ``New`` checks them."""
    max_size = -1
    if "max-size" in options:
        max_size = from_human_size(options["max-size"])
        if max_size <= 0:
            raise ValueError("max-size must be a positive number")
    max_files = 1
    if "max-file" in options:
        max_files = _atoi(options["max-file"])
        if max_files < 1:
            raise ValueError("max-file cannot be less than 1")
    compress = False
    if "compress" in options:
        compress = _parse_bool(options["compress"])
        if compress and (max_files == 1 or max_size == -1):
            raise ValueError("compress cannot be true when max-file is less than 2 or max-size is not set")
    return max_size, max_files, compress


def _local_rotation(options: dict[str, str]) -> tuple[int, int, bool]:
    """max-size, max-file, compress of local (defaults 20 MiB, 5 files, compressed), as its ``New`` checks them."""
    max_size, max_files, compress = LOCAL_DEFAULTS["max-size"], LOCAL_DEFAULTS["max-file"], LOCAL_DEFAULTS["compress"]
    if "max-size" in options:
        try:
            max_size = from_human_size(options["max-size"])
        except ValueError as exc:
            raise ValueError(f"invalid value for max-size: {options['max-size']}: {exc}") from None
    if "max-file" in options:
        try:
            max_files = _atoi(options["max-file"])
        except ValueError as exc:
            raise ValueError(f"invalid value for max-file: {options['max-file']}: {exc}") from None
    if "compress" in options:
        try:
            compress = _parse_bool(options["compress"])
        except ValueError as exc:
            raise ValueError(f"error reading compress log option: {exc}") from None
    if max_files < 0:
        raise ValueError("max file count cannot be less than 0")
    if compress and max_files <= 1:
        raise ValueError("compression cannot be enabled when max file count is 1")
    return max_size, max_files, compress


def log_path(directory: str, container_id: str, driver: str) -> str | None:
    """Where a container's log lives (Docker's names), or None for ``none``."""
    if driver == jsonlog.NAME:
        return os.path.join(directory, f"{container_id}-json.log")
    if driver == locallog.NAME:
        return os.path.join(directory, "local-logs", locallog.FILE_NAME)
    return None


def driver_of(host_config: dict[str, Any]) -> str:
    """The container's driver (records made before LogConfig was settled at create are json-file)."""
    return (host_config.get("LogConfig") or {}).get("Type") or DEFAULT_DRIVER


def options_of(host_config: dict[str, Any]) -> dict[str, str]:
    return dict((host_config.get("LogConfig") or {}).get("Config") or {})


def source(host_config: dict[str, Any], directory: str, container_id: str) -> LogSource:
    """Where ``logs`` reads a container's log; ReadLogsNotSupported for ``none``."""
    driver = driver_of(host_config)
    path = log_path(directory, container_id, driver)
    if path is None:
        raise ReadLogsNotSupported()
    try:
        max_files = _rotation(driver, options_of(host_config))[1]
    except ValueError:
        max_files = 1  # never started: nothing was rotated
    return LogSource(path, driver, max(max_files, 1))


def inspect_log_path(host_config: dict[str, Any], directory: str, container_id: str) -> str:
    """``LogPath`` as dockerd shows it: the json-file log once it exists (after a start), else ""."""
    path = log_path(directory, container_id, driver_of(host_config))
    return path if path and driver_of(host_config) == jsonlog.NAME and os.path.exists(path) else ""


def _rotation(driver: str, options: dict[str, str]) -> tuple[int, int, bool]:
    return (_local_rotation if driver == locallog.NAME else _json_file_rotation)(options)


def _regex(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"error parsing regexp: {exc.msg}: `{pattern}`") from None


def _chosen(values: dict[str, str], names: str, pattern: str) -> dict[str, str]:
    """The entries of ``values`` named in the comma-separated ``names`` or matching the regexp ``pattern``."""
    chosen = {name: values[name] for name in filter(None, names.split(",")) if name in values}
    if pattern:
        wanted = _regex(pattern)
        chosen.update((k, v) for k, v in values.items() if wanted.search(k))
    return chosen


def attributes(options: dict[str, str], labels: dict[str, str], env: list[str]) -> dict[str, str]:
    """The extra attributes of every entry: chosen labels and environment variables (Docker's ExtraAttributes)."""
    variables = dict(item.split("=", 1) for item in env if "=" in item)
    return {**_chosen(labels, options.get("labels", ""), options.get("labels-regex", "")),
            **_chosen(variables, options.get("env", ""), options.get("env-regex", ""))}


def tag_fields(c: Any, path: str) -> dict[str, Any]:
    """What a ``tag`` template sees (the fields and methods of Docker's ``logger.Info``)."""
    image_id = c.image_id
    try:
        created = jsonlog.go_time_string(jsonlog.timestamp_ns(c.created))
    except ValueError:
        created = c.created
    return {
        "ID": c.id[:12], "FullID": c.id, "Name": c.name, "ImageID": image_id.split(":", 1)[-1][:12],
        "ImageFullID": image_id, "ImageName": c.config.get("Image") or "", "DaemonName": DAEMON_NAME,
        "Command": " ".join([c.path, *c.args]), "Hostname": socket.gethostname(),
        "ContainerID": c.id, "ContainerName": "/" + c.name, "ContainerEntrypoint": c.path,
        "ContainerArgs": list(c.args), "ContainerImageID": image_id, "ContainerImageName": c.config.get("Image") or "",
        "ContainerCreated": created, "ContainerEnv": list(c.config.get("Env") or []),
        "ContainerLabels": dict(c.labels), "LogPath": path, "Config": options_of(c.host_config),
    }


def render_tag(template: str, fields: dict[str, Any]) -> str:
    """A ``tag`` option's Go template; an unknown field is an error, as on Docker's struct."""
    from berth.cli.templates import TemplateError, render

    for action in re.finditer(r"\{\{(.*?)\}\}", template, re.S):
        for field_ref in re.finditer(r"(?<![\w$])\.([A-Za-z_]\w*)", action.group(1)):
            if field_ref.group(1) not in fields:
                at = action.start(1) + field_ref.start()
                line, col = template.count("\n", 0, at) + 1, at - (template.rfind("\n", 0, at) + 1)
                raise ValueError(f'template: log-tag:{line}:{col}: executing "log-tag" at <.{field_ref.group(1)}>: '
                                 f"can't evaluate field {field_ref.group(1)} in type *logger.Info")
    try:
        return render(template, fields)
    except TemplateError as exc:
        raise ValueError(f"template: log-tag: {exc}") from None


def io_settings(c: Any, directory: str) -> dict[str, Any]:
    """The ``log_*`` fields of the IOConfig that starts container ``c``; LogDriverInitError for a bad value."""
    driver, options = driver_of(c.host_config), options_of(c.host_config)
    path = log_path(directory, c.id, driver)
    if path is None:
        return {"log_path": None}
    try:
        max_size, max_files, compress = _rotation(driver, options)
        attrs = {}
        if driver == jsonlog.NAME:
            attrs = attributes(options, c.labels, c.config.get("Env") or [])
            if options.get("tag"):
                attrs["tag"] = render_tag(options["tag"], tag_fields(c, path))
    except ValueError as exc:
        raise LogDriverInitError(str(exc)) from None
    max_buffer = 0
    if options.get("mode") == "non-blocking":
        size = options.get("max-buffer-size")
        max_buffer = max(1, ram_in_bytes(size)) if size else DEFAULT_MAX_BUFFER
    os.makedirs(os.path.dirname(path), mode=0o710, exist_ok=True)
    return {"log_path": path, "log_driver": driver, "log_max_size": max_size, "log_max_files": max_files,
            "log_compress": compress, "log_attrs": attrs, "log_max_buffer": max_buffer}
