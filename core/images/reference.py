"""Image references: ``repo:tag``, ``repo@sha256:<hex>``, image IDs, and Docker's normalisation.

As Docker (``distribution/reference``): a name without a registry domain lives on
``docker.io``, and a one-component name there is under ``library/``. References
are *shown* in the familiar short form (``busybox:latest``,
``registry.example:5000/team/app:v1``), which is also how berth stores them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_RE = re.compile(rf"^{_DOMAIN}$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")
_SHORT_ID_RE = re.compile(r"^(?:sha256:)?[a-f0-9]{1,64}$")


@dataclass(frozen=True)
class Reference:
    """A parsed reference. ``domain``/``path`` are normalised (``docker.io``, ``library/busybox``)."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The repository as Docker shows it: ``busybox``, ``user/app``, ``host:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path[len(OFFICIAL_PREFIX):] if self.path.startswith(OFFICIAL_PREFIX) else self.path
        return self.name

    def __str__(self) -> str:
        """The familiar form with the tag or digest: ``busybox:latest``, ``busybox@sha256:...``."""
        if self.digest:
            return f"{self.familiar_name}@{self.digest}"
        return f"{self.familiar_name}:{self.tag or DEFAULT_TAG}"


def is_full_id(value: str) -> bool:
    """True for ``sha256:<64 hex>`` or a bare 64-hex ID."""
    return bool(_DIGEST_RE.match(value) or _HEX64_RE.match(value))


def normalise_id(value: str) -> str:
    """``<64 hex>`` or ``sha256:<64 hex>`` -> ``sha256:<64 hex>``."""
    return value if value.startswith("sha256:") else "sha256:" + value


def looks_like_short_id(value: str) -> bool:
    """True when ``value`` could be a (possibly abbreviated) hex image ID."""
    return bool(_SHORT_ID_RE.match(value))


def parse(ref: str, default_tag: bool = True) -> Reference:
    """Parse ``ref``; add tag ``latest`` when it has neither tag nor digest (and ``default_tag``).

    Raises :class:`InvalidArgument` with Docker's wording for malformed references.
    """
    original = ref
    if not ref or ref != ref.strip():
        raise InvalidArgument(f"invalid reference format: {original!r}")
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise InvalidArgument(f"invalid reference format: digest {digest!r} in {original!r} is not sha256:<64 hex>")
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
        if not _TAG_RE.match(tag):
            raise InvalidArgument(f"invalid reference format: tag {tag!r} in {original!r}")
    domain, path = _split_domain(ref)
    if not _DOMAIN_RE.match(domain):
        raise InvalidArgument(f"invalid reference format: registry {domain!r} in {original!r}")
    if not _PATH_RE.match(path):
        if path.lower() != path:
            raise InvalidArgument(f"invalid reference format: repository name {path!r} must be lowercase")
        raise InvalidArgument(f"invalid reference format: {original!r}")
    if len(path) > 255:
        raise InvalidArgument(f"invalid reference format: repository name in {original!r} is longer than 255 characters")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.lower() != first):
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_PREFIX + path
    return domain, path


def familiar_as_written(ref: str) -> str:
    """Docker's ``FamiliarString`` of ``ref`` with no tag added (``busybox`` stays ``busybox``): how
    dockerd names a tag in its events when the request gave none."""
    parsed = parse(ref, default_tag=False)
    text = f"{parsed.familiar_name}:{parsed.tag}" if parsed.tag else parsed.familiar_name
    return f"{text}@{parsed.digest}" if parsed.digest else text


def familiar(ref: str) -> str:
    """``ref`` parsed and shown as Docker shows it (``busybox`` -> ``busybox:latest``)."""
    return str(parse(ref))
