"""The container workloads: run *inside* a container (or over a reference mount), standard library only.

Started as ``python3 -I -S /bench/inside.py WORKLOAD ROOT OUT PARAMS``: the host's
python3 (its /usr is bound in read-only), the workload's files under ``ROOT``
(``/`` for a berth driver: the container's own rootfs; ``/ref`` for a reference
mount bound into the container), the result written as JSON to ``OUT``. ``PARAMS``
is a JSON object with the workload's sizes and the seed.

Each workload times only its own file system work (``time.perf_counter`` around
it; the interpreter's start is not counted) and reports ``seconds`` plus what it
moved: ``bytes`` or ``ops``, and per phase seconds where it has phases. Read-only
data is under ``ROOT/data`` (image layers: the lowers), writes go to
``ROOT/work`` (the container's writable layer).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

CHUNK = 1 << 20
PAGE = 4096


def untar(root: str, p: dict) -> dict:
    """Unpack the source tarball (a lower-layer file) into the writable layer with tar(1)."""
    archive = os.path.join(root, "data/src.tar")
    target = os.path.join(root, "work/untar")
    os.mkdir(target)
    began = time.perf_counter()
    subprocess.run(["tar", "-xf", archive, "-C", target], check=True)
    return {"seconds": time.perf_counter() - began, "bytes": os.path.getsize(archive)}


def _storm_names(files: int) -> list[tuple[str, str]]:
    per_dir = 1000
    return [(f"d{i // per_dir:03d}", f"f{i:06d}") for i in range(files)]


def storm(root: str, p: dict) -> dict:
    """A metadata storm in the writable layer: create, stat, readdir, rename and unlink ``files`` files."""
    base = os.path.join(root, "work/storm")
    os.mkdir(base)
    names = _storm_names(p["files"])
    dirs = sorted({d for d, _ in names})
    phases: dict[str, float] = {}

    def phase(name: str, fn) -> None:
        began = time.perf_counter()
        fn()
        phases[name] = time.perf_counter() - began

    def create() -> None:
        for d in dirs:
            os.mkdir(os.path.join(base, d))
        for d, f in names:
            os.close(os.open(os.path.join(base, d, f), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))

    phase("create", create)
    phase("stat", lambda: [os.stat(os.path.join(base, d, f)) for d, f in names])
    phase("readdir", lambda: [os.listdir(os.path.join(base, d)) for d in dirs])
    phase("rename", lambda: [os.rename(os.path.join(base, d, f), os.path.join(base, d, f + ".r")) for d, f in names])
    phase("unlink", lambda: [os.unlink(os.path.join(base, d, f + ".r")) for d, f in names])
    return {"seconds": sum(phases.values()), "ops": 5 * len(names), "phases": phases}


def seq_write(root: str, p: dict) -> dict:
    """Write ``mib`` MiB to a new file in the writable layer, 1 MiB at a time, then fsync it."""
    buf = random.Random(p["seed"]).randbytes(CHUNK)
    path = os.path.join(root, "work/seq.bin")
    began = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        for _ in range(p["mib"]):
            os.write(fd, buf)
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"seconds": time.perf_counter() - began, "bytes": p["mib"] * CHUNK}


def seq_read(root: str, p: dict) -> dict:
    """Read the large lower-layer file from start to end, 1 MiB at a time (cold: the cache was dropped)."""
    path = os.path.join(root, "data/big.bin")
    total = 0
    began = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        while n := len(os.read(fd, CHUNK)):
            total += n
    finally:
        os.close(fd)
    return {"seconds": time.perf_counter() - began, "bytes": total}


def rand_read(root: str, p: dict) -> dict:
    """``count`` 4 KiB reads at seeded random page offsets of the large lower-layer file (cold)."""
    path = os.path.join(root, "data/big.bin")
    pages = os.path.getsize(path) // PAGE
    rng = random.Random(p["seed"])
    offsets = [rng.randrange(pages) * PAGE for _ in range(p["count"])]
    began = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset in offsets:
            os.pread(fd, PAGE, offset)
    finally:
        os.close(fd)
    return {"seconds": time.perf_counter() - began, "ops": len(offsets), "bytes": len(offsets) * PAGE}


def copy_up(root: str, p: dict) -> dict:
    """Change one byte of the large lower-layer file: the whole file is copied up to the writable layer."""
    path = os.path.join(root, "data/big.bin")
    size = os.path.getsize(path)
    began = time.perf_counter()
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"x", 0)
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"seconds": time.perf_counter() - began, "bytes": size}


def find(root: str, p: dict) -> dict:
    """find(1) over the lower-layer source tree, asking for sizes (a lookup and stat of every entry; cold)."""
    tree = os.path.join(root, "data/tree")
    began = time.perf_counter()
    out = subprocess.run(["find", tree, "-size", "+4k"], check=True, stdout=subprocess.PIPE).stdout
    return {"seconds": time.perf_counter() - began, "ops": p["entries"], "found": out.count(b"\n")}


def _install_package(base: str, index: int, files: int, payload: bytes, db: int) -> None:
    directory = os.path.join(base, f"usr/share/pkg{index:03d}")
    os.makedirs(directory)
    for f in range(files):
        final = os.path.join(directory, f"file{f:03d}")
        temp = final + ".dpkg-new"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, final)
    os.write(db, f"Package: pkg{index:03d}\nStatus: install ok installed\n\n".encode())
    os.fsync(db)


def pkg_install(root: str, p: dict) -> dict:
    """A package manager's install: per package, small files written to temporary names, fsynced and
    renamed into place (as dpkg does), then the package database appended and fsynced."""
    base = os.path.join(root, "work/pkgroot")
    payload = random.Random(p["seed"]).randbytes(p["file_size"])
    os.makedirs(os.path.join(base, "var/lib/dpkg"))
    began = time.perf_counter()
    db = os.open(os.path.join(base, "var/lib/dpkg/status"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for index in range(p["packages"]):
            _install_package(base, index, p["files"], payload, db)
    finally:
        os.close(db)
    files = p["packages"] * p["files"]
    return {"seconds": time.perf_counter() - began, "ops": files, "bytes": files * len(payload)}


WORKLOADS = {"untar": untar, "metadata-storm": storm, "seq-write": seq_write, "seq-read": seq_read,
             "rand-read": rand_read, "copy-up": copy_up, "find": find, "pkg-install": pkg_install}


def main(argv: list[str]) -> int:
    workload, root, out, params = argv
    result = WORKLOADS[workload](root, json.loads(params))
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.rename(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
