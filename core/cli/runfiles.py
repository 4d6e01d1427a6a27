"""What ``run``/``create`` read from files on the client: ``--env-file``, ``--label-file`` and config.json.

File lines follow the docker CLI's key-value file rules: leading blanks are
dropped, blank lines and ``#`` lines are skipped, ``KEY=value`` is kept as
written (trailing blanks included), a bare ``KEY`` takes its value from our
environment (env files only; in a label file it is dropped), a key holding
blanks or an empty key is an error. ``-e``/``-l`` values come after the files'.
As the docker CLI does, the ``proxies`` of config.json (for the daemon's host, else
``default``) become ``HTTP_PROXY``/``http_proxy``... unless ``-e`` sets them.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any, Callable


class FileError(OSError):
    """A file the docker CLI would refuse to read, with its message."""


def _open_error(path: str, exc: OSError) -> FileError:
    reason = (exc.strerror or str(exc))
    return FileError(f"open {path}: {reason[:1].lower()}{reason[1:]}")


def read_kv_file(path: str, lookup: Callable[[str], str | None] | None) -> list[str]:
    """The ``KEY=value`` lines of one env or label file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise _open_error(path, exc) from None
    lines = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.removesuffix(b"\r")
        if number == 1:
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        try:
            line = raw.decode("utf-8").lstrip()
        except UnicodeDecodeError:
            raise FileError(f"invalid env file ({path}): invalid utf8 bytes at line {number}: "
                            f"[{' '.join(str(b) for b in raw)}]") from None
        if not line or line.startswith("#"):
            continue
        key, eq, _ = line.partition("=")
        if not key:
            raise FileError(f"invalid env file ({path}): no variable name on line '{line}'")
        if " " in key or "\t" in key:
            raise FileError(f"invalid env file ({path}): variable '{key}' contains whitespaces")
        if eq:
            lines.append(line)
        elif lookup is not None and lookup(line) is not None:
            lines.append(f"{key}={lookup(line)}")
    return lines


def env_files(files: list[str]) -> list[str]:
    """The lines of every ``--env-file``, in order (a bare NAME takes our value, or is dropped)."""
    return [line for path in files for line in read_kv_file(path, os.environ.get)]


def environment(files: list[str], variables: list[str], proxies: dict[str, str] | None = None) -> list[str]:
    """``Config.Env``: the env files' lines, then ``-e`` (a later value of a name replaces the earlier) and
    the proxy variables ``-e`` does not set."""
    out = env_files(files)
    given: dict[str, str | None] = {}
    for item in variables:
        name, eq, value = item.partition("=")
        given[name] = value if eq else None
    for name, value in (proxies or {}).items():
        given.setdefault(name, value)
    out.extend(name if value is None else f"{name}={value}" for name, value in given.items())
    return out


def labels(files: list[str], items: list[str]) -> dict[str, str]:
    """``Config.Labels``: label files first, then ``-l`` (a later value of a key replaces the earlier)."""
    out: dict[str, str] = {}
    for line in [line for path in files for line in read_kv_file(path, None)] + list(items):
        key, _, value = line.partition("=")
        out[key] = value
    return out


_PROXY_KEYS = (("HTTP_PROXY", "httpProxy"), ("HTTPS_PROXY", "httpsProxy"), ("NO_PROXY", "noProxy"),
               ("FTP_PROXY", "ftpProxy"), ("ALL_PROXY", "allProxy"))


def proxy_variables(config: dict[str, Any], daemon_host: str) -> dict[str, str]:
    """The proxy variables config.json's ``proxies`` set for ``daemon_host`` (upper and lower case)."""
    proxies = config.get("proxies") or {}
    entry = proxies.get(daemon_host) if daemon_host in proxies else proxies.get("default")
    out = {}
    for name, key in _PROXY_KEYS:
        value = (entry or {}).get(key) or ""
        if value:
            out[name] = out[name.lower()] = value
    return out
