"""Create: validate a create request, merge it with the image config, store the container."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from berth import log
from berth.containers import names, ports as portmap, spec as ocispec
from berth.containers.model import Container, now_rfc3339
from berth.containers.restart import RestartPolicy
from berth.errors import Conflict, InvalidArgument, NotImplementedYet


class CreateMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    async def create(self, body: dict[str, Any], name: str | None) -> tuple[Container, list[str]]:
        """Store a new container; return it with the warnings for the API's ``Warnings`` (Docker's
        way of saying an option was accepted although the host cannot fully honour it)."""
        warnings: list[str] = []
        if not isinstance(body, dict) or not body.get("Image"):
            raise InvalidArgument("config is missing the Image field")
        image = self.images.get(body["Image"])
        host_config = dict(body.get("HostConfig") or {})
        RestartPolicy.from_host_config(host_config)  # validate now: Docker refuses bad policies at create
        name = names.validate(name) if name else names.generate(self.store.names())
        for other in self.store.containers.values():
            if other.name == name:
                raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
        network = self._network_for(host_config)
        image_cfg = (image.config or {}).get("config") or {}
        config = self._merged_config(body, image_cfg)
        argv = ocispec.command(config, image_cfg)  # fails now, as Docker does, when there is no command
        portmap.requested(host_config, config.get("ExposedPorts") or {})  # validate -p now
        cid = secrets.token_hex(32)
        endpoint_cfg = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).get(network.name) or {}
        if endpoint_cfg.get("Aliases") and network.name == "bridge":
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        c = Container(
            id=cid, name=name, created=now_rfc3339(), image_id=image.id, config=config, host_config=host_config,
            path=argv[0], args=argv[1:], graph_driver=self.graph.name, exec_driver=self.exec.name,
            layer_id=cid, hostname=config.get("Hostname") or cid[:12], network=network.name,
            endpoints={network.name: self._endpoint_record(network, endpoint_cfg)},
            labels=dict(config.get("Labels") or {}),
        )
        c.config["Hostname"] = c.hostname
        with log.job("container.create", container_id=cid[:12], image_id=image.id[7:19], driver=self.graph.name):
            await asyncio.to_thread(self.images.create_container_layers, cid, image)
            try:
                if self.volumes is not None:
                    await asyncio.to_thread(self.volumes.prepare, c, image_cfg)
                self.store.save(c)
            except BaseException:
                await asyncio.to_thread(self.images.remove_container_layers, cid)
                raise
        self.event(c, "create")
        return c, warnings

    @staticmethod
    def _endpoint_record(network, endpoint_cfg: dict[str, Any]) -> dict[str, Any]:
        ipam = endpoint_cfg.get("IPAMConfig") or {}
        return {"network_id": network.id, "aliases": list(endpoint_cfg.get("Aliases") or []),
                "ip": ipam.get("IPv4Address") or ""}

    def _network_for(self, host_config: dict[str, Any]):
        mode = host_config.get("NetworkMode") or "default"
        if mode.startswith("container:"):
            raise NotImplementedYet("--network container:<name> is not supported yet")
        if mode == "default":
            mode = self.networks.default_network()
        host_config["NetworkMode"] = mode
        return self.networks.find(mode)

    @staticmethod
    def _merged_config(body: dict[str, Any], image_cfg: dict[str, Any]) -> dict[str, Any]:
        """Docker fills the container's Config from the image at create time; inspect shows the result."""
        keys = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
                "Labels", "StopSignal", "StopTimeout", "ExposedPorts")
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
        return config
