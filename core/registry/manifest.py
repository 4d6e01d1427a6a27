"""Manifests, manifest lists and OCI indexes: media types, parsing, platform selection.

Docker v2 schema 2 and OCI image manifests describe one image (a config blob and
layer blobs); Docker manifest lists and OCI indexes point at one manifest per
platform. Schema 1 (signed, deprecated since 2017) is refused with a clear error,
as current Docker does.
"""

from __future__ import annotations

import json
import platform as host_platform
from dataclasses import dataclass, field
from typing import Any

from berth.errors import InvalidArgument, NotFound, NotImplementedYet

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_NONDIST_PREFIX = "application/vnd.oci.image.layer.nondistributable."

#: what a pull accepts, most preferred first (sent as one Accept header each)
ACCEPT = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)

#: buildkit marks provenance/SBOM manifests in an index with this annotation
ATTESTATION_ANNOTATION = "vnd.docker.reference.type"

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
         "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x",
         "riscv64": "riscv64"}


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest says about one blob."""

    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Descriptor":
        try:
            return cls(media_type=data.get("mediaType", ""), digest=data["digest"], size=int(data["size"]),
                       urls=tuple(data.get("urls") or ()), platform=data.get("platform"),
                       annotations=dict(data.get("annotations") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"malformed descriptor in manifest: {exc}: {data!r}") from None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host() -> Platform:
    """The platform of this machine, in OCI terms (``linux/amd64``, ``linux/arm/v7``)."""
    machine = host_platform.machine()
    arch = _ARCH.get(machine, machine)
    variant = {"aarch64": "v8", "arm64": "v8", "armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return Platform("linux", arch, variant)


def parse_platform(text: str | None) -> Platform:
    """``linux/arm64/v8``, ``linux/amd64``, ``arm64``: the ``--platform`` option; empty means this host."""
    if not text:
        return host()
    parts = text.lower().split("/")
    if len(parts) == 1:
        return Platform("linux", _ARCH.get(parts[0], parts[0]))
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
    return Platform(parts[0], _ARCH.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else "")


@dataclass
class ImageManifest:
    """A v2 schema 2 or OCI image manifest."""

    media_type: str
    config: Descriptor
    layers: list[Descriptor]
    raw: bytes


@dataclass
class Index:
    """A Docker manifest list or an OCI index."""

    media_type: str
    manifests: list[Descriptor]
    raw: bytes


def parse(raw: bytes, content_type: str | None) -> ImageManifest | Index:
    """Parse a manifest body; ``content_type`` is the response's, the body's ``mediaType`` wins."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"the registry returned a manifest that is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument("the registry returned a manifest that is not a JSON object")
    media_type = data.get("mediaType") or (content_type or "").split(";")[0].strip()
    if data.get("schemaVersion") == 1 or media_type in DOCKER_SCHEMA1:
        raise NotImplementedYet("this image uses the Docker image manifest schema 1, which berth does not support "
                                "(it was deprecated in 2017); push it again with a current client to convert it")
    if not media_type:
        # OCI allows mediaType to be absent; the shape tells which it is
        media_type = OCI_INDEX if "manifests" in data else OCI_MANIFEST
    if media_type in INDEX_TYPES:
        return Index(media_type, [Descriptor.from_json(d) for d in data.get("manifests") or []], raw)
    if media_type in MANIFEST_TYPES:
        if "config" not in data:
            raise InvalidArgument(f"manifest of type {media_type} has no config descriptor")
        return ImageManifest(media_type, Descriptor.from_json(data["config"]),
                             [Descriptor.from_json(d) for d in data.get("layers") or []], raw)
    raise NotImplementedYet(f"unsupported manifest media type {media_type!r}; berth pulls "
                            f"{', '.join(ACCEPT)}")


def _is_attestation(desc: Descriptor) -> bool:
    if ATTESTATION_ANNOTATION in desc.annotations:
        return True
    plat = desc.platform or {}
    return plat.get("os") == "unknown" and plat.get("architecture") == "unknown"


def select(index: Index, wanted: Platform) -> Descriptor:
    """The entry of ``index`` for ``wanted`` (containerd's matching: variant exact, else best fallback).

    Attestation manifests are skipped. Raises :class:`NotFound` listing what is available.
    """
    candidates = [d for d in index.manifests if not _is_attestation(d)]
    best: tuple[int, Descriptor] | None = None
    for desc in candidates:
        plat = desc.platform or {}
        if plat.get("os", "") != wanted.os or _ARCH.get(plat.get("architecture", ""), plat.get("architecture")) \
                != wanted.architecture:
            continue
        variant = plat.get("variant", "")
        if variant == wanted.variant:
            score = 3
        elif not variant or not wanted.variant:
            score = 2  # an unspecified variant matches (arm64 is v8 by default)
        elif wanted.variant.startswith("v") and variant.startswith("v") and variant < wanted.variant:
            score = 1  # an older ARM variant runs on a newer CPU
        else:
            continue
        if best is None or score > best[0]:
            best = (score, desc)
    if best is None:
        available = ", ".join(sorted({_platform_text(d.platform or {}) for d in candidates})) or "none"
        raise NotFound(f"no matching manifest for {wanted} in the manifest list entries "
                       f"(available: {available}); pass --platform to choose one")
    return best[1]


def _platform_text(plat: dict[str, Any]) -> str:
    return "/".join(p for p in (plat.get("os", "?"), plat.get("architecture", "?"), plat.get("variant", "")) if p)


def layer_compression(media_type: str) -> str:
    """``gzip``, ``zstd`` or ``none`` for a layer media type; unknown types are refused."""
    if media_type in (DOCKER_LAYER, DOCKER_FOREIGN_LAYER, OCI_LAYER_GZIP) or \
            media_type == OCI_NONDIST_PREFIX + "v1.tar+gzip":
        return "gzip"
    if media_type in (OCI_LAYER_ZSTD, OCI_NONDIST_PREFIX + "v1.tar+zstd"):
        return "zstd"
    if media_type in (OCI_LAYER, OCI_NONDIST_PREFIX + "v1.tar"):
        return "none"
    raise NotImplementedYet(f"unsupported layer media type {media_type!r}")


def build_manifest(media_type: str, config: Descriptor, layers: list[Descriptor]) -> bytes:
    """Serialize an image manifest for push (Docker's field order, no whitespace)."""
    data = {"schemaVersion": 2, "mediaType": media_type, "config": config.to_json(),
            "layers": [d.to_json() for d in layers]}
    return json.dumps(data, separators=(",", ":")).encode()
