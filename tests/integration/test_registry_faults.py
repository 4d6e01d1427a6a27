"""Pulls that fail half-way store nothing: berthd killed between layers or mid-layer, a registry that cuts
blob downloads mid-body (resumed with HTTP ``Range`` where the registry serves ranges, started over where
it does not, a clean failure when it never lets a blob through), and a data-root that fills up.

The registry is Debian's docker-registry on 127.0.0.1 (``tests/registry_fixtures.py``); the cuts come
from a proxy in front of it (``tests/flaky_proxy.py``).
"""

from __future__ import annotations

import asyncio
import io
import os
import time

import pytest

from berth.errors import BerthError
from berth.registry import reference as refs
from berth.registry.progress import Progress
from berth.registry.service import RegistryService
from berth.registry import transport
from berth.registry.transport import RetryPolicy
from tests import leakscan
from tests import registry_fixtures as rf
from tests.crashing import assert_nothing_left, crash_at, crash_daemon, ok
from tests.flaky_proxy import CuttingProxy
from tests.registry_fixtures import registry_fixture, registry_peers_fixture, workdir_fixture  # noqa: F401

BIG = 4 << 20  # a layer of random bytes: its gzip blob is as big, so a cut lands mid-body
FAST_RETRY = RetryPolicy(attempts=3, first_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def big_image(registry, workdir):
    """``faults/big:1`` in the registry: busybox plus a 4 MiB layer of random bytes."""
    path = os.path.join(workdir, "big-image")
    info = rf.build_oci_layout(path, [rf.busybox_layer(), rf.data_layer("big.bin", BIG, 7)],
                               cmd=["/bin/cat", "/data/big.bin"])
    rf.skopeo_copy(f"oci:{path}:latest", f"docker://{registry.host}/faults/big:1")
    info["ref"] = f"{registry.host}/faults/big:1"
    return info


@pytest.fixture
def engine(tmp_path):
    eng = rf.fake_engine(str(tmp_path / "data"))
    yield eng
    eng.images.close()


@pytest.fixture
def proxy(registry, request):
    """A proxy in front of the registry, cutting as the test's indirect parameter says."""
    server = CuttingProxy(registry.host, **request.param).start()
    yield server
    server.stop()


def pull_through(engine, host: str, retry: RetryPolicy = FAST_RETRY):
    """Pull ``faults/big:1`` from ``host`` into ``engine``'s store; the result or the error."""
    async def main():
        try:
            return await RegistryService(engine, retry=retry).pull(refs.parse(f"{host}/faults/big:1"), Progress())
        except BerthError as exc:
            return exc

    return asyncio.run(main())


def big_layer_requests(proxy: CuttingProxy, info: dict) -> list[str]:
    """The Range headers of the requests for the big layer's blob ("" for a request without one)."""
    return [rng for method, path, rng in proxy.requests if path.endswith(info["layers"][1])]


# ---------------------------------------------------------------------------
# a registry that cuts connections mid-blob
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", [{"cut_after": BIG // 3, "cuts": 2, "ranges": True}], indirect=True)
def test_a_cut_blob_download_resumes_where_it_broke_with_a_range_request(engine, big_image, proxy):
    result = pull_through(engine, proxy.host)
    assert not isinstance(result, Exception), result
    assert engine.images.get(f"{proxy.host}/faults/big:1").id == big_image["image_id"]
    assert big_layer_requests(proxy, big_image) == ["", f"bytes={BIG // 3}-", f"bytes={2 * (BIG // 3)}-"]
    assert leakscan.store_problems(engine.config.data_root, "vfs") == []


@pytest.mark.parametrize("proxy", [{"cut_after": BIG // 3, "cuts": 2, "ranges": False}], indirect=True)
def test_a_cut_blob_download_starts_over_where_the_registry_serves_no_ranges(engine, big_image, proxy):
    result = pull_through(engine, proxy.host)
    assert not isinstance(result, Exception), result
    assert engine.images.get(f"{proxy.host}/faults/big:1").id == big_image["image_id"]
    assert big_layer_requests(proxy, big_image) == ["", "", ""]


@pytest.mark.parametrize("proxy", [{"cut_after": BIG // 3, "cuts": None, "ranges": False}], indirect=True)
def test_a_registry_that_always_cuts_the_blob_fails_the_pull_cleanly_with_nothing_stored(engine, big_image, proxy):
    result = pull_through(engine, proxy.host)
    assert isinstance(result, BerthError)
    assert big_image["layers"][1] in result.message and "failed after" in result.message
    assert engine.images.list(all=True) == []
    assert engine.images.db.query("SELECT chain_id FROM layers") == []
    assert leakscan.store_problems(engine.config.data_root, "vfs") == []


# ---------------------------------------------------------------------------
# berthd killed during a pull; a data-root that fills up
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostd(suite_tmp, busybox_path):
    with crash_daemon(suite_tmp) as d:
        yield d


@pytest.mark.parametrize("point", ["pull.between_blobs", "pull.mid_layer"])
def test_a_pull_cut_short_by_a_crash_stores_nothing_and_can_be_repeated(hostd, big_image, point):
    images = ok(hostd.cli("images", "-aq"))
    ids = crash_at(hostd, point, "pull", big_image["ref"])
    assert ok(hostd.cli("images", "-aq")) == images
    assert leakscan.store_problems(hostd.data_root, "overlay") == []
    ok(hostd.cli("pull", big_image["ref"]))
    assert ok(hostd.cli("run", "--rm", big_image["ref"], "ls", "/data")) == "big.bin"
    ok(hostd.cli("rmi", big_image["ref"]))
    assert_nothing_left(hostd, ids)


def test_a_pull_that_fills_the_data_root_fails_clearly_stores_nothing_and_the_daemon_serves_on(
        small_disk_daemon, registry, workdir):
    d = small_disk_daemon
    path = os.path.join(workdir, "huge-image")
    rf.build_oci_layout(path, [rf.busybox_layer(), rf.data_layer("huge.bin", 16 << 20, 9),
                               rf.data_layer("more.bin", 16 << 20, 10)])
    rf.skopeo_copy(f"oci:{path}:latest", f"docker://{registry.host}/faults/huge:1")
    images = ok(d.cli("images", "-aq"))
    result = d.cli("pull", f"{registry.host}/faults/huge:1")
    assert result.returncode != 0
    assert "no space left on device" in result.stderr.decode().lower(), result.stderr.decode()
    assert ok(d.cli("images", "-aq")) == images
    assert leakscan.store_problems(d.data_root, "vfs") == []
    ok(d.cli("run", "--rm", "busybox", "true"))


# ---------------------------------------------------------------------------
# what a probe of /v2/ found is remembered for the next pulls
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("proxy", [{"cut_after": BIG, "cuts": 0}], indirect=True)
def test_a_second_pull_from_a_registry_starts_with_its_manifest(engine, big_image, proxy):
    assert not isinstance(pull_through(engine, proxy.host), Exception)
    assert proxy.requests[0][:2] == ("GET", "/v2/")
    first = len(proxy.requests)
    engine.images.untag(f"{proxy.host}/faults/big:1")
    assert not isinstance(pull_through(engine, proxy.host), Exception)
    second = [path for _, path, _ in proxy.requests[first:]]
    assert second[0] == "/v2/faults/big/manifests/1" and "/v2/" not in second


@pytest.mark.parametrize("proxy", [{"cut_after": BIG, "cuts": 0}], indirect=True)
def test_a_remembered_endpoint_that_no_longer_answers_is_probed_again(engine, big_image, proxy, monkeypatch):
    # as if the registry had served TLS when last probed: the plain-HTTP one is found again at once
    monkeypatch.setitem(transport._PROBED, (proxy.host, True), (f"https://{proxy.host}", None, time.monotonic() + 60))
    result = pull_through(engine, proxy.host, RetryPolicy(attempts=1))
    assert not isinstance(result, Exception), result
    assert engine.images.get(f"{proxy.host}/faults/big:1").id == big_image["image_id"]
    assert transport._PROBED[(proxy.host, True)][0] == f"http://{proxy.host}"


# ---------------------------------------------------------------------------
# a layer another writer stores while a pull makes it too
# ---------------------------------------------------------------------------


def test_a_base_layer_stored_meanwhile_by_another_writer_makes_the_pull_start_over_one_layer_at_a_time(
        tmp_path, big_image, registry, monkeypatch):
    """On overlay a pull makes its layers at once, each on its own copy of the one below; when another writer
    (a load, a second pull) stores the base first, the layer above stands on a copy that is not recorded:
    the pull drops what it made and applies again on the stored base, and stores the image."""
    engine = rf.fake_engine(str(tmp_path / "data"), "overlay")
    store = engine.images
    commit, other_writer = store.commit_layer, []

    def commit_after_another_writer(draft, parent_chain, ev=None):
        if parent_chain is None and not other_writer:
            monkeypatch.setattr(store, "commit_layer", commit)  # once, and not for the other writer's own layer
            other_writer.append(store.add_layer(None, io.BytesIO(rf.busybox_layer())))
        return commit(draft, parent_chain, ev)

    monkeypatch.setattr(store, "commit_layer", commit_after_another_writer)
    try:
        result = pull_through(engine, registry.host)
        assert not isinstance(result, Exception), result
        assert store.get(big_image["ref"]).id == big_image["image_id"]
        assert store.image_layers(store.get(big_image["ref"]))[0] == other_writer[0]
        store.graph.cleanup()
        assert leakscan.store_problems(engine.config.data_root, "overlay") == []
    finally:
        store.close()


@pytest.mark.parametrize("proxy", [{"cut_after": BIG // 3, "cuts": None, "ranges": False}], indirect=True)
def test_a_failed_pull_leaves_the_base_layer_another_writer_stored_meanwhile(engine, big_image, proxy, monkeypatch):
    """On vfs a pull applies one layer after the other; the base another writer (a load, a second pull whose
    image is not recorded yet) stored first is theirs: when the pull fails further up, that layer stays."""
    store = engine.images
    commit, other_writer = store.commit_layer, []

    def commit_after_another_writer(draft, parent_chain, ev=None):
        if parent_chain is None and not other_writer:
            monkeypatch.setattr(store, "commit_layer", commit)
            other_writer.append(store.add_layer(None, io.BytesIO(rf.busybox_layer())))
        return commit(draft, parent_chain, ev)

    monkeypatch.setattr(store, "commit_layer", commit_after_another_writer)
    result = pull_through(engine, proxy.host)
    assert isinstance(result, BerthError) and big_image["layers"][1] in result.message
    assert other_writer, "the pull never committed its base layer"
    assert store.get_layer(other_writer[0].chain_id) == other_writer[0]
    assert os.path.isdir(os.path.join(engine.config.data_root, "vfs", "dir", other_writer[0].cache_id))
