"""Create: validate a create request, merge it with the image config, store the container."""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import Any

from berth import crashpoints, log
from berth.completion import runs_to_completion
from berth.containers import endpoints, health, hostconfig, legacylinks, names, netmode, ports as portmap, spec as ocispec
from berth.containers.model import Container, now_rfc3339
from berth.containers.restart import RestartPolicy
from berth.containers.signals import parse_signal
from berth.errors import InvalidArgument, NotFound
from berth.volumes import parse_volumes_from


class CreateMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    @runs_to_completion
    async def create(self, body: dict[str, Any], name: str | None) -> tuple[Container, list[str]]:
        """Store a new container; return it with the warnings for the API's ``Warnings`` (Docker's
        way of saying an option was accepted although the host cannot fully honour it)."""
        warnings: list[str] = []
        if not isinstance(body, dict) or not body.get("Image"):
            raise InvalidArgument("config is missing the Image field")
        image = self.images.get(body["Image"])
        host_config = dict(body.get("HostConfig") or {})
        RestartPolicy.from_host_config(host_config)  # validate now: Docker refuses bad policies at create
        host_config["LogConfig"] = self.log_defaults.settle(host_config.get("LogConfig"))
        health.validate(body.get("Healthcheck"))
        if body.get("StopSignal"):
            parse_signal(body["StopSignal"])  # dockerd's 400 "Invalid signal: X" at create, not at the first stop
        warnings += hostconfig.prepare(host_config, body, self.exec.features(), lambda ref: self.get(ref).id,
                                       remapped=self.idmap is not None)
        volumes_from = self._volumes_from(host_config)
        name = names.validate(name) if name else names.generate(self.store.names())
        self.store.check_name_free(name)
        host_config["NetworkMode"] = host_config.get("NetworkMode") or netmode.DEFAULT
        netmode.check(body, host_config)
        netmode.resolve_container_mode(host_config, lambda ref: self.get(ref).id)
        networks = self._endpoints_at_create(body, host_config, name)
        image_cfg = (image.config or {}).get("config") or {}
        config = self._merged_config(body, image_cfg)
        argv = ocispec.command(config, image_cfg)  # fails now, as Docker does, when there is no command
        portmap.requested(host_config, config.get("ExposedPorts") or {})  # validate -p now
        cid = secrets.token_hex(32)
        c = Container(
            id=cid, name=name, created=now_rfc3339(), image_id=image.id, config=config, host_config=host_config,
            path=argv[0], args=argv[1:], graph_driver=self.graph.name, exec_driver=self.exec.name,
            layer_id=cid, hostname=config.get("Hostname") or self._default_hostname(host_config, cid),
            endpoints=networks,
            labels=dict(config.get("Labels") or {}),
        )
        c.config["Hostname"] = c.hostname
        with log.job("container.create", container_id=cid[:12], image_id=image.id[7:19], driver=self.graph.name), \
                self.store.reserving_name(name, cid):
            await asyncio.to_thread(self.images.create_container_layers, cid, image,
                                    dict(host_config.get("StorageOpt") or {}))
            crashpoints.reached("create.after_layers")
            try:
                if self.volumes is not None:
                    await asyncio.to_thread(self.volumes.prepare, c, image_cfg, volumes_from)
                self.store.save(c)
            except BaseException:
                await asyncio.to_thread(self.images.remove_container_layers, cid)
                raise
        self.event(c, "create")
        return c, warnings

    def _endpoints_at_create(self, body: dict[str, Any], host_config: dict[str, Any],
                             name: str) -> dict[str, dict[str, Any]]:
        """The endpoint settings of a new container: its network mode's network and any other
        ``EndpointsConfig`` entry (API 1.44), keyed by network name. A network that does not exist
        (yet) is kept by the name given: dockerd answers 404 at start, not at create."""
        primary = netmode.network_name(host_config["NetworkMode"], self.networks.default_network())
        if self.networks.bridge_disabled and host_config["NetworkMode"] in (netmode.DEFAULT, "bridge"):
            body["NetworkDisabled"] = True  # dockerd with --bridge none: no network, recorded in Config
        if primary is None or body.get("NetworkDisabled"):
            # container:X has no endpoint of its own; NetworkDisabled: none at all (dockerd's loopback-only sandbox)
            return {}
        configs = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        if not isinstance(configs, dict):
            raise InvalidArgument("invalid container config: NetworkingConfig.EndpointsConfig must be an object")
        out: dict[str, dict[str, Any]] = {}
        for key in dict.fromkeys([primary, *configs]):
            cfg = configs.get(key) or (configs.get(netmode.DEFAULT) if key == primary else None)
            network = self.networks.find(primary if key == netmode.DEFAULT else key, missing_ok=True)
            record = endpoints.new_record(cfg)
            if network is not None:
                endpoints.check_settings(network, record)
            out.setdefault(network.name if network is not None else key, record)
        first = next(iter(out.values()))
        if body.get("MacAddress") and not first.get("mac"):  # the container-wide field of API < 1.44
            first["mac"] = body["MacAddress"]
        self._place_links(host_config, out, primary, name)
        return out

    def _volumes_from(self, host_config: dict[str, Any]) -> list[tuple[Container, str]]:
        """``--volumes-from name[:ro|rw]``: the containers (which must exist) and the modes."""
        found = []
        for item in host_config.get("VolumesFrom") or []:
            ref, mode = parse_volumes_from(item)
            try:
                found.append((self.get(ref), mode))
            except NotFound:
                raise InvalidArgument(f"No such container: {ref}") from None
        return found

    def _place_links(self, host_config: dict[str, Any], networks: dict[str, dict[str, Any]], primary: str,
                     name: str) -> None:
        """Legacy links: on the default bridge checked and kept normalised in ``HostConfig.Links``; on a
        user-defined network they become the endpoint's ``Links`` (aliases its resolver answers), and
        ``HostConfig.Links`` shows null there, as in dockerd."""
        links = host_config.get("Links") or []
        if not links:
            return
        if not netmode.is_user_defined(primary):
            host_config["Links"] = legacylinks.normalise(name, links, self.get)
            return
        for link in links:
            legacylinks.parse(link)
        first = next(iter(networks.values()))
        first["links"] = first["links"] or list(links)
        host_config["Links"] = None

    @staticmethod
    def _default_hostname(host_config: dict[str, Any], cid: str) -> str:
        """The short id; with ``--network host`` the host's name, as dockerd does."""
        if host_config.get("NetworkMode") == "host":
            return socket.gethostname()
        return cid[:12]

    @staticmethod
    def _merged_config(body: dict[str, Any], image_cfg: dict[str, Any]) -> dict[str, Any]:
        """Docker fills the container's Config from the image at create time; inspect shows the result."""
        keys = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
                "Labels", "StopSignal", "StopTimeout", "ExposedPorts", "OnBuild", "ArgsEscaped", "MacAddress",
                "NetworkDisabled")
        config = {k: body.get(k) for k in keys}
        env = {}
        for item in [*(image_cfg.get("Env") or []), *(body.get("Env") or [])]:
            env[item.partition("=")[0]] = item
        config["Env"] = list(env.values())
        if body.get("Entrypoint") is None:
            config["Entrypoint"] = image_cfg.get("Entrypoint")
            if not body.get("Cmd"):
                config["Cmd"] = image_cfg.get("Cmd")
        config["Cmd"] = config["Cmd"] or None
        for key in ("WorkingDir", "User", "StopSignal"):
            config[key] = body.get(key) or image_cfg.get(key) or ""
        config["Labels"] = {**(image_cfg.get("Labels") or {}), **(body.get("Labels") or {})}
        config["ExposedPorts"] = {**(image_cfg.get("ExposedPorts") or {}), **(body.get("ExposedPorts") or {})}
        config["Volumes"] = {**(image_cfg.get("Volumes") or {}), **(body.get("Volumes") or {})} or None
        for key in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
            config[key] = bool(config[key])
        # omitted when empty, as Docker's omitempty does; CMD-SHELL probes run in the request's Shell
        healthcheck = health.merge(body.get("Healthcheck"), image_cfg.get("Healthcheck"))
        if healthcheck is not None:
            config["Healthcheck"] = healthcheck
        if body.get("Shell"):
            config["Shell"] = list(body["Shell"])
        return config
