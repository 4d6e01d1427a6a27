"""The hostile archive corpus against a real berthd: import, load, cp (PUT archive) and build contexts.

Every case is refused with a 4xx (for ``load``: dockerd's 200 stream ending in an
``errorDetail``) or accepted and contained: nothing is written outside, and after a
refusal nothing is half-stored — the image list, the layers and pending rows of the
metadata DB, the graph driver's directories, the tar-split records and the load
scratch space are as they were before. Runs on vfs (full trees: the layer below is
in the root) and overlay (the layer below is in the lower dirs).
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
import re
import sqlite3
import tarfile
import urllib.parse

import pytest

from tests.helpers import api, storage_daemon  # noqa: F401  (the fixture, as "daemon")
from tests.unixhttp import UnixHTTPConnection
from tests.hostile_archives import (docker_archive, entry, image_archive_cases, image_config, layer_cases, make_tar,
                                    oci_layout, sha256, stacked_cases, ustar_member)

pytestmark = pytest.mark.integration

SENTINEL = "/berth-hostile-sentinel"  # where the corpus aims outside; must never come to exist


def _params(cases):
    return [pytest.param(case, id=case.name) for case in cases]


def stored(daemon) -> dict:
    """Everything a refused archive must not leave behind."""
    data = daemon.data_root
    with sqlite3.connect(f"file:{os.path.join(data, 'image', 'metadata.db')}?mode=ro", uri=True) as db:
        layers = sorted(r[0] for r in db.execute("SELECT chain_id FROM layers"))
        pending = sorted(r[0] for r in db.execute("SELECT cache_id FROM pending"))
    graph = os.path.join(data, daemon.driver)
    return {
        "images": sorted(i["Id"] for i in api(daemon, "GET", "/images/json?all=1")[1]),
        "layers": layers, "pending": pending,
        "graph": sorted(os.listdir(graph)) + sorted(os.listdir(os.path.join(graph, "l")))
        if daemon.driver == "overlay" else sorted(os.listdir(graph)),
        "tarsplit": sorted(os.listdir(os.path.join(data, "image", "tarsplit"))),
        "scratch": sorted(os.listdir(os.path.join(data, "image", "tmp")))
        if os.path.isdir(os.path.join(data, "image", "tmp")) else [],
    }


def import_(daemon, data: bytes, tag: str):
    return api(daemon, "POST", f"/images/create?fromSrc=-&repo=hostile&tag={tag}", raw=data,
               headers={"Content-Type": "application/x-tar"})


def load(daemon, data: bytes) -> tuple[int, list[dict]]:
    status, body = api(daemon, "POST", "/images/load?quiet=1", raw=data, headers={"Content-Type": "application/x-tar"})
    text = body if isinstance(body, str) else json.dumps(body)
    return status, [json.loads(line) for line in text.splitlines() if line.strip()]


def remove_image(daemon, ref: str) -> None:
    status, body = api(daemon, "DELETE", f"/images/{urllib.parse.quote(ref, safe='')}?force=1")
    assert status == 200, body


def _tag(case_name: str) -> str:
    return case_name.lower()[:100]


# -- import -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", _params(layer_cases(SENTINEL)))
def test_import_refuses_or_contains_each_hostile_layer(daemon, case):
    before = stored(daemon)
    status, body = import_(daemon, case.data, _tag(case.name))
    if case.refused:
        assert 400 <= status < 500, body
        assert re.search(case.words, body["message"]), body
        assert stored(daemon) == before
    else:
        assert status == 200, body
        remove_image(daemon, f"hostile:{_tag(case.name)}")
    assert not os.path.lexists(SENTINEL)


def _disk_used(directory: str) -> int:
    inodes = {}
    for d, _, files in os.walk(directory):
        for f in files:
            st = os.lstat(os.path.join(d, f))
            inodes[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return sum(inodes.values())


def test_import_of_a_gzip_bomb_of_zeros_costs_no_disk(daemon):
    graph = os.path.join(daemon.data_root, daemon.driver)
    before = _disk_used(graph)
    tar = make_tar(entry("zeros", data=bytes(256 << 20)))
    status, body = import_(daemon, gzip.compress(tar, compresslevel=1), "bomb")
    assert status == 200, body
    assert _disk_used(graph) - before < (16 << 20)
    remove_image(daemon, "hostile:bomb")


# -- load ---------------------------------------------------------------------------------


def _assert_load_refused(daemon, data: bytes, words: str, before: dict) -> None:
    status, lines = load(daemon, data)
    assert status == 200 and lines, lines  # dockerd's shape: the error ends the JSON stream
    error = lines[-1].get("errorDetail", {}).get("message", "")
    assert re.search(words, error), lines
    assert stored(daemon) == before


@pytest.mark.parametrize("case", _params(image_archive_cases(SENTINEL)))
def test_load_refuses_each_hostile_image_archive(daemon, case):
    _assert_load_refused(daemon, case.data, case.words, stored(daemon))
    assert not os.path.lexists(SENTINEL)


@pytest.mark.parametrize("case", _params(layer_cases(SENTINEL)))
@pytest.mark.parametrize("layout", [docker_archive, oci_layout], ids=["docker-archive", "oci-layout"])
def test_load_refuses_or_contains_each_hostile_layer_in_an_archive(daemon, case, layout):
    before = stored(daemon)
    archive = layout([case.data], tag=f"hostile:{_tag(case.name)}")
    if case.refused:
        _assert_load_refused(daemon, archive, case.words, before)
    else:
        status, lines = load(daemon, archive)
        assert status == 200 and "errorDetail" not in lines[-1], lines
        remove_image(daemon, f"hostile:{_tag(case.name)}")
    assert not os.path.lexists(SENTINEL)


@pytest.mark.parametrize("name,lower,upper,refused,words", [pytest.param(*c, id=c[0]) for c in stacked_cases(SENTINEL)])
def test_load_refuses_a_layer_through_the_symlinks_of_the_layer_below(daemon, name, lower, upper, refused, words):
    before = stored(daemon)
    archive = oci_layout([lower, upper], tag=f"hostile:{_tag(name)}")
    if refused:
        _assert_load_refused(daemon, archive, words, before)
    else:
        status, lines = load(daemon, archive)
        assert status == 200 and "errorDetail" not in lines[-1], lines
        remove_image(daemon, f"hostile:{_tag(name)}")
    assert not os.path.lexists(SENTINEL)


def test_a_refused_second_image_leaves_the_first_unstored_too(daemon):
    good = make_tar(entry("fine", data=b"fine"))
    config = f"blobs/sha256/{sha256(image_config([f'sha256:{sha256(good)}']))}"
    layer = f"blobs/sha256/{sha256(good)}"
    archive = docker_archive([good], manifest=[{"Config": config, "RepoTags": ["hostile:first"], "Layers": [layer]},
                                               {"Config": config, "RepoTags": ["UPPER:case"], "Layers": [layer]}])
    _assert_load_refused(daemon, archive, "must be lowercase", stored(daemon))


# -- cp (PUT /containers/{id}/archive) and build contexts ------------------------------------------------


@pytest.fixture(scope="module")
def box(daemon):
    status, body = api(daemon, "POST", "/containers/create?name=hostile-box", {"Image": "busybox", "Cmd": ["true"]})
    assert status == 201, body
    yield body["Id"]
    api(daemon, "DELETE", f"/containers/{body['Id']}?force=1")


def container_dir(daemon, box: str, path: str) -> tuple[int, list[tuple[str, int]]]:
    """The names and sizes under ``path`` in the container, as a copy out of it shows them."""
    conn = UnixHTTPConnection(daemon.socket)
    try:
        conn.request("GET", f"/containers/{box}/archive?path={path}")
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        return resp.status, []
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return 200, sorted((m.name, m.size) for m in tar.getmembers())


@pytest.mark.parametrize("case", _params(layer_cases(SENTINEL)))
def test_copy_into_a_container_refuses_or_contains_each_hostile_archive(daemon, box, case):
    status, body = api(daemon, "PUT", f"/containers/{box}/archive?path=/tmp", raw=case.data,
                       headers={"Content-Type": "application/x-tar"})
    if case.refused and not case.layer_only:
        assert 400 <= status < 500, body
    else:  # accepted, or refused as a copy refuses what a layer allows (.wh. names): never a 5xx
        assert status == 200 or 400 <= status < 500, body
    assert not os.path.lexists(SENTINEL)


@pytest.mark.parametrize("case", _params([c for c in layer_cases(SENTINEL) if c.refused and not c.layer_only]))
def test_a_refused_copy_leaves_the_container_as_it_was(daemon, box, case):
    """The entries before the one refused are not written either (dockerd's copy stops half-way)."""
    target = f"/tmp/refused-{_tag(case.name)}"
    assert api(daemon, "PUT", f"/containers/{box}/archive?path=/tmp", raw=make_tar(entry(target[5:], "dir")),
               headers={"Content-Type": "application/x-tar"})[0] == 200
    before = container_dir(daemon, box, target)
    leading = ustar_member("written-first", b"first")  # one entry, no end-of-archive blocks: the case follows
    status, body = api(daemon, "PUT", f"/containers/{box}/archive?path={target}", raw=leading + case.data,
                       headers={"Content-Type": "application/x-tar"})
    assert 400 <= status < 500, body
    assert container_dir(daemon, box, target) == before
    assert not glob.glob(os.path.join(daemon.data_root, "tmp", "copy-*"))


@pytest.mark.parametrize("case", _params([c for c in layer_cases(SENTINEL) if c.refused and not c.layer_only]))
def test_a_hostile_build_context_is_refused(daemon, case):
    before, scratch = stored(daemon), os.path.join(daemon.data_root, "tmp")
    status, body = api(daemon, "POST", "/build?t=hostile-build", raw=case.data,
                       headers={"Content-Type": "application/x-tar"})
    assert 400 <= status < 500, body
    assert not os.path.lexists(SENTINEL)
    assert stored(daemon) == before and not glob.glob(os.path.join(scratch, "build-*"))  # the context is gone


def _add_context(case) -> bytes:
    """A build context whose Dockerfile ADDs the case's archive (ADD unpacks a local tar)."""
    dockerfile = b"FROM busybox\nADD evil.tar /unpacked/\n"
    return make_tar(entry("Dockerfile", data=dockerfile), entry("evil.tar", data=case.data))


def _recognised_as_tar(data: bytes) -> bool:
    """Whether ADD takes the file for a tar to unpack; one it does not is copied as it is, as Docker does."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            return tar.next() is not None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return False


@pytest.mark.parametrize("case", _params([c for c in layer_cases(SENTINEL) if c.refused and not c.layer_only]))
def test_a_hostile_archive_added_in_a_build_is_refused_and_nothing_stored(daemon, case):
    before = stored(daemon)
    status, body = api(daemon, "POST", "/build?t=hostile-add", raw=_add_context(case),
                       headers={"Content-Type": "application/x-tar"})
    lines = [json.loads(line) for line in (body if isinstance(body, str) else json.dumps(body)).splitlines() if line]
    assert not os.path.lexists(SENTINEL)
    if not _recognised_as_tar(case.data):
        assert status == 200, body  # copied as a plain file
        if "errorDetail" not in lines[-1]:
            remove_image(daemon, "hostile-add:latest")
        return
    assert status == 200 and "errorDetail" in lines[-1], lines  # dockerd's shape: the error ends the stream
    assert re.search(case.words, lines[-1]["errorDetail"]["message"]), lines
    assert stored(daemon) == before and not glob.glob(os.path.join(daemon.data_root, "tmp", "build-*"))
