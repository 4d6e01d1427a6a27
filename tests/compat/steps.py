"""What one scripted request is: a :class:`Step`, filled in from a :class:`Context` on each daemon.

A step names the spec's route template (``/containers/{id}/json``, for the spec lookup and the
report) and the concrete path with placeholders (``/containers/{running}/json``). Placeholders are
the run's prefix ``{p}``, its label ``{label}`` and the IDs saved by earlier steps on the same
daemon, so one script runs unchanged against dockerd and berthd.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import quote, urlencode

LABEL_KEY = "berth.apishapes"  # every object the script makes carries it (prune filters, clean-up)


@dataclass
class Context:
    """Per daemon: the run's prefix and the IDs and values earlier steps saved."""

    prefix: str
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values.setdefault("p", self.prefix)
        self.values.setdefault("label", f"{LABEL_KEY}={self.prefix}")
        self.values.setdefault("t0", str(int(time.time()) - 1))

    def fill(self, value: Any) -> Any:
        """``value`` with every ``{name}`` placeholder replaced (strings inside lists and dicts too)."""
        if isinstance(value, str):
            return value.format_map({**self.values, "now": str(int(time.time()) + 1)})
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        if isinstance(value, dict):
            return {self.fill(k): self.fill(v) for k, v in value.items()}
        return value

    def ids(self) -> set[str]:
        return {v for v in self.values.values() if isinstance(v, str) and len(v) >= 12}


@dataclass
class Answer:
    """What a daemon answered to one step."""

    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]
    json: Any = None  # the decoded body (kind json, or any error answer)
    messages: list[Any] | None = None  # the decoded JSON stream (kind jsonstream)
    header_json: Any = None  # the decoded JSON header the step asked for


@dataclass
class Step:
    """One request of the script."""

    method: str
    route: str  # the spec's path template
    path: str = ""  # the concrete path, with placeholders; the route when empty
    note: str = ""  # tells apart several calls of one route in the report
    query: dict[str, Any] = field(default_factory=dict)  # dict/list values are sent as JSON
    body: Any = None  # dict: JSON; bytes or a callable(Context) -> bytes: sent as is
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    kind: str = "json"  # json | jsonstream | raw (status, content type and emptiness only)
    save: Callable[[Context, Answer], None] | None = None
    sort_by: str | None = None  # sort a top-level array by this field before comparing
    message_key: Callable[[Any], Any] | None = None  # groups stream messages (default: their keys)
    keep_message: Callable[[Context, Any], bool] | None = None  # drops other clients' stream messages
    header_json: str | None = None  # a response header holding base64 JSON to compare too
    maps: frozenset[str] = frozenset()  # JSON paths that are maps although the spec does not say so
    live: bool = False  # the answer is what this request, sent when the run began, received until now
    normalise: Callable[[Any], Any] | None = None  # applied to each stream message before comparing
    off_spec: bool = False  # a request the API does not define, sent for the error answer

    @property
    def label(self) -> str:
        return f"{self.method} {self.route}" + (f" ({self.note})" if self.note else "")

    def url(self, ctx: Context, version: str) -> str:
        path = ctx.fill(self.path or self.route)
        query = {k: json.dumps(ctx.fill(v)) if isinstance(v, (dict, list)) else ctx.fill(v)
                 for k, v in self.query.items()}
        return f"/v{version}{quote(path)}" + (f"?{urlencode(query)}" if query else "")

    def payload(self, ctx: Context) -> bytes | None:
        if self.body is None:
            return None
        if callable(self.body):
            return self.body(ctx)
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(ctx.fill(self.body)).encode()


def save_field(name: str, key: str = "Id") -> Callable[[Context, Answer], None]:
    """A ``save`` that keeps ``answer.json[key]`` as ``{name}``."""
    def save(ctx: Context, answer: Answer) -> None:
        if isinstance(answer.json, dict) and key in answer.json:
            ctx.values[name] = answer.json[key]

    return save


def save_body(name: str) -> Callable[[Context, Answer], None]:
    """A ``save`` that keeps the raw body (an image tar for a later load)."""
    def save(ctx: Context, answer: Answer) -> None:
        ctx.values[name] = answer.body

    return save


def saved(name: str) -> Callable[[Context], bytes]:
    """A ``body`` that sends what :func:`save_body` kept."""
    return lambda ctx: ctx.values.get(name, b"")


def mentions_run(ctx: Context, message: Any) -> bool:
    """A stream message about an object of this run: one that names the run's prefix, or whose actor
    is an object the run saved (events of other clients of the shared dockerd are dropped)."""
    actor = (message.get("Actor") or {}).get("ID") if isinstance(message, dict) else None
    return ctx.prefix in json.dumps(message) or actor in ctx.ids()
