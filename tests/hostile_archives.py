"""A corpus of hostile tar archives, built in code, and what berth must do with each.

Each :class:`Case` is refused (a 4xx, ``InvalidArgument`` or ``UnsafeArchive``) or
accepted and contained: nothing outside the extraction root changes. The cases
that aim outside take the path of a sentinel directory, ``outside``.

* :func:`layer_cases`: single layers (``import``, a layer of ``load``, ``pull``);
* :func:`stacked_cases`: a layer on top of another (the layer below's symlinks);
* :func:`image_archive_cases`: whole ``docker save`` / OCI layout archives (``load``).

``tests/unit/test_tarsafe.py`` runs the layers through the extractor,
``tests/integration/test_hostile_archives.py`` through berthd's API.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# building tars
# ---------------------------------------------------------------------------

_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE}


def entry(name, kind="file", data=b"", mode=None, uid=0, gid=0, mtime=1_000_000, linkname="", xattrs=None,
          dev=(0, 0), pax=None, size=None):
    """One entry for :func:`make_tar`; ``pax`` adds raw PAX records, ``size`` lies about the data's size."""
    return dict(name=name, kind=kind, data=data, mode=mode, uid=uid, gid=gid, mtime=mtime,
                linkname=linkname, xattrs=xattrs or {}, dev=dev, pax=pax or {}, size=size)


def _info(e) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(e["name"])
    ti.type = _TYPES.get(e["kind"], e["kind"])
    ti.mode = e["mode"] if e["mode"] is not None else (0o755 if e["kind"] == "dir" else 0o644)
    ti.uid, ti.gid, ti.mtime = e["uid"], e["gid"], e["mtime"]
    ti.linkname = e["linkname"]
    ti.devmajor, ti.devminor = e["dev"]
    for k, v in e["xattrs"].items():
        ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
    ti.pax_headers.update(e["pax"])
    return ti


def make_tar(*entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            ti = _info(e)
            if e["kind"] == "file" or ti.type not in _TYPES.values():
                ti.size = len(e["data"])
                tar.addfile(ti, io.BytesIO(e["data"]))
            else:
                tar.addfile(ti)
    return buf.getvalue()


def _pax_record(records: dict) -> bytes:
    """A PAX extended header block (header and data), as tarfile writes one."""
    return tarfile.TarInfo._create_pax_generic_header(records, tarfile.XHDTYPE, "utf-8")


def ustar_member(name: str, data: bytes = b"") -> bytes:
    """One ustar entry (header and padded data), without end-of-archive blocks: to put in front of another tar."""
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    padding = (-len(data)) % tarfile.BLOCKSIZE
    return ti.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * padding


def _end() -> bytes:
    return b"\0" * (2 * tarfile.BLOCKSIZE)


def _with_size(data: bytes, size: int) -> bytes:
    """``data`` (one ustar header first) with its size field rewritten to ``size``."""
    header = bytearray(data[:512])
    header[124:136] = b"%011o\0" % size
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header) + data[512:]


