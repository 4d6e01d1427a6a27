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
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from berth.errors import InvalidArgument, NotFound
from berth.images import reference as refs
from berth.images.digest import chain_id as make_chain_id, sha256_bytes
from berth.images.store import Image, ImageStore, Layer
from berth.images.unpacked import DIGEST, UnpackedArchive

log = logging.getLogger(__name__)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ANNOTATION_NAME = "io.containerd.image.name"
ANNOTATION_REF = "org.opencontainers.image.ref.name"


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


@dataclass
class _Entry:
    config_path: str
    layer_paths: list[str]
    repo_tags: list[str]
    sizes: dict[str, int] = field(default_factory=dict)  # blob path -> the size its OCI descriptor states


def _strings(value, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"{what} in the image archive's manifest.json must be a list of strings")
    return list(value)


def _docker_entries(archive: UnpackedArchive) -> list[_Entry]:
    manifest = archive.json("manifest.json")
    if not isinstance(manifest, list):
        raise InvalidArgument("manifest.json of the image archive is not a list")
    entries = []
    for i, m in enumerate(manifest):
        if not isinstance(m, dict) or not isinstance(m.get("Config"), str):
            raise InvalidArgument(f"entry {i} of the image archive's manifest.json has no Config path")
        entries.append(_Entry(m["Config"], _strings(m.get("Layers"), "Layers"), _strings(m.get("RepoTags"), "RepoTags")))
    return entries


def _blob_path(descriptor, what: str) -> str:
    """The archive path of the blob an OCI descriptor names; a malformed digest is refused."""
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise InvalidArgument(f"{what} in the image archive has an invalid digest {digest!r}")
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _sized_json(archive: UnpackedArchive, descriptor: dict, what: str):
    path = _blob_path(descriptor, what)
    _check_size(archive, path, descriptor)
    return archive.json(path)


def _check_size(archive: UnpackedArchive, path: str, descriptor: dict) -> None:
    size = descriptor.get("size")
    if isinstance(size, int) and os.path.getsize(archive.path(path)) != size:
        raise InvalidArgument(f"{path} in the image archive is {os.path.getsize(archive.path(path))} bytes; "
                              f"its descriptor says {size}")


def _oci_entries(archive: UnpackedArchive) -> list[_Entry]:
    from berth.images.bootstrap import oci_architecture

    index = archive.json("index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests") or [], list):
        raise InvalidArgument("index.json of the image archive is not an OCI image index")
    entries = []
    for desc in index.get("manifests") or []:
        annotations = (desc.get("annotations") if isinstance(desc, dict) else None) or {}
        if isinstance(desc, dict) and desc.get("mediaType") in (OCI_INDEX, DOCKER_MANIFEST_LIST):
            nested = _sized_json(archive, desc, "a nested index")
            candidates = [m for m in nested.get("manifests") or [] if isinstance(m, dict)
                          and (m.get("platform") or {}).get("architecture") in (None, oci_architecture())]
            if not candidates:
                continue
            desc = candidates[0]
        manifest = _sized_json(archive, desc, "an image manifest")
        if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
            raise InvalidArgument(f"{_blob_path(desc, 'an image manifest')} in the image archive is not an image manifest")
        name = annotations.get(ANNOTATION_NAME) or ""
        ref_name = annotations.get(ANNOTATION_REF) or ""
        tags = []
        if name:
            tags.append(str(refs.parse(name)))
        elif ref_name and not ref_name.replace(".", "").replace("-", "").replace("_", "").isalnum():
            tags.append(str(refs.parse(ref_name)))  # a full reference used as the ref name
        descriptors = [manifest["config"], *(manifest.get("layers") or [])]
        paths = [_blob_path(d, "an image manifest's blob") for d in descriptors]
        sizes = {path: d["size"] for path, d in zip(paths, descriptors) if isinstance(d.get("size"), int)}
        entries.append(_Entry(paths[0], paths[1:], tags, sizes))
    return entries


@dataclass
class _Plan:
    """One image of the archive, checked before anything is stored."""

    entry: _Entry
    raw_config: bytes
    diff_ids: list[str]
    tags: list[str]


