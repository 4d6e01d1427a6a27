"""Legacy container links (``--link name:alias``), as dockerd keeps them.

On the default ``bridge`` network a link gives the linking container (the *parent*) an
``/etc/hosts`` line for the linked one (the *child*: ``ip alias hostname name``) and the
environment variables Docker has always set (``ALIAS_PORT_80_TCP=tcp://ip:80``,
``ALIAS_NAME=/parent/alias``, ``ALIAS_ENV_<var>``...). ``HostConfig.Links`` keeps them in
dockerd's normalised form ``/child:/parent/alias``. On a user-defined network a link is only
an alias that the parent's embedded resolver answers for the child's name.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from berth.errors import InvalidArgument, NotFound, Unclassified

Find = Callable[[str], Any]  # a container by name or id; raises NotFound


def parse(link: str) -> tuple[str, str]:
    """``name:alias``, ``name`` or the normalised ``/name:/parent/alias`` -> (name, alias)."""
    if not link:
        raise InvalidArgument("empty string specified for links")
    parts = link.split(":")
    if len(parts) > 2:
        raise InvalidArgument(f"bad format for links: {link}")
    if len(parts) == 1:
        return link, link
    name, alias = parts
    if name.startswith("/"):  # as inspect shows them: a client may send a container's HostConfig back
        return name[1:], alias.rsplit("/", 1)[-1]
    return name, alias


def normalise(parent_name: str, links: list[str], find: Find) -> list[str]:
    """Check each link of a new container on the default bridge (dockerd's ``registerLinks``) and
    return them as ``/child:/parent/alias``."""
    out = []
    for link in links:
        name, alias = parse(link)
        try:
            child = find(name)
        except NotFound as exc:
            raise InvalidArgument(f"could not get container for {name}: {exc.message}") from None
        if (child.host_config.get("NetworkMode") or "") == "host":
            raise InvalidArgument("conflicting options: host type networking can't be used with links. "
                                  "This would result in undefined behavior")
        out.append(f"/{child.name}:/{parent_name}/{alias}")
    return out


def children(parent, find: Find) -> list[tuple[str, Any]]:
    """(alias, child) for each link of ``parent`` whose child still exists (a removed child drops its link)."""
    out = []
    for link in parent.host_config.get("Links") or []:
        name, alias = parse(link)
        try:
            out.append((alias, find(name)))
        except NotFound:
            continue
    return out


def _bridge_address(child) -> str:
    record = child.endpoints.get("bridge") or {}
    return (record.get("ipv4_address") or "").split("/")[0]


def check_children(parent, find: Find) -> None:
    """At start: every child must be on the default bridge and running (dockerd's errors)."""
    for alias, child in children(parent, find):
        if "bridge" not in child.endpoints:
            raise Unclassified(f"Cannot link to /{child.name}, as it does not belong to the default network")
        if not child.state.running or not _bridge_address(child):
            raise Unclassified(f"Cannot link to a non running container: /{child.name} AS /{parent.name}/{alias}")


def hosts_lines(parent, find: Find) -> list[tuple[str, str]]:
    """(address, names) for the parent's /etc/hosts: the alias, the child's hostname and, if other, its name."""
    out = []
    for alias, child in children(parent, find):
        address = _bridge_address(child)
        if not address:
            continue
        names = [alias, child.hostname] + ([child.name] if alias != child.name else [])
        out.append((address, " ".join(names)))
    return out


def rename(containers: Iterable[Any], old: str, new: str) -> list[Any]:
    """A container was renamed: rewrite the links that name it, as child or as parent (dockerd keeps
    links by container, so they follow a rename). Returns the containers whose links changed."""
    changed = []
    for c in containers:
        links = c.host_config.get("Links") or []
        updated = [_renamed(link, old, new) for link in links]
        if updated != links:
            c.host_config["Links"] = updated
            changed.append(c)
    return changed


def _renamed(link: str, old: str, new: str) -> str:
    if not link.startswith("/"):
        return link
    child, _, rest = link[1:].partition(":")
    parent, _, alias = rest[1:].rpartition("/")
    return f"/{new if child == old else child}:/{new if parent == old else parent}/{alias}"


def link_names(child, containers: Iterable[Any]) -> list[str]:
    """The names ``/parent/alias`` a child is also known by while its parents exist (``ps`` lists them)."""
    names = []
    for parent in containers:
        for link in parent.host_config.get("Links") or []:
            name, alias = parse(link)
            if name in (child.name, child.id):
                names.append(f"/{parent.name}/{alias}")
    return names


def without_alias(parent, alias: str) -> bool:
    """Drop the parent's link named ``alias`` (``rm --link parent/alias``); False when it had none.
    No link left is null, as dockerd writes it."""
    links = parent.host_config.get("Links") or []
    kept = [link for link in links if parse(link)[1] != alias]
    if len(kept) == len(links):
        return False
    parent.host_config["Links"] = kept or None
    return True


def links_to(parent, child) -> bool:
    return any(parse(link)[0] in (child.name, child.id) for link in parent.host_config.get("Links") or [])


def environment(parent, find: Find) -> list[str]:
    """The variables every link adds to the parent's environment (its own ``Env`` overrides them)."""
    env: list[str] = []
    for alias, child in children(parent, find):
        env += link_env(alias, f"/{parent.name}/{alias}", _bridge_address(child), child.config)
    return env


def link_env(alias: str, link_name: str, address: str, child_config: dict[str, Any]) -> list[str]:
    """Docker's link variables for one child: its ports (the lowest is ``ALIAS_PORT``), name and environment."""
    prefix = alias.upper().replace("-", "_")
    ports = sorted((_port(key) for key in child_config.get("ExposedPorts") or {}),
                   key=lambda p: (p[0], p[1] != "tcp"))
    env = []
    if ports:
        env.append(f"{prefix}_PORT={ports[0][1]}://{address}:{ports[0][0]}")
    env += _range_env(prefix, address, ports)
    for port, proto in ports:
        base = f"{prefix}_PORT_{port}_{proto.upper()}"
        env += [f"{base}={proto}://{address}:{port}", f"{base}_ADDR={address}", f"{base}_PORT={port}",
                f"{base}_PROTO={proto}"]
    env.append(f"{prefix}_NAME={link_name}")
    for item in child_config.get("Env") or []:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):  # set by every image build, meaningless to the parent
            env.append(f"{prefix}_ENV_{key}={value}")
    return env


def _range_env(prefix: str, address: str, ports: list[tuple[int, str]]) -> list[str]:
    """``_START``/``_END`` variables for each run of three or more contiguous ports (Docker's port ranges)."""
    env, i = [], 0
    while i < len(ports):
        j = _run_end(ports, i)
        if j > i + 1:
            (first, proto), (last, last_proto) = ports[i], ports[j]
            base = f"{prefix}_PORT_{first}_{proto.upper()}"
            end = f"{prefix}_PORT_{first}_{last_proto.upper()}"
            env += [f"{base}_START={proto}://{address}:{first}", f"{base}_ADDR={address}", f"{base}_PROTO={proto}",
                    f"{base}_PORT_START={first}", f"{end}_END={last_proto}://{address}:{last}",
                    f"{end}_PORT_END={last}"]
            i = j + 1
        else:
            i += 1
    return env


def _run_end(ports: list[tuple[int, str]], start: int) -> int:
    """The index of the last port of the run that begins at ``start`` (each next port at most one higher)."""
    expected = ports[start][0]
    for k in range(start + 1, len(ports)):
        if ports[k][0] > expected + 1:
            return k - 1
        expected += 1
    return len(ports) - 1


def _port(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    return int(number), (proto or "tcp").lower()


def dns_aliases(links: Iterable[str]) -> dict[str, str]:
    """A user-defined network's links: {alias: name} that the parent's resolver answers."""
    return {alias: name for name, alias in (parse(link) for link in links)}
