"""Seeded test data: the bench image's layer tars and the graph workloads' layers.

Everything is derived from the run's seed with :class:`random.Random`, and every tar
entry has a fixed owner and time, so two runs with the same seed and sizes put the
same bytes on disk. The bench image (``/data`` read-only content, ``/work`` for the
workloads' writes)::

    base        bin, lib, lib64, sbin -> usr/... (the host's /usr is bound in read-only:
                the workloads run the host's python3, tar and find), data/, work/, bench/, ref/
    tree        data/tree/...   a synthetic source tree (files sized like source code)
    archive     data/src.tar    the same tree as one tarball (the untar workload)
    big         data/big.bin    the large file (sequential and random reads, copy-up)
    thin-NN     data/layers/NN  small layers on top, so every lookup crosses 20+ layers
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import random
import tarfile
from typing import BinaryIO, Iterator

from berth.bench.storage.settings import MIB, Sizes

MTIME = 1_600_000_000  # every entry's modification time: reproducible layers, reproducible diff IDs
IMAGE = "berth-bench/storage"


# ---------------------------------------------------------------------------
# tar writing
# ---------------------------------------------------------------------------


def _info(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.mtime = kind, mode, size, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    tar.addfile(_info(name, tarfile.DIRTYPE, mode))


def add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    tar.addfile(_info(name, size=len(data), mode=mode), io.BytesIO(data))


def add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = _info(name, tarfile.SYMTYPE, 0o777)
    info.linkname = target
    tar.addfile(info)


def tar_bytes(entries: list[tuple[str, bytes | None]]) -> bytes:
    """A layer tar in memory: ``(name, data)`` pairs, data None for a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            if data is None:
                add_dir(tar, name)
            else:
                add_file(tar, name, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# the graph workloads' layers (after Moby's graphtest helpers)
# ---------------------------------------------------------------------------


def many_files(count: int, seed: int) -> bytes:
    """``count`` files of 64 seeded bytes, 100 per directory (Moby's ``addManyFiles``)."""
    entries: list[tuple[str, bytes | None]] = []
    for first in range(0, count, 100):
        directory = f"directory-{first}"
        entries.append((directory, None))
        for j in range(min(100, count - first)):
            entries.append((f"{directory}/file-{j}", random.Random(seed + first + j).randbytes(64)))
    return tar_bytes(entries)


DEEP_FILE = "testfile.txt"
DEEP_CONTENT = b"test content"


def deep_base() -> bytes:
    """The bottom layer of DeepLayerRead: the file read through every layer above it."""
    return tar_bytes([(DEEP_FILE, DEEP_CONTENT)])


def deep_layer(index: int) -> bytes:
    """One of the layers stacked above it (each adds a file of its own, as Moby's ``addManyLayers``)."""
    return tar_bytes([(f"file-{index}", f"layer {index}\n".encode())])


# ---------------------------------------------------------------------------
# the bench image
# ---------------------------------------------------------------------------


def tree_entries(seed: int, files: int) -> Iterator[tuple[str, bytes | None]]:
    """A synthetic source tree: nested directories, files of log-normal size (median 4 KiB, at most 256 KiB)."""
    rng = random.Random(seed)
    leaves = max(1, files // 25)
    dirs = [f"pkg{i % 40:02d}/mod{i // 40 % 10}/part{i // 400:02d}" if leaves > 40 else f"pkg{i:02d}"
            for i in range(leaves)]
    made: set[str] = set()
    suffixes = (".c", ".h", ".py", ".go", ".txt", ".json")
    for index in range(files):
        directory = dirs[rng.randrange(leaves)]
        parts = directory.split("/")
        for depth in range(1, len(parts) + 1):
            parent = "/".join(parts[:depth])
            if parent not in made:
                made.add(parent)
                yield parent, None
        size = min(256 << 10, int(rng.lognormvariate(math.log(4096), 1.0)))
        yield f"{directory}/file{index:05d}{suffixes[index % len(suffixes)]}", rng.randbytes(size)


def _write_tree(tar: tarfile.TarFile, prefix: str, seed: int, files: int) -> None:
    for name, data in tree_entries(seed, files):
        if data is None:
            add_dir(tar, f"{prefix}/{name}")
        else:
            add_file(tar, f"{prefix}/{name}", data)


def _base_layer(tar: tarfile.TarFile) -> None:
    for name in ("usr", "data", "work", "bench", "ref", "etc", "proc", "sys", "dev"):
        add_dir(tar, name)
    add_dir(tar, "tmp", 0o1777)
    for name in ("bin", "lib", "lib64", "sbin"):
        add_symlink(tar, name, f"usr/{name}")
    add_file(tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    add_file(tar, "etc/group", b"root:x:0:\n")


def _tree_layer(tar: tarfile.TarFile, seed: int, sizes: Sizes) -> None:
    add_dir(tar, "data/tree")
    _write_tree(tar, "data/tree", seed, sizes.tree_files)


def _archive_layer(tar: tarfile.TarFile, seed: int, sizes: Sizes) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as inner:
        add_dir(inner, "src")
        _write_tree(inner, "src", seed, sizes.tree_files)
    add_file(tar, "data/src.tar", buf.getvalue())


def big_chunks(seed: int, mib: int) -> Iterator[bytes]:
    """The large file, 1 MiB at a time (seeded, incompressible)."""
    rng = random.Random(seed * 7919 + 1)
    for _ in range(mib):
        yield rng.randbytes(MIB)


class _Chunks(io.RawIOBase):
    """The chunks as a readable file, for tarfile."""

    def __init__(self, chunks: Iterator[bytes]):
        super().__init__()
        self._chunks, self._left = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        while not self._left:
            self._left = next(self._chunks, b"")
            if not self._left:
                return 0
        n = min(len(buf), len(self._left))
        buf[:n], self._left = self._left[:n], self._left[n:]
        return n


def _big_layer(tar: tarfile.TarFile, seed: int, sizes: Sizes) -> None:
    tar.addfile(_info("data/big.bin", size=sizes.big_mib * MIB), io.BufferedReader(_Chunks(big_chunks(seed, sizes.big_mib))))


def _thin_layer(index: int):
    def write(tar: tarfile.TarFile, seed: int, sizes: Sizes) -> None:
        if index == 0:
            add_dir(tar, "data/layers")
        add_file(tar, f"data/layers/{index:02d}", f"thin layer {index}\n".encode())
    return write


def write_image_layers(directory: str, seed: int, sizes: Sizes) -> list[str]:
    """Write the bench image's layer tars into ``directory``; their paths, bottom first."""
    layers = [("base", lambda tar, s, z: _base_layer(tar)), ("tree", _tree_layer), ("archive", _archive_layer),
              ("big", _big_layer)]
    layers += [(f"thin-{i:02d}", _thin_layer(i)) for i in range(sizes.image_layers)]
    paths = []
    for name, write in layers:
        path = os.path.join(directory, f"{name}.tar")
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            write(tar, seed, sizes)
        paths.append(path)
    return paths


def base_layer_only(directory: str) -> str:
    """A one-layer image with the base only: what the reference targets' containers run on."""
    path = os.path.join(directory, "tools-base.tar")
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _base_layer(tar)
    return path


# ---------------------------------------------------------------------------
# docker-archive, streamed to berthd's POST /images/load
# ---------------------------------------------------------------------------


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def write_docker_archive(out: BinaryIO, layer_paths: list[str], tag: str) -> None:
    """A docker-archive of an image made of ``layer_paths`` (bottom first), tagged ``tag``, written to ``out``."""
    digests = [_digest(p) for p in layer_paths]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2020-09-13T12:26:40Z",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in digests]},
        "history": [{"created": "2020-09-13T12:26:40Z", "created_by": f"berth bench layer {os.path.basename(p)}"}
                    for p in layer_paths],
    }, sort_keys=True).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag],
                            "Layers": [f"{d}/layer.tar" for d in digests]}]).encode()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        add_file(tar, config_name, config)
        for digest, path in zip(digests, layer_paths):
            add_dir(tar, digest)
            with open(path, "rb") as layer:
                tar.addfile(_info(f"{digest}/layer.tar", size=os.path.getsize(path)), layer)
        add_file(tar, "manifest.json", manifest)
