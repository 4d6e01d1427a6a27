"""``GET /containers/json``: which containers a listing shows, with dockerd's filters and order.

As dockerd's ``daemon/list.go``: newest first; ``before``/``since`` cut the list at a
container (by name or ID); without ``all`` (or a ``status`` filter, or a ``limit``) only
running containers; ``name``, ``status`` and ``isolation`` values are regular
expressions searched in the field (:mod:`berth.filtermatch`), ``id`` an unambiguous
prefix, ``label`` values ANDed ``key`` or ``key=value``, ``ancestor`` names an image and matches the
containers of it and of every image built on it. Bad values are a 400 naming the
filter; an unknown key is dockerd's ``Invalid filter 'key'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from berth.containers import ports as portmap
from berth.containers.model import Container, State
from berth.errors import BerthError, InvalidArgument, NotFound
from berth.filtermatch import labels_match, pattern_match

#: every state a ``status`` filter may name
STATES = tuple(s.value for s in State)
#: every value a ``health`` filter may name; without a healthcheck a container's health is ``none``
HEALTH_STATES = ("starting", "healthy", "unhealthy", "none")

ACCEPTED = ("ancestor", "before", "exited", "expose", "health", "id", "is-task", "isolation", "label", "name",
            "network", "publish", "since", "status", "volume")


def container_health(c: Container) -> str:
    """What the ``health`` filter compares: the container's health status, ``none`` without a healthcheck."""
    health = getattr(c.state, "health", None)
    if isinstance(health, dict) and health.get("Status"):
        return health["Status"]
    return "none"


@dataclass
class ListQuery:
    """One listing's options, checked and resolved against the daemon's containers and images."""

    filters: dict[str, list[str]]
    show_all: bool = False
    limit: int = -1
    exited: set[int] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)  # what the id filter's prefixes name (each one unambiguously)
    ancestors: set[str] | None = None  # image IDs; None when there is no ancestor filter
    publish: set[str] = field(default_factory=set)
    expose: set[str] = field(default_factory=set)
    before: str | None = None
    since: str | None = None


def plan(filters: dict[str, list[str]], show_all: bool, limit: int, containers: list[Container],
         images: Any) -> ListQuery:
    """Validate ``filters`` as dockerd does (400 on a bad key or value) and resolve their references."""
    for key in filters:
        if key not in ACCEPTED:
            raise InvalidArgument(f"Invalid filter '{key}'")
    query = ListQuery(filters, show_all=show_all, limit=limit)
    query.exited = {_exit_code(v) for v in filters.get("exited", [])}
    for value in filters.get("id", []):
        named = [c.id for c in containers if value and c.id.startswith(value)]
        if len(named) == 1 and pattern_match([value], named[0]):
            query.ids.add(named[0])
    for value in filters.get("status", []):
        if value not in STATES:
            raise InvalidArgument(f"Invalid filter 'status={value}'")
        query.show_all = True
    for value in filters.get("health", []):
        if value not in HEALTH_STATES:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    if "is-task" in filters and set(filters["is-task"]) not in ({"true"}, {"false"}):
        raise InvalidArgument(f"Invalid filter 'is-task=[{' '.join(filters['is-task'])}]'")
    for key in ("before", "since"):
        for value in filters.get(key, []):
            setattr(query, key, _container_named(containers, value).id)
    if "ancestor" in filters:
        query.ancestors = _images_and_descendants(images, filters["ancestor"])
    query.publish = {p for v in filters.get("publish", []) for p in _ports("publish", v)}
    query.expose = {p for v in filters.get("expose", []) for p in _ports("expose", v)}
    return query


def select(query: ListQuery, containers: Iterable[Container], networks: Callable[[Container], dict[str, str]]
           ) -> list[Container]:
    """The containers the listing shows, newest first. ``networks`` gives a container's {network name: ID}."""
    rows = sorted(containers, key=lambda c: c.created, reverse=True)
    out: list[Container] = []
    before = query.before
    for c in rows:
        if before is not None:  # everything newer than the "before" container, and itself, is left out
            if c.id == before:
                before = None
            continue
        if c.id == query.since:
            break
        if query.limit > 0 and len(out) == query.limit:
            break
        if not c.state.running and not query.show_all and query.limit <= 0:
            continue
        if _matches(query, c, networks):
            out.append(c)
    return out


