"""Image references: ``repo:tag``, ``repo@sha256:<hex>``, image IDs, and Docker's normalisation.

As Docker (``distribution/reference``): a name without a registry domain lives on
``docker.io``, and a one-component name there is under ``library/``. References
are *shown* in the familiar short form (``busybox:latest``,
``registry.example:5000/team/app:v1``), which is also how berth stores them.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"

# The grammar of Docker's distribution/reference, checked with str methods rather than ``re``:
# the CLI parses a reference for every pull and push, and ``re`` (with ``enum``) would be most
# of its start-up. Only ASCII counts as a letter or digit, as in Go's regexps.
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WORD = _ALNUM | {"_"}
_TAG_CHARS = _WORD | {".", "-"}
_HEX = frozenset("0123456789abcdef")
_SEPARATORS = (".", "_", "__")


def _is_component(text: str) -> bool:
    """``[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*``: alphanumeric runs joined by one separator each."""
    if not text or text[0] not in _LOWER_ALNUM or text[-1] not in _LOWER_ALNUM:
        return False
    separator = ""
    for ch in text:
        if ch in _LOWER_ALNUM:
            if separator and separator not in _SEPARATORS and separator.strip("-"):
                return False
            separator = ""
        else:
            separator += ch
    return True


def _is_path(text: str) -> bool:
    return all(_is_component(part) for part in text.split("/"))


def _is_label(text: str) -> bool:
    """A host name label: ``[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?``."""
    return bool(text) and text[0] in _ALNUM and text[-1] in _ALNUM and all(ch in _ALNUM or ch == "-" for ch in text)


def _is_domain(text: str) -> bool:
    """Dot-separated labels with an optional ``:port``."""
    host, colon, port = text.partition(":")
    if colon and not (port.isascii() and port.isdigit()):
        return False
    return all(_is_label(label) for label in host.split("."))


def is_tag(text: str) -> bool:
    """``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``."""
    return 0 < len(text) <= 128 and text[0] in _WORD and all(ch in _TAG_CHARS for ch in text)


def is_digest(text: str) -> bool:
    """``sha256:<64 lowercase hex>``."""
    return text.startswith("sha256:") and _is_hex(text[7:], 64, 64)


def _is_hex(text: str, shortest: int, longest: int) -> bool:
    return shortest <= len(text) <= longest and all(ch in _HEX for ch in text)


class Reference:
    """A parsed reference (immutable). ``domain``/``path`` are normalised (``docker.io``, ``library/busybox``).

    A plain class: dataclasses would cost the CLI ``inspect`` on every pull.
    """

    __slots__ = ("domain", "path", "tag", "digest")

    def __init__(self, domain: str, path: str, tag: str | None = None, digest: str | None = None):
        for name, value in (("domain", domain), ("path", path), ("tag", tag), ("digest", digest)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Reference is immutable: cannot set {name!r}")

    def _key(self) -> tuple:
        return (self.domain, self.path, self.tag, self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"Reference(domain={self.domain!r}, path={self.path!r}, tag={self.tag!r}, "
                f"digest={self.digest!r})")

    def replace(self, **changes: str | None) -> Reference:
        """A copy with some fields changed (``ref.replace(tag=None, digest=d)``)."""
        values = {"domain": self.domain, "path": self.path, "tag": self.tag, "digest": self.digest, **changes}
        return Reference(**values)

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
    return is_digest(value) or _is_hex(value, 64, 64)


def normalise_id(value: str) -> str:
    """``<64 hex>`` or ``sha256:<64 hex>`` -> ``sha256:<64 hex>``."""
    return value if value.startswith("sha256:") else "sha256:" + value


def looks_like_short_id(value: str) -> bool:
    """True when ``value`` could be a (possibly abbreviated) hex image ID."""
    return _is_hex(value[7:] if value.startswith("sha256:") else value, 1, 64)


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
        if not is_digest(digest):
            raise InvalidArgument(f"invalid reference format: digest {digest!r} in {original!r} is not sha256:<64 hex>")
    tag = None
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        ref, tag = ref[:colon], ref[colon + 1:]
        if not is_tag(tag):
            raise InvalidArgument(f"invalid reference format: tag {tag!r} in {original!r}")
    domain, path = _split_domain(ref)
    if not _is_domain(domain):
        raise InvalidArgument(f"invalid reference format: registry {domain!r} in {original!r}")
    if not _is_path(path):
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
