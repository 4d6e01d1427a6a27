"""``search``: Docker Hub's v1 search API, or a registry's v2 catalog filtered by the term.

``term`` may start with a registry (``127.0.0.1:5000/busy``), as with Docker. A
registry that has no ``/v1/search`` (the distribution registry) is searched through
``/v2/_catalog`` (following its ``Link`` pagination), keeping repositories whose
name contains the term; those results have no description or stars. Results are
the API's objects: ``name``, ``description``, ``star_count``, ``is_official``,
``is_automated``; ``filters`` are Docker's ``stars``, ``is-official``, ``is-automated``.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from berth.errors import InvalidArgument
from berth.images.reference import DEFAULT_DOMAIN
from berth.registry import auth
from berth.registry.errors import RegistryNotFound
from berth.registry.transport import Registry, RetryPolicy

DOCKER_HUB_INDEX = "index.docker.io"
MAX_CATALOG_PAGES = 100


def split_term(term: str) -> tuple[str, str]:
    """(index host, search term): ``host:5000/busy`` -> (``host:5000``, ``busy``); Docker Hub by default."""
    first, sep, rest = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return (DOCKER_HUB_INDEX if first in (DEFAULT_DOMAIN, DOCKER_HUB_INDEX) else first), rest
    return DOCKER_HUB_INDEX, term


def parse_filters(filters: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in filters.items():
        value = values[-1] if values else ""
        if key == "stars":
            try:
                out["stars"] = int(value)
            except ValueError:
                raise InvalidArgument(f"invalid filter 'stars={value}': expected a number") from None
        elif key in ("is-official", "is-automated"):
            if value.lower() not in ("true", "false"):
                raise InvalidArgument(f"invalid filter '{key}={value}': expected true or false")
            out[key] = value.lower() == "true"
        else:
            raise InvalidArgument(f"invalid filter {key!r}; search accepts stars, is-official, is-automated")
    return out


def apply_filters(results: list[dict], filters: dict[str, Any], limit: int) -> list[dict]:
    kept = []
    for r in results:
        if "stars" in filters and int(r.get("star_count") or 0) < filters["stars"]:
            continue
        if "is-official" in filters and bool(r.get("is_official")) != filters["is-official"]:
            continue
        if "is-automated" in filters and bool(r.get("is_automated")) != filters["is-automated"]:
            continue
        kept.append(r)
    return kept[:limit] if limit > 0 else kept


async def search(session: aiohttp.ClientSession, term: str, limit: int = 25,
                 filters: dict[str, list[str]] | None = None, creds: auth.Credentials = auth.ANONYMOUS,
                 insecure: list[str] = (), retry: RetryPolicy = RetryPolicy()) -> list[dict]:
    """Search the index named by ``term``; at most ``limit`` results (Docker's default 25, max 100)."""
    if limit < 1 or limit > 100:
        raise InvalidArgument(f"invalid limit {limit}: must be between 1 and 100")
    wanted = parse_filters(filters or {})
    host, text = split_term(term)
    registry = Registry(session, host, creds, insecure, retry)
    try:
        resp = await registry.request("GET", "/v1/search", params={"q": text, "n": str(limit)},
                                      what=f"search for {text!r}")
        data = await resp.json(content_type=None)
        resp.release()
        results = [_result(r) for r in data.get("results") or []]
    except RegistryNotFound:
        results = await _catalog_search(registry, text)
    return apply_filters(results, wanted, limit)


def _result(r: dict) -> dict:
    return {"name": r.get("name", ""), "description": r.get("description") or "",
            "star_count": int(r.get("star_count") or 0), "is_official": bool(r.get("is_official")),
            "is_automated": bool(r.get("is_automated"))}


async def _catalog_search(registry: Registry, text: str) -> list[dict]:
    names = await registry.list_pages("/v2/_catalog?n=1000", "repositories", ("registry:catalog:*",),
                                      f"catalog search for {text!r}", MAX_CATALOG_PAGES)
    needle = text.lower()
    return [{"name": f"{registry.host}/{n}", "description": "", "star_count": 0, "is_official": False,
             "is_automated": False} for n in sorted(names) if needle in n.lower()]