def _matches(query: ListQuery, c: Container, networks: Callable[[Container], dict[str, str]]) -> bool:
    f = query.filters
    checks = (
        ("name", lambda: pattern_match(f["name"], "/" + c.name) or pattern_match(f["name"], c.name)),
        ("id", lambda: c.id in query.ids),
        # a swarm task's container carries com.docker.swarm.task (berth.swarm.taskcontainer)
        ("is-task", lambda: f["is-task"] == [str("com.docker.swarm.task" in c.labels).lower()]),
        ("label", lambda: labels_match(f["label"], c.labels)),
        ("isolation", lambda: pattern_match(f["isolation"], (c.host_config.get("Isolation") or "default").lower())),
        ("exited", lambda: c.state.exit_code in query.exited and not c.state.running
         and c.state.started_at[:4] != "0001"),
        ("status", lambda: pattern_match(f["status"], c.state.status.value)),
        ("health", lambda: container_health(c) in f["health"]),
        ("volume", lambda: _has_volume(f["volume"], c)),
        ("ancestor", lambda: c.image_id in (query.ancestors or ())),
        ("network", lambda: _on_network(f["network"], networks(c))),
    )
    if not all(check() for key, check in checks if key in f):
        return False
    if query.publish or query.expose:
        return _port_matches(query, c)
    return True


def _has_volume(values: list[str], c: Container) -> bool:
    names = {m.get("Name") or m.get("Source") for m in c.mounts}
    destinations = {m.get("Destination") for m in c.mounts}
    return any(v in names or v in destinations for v in values)


def _on_network(values: list[str], networks: dict[str, str]) -> bool:
    return any(v in networks or any(net_id.startswith(v) for net_id in networks.values()) for v in values)


def _port_matches(query: ListQuery, c: Container) -> bool:
    for port in portmap.summary_ports(c.ports, c.config.get("ExposedPorts") or {}):
        if f"{port.get('PublicPort', 0)}/{port['Type']}" in query.publish:
            return True
        if f"{port['PrivatePort']}/{port['Type']}" in query.expose:
            return True
    return False


def _exit_code(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid filter 'exited={value}': strconv.Atoi: parsing \"{value}\": "
                              "invalid syntax") from None


def _ports(key: str, value: str) -> list[str]:
    """``80``, ``80/udp``, ``8000-8080/tcp`` as the set of ``port/proto`` they name."""
    if ":" in value:
        raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
    port, _, proto = value.partition("/")
    start, _, end = port.partition("-")
    for number in (start, end or start):
        if not number.isdigit():
            raise InvalidArgument(f'error while looking up for {key} {value}: strconv.ParseUint: parsing "{number}": '
                                  "invalid syntax")
    first, last = int(start), int(end or start)
    if not (0 <= first <= last <= 65535):
        raise InvalidArgument(f"error while looking up for {key} {value}: invalid range specified for port: {port}")
    return [f"{p}/{proto or 'tcp'}" for p in range(first, last + 1)]


def _container_named(containers: list[Container], value: str) -> Container:
    """``before``/``since``: a container by full ID or by name (not an ID prefix), as dockerd looks it up."""
    by_id = [c for c in containers if c.id == value]
    if by_id:
        return by_id[0]
    by_name = [c for c in containers if c.name == value.lstrip("/")]
    if len(by_name) == 1:
        return by_name[0]
    raise NotFound(f"No such container: {value}")


def _images_and_descendants(images: Any, references: list[str]) -> set[str]:
    """The IDs of the named images and of every image whose parent chain leads to one (dockerd's ancestor)."""
    found: set[str] = set()
    for ref in references:
        try:
            todo = [images.get(ref).id]
        except BerthError:
            continue  # dockerd only logs an image it cannot find: it matches no container
        while todo:
            image_id = todo.pop()
            if image_id not in found:
                found.add(image_id)
                todo.extend(images.children(image_id))
    return found
