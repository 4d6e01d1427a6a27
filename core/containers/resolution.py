"""A container's name resolution files: /etc/hostname, /etc/hosts and /etc/resolv.conf, from its endpoints.

Written before the process starts and rewritten in place while it runs, whenever it joins
or leaves a network, or a container it links to moves (dockerd's "parent update"). A
container in another's network namespace (``container:X``) uses X's files.
"""

from __future__ import annotations

from berth import log
from berth.containers import endpoints, etcfiles, legacylinks, netmode
from berth.containers.model import Container
from berth.errors import NotFound, Unclassified


class ResolutionMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    def _write_etc_files(self, c: Container, in_place: bool = False) -> dict[str, str]:
        """Write the container's hostname, hosts and resolv.conf from its endpoints; return {container path: host path}.

        A container on a user-defined network asks the embedded resolver (127.0.0.11); once it
        did, it keeps doing so for the rest of the run, as dockerd never rewrites it back.
        """
        hc = c.host_config
        joined = [r for r in c.endpoints.values() if endpoints.is_joined(r)]
        # dockerd's lines: each endpoint's IPv4 address, then its IPv6 address
        addresses = [r[key].split("/")[0] for r in joined for key in ("ipv4_address", "ipv6_address") if r.get(key)]
        embedded = any(r.get("dns") for r in joined) or (in_place and self._resolves_embedded(c))
        search = hc.get("DnsSearch") or self.dns.get("dns_search", [])
        options = hc.get("DnsOptions") or self.dns.get("dns_opts", [])
        # drivers say whether a server outside the container can be reached (a loopback-only network cannot)
        reachable = not joined or any(r.get("external_dns", True) for r in joined)
        if embedded:  # Docker's embedded resolver: the real servers are its upstreams, not the container's
            resolv = etcfiles.embedded_resolv_conf(search, options)
        elif not reachable:  # only the servers the user named, not the daemon's or the host's
            resolv = etcfiles.resolv_conf_content(hc.get("Dns") or [], search, options, reachable=False)
        else:
            resolv = etcfiles.resolv_conf_content(hc.get("Dns") or self.dns.get("dns", []), search, options)
        links = legacylinks.hosts_lines(c, self.get) if "bridge" in c.endpoints else []
        hosts = etcfiles.hosts_content(c.hostname, addresses, hc.get("ExtraHosts"), links,
                                       c.config.get("Domainname") or "")
        return etcfiles.write_etc_files(self.store.directory(c.id), c.hostname, hosts, resolv, in_place)

    def _resolves_embedded(self, c: Container) -> bool:
        return etcfiles.points_at_embedded_dns(self.store.directory(c.id))

    def _etc_files(self, c: Container) -> dict[str, str]:
        """The files to bind at start: the container's own, or those of X for ``container:X`` (shared, as in dockerd)."""
        ref = netmode.container_ref(c.host_config.get("NetworkMode") or "")
        if ref is None:
            return self._write_etc_files(c)
        other = self.get(ref)
        c.hostname = other.hostname
        c.config["Hostname"] = other.hostname
        c.config["Domainname"] = other.config.get("Domainname") or ""
        return etcfiles.paths(self.store.directory(other.id))

    def etc_paths(self, c: Container) -> dict[str, str]:
        """Where the container's hostname, hosts and resolv.conf are (X's for ``container:X``), for inspect."""
        ref = netmode.container_ref(c.host_config.get("NetworkMode") or "")
        try:
            owner = self.get(ref) if ref else c
        except NotFound:
            owner = c
        return etcfiles.paths(self.store.directory(owner.id))

    def _refresh_linking_containers(self, child: Container) -> None:
        """A container that others link to got a new address: rewrite their /etc/hosts (dockerd's parent update)."""
        for parent in list(self.store.containers.values()):
            if parent.id != child.id and parent.state.running and "bridge" in parent.endpoints \
                    and legacylinks.links_to(parent, child):
                try:
                    self._write_etc_files(parent, in_place=True)
                except OSError as exc:
                    log.get().warning("container.link_update", container_id=parent.short_id, error=str(exc))

    def remove_link(self, name: str) -> None:
        """``DELETE /containers/PARENT/ALIAS?link=1``: the parent forgets the link (its /etc/hosts too,
        at once; its environment at its next start), both containers stay. dockerd's errors."""
        if "/" not in name.strip("/"):
            self.get(name)  # 404 for a container that does not exist, else dockerd's refusal
            raise Unclassified("Conflict, cannot remove the default link name of the container")
        self.linked_child(name)
        parent, alias = self._link_parent(name)
        legacylinks.without_alias(parent, alias)
        self.store.save(parent)
        if parent.state.running and "bridge" in parent.endpoints:
            self._write_etc_files(parent, in_place=True)

    def linked_child(self, name: str) -> Container:
        """The container a link name ``parent/alias`` stands for (dockerd resolves those names too)."""
        parent, alias = self._link_parent(name)
        for linked_alias, child in legacylinks.children(parent, self.get):
            if linked_alias == alias:
                return child
        raise NotFound(f"No such container: {name}")

    def _link_parent(self, name: str) -> tuple[Container, str]:
        parent_name, _, alias = name.strip("/").rpartition("/")
        try:
            return self.get(parent_name), alias
        except NotFound:
            raise NotFound(f"No such container: {name}") from None
