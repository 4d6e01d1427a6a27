"""The state of one build stage, and the image config each step commits.

``run_config`` is Docker's ``Config`` of the image being built (Env, Cmd,
Entrypoint, ...). A step's *container config* is the run config with ``Cmd``
replaced by what the step did (``/bin/sh -c #(nop) ENV A=1`` for a metadata
step, the RUN command itself for RUN); it goes into the image as
``container_config``, its joined Cmd is the history's ``created_by``, and the
cache compares it (see :mod:`berth.build.cache`).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from berth.images.store import Image

DEFAULT_SHELL = ["/bin/sh", "-c"]
#: build args every build accepts without an ARG line; used by RUN, never stored in history
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
              "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
_PER_IMAGE = ("rootfs", "history", "created", "container", "container_config", "id", "parent", "comment")


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def host_architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "i386": "386"}.get(machine, machine)


def env_dict(env: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in env or []:
        key, _, value = item.partition("=")
        out[key] = value
    return out


@dataclass
class StageState:
    """What a stage has built so far."""

    name: str | None
    index: int
    image: Image | None  # None: FROM scratch, nothing committed yet
    image_config: dict[str, Any]  # the whole config of ``image`` (Docker's image JSON)
    run_config: dict[str, Any]
    cmd_set: bool = False  # a CMD in this stage (ENTRYPOINT then keeps it)
    args: dict[str, str | None] = field(default_factory=dict)  # ARGs declared in this stage
    used_args: set[str] = field(default_factory=set)

    @property
    def image_id(self) -> str:
        return self.image.id if self.image else ""

    @property
    def shell(self) -> list[str]:
        return list(self.run_config.get("Shell") or DEFAULT_SHELL)

    def expansion_env(self) -> dict[str, str]:
        """Variables for substitution: declared build args, overridden by ENV (Docker's precedence)."""
        env = {k: v for k, v in self.args.items() if v is not None}
        env.update(env_dict(self.run_config.get("Env")))
        return env

    def args_in_scope(self) -> list[str]:
        """``NAME=value`` of the declared args ENV does not shadow, sorted: RUN's cache/history prefix."""
        env = env_dict(self.run_config.get("Env"))
        return sorted(f"{k}={v}" for k, v in self.args.items() if v is not None and k not in env)

    def container_config(self, cmd: list[str]) -> dict[str, Any]:
        cfg = self.step_config()
        cfg["Cmd"] = list(cmd)
        return cfg

    def step_config(self) -> dict[str, Any]:
        """The run config a step starts from; ``Image`` names the image it starts from, as dockerd records."""
        cfg = json_copy(self.run_config)
        cfg["Image"] = self.image_id
        return cfg

    def nop_cmd(self, comment: str, one_word: bool = False) -> list[str]:
        """The Cmd dockerd records for a step that runs nothing: ``<shell> "#(nop) " <comment>``.

        As in Moby, metadata steps give the comment its own word (so history shows ``#(nop)  ENV``, two
        spaces) and COPY, ADD and WORKDIR join it to the marker (``one_word``, history ``#(nop) COPY``).
        Equal Cmds are what makes a step's cache hit, also on images built by dockerd.
        """
        return [*self.shell, "#(nop) " + comment] if one_word else [*self.shell, "#(nop) ", comment]

    def child_config(self, container_config: dict[str, Any], empty_layer: bool, container_id: str = "",
                     author: str | None = None) -> dict[str, Any]:
        """The image config of the next step's image (without rootfs: the store adds it)."""
        base = {k: v for k, v in self.image_config.items() if k not in _PER_IMAGE}
        created = now()
        entry: dict[str, Any] = {"created": created, "created_by": " ".join(container_config.get("Cmd") or [])}
        if empty_layer:
            entry["empty_layer"] = True
        config = {
            **base,
            "architecture": base.get("architecture") or host_architecture(),
            "os": base.get("os") or "linux",
            "config": self.step_config(),
            "container_config": container_config,
            "created": created,
            "docker_version": "berth",
            "history": [*(self.image_config.get("history") or []), entry],
        }
        if container_id:
            config["container"] = container_id
        if author is not None:
            config["author"] = author
        return config


def scratch_config() -> dict[str, Any]:
    return {"architecture": host_architecture(), "os": "linux", "config": {}, "history": []}


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON value (an image or run config): through the C JSON codec, several times faster
    than ``copy.deepcopy`` (a cached step copies configs three times)."""
    return json.loads(json.dumps(value))
