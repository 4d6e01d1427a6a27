"""Image archives: ``save`` writes and ``load`` reads the docker-archive format (with an OCI layout inside).

What ``docker save`` (Docker 25+) writes, and what berth writes::

    blobs/sha256/<hex>   image configs, OCI manifests, and layers as *uncompressed* tars
                         (a layer's blob digest is its diff ID)
    index.json           OCI image index: one manifest per saved tag, named by the
                         annotations io.containerd.image.name / org.opencontainers.image.ref.name
    manifest.json        the docker-archive manifest: [{"Config", "RepoTags", "Layers"}], with
                         paths into blobs/ (older Docker wrote <id>/layer.tar; both load)
    oci-layout           {"imageLayoutVersion": "1.0.0"}
    repositories         {"repo": {"tag": "<hex>"}} for pre-1.10 clients

Layers are written from the store's tar-split records (:mod:`berth.images.tarsplit`),
so their bytes hash to the config's diff IDs, which ``docker load`` checks.

``load`` reads manifest.json (or, without it, index.json as a plain OCI layout),
applies layers the store does not have yet, verifies each diff ID against the
config, and tags the image. The archive is unpacked into a private temporary
directory first, as Docker does, because manifest.json may come after the blobs.
"""

from __future__ import annotations

import io
import json
import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from berth.errors import InvalidArgument, NotFound
from berth.images import reference as refs
from berth.images.digest import chain_id as make_chain_id, sha256_bytes
from berth.images.store import Image, ImageStore, Layer
from berth.images.tarsafe import clean_name

log = logging.getLogger(__name__)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ANNOTATION_NAME = "io.containerd.image.name"
ANNOTATION_REF = "org.opencontainers.image.ref.name"
_MAX_JSON = 32 << 20


# ---------------------------------------------------------------------------
# save
# ---------------------------------------------------------------------------


@dataclass
class _Saved:
    image: Image
    tags: list[str] = field(default_factory=list)  # familiar "repo:tag"


def select_images(store: ImageStore, names: list[str]) -> list[_Saved]:
    """The images ``names`` ask for, each with the tags to record (Docker's rules).

    A tag or digest names one image with that reference; an ID names the image
    without tags; a bare repository name (``busybox``) means every tag of it.
    """
    if not names:
        raise InvalidArgument("save needs at least one image name")
    chosen: dict[str, _Saved] = {}
    for name in names:
        found: list[tuple[Image, str | None]] = []
        bare = "@" not in name and ":" not in name.rsplit("/", 1)[-1]
        if bare and not refs.looks_like_short_id(name):
            repo = refs.parse(name).familiar_name
            for image in store.list(all=True):
                for tag in image.repo_tags:
                    if tag.rpartition(":")[0] == repo:
                        found.append((image, tag))
        if not found:
            image = store.get(name)
            is_id = refs.is_full_id(name) or (refs.looks_like_short_id(name) and image.id.split(":")[1].startswith(name.split(":")[-1]))
            tag = None if is_id else str(refs.parse(name))
            found.append((image, tag if tag and "@" not in tag else None))
        for image, tag in found:
            saved = chosen.setdefault(image.id, _Saved(image))
            if tag and tag not in saved.tags:
                saved.tags.append(tag)
    return list(chosen.values())


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
    tar.addfile(ti, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str, mtime: int) -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
    tar.addfile(ti)


