"""The daemon's registry operations, bound to one engine: what the API routes call.

Holds the distribution metadata (:mod:`berth.registry.distmeta`) and turns the
daemon's settings (``insecure-registries``, the data-root) into the options of
each pull, push, search and login; publishes Docker's ``pull``/``push`` events.
"""

from __future__ import annotations

import os
from typing import Any

from berth import log
from berth.registry import auth, pull, push, search
from berth.registry import reference as refs
from berth.registry.distmeta import DistributionMetadata
from berth.registry.errors import Unauthorized
from berth.registry.progress import Progress
from berth.registry.transfer import Transfer, TransferOptions
from berth.registry.transport import Registry, RetryPolicy, with_session


class RegistryService:
    """One per engine (created on first use by :func:`service_of`)."""

    def __init__(self, engine: Any, retry: RetryPolicy = RetryPolicy()):
        self.engine = engine
        self.retry = retry
        data_root = os.path.abspath(engine.config.data_root)
        self.meta = DistributionMetadata(data_root)
        self.tmp_dir = os.path.join(data_root, "image", "tmp")

    @property
    def insecure(self) -> list[str]:
        return list(getattr(self.engine.config, "insecure_registries", None) or [])

    async def pull(self, ref: refs.Reference, progress: Progress, creds: auth.Credentials = auth.ANONYMOUS,
                   platform: str | None = None) -> pull.PullResult:
        options = pull.PullOptions(platform=platform, creds=creds, insecure=self.insecure, retry=self.retry)
        every_tag = not (ref.tag or ref.digest)  # the API's fromImage without a tag: all of the repository's
        return await self._transfer(pull.Puller, "pull", ref, progress, options,
                                    method="pull_all_tags" if every_tag else "pull")

    async def push(self, ref: refs.Reference, progress: Progress,
                   creds: auth.Credentials = auth.ANONYMOUS) -> push.PushResult:
        options = push.PushOptions(creds=creds, insecure=self.insecure, retry=self.retry)
        progress.status(f"The push refers to repository [{ref.name}]", detail=False)
        return await self._transfer(push.Pusher, "push", ref, progress, options)

    async def _transfer(self, kind: type[Transfer], action: str, ref: refs.Reference, progress: Progress,
                        options: TransferOptions, method: str | None = None) -> Any:
        """Run ``kind(...).<method>(ref)`` (a pull or a push; ``method`` defaults to ``action``) on a session of
        its own; publish Docker's event."""

        transfers: list[Transfer] = []

        async def run(session):
            transfers.append(kind(self.engine.images, self.meta, session, progress, options, self.tmp_dir))
            return await getattr(transfers[0], method or action)(ref)

        with log.job(f"image.{action}", reference=str(ref), driver=self.engine.graph.name) as ev:
            try:
                result = await with_session(run)
            finally:
                if transfers:
                    ev.update(transfers[0].phases.fields())  # where the time went, failed or not
            image_id = None if isinstance(result, list) else getattr(result, "image_id", None) or getattr(result, "id", None)
            if image_id:
                ev["image_id"] = str(image_id)[7:19]
        # dockerd: ID "busybox:latest" (just "busybox" for every tag), name "busybox"
        self.engine.events.image(action, str(ref) if ref.tag or ref.digest else ref.familiar_name, ref.familiar_name)
        return result

    async def search(self, term: str, limit: int, filters: dict[str, list[str]],
                     creds: auth.Credentials = auth.ANONYMOUS) -> list[dict]:
        return await with_session(lambda s: search.search(s, term, limit, filters, creds, self.insecure, self.retry))

    async def login(self, server: str | None, creds: auth.Credentials) -> str:
        """Check ``creds`` against ``server`` (Docker Hub when empty); raises :class:`Unauthorized` if refused."""
        host = refs.server_host(server) or refs.DOCKER_HUB_API_HOST

        async def run(session):
            await Registry(session, host, creds, self.insecure, self.retry).ping()

        try:
            await with_session(run)
        except Unauthorized as exc:
            raise Unauthorized(f"login to {server or refs.DEFAULT_DOMAIN} failed: wrong username or password "
                               f"({exc.message})") from None
        return "Login Succeeded"


_SERVICES: dict[int, RegistryService] = {}


def service_of(engine: Any) -> RegistryService:
    """The engine's registry service (one per engine object)."""
    svc = _SERVICES.get(id(engine))
    if svc is None or svc.engine is not engine:
        svc = _SERVICES[id(engine)] = RegistryService(engine)
    return svc
