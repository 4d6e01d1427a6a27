"""What a container's log options mean, parsed as dockerd's drivers parse them.

Values are read when the container starts (as dockerd's drivers read them in their
``New``), so the errors are dockerd's words: Go's ``strconv`` and go-units texts,
``max-file cannot be less than 1``, a tag template's field errors. Each function
raises ValueError with the reason; the caller adds "failed to initialize logging driver".
"""

from __future__ import annotations

import re
import socket
from typing import Any

from berth.containers import jsonlog, locallog
from berth.humanize import from_human_size

LOCAL_DEFAULTS = {"max-size": 20 * 1024 * 1024, "max-file": 5, "compress": True}
DAEMON_NAME = "docker"  # {{.DaemonName}} in a tag: what dockerd answers, so log pipelines keyed on it still match


def go_bool(text: str) -> bool | None:
    """Go's ``strconv.ParseBool``; None when it would fail."""
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _parse_bool(text: str) -> bool:
    value = go_bool(text)
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


def rotation(driver: str, options: dict[str, str]) -> tuple[int, int, bool]:
    """(max-size, max-file, compress) of a json-file or local log."""
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
        "ContainerLabels": dict(c.labels), "LogPath": path, "Config": dict((c.host_config.get("LogConfig") or {}).get("Config") or {}),
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