def write_archive(store: ImageStore, saved: list[_Saved], out: BinaryIO) -> None:
    """Write the docker-archive of ``saved`` images to ``out`` (see the module docstring)."""
    mtime = 0  # fixed, so saving the same images twice gives the same bytes
    tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
    written: set[str] = set()
    manifest_json, index_entries, repositories = [], [], {}
    _add_dir(tar, "blobs", mtime)
    _add_dir(tar, "blobs/sha256", mtime)

    def blob(digest: str, data: bytes) -> str:
        path = "blobs/sha256/" + digest.split(":", 1)[1]
        if path not in written:
            _add_bytes(tar, path, data, mtime)
            written.add(path)
        return path

    for item in saved:
        image = item.image
        config = store.blobs.get(image.id)
        config_path = blob(image.id, config)
        layer_paths, layer_descs = [], []
        for layer in store.image_layers(image):
            path = "blobs/sha256/" + layer.diff_id.split(":", 1)[1]
            size, stream = store.layer_tar(layer)
            with stream:
                if path not in written:
                    ti = tarfile.TarInfo(path)
                    ti.size, ti.mode, ti.mtime = size, 0o644, mtime
                    tar.addfile(ti, stream)
                    written.add(path)
                stream.read()  # to the end: a layer that no longer matches its diff ID fails here
            layer_paths.append(path)
            layer_descs.append({"mediaType": OCI_LAYER, "digest": layer.diff_id, "size": size})
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": image.id, "size": len(config)},
            "layers": layer_descs,
        }, separators=(",", ":")).encode()
        manifest_digest = sha256_bytes(manifest)
        blob(manifest_digest, manifest)
        descriptor = {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest)}
        for tag in item.tags or [None]:
            entry = dict(descriptor)
            if tag:
                ref = refs.parse(tag)
                entry["annotations"] = {ANNOTATION_NAME: f"{ref.name}:{ref.tag}", ANNOTATION_REF: ref.tag}
                repositories.setdefault(ref.familiar_name, {})[ref.tag] = image.id.split(":", 1)[1]
            index_entries.append(entry)
        manifest_json.append({"Config": config_path, "RepoTags": item.tags or None, "Layers": layer_paths})
    _add_bytes(tar, "index.json", json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                              "manifests": index_entries}).encode(), mtime)
    _add_bytes(tar, "manifest.json", json.dumps(manifest_json).encode(), mtime)
    _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}', mtime)
    if repositories:
        _add_bytes(tar, "repositories", json.dumps(repositories).encode(), mtime)
    tar.close()


# ---------------------------------------------------------------------------
# load
# ---------------------------------------------------------------------------


class _Unpacked:
    """An archive unpacked into a private directory; paths are looked up as the archive named them."""

    def __init__(self, directory: str):
        self.dir = directory
        self.links: dict[str, str] = {}  # archive path -> target archive path (older saves link duplicate layers)

    def unpack(self, stream: BinaryIO) -> None:
        try:
            tar = tarfile.open(fileobj=stream, mode="r|*")
        except tarfile.ReadError as exc:
            raise InvalidArgument(f"the image archive is not a tar stream: {exc}") from None
        with tar:
            try:
                for member in tar:
                    tar.members.clear()
                    parts = clean_name(member.name)
                    if not parts:
                        continue
                    name = "/".join(parts)
                    target = os.path.join(self.dir, *parts)
                    if member.isdir():
                        os.makedirs(target, mode=0o700, exist_ok=True)
                    elif member.isreg():
                        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
                        source = tar.extractfile(member)
                        with open(target, "wb") as f:
                            shutil.copyfileobj(source, f, 1 << 20)
                    elif member.issym():
                        self.links[name] = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
                    elif member.islnk():
                        self.links[name] = "/".join(clean_name(member.linkname))
                    # anything else (devices, fifos) has no place in an image archive: ignored
            except (tarfile.ReadError, EOFError) as exc:
                raise InvalidArgument(f"the image archive is truncated or corrupt: {exc}") from None

    def path(self, name: str) -> str:
        rel = "/".join(clean_name(name))
        for _ in range(40):
            if rel not in self.links:
                break
            rel = "/".join(clean_name(self.links[rel]))
        path = os.path.join(self.dir, rel)
        if not os.path.isfile(path):
            raise InvalidArgument(f"the image archive names {name!r}, which it does not contain")
        return path

    def exists(self, name: str) -> bool:
        try:
            self.path(name)
            return True
        except InvalidArgument:
            return False

    def json(self, name: str):
        path = self.path(name)
        if os.path.getsize(path) > _MAX_JSON:
            raise InvalidArgument(f"{name} in the image archive is too large")
        with open(path, "rb") as f:
            try:
                return json.loads(f.read())
            except ValueError as exc:
                raise InvalidArgument(f"{name} in the image archive is not valid JSON: {exc}") from None

    def bytes(self, name: str) -> bytes:
        with open(self.path(name), "rb") as f:
            return f.read(_MAX_JSON + 1)


@dataclass
class _Entry:
    config_path: str
    layer_paths: list[str]
    repo_tags: list[str]


def _docker_entries(archive: _Unpacked) -> list[_Entry]:
    manifest = archive.json("manifest.json")
    if not isinstance(manifest, list):
        raise InvalidArgument("manifest.json of the image archive is not a list")
    return [_Entry(m["Config"], list(m.get("Layers") or []), list(m.get("RepoTags") or [])) for m in manifest]