def sparse_file(name: str, realsize: int, regions: list[tuple[int, bytes]]) -> bytes:
    """A GNU sparse 1.0 (PAX) file of ``realsize`` bytes holding only ``regions``."""
    mapping = f"{len(regions)}\n" + "".join(f"{offset}\n{len(data)}\n" for offset, data in regions)
    block = mapping.encode()
    block += b"\0" * ((-len(block)) % 512)
    data = block + b"".join(d for _, d in regions)
    return make_tar(entry(f"GNUSparseFile.0/{name}", data=data, pax={
        "GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(realsize)}))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------


@dataclass
class Case:
    """A hostile archive; ``refused`` or accepted-and-contained; ``words``: a phrase a refusal says.

    ``layer_only``: refused as an image layer, but a tree that is not a layer (a copy into a
    container, a build context) takes it.
    """

    name: str
    data: bytes
    refused: bool = True
    words: str = ""
    layer_only: bool = False


def _refused(name, words, *entries, fmt=tarfile.PAX_FORMAT) -> Case:
    return Case(name, make_tar(*entries, fmt=fmt), True, words)


def _contained(name, *entries) -> Case:
    return Case(name, make_tar(*entries), False)


def _duplicate(name, *entries) -> Case:
    return Case(name, make_tar(*entries), True, "duplicates of file paths not supported", layer_only=True)


def layer_cases(outside: str) -> list[Case]:
    """Single layers: names, symlinks, hard links, devices, whiteouts, headers, malformed streams."""
    return [*_name_cases(outside), *_symlink_cases(outside), *_hardlink_cases(outside), *_special_cases(),
            *_whiteout_cases(), *_header_cases(), *_malformed_cases(), *_duplicate_cases(outside),
            *_contained_cases(outside)]


def _name_cases(outside: str) -> list[Case]:
    dotdot = "'..' component"
    return [
        _refused("dotdot-leading", dotdot, entry("../escape", data=b"x")),
        _refused("dotdot-deep", dotdot, entry("a/b/../../../escape", data=b"x")),
        _refused("dotdot-after-dot", dotdot, entry("./../escape", data=b"x")),
        _refused("dotdot-staying-inside", dotdot, entry("a", "dir"), entry("a/../b", data=b"x")),
        _refused("dotdot-to-outside-absolute", dotdot, entry(f"../../../..{outside}/secret", data=b"pwned")),
        _refused("dotdot-dir", dotdot, entry("a/..", "dir")),
        _refused("pax-path-override-dotdot", dotdot, entry("innocent", data=b"x", pax={"path": "../../escape"})),
        _refused("gnu-long-name-dotdot", dotdot, entry("d" * 120 + "/../../../escape", data=b"x"), fmt=tarfile.GNU_FORMAT),
        _refused("pax-path-nul", "NUL byte", entry("innocent", data=b"x", pax={"path": "a\0b"})),
        _refused("pax-path-too-long", "longer than", entry("innocent", data=b"x", pax={"path": "a/" * 2500})),
        _refused("root-entry-not-a-dir", "root", entry("./", data=b"x")),
        _refused("file-under-a-file", "not a directory", entry("a", data=b"x"), entry("a/b", data=b"y")),
    ]


def _symlink_cases(outside: str) -> list[Case]:
    through = "passes through"
    return [
        _refused("own-absolute-symlink-then-file", through,
                 entry("evil", "symlink", linkname=outside), entry("evil/pwned", data=b"x")),
        _refused("own-relative-symlink-then-file", through,
                 entry("d", "dir"), entry("l", "symlink", linkname="d"), entry("l/x", data=b"x")),
        _refused("own-dot-symlink-then-file", through, entry("l", "symlink", linkname="."), entry("l/x", data=b"x")),
        _refused("own-symlink-to-root-then-dir", through, entry("up", "symlink", linkname="/"),
                 entry("up/etc", "dir")),
        _refused("own-symlink-chain", through, entry("a", "symlink", linkname="b"), entry("b", "symlink", linkname="c"),
                 entry("c", "dir"), entry("a/x", data=b"x")),
        _refused("own-symlink-loop", through, entry("loop", "symlink", linkname="loop"), entry("loop/x", data=b"x")),
        _refused("symlink-escaping-relative", "points outside", entry("evil", "symlink", linkname="../../..")),
        _refused("symlink-escaping-from-subdir", "points outside", entry("a", "dir"),
                 entry("a/evil", "symlink", linkname="../../outside")),
        _refused("pax-linkpath-escaping", "points outside",
                 entry("evil", "symlink", linkname="fine", pax={"linkpath": "../../../etc"})),
        _refused("symlink-empty-target", "empty target", entry("evil", "symlink", linkname="")),
        Case("symlink-replaced-by-symlink-then-file", make_tar(
            entry("d", "dir"), entry("l", "symlink", linkname="/etc"), entry("l", "symlink", linkname="d"),
            entry("l/x", data=b"x")), True, "duplicates|passes through"),
    ]


def _hardlink_cases(outside: str) -> list[Case]:
    return [
        _refused("hardlink-dotdot", "'..' component", entry("leak", "hardlink", linkname="../outside/secret")),
        _refused("hardlink-dotdot-deep", "'..' component", entry("leak", "hardlink", linkname="a/../../secret")),
        _refused("hardlink-absolute-outside", "does not exist", entry("leak", "hardlink", linkname=f"{outside}/secret")),
        _refused("hardlink-through-own-symlink", "passes through", entry("h", "symlink", linkname=outside),
                 entry("leak", "hardlink", linkname="h/secret")),
        _refused("hardlink-through-own-relative-symlink", "passes through", entry("d", "dir"),
                 entry("d/f", data=b"x"), entry("l", "symlink", linkname="d"), entry("x", "hardlink", linkname="l/f")),
        _refused("hardlink-to-a-directory", "is a directory", entry("d", "dir"), entry("x", "hardlink", linkname="d")),
        _refused("hardlink-to-nothing", "does not exist", entry("x", "hardlink", linkname="nope")),
        _refused("hardlink-to-the-root", "root", entry("x", "hardlink", linkname="/")),
        _refused("hardlink-to-a-whiteout", "does not exist|whiteout", entry("f", data=b"x"), entry(".wh.f"),
                 entry("h", "hardlink", linkname="f")),
        _refused("hardlink-pax-linkpath-dotdot", "'..' component",
                 entry("x", "hardlink", linkname="ok", pax={"linkpath": "../../etc/shadow"})),
    ]


def _special_cases() -> list[Case]:
    return [
        _refused("char-device", "character device", entry("dev", "dir"), entry("dev/mem", "chr", dev=(1, 1))),
        _refused("block-device", "block device", entry("dev", "dir"), entry("dev/sda", "blk", dev=(8, 0))),
        _refused("char-device-0-0", "character device", entry("null", "chr", dev=(0, 0))),
        _refused("unknown-type", "unsupported tar type", entry("vol", b"V")),
    ]


def _whiteout_cases() -> list[Case]:
    return [
        _refused("whiteout-dotdot", "names no valid entry", entry(".wh..")),
        _refused("whiteout-dotdot-in-dir", "names no valid entry", entry("a", "dir"), entry("a/.wh..")),
        _refused("whiteout-empty", "names no valid entry", entry(".wh.")),
        _refused("whiteout-as-a-directory", "whiteout name", entry(".wh.x/y", data=b"x")),
        _refused("whiteout-dotdot-as-a-directory", "'..' component|whiteout name", entry(".wh.../y", data=b"x")),
        _refused("whiteout-through-own-symlink", "passes through", entry("d", "dir"), entry("d/f", data=b"x"),
                 entry("l", "symlink", linkname="d"), entry("l/.wh.f")),
        _refused("whiteout-through-own-absolute-symlink", "passes through", entry("l", "symlink", linkname="/etc"),
                 entry("l/.wh.passwd")),
        _refused("opaque-through-own-symlink", "passes through", entry("d", "dir"),
                 entry("l", "symlink", linkname="d"), entry("l/.wh..wh..opq")),
    ]


def _header_cases() -> list[Case]:
    chained = b"".join(_pax_record({"comment": str(i)}) for i in range(20)) + ustar_member("f", b"x") + _end()
    return [
        _refused("pax-header-over-1MiB", "header of", entry("f", data=b"x", pax={"comment": "x" * (2 << 20)})),
        _refused("gnu-long-name-over-1MiB", "header of", entry("n" * (2 << 20), data=b"x"), fmt=tarfile.GNU_FORMAT),
        _refused("gnu-long-link-over-1MiB", "header of", entry("l", "symlink", linkname="t" * (2 << 20)),
                 fmt=tarfile.GNU_FORMAT),
        Case("pax-headers-chained", chained, True, "chains more than"),
        _refused("uid-too-large", "invalid uid", entry("f", data=b"x", pax={"uid": str(1 << 40)})),
        _refused("gid-minus-one", "invalid gid", entry("f", data=b"x", pax={"gid": str((1 << 32) - 1)})),
        _refused("mtime-not-a-number", "invalid mtime", entry("f", data=b"x", pax={"mtime": "nan"})),
        _refused("mtime-beyond-2262", "invalid mtime", entry("f", data=b"x", pax={"mtime": "1e20"})),
        _refused("atime-infinite", "invalid atime", entry("f", data=b"x", pax={"atime": "inf"})),
        _refused("xattr-overlay-opaque", "private to overlayfs", entry("d", "dir", xattrs={"trusted.overlay.opaque": b"y"})),
        _refused("xattr-overlay-redirect", "private to overlayfs",
                 entry("d", "dir", xattrs={"trusted.overlay.redirect": b"/etc"})),
        _refused("xattr-name-too-long", "cannot extract .*out of range",
                 entry("f", data=b"x", xattrs={"user." + "x" * 300: b"v"})),
        _refused("xattr-empty-name", "cannot extract .*out of range", entry("f", data=b"x", pax={"SCHILY.xattr.": "v"})),
        _refused("xattr-value-over-64KiB", "cannot extract .*too long",
                 entry("f", data=b"x", xattrs={"user.big": b"v" * 70000})),
        _refused("link-target-nul", "NUL byte", entry("l", "symlink", linkname="x", pax={"linkpath": "a\0b"})),
        Case("sparse-map-out-of-order", sparse_file("s", 4096, [(2048, b"b"), (0, b"a")]), True, "sparse map"),
        Case("sparse-map-beyond-size", sparse_file("s", 10, [(100, b"a")]), True, "sparse map"),
    ]


def _malformed_cases() -> list[Case]:
    one = make_tar(entry("big", data=b"a" * 5000))
    two = make_tar(entry("a", data=b"1"), entry("b", data=b"2"))
    end = 512 + 5120  # the member's header and data blocks; the end-of-archive blocks follow
    return [
        Case("garbage", b"this is not a tar archive" * 100, True, "not a valid tar|truncated or corrupt"),
        Case("truncated-data", one[:512 + 2000], True, "truncated"),
        Case("truncated-header", two[:1024 + 100], True, "truncated or corrupt"),
        Case("garbage-after-a-member", one[:end] + b"\x01garbage" * 128, True, "truncated or corrupt|not a valid tar"),
        Case("size-claims-8GiB", _with_size(make_tar(entry("f", data=b"x" * 10), fmt=tarfile.USTAR_FORMAT),
                                            (8 << 30) - 1), True, "truncated"),
        Case("bad-checksum", bytes([one[0] ^ 1]) + one[1:], True, "not a valid tar|truncated or corrupt"),
    ]


def _duplicate_cases(outside: str) -> list[Case]:
    """A path twice in one layer: dockerd refuses it (tar-split), a copy into a container lets the last win."""
    return [
        _duplicate("symlink-then-same-name-file", entry("x", "symlink", linkname=f"{outside}/secret"),
                   entry("x", data=b"new")),
        _duplicate("symlink-then-same-name-dir", entry("l", "symlink", linkname=outside), entry("l", "dir"),
                   entry("l/x", data=b"x")),
        _duplicate("duplicate-file", entry("f", data=b"1"), entry("f", data=b"2")),
        _duplicate("file-replaces-dir", entry("a", "dir"), entry("a/x", data=b"x"), entry("a", data=b"f")),
        _duplicate("duplicate-root-entry", entry("./", "dir"), entry(".", "dir")),
        _duplicate("hardlink-to-itself", entry("f", data=b"x"), entry("f", "hardlink", linkname="f")),
        _duplicate("duplicate-through-pax-path", entry("f", data=b"1"), entry("g", data=b"2", pax={"path": "./f"})),
    ]


def _contained_cases(outside: str) -> list[Case]:
    return [
        _contained("absolute-name-lands-inside", entry(f"{outside}/secret", data=b"pwned")),
        _contained("absolute-symlink-is-kept-as-a-link", entry("l", "symlink", linkname=f"{outside}/secret")),
        _contained("hardlink-to-absolute-inside", entry("etc", "dir"), entry("etc/f", data=b"x"),
                   entry("g", "hardlink", linkname="/etc/f")),
        _contained("hardlink-to-own-symlink", entry("s", "symlink", linkname=f"{outside}/secret"),
                   entry("h", "hardlink", linkname="s")),
        _contained("fifo", entry("p", "fifo")),
        _contained("whiteout-of-own-symlink", entry("l", "symlink", linkname=outside), entry(".wh.l")),
        _contained("aufs-metadata-is-skipped", entry(".wh..wh.plnk", "dir"), entry(".wh..wh.aufs", data=b"")),
        _contained("setuid-file", entry("s", data=b"x", mode=0o4755)),
        _contained("dot-names", entry("./a/./b", data=b"x"), entry("//c//d", data=b"y")),
        Case("sparse-file-of-1TiB", sparse_file("big", 1 << 40, [(4096, b"hello")]), False),
        Case("empty-stream", b"", False),
        Case("only-end-blocks", _end(), False),
    ]


def stacked_cases(outside: str) -> list[tuple[str, bytes, bytes, bool, str]]:
    """(name, lower layer, upper layer, refused, words): the upper meets the lower's symlinks."""
    lower = make_tar(entry("etc", "dir"), entry("etc/passwd", data=b"root"), entry("l", "symlink", linkname="/etc"),
                     entry("rel", "symlink", linkname="etc"), entry("out", "symlink", linkname=outside))
    return [
        ("file-through-lower-absolute-symlink", lower, make_tar(entry("l/x", data=b"x")), True, "layer below"),
        ("file-through-lower-relative-symlink", lower, make_tar(entry("rel/x", data=b"x")), True, "layer below"),
        ("file-through-lower-symlink-to-outside", lower, make_tar(entry("out/secret", data=b"pwned")), True,
         "layer below"),
        ("whiteout-through-lower-symlink", lower, make_tar(entry("l/.wh.passwd")), True, "layer below"),
        ("opaque-through-lower-symlink", lower, make_tar(entry("l/.wh..wh..opq")), True, "layer below"),
        ("hardlink-through-lower-symlink", lower, make_tar(entry("x", "hardlink", linkname="rel/passwd")), True,
         "layer below|does not exist"),
        ("dir-entry-replaces-lower-symlink", lower, make_tar(entry("l", "dir"), entry("l/x", data=b"x")), False, ""),
        ("whiteout-of-lower-symlink", lower, make_tar(entry(".wh.l")), False, ""),
        ("file-replaces-lower-symlink", lower, make_tar(entry("out", data=b"x")), False, ""),
    ]


# ---------------------------------------------------------------------------
# image archives (docker save / OCI layout)
# ---------------------------------------------------------------------------


def image_config(diff_ids: list[str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def docker_archive(layers: list[bytes], tag: str = "hostile:test", *, config: bytes | None = None,
                   legacy: bool = False, extra: list[dict] | None = None, manifest: object = None) -> bytes:
    """A ``docker save`` archive: blobs/sha256 (or the legacy ``<hex>.json`` + ``<id>/layer.tar``) + manifest.json."""
    diff_ids = [f"sha256:{sha256(layer)}" for layer in layers]
    config = config if config is not None else image_config(diff_ids)
    entries = [entry("blobs", "dir"), entry("blobs/sha256", "dir")] if not legacy else []
    if legacy:
        config_path = f"{sha256(config)}.json"
        layer_paths = [f"{sha256(layer)}/layer.tar" for layer in layers]
    else:
        config_path = f"blobs/sha256/{sha256(config)}"
        layer_paths = [f"blobs/sha256/{sha256(layer)}" for layer in layers]
    entries.append(entry(config_path, data=config))
    entries += [entry(path, data=layer) for path, layer in zip(layer_paths, layers)]
    entries += extra or []
    if manifest is None:
        manifest = [{"Config": config_path, "RepoTags": [tag], "Layers": layer_paths}]
    entries.append(entry("manifest.json", data=json.dumps(manifest).encode()))
    return make_tar(*entries)


def oci_layout(layers: list[bytes], *, tag: str = "hostile:test", tamper: dict | None = None) -> bytes:
    """An OCI image layout with gzip layers; ``tamper`` maps a role (config, manifest, layer0) to the bytes stored
    under that blob's name instead of the real ones."""
    tamper = tamper or {}
    gz = [gzip.compress(layer, mtime=0) for layer in layers]
    config = image_config([f"sha256:{sha256(layer)}" for layer in layers])
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": f"sha256:{sha256(config)}", "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "digest": f"sha256:{sha256(g)}", "size": len(g)} for g in gz]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": f"sha256:{sha256(manifest)}",
        "size": len(manifest), "annotations": {"io.containerd.image.name": f"docker.io/library/{tag}"}}]}).encode()
    blobs = {"config": config, "manifest": manifest, **{f"layer{i}": g for i, g in enumerate(gz)}}
    entries = [entry("oci-layout", data=b'{"imageLayoutVersion": "1.0.0"}'), entry("index.json", data=index)]
    for role, data in blobs.items():
        entries.append(entry(f"blobs/sha256/{sha256(data)}", data=tamper.get(role, data)))
    return make_tar(*entries)