def _plan(archive: UnpackedArchive, entry: _Entry) -> _Plan:
    """Read and check what ``entry`` needs: config, diff IDs, layer files and their digests, tags."""
    raw = archive.bytes(entry.config_path)
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"image config {entry.config_path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise InvalidArgument(f"image config {entry.config_path} is not a JSON object")
    rootfs = config.get("rootfs")
    diff_ids = list((rootfs.get("diff_ids") if isinstance(rootfs, dict) else None) or [])
    if not all(isinstance(d, str) and d.startswith("sha256:") and DIGEST.match(d) for d in diff_ids):
        raise InvalidArgument(f"image config {entry.config_path} has an invalid diff ID")
    if len(diff_ids) != len(entry.layer_paths):
        raise InvalidArgument(f"image config {entry.config_path} lists {len(diff_ids)} layers but the archive "
                              f"manifest has {len(entry.layer_paths)}")
    for path in [entry.config_path, *entry.layer_paths]:
        if path in entry.sizes:
            _check_size(archive, path, {"size": entry.sizes[path]})
    for i, (diff_id, path) in enumerate(zip(diff_ids, entry.layer_paths)):
        _check_plain_layer(archive, i, diff_id, path)
    for tag in entry.repo_tags:
        refs.parse(tag)  # refuses a malformed tag now, not after the layers are stored
    return _Plan(entry, raw, diff_ids, entry.repo_tags)


_COMPRESSED_MAGIC = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"BZh", b"\xfd7zXZ\x00")


def _check_plain_layer(archive: UnpackedArchive, index: int, diff_id: str, path: str) -> None:
    """An uncompressed layer's diff ID is its file's sha256, known since unpacking: refuse a mismatch now."""
    real = archive.real(path)
    with open(archive.path(path), "rb") as f:
        head = f.read(6)
    if any(head.startswith(magic) for magic in _COMPRESSED_MAGIC):
        return  # its diff ID is checked as it is applied
    actual = f"sha256:{archive.sha256.get(real, '')}"
    if actual != diff_id:
        raise InvalidArgument(f"invalid diffID for layer {index}: expected {diff_id!r}, got {actual!r} ({path})")


def load_archive(store: ImageStore, stream: BinaryIO, report: Callable[[str], None]) -> list[Image]:
    """Load every image of a docker-archive (or OCI layout) tar ``stream``; ``report`` gets each message line.

    Every image is checked (digests, diff IDs of plain layers, manifests, tags) before
    the first layer is stored; a layer refused while it is applied leaves nothing of
    its image behind.
    """
    tmp_root = os.path.join(store.root, "tmp")
    os.makedirs(tmp_root, mode=0o700, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="load-", dir=tmp_root)
    try:
        archive = UnpackedArchive(directory)
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
        plans = [_plan(archive, entry) for entry in entries]
        return [_load_one(store, archive, plan, report) for plan in plans]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _load_one(store: ImageStore, archive: UnpackedArchive, plan: _Plan, report: Callable[[str], None]) -> Image:
    entry, raw, diff_ids = plan.entry, plan.raw_config, plan.diff_ids
    layers: list[Layer] = []
    added: list[Layer] = []  # the layers this load applied
    try:
        parent: str | None = None
        for i, (diff_id, path) in enumerate(zip(diff_ids, entry.layer_paths)):
            chain = make_chain_id(parent, diff_id)
            try:
                layer = store.get_layer(chain)
            except NotFound:
                with open(archive.path(path), "rb") as f:
                    layer = store.add_layer(parent, f)
                added.append(layer)
                if layer.diff_id != diff_id:
                    raise InvalidArgument(f"invalid diffID for layer {i}: expected {diff_id!r}, got {layer.diff_id!r}")
            layers.append(layer)
            parent = layer.chain_id
        tags = plan.tags
        old = {}
        for tag in tags:
            try:
                old[tag] = store.resolve(tag)
            except NotFound:
                pass
        image = store.create_image(raw, layers, tags[0] if tags else None)
    except BaseException:
        store.discard_layers(added)
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
