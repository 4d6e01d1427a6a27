"""Reading a repository's manifest without pulling: ``/distribution/{name}/json`` and plugin privileges.

``distribution_inspect`` answers what dockerd answers: the descriptor of the
manifest the reference names (media type, digest, size of the bytes the registry
sent) and the platforms it offers (an index's entries, or the one image's config).
``plugin_config`` fetches a managed plugin's config blob, from which the API
computes the privileges ``docker plugin install`` asks the user to grant.
"""

from __future__ import annotations

import json
from typing import Any

from berth.errors import InvalidArgument
from berth.registry import auth, manifest
from berth.registry import reference as refs
from berth.registry.pull import fetch_manifest, fetch_small_blob
from berth.registry.transport import Registry, with_session

PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"


async def distribution_inspect(service: Any, ref: refs.Reference, creds: auth.Credentials) -> dict[str, Any]:
    """``{"Descriptor": {...}, "Platforms": [...]}`` for ``ref`` on its registry."""

    async def run(session):
        registry, scopes = _client(service, session, ref, creds)
        body, content_type, digest = await fetch_manifest(registry, ref.path, refs.manifest_reference(ref), scopes)
        parsed = manifest.parse(body, content_type)
        descriptor = {"mediaType": parsed.media_type, "digest": digest, "size": len(body)}
        if isinstance(parsed, manifest.Index):
            platforms = [_platform(d.platform or {}) for d in parsed.manifests]
        else:
            config = json.loads(await fetch_small_blob(registry, ref.path, parsed.config, scopes))
            platforms = [_platform(config)]
        return {"Descriptor": descriptor, "Platforms": platforms}

    return await with_session(run)


async def plugin_config(service: Any, ref: refs.Reference, creds: auth.Credentials) -> dict[str, Any]:
    """The config of the plugin ``ref`` names (raises the registry's errors; not a plugin is a 400)."""

    async def run(session):
        registry, scopes = _client(service, session, ref, creds)
        body, content_type, _ = await fetch_manifest(registry, ref.path, refs.manifest_reference(ref), scopes)
        parsed = manifest.parse(body, content_type)
        if isinstance(parsed, manifest.Index) or parsed.config.media_type != PLUGIN_CONFIG:
            raise InvalidArgument(f"{ref} is not a plugin (its manifest has no {PLUGIN_CONFIG} config)")
        return json.loads(await fetch_small_blob(registry, ref.path, parsed.config, scopes))

    return await with_session(run)


def _client(service: Any, session, ref: refs.Reference, creds: auth.Credentials) -> tuple[Registry, tuple[str, ...]]:
    registry = Registry(session, refs.api_host(ref), creds, service.insecure, service.retry)
    return registry, (auth.scope(ref.path, ("pull",)),)


def _platform(source: dict[str, Any]) -> dict[str, Any]:
    """An OCI platform as dockerd shows it (``os.version``/``variant`` only when set)."""
    platform = {"architecture": source.get("architecture", ""), "os": source.get("os", "")}
    for key in ("os.version", "os.features", "variant"):
        if source.get(key):
            platform[key] = source[key]
    return platform