def image_archive_cases(outside: str) -> list[Case]:
    """Whole archives for ``load``: digests that do not match, paths that climb, links, bad manifests."""
    good = make_tar(entry("hello", data=b"hello"))
    other = make_tar(entry("other", data=b"other"))
    config = image_config([f"sha256:{sha256(good)}"])
    return [
        Case("config-blob-digest-mismatch", _retarget(docker_archive([good]), f"blobs/sha256/{sha256(config)}",
                                                       config.replace(b"amd64", b"arm64")), True,
             _names(f"blobs/sha256/{sha256(config)}")),
        Case("legacy-config-json-digest-mismatch", _retarget(docker_archive([good], legacy=True),
                                                             f"{sha256(config)}.json",
                                                             config.replace(b"amd64", b"arm64")), True,
             _names(f"{sha256(config)}.json")),
        Case("layer-blob-digest-mismatch", _retarget(docker_archive([good]), f"blobs/sha256/{sha256(good)}", other),
             True, _names(f"blobs/sha256/{sha256(good)}")),
        Case("legacy-layer-diffid-mismatch", _retarget(docker_archive([good], legacy=True),
                                                       f"{sha256(good)}/layer.tar", other), True,
             f"diffID.*{sha256(good)}/layer.tar"),
        Case("oci-manifest-digest-mismatch", oci_layout([good], tamper={"manifest": b"{}"}), True,
             _names("blobs/sha256/[0-9a-f]{64}")),
        Case("oci-config-digest-mismatch", oci_layout([good], tamper={"config": config.replace(b"amd64", b"arm64")}),
             True, _names(f"blobs/sha256/{sha256(config)}")),
        Case("oci-layer-digest-mismatch", oci_layout([good], tamper={"layer0": gzip.compress(other)}), True,
             _names(f"blobs/sha256/{sha256(gzip.compress(good, mtime=0))}")),
        Case("blob-symlinked-to-other-content", _blob_symlinked(good, other), True,
             _names(f"blobs/sha256/{sha256(good)}")),
        Case("manifest-config-path-dotdot", docker_archive([good], manifest=[
            {"Config": "../../etc/passwd", "RepoTags": ["hostile:test"], "Layers": []}]), True, "'..' component"),
        Case("manifest-layer-path-dotdot", docker_archive([good], manifest=[
            {"Config": f"blobs/sha256/{sha256(config)}", "RepoTags": ["hostile:test"],
             "Layers": ["../../../../etc/shadow"]}]), True, "'..' component"),
        Case("manifest-config-absolute-outside", docker_archive([good], manifest=[
            {"Config": f"{outside}/secret", "RepoTags": ["hostile:test"], "Layers": []}]), True, "does not contain"),
        Case("manifest-not-a-list", docker_archive([good], manifest={"Config": "x"}), True, "not a list"),
        Case("manifest-bad-json", _retarget(docker_archive([good]), "manifest.json", b"{not json"), True,
             "not valid JSON"),
        Case("manifest-missing-config-key", docker_archive([good], manifest=[{"Layers": []}]), True, "Config"),
        Case("layer-count-mismatch", docker_archive([good], manifest=[
            {"Config": f"blobs/sha256/{sha256(config)}", "RepoTags": ["hostile:test"], "Layers": []}]), True,
             "layers"),
        Case("bad-repo-tag", docker_archive([good], tag="UPPER:case"), True, "invalid reference|repository name"),
        Case("oci-digest-with-dotdot", _oci_bad_digest(), True, "invalid digest"),
        Case("outer-entry-through-own-symlink", make_tar(entry("blobs", "symlink", linkname="/"),
                                                         entry("blobs/sha256/x", data=b"x")), True, "passes through"),
        Case("outer-entry-dotdot", make_tar(entry("../../escape", data=b"x")), True, "'..' component"),
        Case("outer-symlink-escaping", make_tar(entry("manifest.json", "symlink", linkname="../../../etc/passwd")),
             True, "points outside"),
        Case("outer-file-under-file", make_tar(entry("a", data=b"x"), entry("a/b", data=b"y")), True,
             "not a directory|cannot unpack"),
        Case("hostile-layer-inside", docker_archive([make_tar(entry("l", "symlink", linkname="/etc"),
                                                              entry("l/x", data=b"x"))]), True, "passes through"),
        Case("second-layer-through-first-layers-symlink",
             docker_archive([make_tar(entry("l", "symlink", linkname="/etc")), make_tar(entry("l/x", data=b"x"))]),
             True, "layer below"),
        Case("manifest-nested-too-deep", _retarget(docker_archive([good]), "manifest.json", b"[" * 100000), True,
             "not valid JSON"),
        Case("gzip-of-garbage", gzip.compress(b"garbage" * 1000), True, "truncated or corrupt|not a valid tar"),
        Case("empty-archive", b"", True, "neither manifest.json nor index.json"),
    ]


