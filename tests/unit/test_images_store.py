"""The image store on a real vfs driver: layers, images, references, persistence, crash leftovers."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sqlite3

import pytest

from berth.errors import InvalidArgument, NotFound, UnsafeArchive
from berth.images.bootstrap import PATH_ENV, bootstrap_busybox, build_layer, busybox_applets
from berth.images.store import ImageStore
from tests.helpers import data_root_fixture, layer_tar, store_fixture  # noqa: F401 - fixtures used by name


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_layer_ids_are_digests_of_the_uncompressed_tar(store):
    base_tar, top_tar = layer_tar({"a": b"1"}), layer_tar({"b": b"22"})
    base = store.add_layer(None, io.BytesIO(base_tar))
    top = store.add_layer(base.chain_id, io.BytesIO(gzip.compress(top_tar)))
    assert base.diff_id == base.chain_id == sha(base_tar)
    assert top.diff_id == sha(top_tar)
    assert top.chain_id == sha(f"{base.chain_id} {top.diff_id}".encode())
    assert (base.size, top.size) == (1, 2)
    assert store.graph.exists(top.cache_id) and top.cache_id != base.cache_id


def test_adding_the_same_layer_twice_keeps_one(store):
    first = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    second = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    assert second.cache_id == first.cache_id
    assert os.listdir(os.path.join(store.graph.driver.root, "dir")) == [first.cache_id]


def test_an_add_says_when_another_writer_had_stored_the_layer(store):
    first = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    second = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    assert (first.found, second.found) == (False, True) and first == second
    store.discard_layers([second])  # the second writer failing afterwards: the layer is the first's
    assert store.get_layer(first.chain_id) == first and store.graph.exists(first.cache_id)


def test_discarding_a_failed_writes_layers_leaves_the_unheld_layer_below_that_it_did_not_add(store):
    """The base may be another writer's, its image not recorded yet: it only loses the reference."""
    theirs = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    mine = store.add_layer(theirs.chain_id, io.BytesIO(layer_tar({"b": b"2"})))
    mine_above = store.add_layer(mine.chain_id, io.BytesIO(layer_tar({"c": b"3"})))
    store.discard_layers([mine, mine_above])
    assert [row["chain_id"] for row in store.db.query("SELECT chain_id FROM layers")] == [theirs.chain_id]
    assert store.unreferenced(theirs.chain_id) and store.graph.exists(theirs.cache_id)
    assert not store.graph.exists(mine.cache_id) and not store.graph.exists(mine_above.cache_id)


def test_discarding_keeps_a_layer_an_image_came_to_use_meanwhile(store):
    layer = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    store.create_image({"architecture": "amd64", "os": "linux", "config": {}}, [layer], "used:1")
    store.discard_layers([layer])
    assert store.get_layer(layer.chain_id) == layer


def test_a_hostile_layer_leaves_nothing_behind(store):
    with pytest.raises(UnsafeArchive):
        store.add_layer(None, io.BytesIO(layer_tar({"../escape": b"x"})))
    assert os.listdir(os.path.join(store.graph.driver.root, "dir")) == []
    assert store.db.query("SELECT * FROM pending") == []


def test_image_id_is_the_config_digest_and_references_resolve(store):
    layer = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z", "config": {"Cmd": ["sh"]}}
    image = store.create_image(config, [layer], "app")
    raw = open(store.blobs.path(image.id), "rb").read()
    assert image.id == sha(raw)
    assert json.loads(raw)["rootfs"] == {"type": "layers", "diff_ids": [layer.diff_id]}
    assert image.repo_tags == ["app:latest"] and image.layer_id == layer.cache_id and image.size == 1
    for name in ("app", "app:latest", "docker.io/library/app:latest", image.id, image.id[7:], image.id[7:19]):
        assert store.get(name).id == image.id
    with pytest.raises(NotFound, match="No such image: other"):
        store.get("other")


def test_config_bytes_are_kept_exactly(store):
    layer = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    raw = json.dumps({"os": "linux", "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]}}, indent=3).encode()
    assert store.create_image(raw, [layer], None).id == sha(raw)


def test_mismatched_diff_ids_are_refused(store):
    layer = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    with pytest.raises(InvalidArgument, match="diff_ids"):
        store.create_image({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}}, [layer], None)


def test_tag_moves_and_untag_delete_release_layers(store):
    layer = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    one = store.create_image({"created": "1", "os": "linux"}, [layer], "app:1")
    two = store.create_image({"created": "2", "os": "linux"}, [layer], "app:2")
    store.tag("app:1", "app:2")
    assert store.get("app:2").id == one.id
    assert store.get(two.id).repo_tags == []
    assert store.delete(two.id) == []  # the layer is still used by the other image
    store.untag("app:1")
    store.untag("app:2")
    assert store.delete(one.id) == [layer.chain_id]
    assert not store.graph.exists(layer.cache_id)


def test_state_survives_reopening(data_root, store):
    layer = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    image = store.create_image({"os": "linux"}, [layer], "keep:me")
    store.close()
    again = ImageStore(data_root, store.graph)
    try:
        assert again.get("keep:me").id == image.id
        assert sqlite3.connect(os.path.join(data_root, "image", "metadata.db")).execute(
            "PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        again.close()


def test_crash_leftovers_are_cleaned_at_start(data_root, store):
    orphan = store.add_layer(None, io.BytesIO(layer_tar({"never": b"imaged"})))
    store.graph.create("half-made", None)
    with store.db.tx() as db:
        db.execute("INSERT INTO pending (cache_id, started) VALUES ('half-made', 'x')")
    store.close()
    again = ImageStore(data_root, store.graph)
    try:
        assert not store.graph.exists("half-made")
        assert not store.graph.exists(orphan.cache_id)
        assert again.db.query("SELECT * FROM layers") == []
    finally:
        again.close()


def test_bootstrap_busybox_is_deterministic_and_runnable_layout(store):
    image = bootstrap_busybox(store)
    again = bootstrap_busybox(store, "busybox:again")
    assert again.id == image.id
    assert sorted(store.get(image.id).repo_tags) == ["busybox:again", "busybox:latest"]
    cfg = image.config
    assert cfg["config"]["Cmd"] == ["sh"] and cfg["config"]["Env"] == [PATH_ENV] and cfg["os"] == "linux"
    assert len(cfg["rootfs"]["diff_ids"]) == 1 and cfg["history"]
    path = store.graph.mount(image.layer_id)
    try:
        applets = busybox_applets("/bin/busybox")
        assert "sh" in applets
        for applet in ("sh", "ls", applets[-1]):
            assert os.stat(os.path.join(path, "bin", applet)).st_ino == os.stat(os.path.join(path, "bin/busybox")).st_ino
        assert os.stat(os.path.join(path, "tmp")).st_mode & 0o7777 == 0o1777
        assert os.stat(os.path.join(path, "root")).st_mode & 0o7777 == 0o700
        assert open(os.path.join(path, "etc/passwd")).read().startswith("root:x:0:0:")
    finally:
        store.graph.unmount(image.layer_id)
    assert build_layer("/bin/busybox", 5) == build_layer("/bin/busybox", 5)


def test_an_image_is_created_with_its_tag_and_digest_reference_at_once(store):
    layer = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    digest_ref = "127.0.0.1:5000/app@sha256:" + "a" * 64
    image = store.create_image({"architecture": "amd64", "os": "linux", "config": {}}, [layer], "127.0.0.1:5000/app:1",
                               more_references=(digest_ref,))
    assert image.repo_tags == ["127.0.0.1:5000/app:1"] and image.repo_digests == [digest_ref]
