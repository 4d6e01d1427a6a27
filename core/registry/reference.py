"""What the registry client adds to the image store's references (:mod:`berth.images.reference`).

Parsing and Docker's normalisation (``busybox`` = ``docker.io/library/busybox:latest``)
live in the image store; here: which host serves a repository's ``/v2/`` API, the
``fromImage``/``tag`` pair of ``POST /images/create``, and the names progress
lines and RepoDigests use.
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.images.reference import DEFAULT_DOMAIN, DEFAULT_TAG, LEGACY_DOMAIN, Reference, is_digest, is_tag, parse

__all__ = ["Reference", "parse", "api_host", "server_host", "from_query", "with_tag", "with_digest",
           "repo_digest", "DOCKER_HUB_API_HOST", "DEFAULT_DOMAIN"]

#: the host that serves Docker Hub's v2 API (docker.io itself does not)
DOCKER_HUB_API_HOST = "registry-1.docker.io"


def api_host(ref: Reference) -> str:
    """The host[:port] whose ``/v2/`` API serves ``ref``'s repository."""
    return DOCKER_HUB_API_HOST if ref.domain == DEFAULT_DOMAIN else ref.domain


def server_host(server: str | None) -> str | None:
    """The bare host[:port] of a ``login``/``logout`` server address, or None when it means Docker Hub.

    Accepts what users type: ``host:5000``, ``https://host:5000/v1/``, ``docker.io``.
    """
    host = server or ""
    for prefix in ("https://", "http://"):
        if host.startswith(prefix):
            host = host[len(prefix):]
    host = host.split("/", 1)[0]
    if host in ("", DEFAULT_DOMAIN, LEGACY_DOMAIN, DOCKER_HUB_API_HOST):
        return None
    return host


def with_tag(ref: Reference, tag: str | None) -> Reference:
    return ref.replace(tag=tag, digest=None)


def with_digest(ref: Reference, digest: str) -> Reference:
    return ref.replace(tag=None, digest=digest)


def manifest_reference(ref: Reference) -> str:
    """What the registry is asked for: the digest when there is one, else the tag."""
    return ref.digest or ref.tag or DEFAULT_TAG


def repo_digest(ref: Reference, digest: str) -> str:
    """The RepoDigests entry, familiar form: ``busybox@sha256:...``."""
    return f"{ref.familiar_name}@{digest}"


def from_query(image: str, tag: str | None) -> Reference:
    """``POST /images/create?fromImage=&tag=``: ``tag`` replaces any tag or digest in ``image``.

    As in Docker, ``tag`` may itself be a digest (``sha256:...``), and with neither (``fromImage=busybox``)
    the reference has no tag: every tag of the repository is pulled.
    """
    ref = parse(image, default_tag=False)
    if not tag:
        return ref
    if is_digest(tag):
        return with_digest(ref, tag)
    if not is_tag(tag):
        raise InvalidArgument(f"invalid reference format: tag {tag!r}")
    return with_tag(ref, tag)