def _names(path: str) -> str:
    """The words of a digest refusal: the file, named as in the archive, and that it does not match."""
    return f"{path} in the image archive does not match its digest"


def _retarget(archive: bytes, name: str, data: bytes) -> bytes:
    """``archive`` with the entry ``name``'s content replaced by ``data`` (its name kept)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as src, tarfile.open(fileobj=out, mode="w",
                                                                       format=tarfile.PAX_FORMAT) as dst:
        for member in src.getmembers():
            body = src.extractfile(member).read() if member.isfile() else None
            if member.name == name:
                body = data
                member.size = len(data)
            dst.addfile(member, io.BytesIO(body) if body is not None else None)
    return out.getvalue()


def _blob_symlinked(good: bytes, other: bytes) -> bytes:
    """A docker archive whose layer blob is a symlink to a file holding other content."""
    diff = f"sha256:{sha256(good)}"
    config = image_config([diff])
    path = f"blobs/sha256/{sha256(good)}"
    return make_tar(entry("blobs", "dir"), entry("blobs/sha256", "dir"),
                    entry(f"blobs/sha256/{sha256(config)}", data=config), entry("elsewhere", data=other),
                    entry(path, "symlink", linkname="../../elsewhere"),
                    entry("manifest.json", data=json.dumps([{"Config": f"blobs/sha256/{sha256(config)}",
                                                              "RepoTags": ["hostile:test"], "Layers": [path]}]).encode()))


def _oci_bad_digest() -> bytes:
    index = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:../../../etc/passwd",
        "size": 10}]}).encode()
    return make_tar(entry("oci-layout", data=b'{"imageLayoutVersion": "1.0.0"}'), entry("index.json", data=index))