def _oci_entries(archive: _Unpacked) -> list[_Entry]:
    from berth.images.bootstrap import oci_architecture

    index = archive.json("index.json")
    entries = []

    def blob_path(digest: str) -> str:
        algo, _, hexpart = digest.partition(":")
        return f"blobs/{algo}/{hexpart}"

    for desc in index.get("manifests") or []:
        annotations = desc.get("annotations") or {}
        if desc.get("mediaType") in (OCI_INDEX, DOCKER_MANIFEST_LIST):
            nested = archive.json(blob_path(desc["digest"]))
            candidates = [m for m in nested.get("manifests") or []
                          if (m.get("platform") or {}).get("architecture") in (None, oci_architecture())]
            if not candidates:
                continue
            desc = candidates[0]
        manifest = archive.json(blob_path(desc["digest"]))
        name = annotations.get(ANNOTATION_NAME) or ""
        ref_name = annotations.get(ANNOTATION_REF) or ""
        tags = []
        if name:
            tags.append(str(refs.parse(name)))
        elif ref_name and not ref_name.replace(".", "").replace("-", "").replace("_", "").isalnum():
            tags.append(str(refs.parse(ref_name)))  # a full reference used as the ref name
        entries.append(_Entry(blob_path(manifest["config"]["digest"]),
                              [blob_path(layer["digest"]) for layer in manifest.get("layers") or []], tags))
    return entries


def load_archive(store: ImageStore, stream: BinaryIO, report: Callable[[str], None]) -> list[Image]:
    """Load every image of a docker-archive (or OCI layout) tar ``stream``; ``report`` gets each message line."""
    tmp_root = os.path.join(store.root, "tmp")
    os.makedirs(tmp_root, mode=0o700, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="load-", dir=tmp_root)
    try:
        archive = _Unpacked(directory)
        archive.unpack(stream)
        if archive.exists("manifest.json"):
            entries = _docker_entries(archive)
        elif archive.exists("index.json"):
            entries = _oci_entries(archive)
        else:
            raise InvalidArgument("the archive has neither manifest.json nor index.json: it is not an image "
                                  "saved by docker save, berth save or an OCI layout (pre-1.10 archives are not supported)")
        if not entries:
            raise InvalidArgument("the image archive contains no images")
        return [_load_one(store, archive, entry, report) for entry in entries]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _load_one(store: ImageStore, archive: _Unpacked, entry: _Entry, report: Callable[[str], None]) -> Image:
    raw = archive.bytes(entry.config_path)
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"image config {entry.config_path} is not valid JSON: {exc}") from None
    diff_ids = list(((config.get("rootfs") or {}).get("diff_ids")) or [])
    if len(diff_ids) != len(entry.layer_paths):
        raise InvalidArgument(f"image config {entry.config_path} lists {len(diff_ids)} layers but the archive "
                              f"manifest has {len(entry.layer_paths)}")
    layers: list[Layer] = []
    added_top: str | None = None  # the newest layer this load applied, which holds the ones below it
    try:
        parent: str | None = None
        for i, (diff_id, path) in enumerate(zip(diff_ids, entry.layer_paths)):
            chain = make_chain_id(parent, diff_id)
            try:
                layer = store.get_layer(chain)
            except NotFound:
                with open(archive.path(path), "rb") as f:
                    layer = store.add_layer(parent, f)
                added_top = layer.chain_id
                if layer.diff_id != diff_id:
                    raise InvalidArgument(f"invalid diffID for layer {i}: expected {diff_id!r}, got {layer.diff_id!r}")
            layers.append(layer)
            parent = layer.chain_id
        tags = entry.repo_tags
        old = {}
        for tag in tags:
            try:
                old[tag] = store.resolve(tag)
            except NotFound:
                pass
        image = store.create_image(raw, layers, tags[0] if tags else None)
    except BaseException:
        if added_top is not None and store.unreferenced(added_top):
            store.release_layer(added_top)
        raise
    for tag in tags[1:]:
        store.tag(image.id, tag)
    if not tags:
        report(f"Loaded image ID: {image.id}\n")
    for tag in tags:
        if old.get(tag) and old[tag] != image.id:
            report(f"The image {tag} already exists, renaming the old one with ID {old[tag]} to empty string\n")
        report(f"Loaded image: {tag}\n")
    return store.get(image.id)
