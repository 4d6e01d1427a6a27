"""Containers' init and read-write layers, and rmi's rules, on a real vfs store."""

from __future__ import annotations

import os

import pytest

from berth.errors import Conflict
from berth.images.remove import ContainerUse, delete_image
from tests.helpers import data_root_fixture, make_image, store_fixture  # noqa: F401 - fixtures used by name


def test_container_changes_are_taken_against_the_init_layer(store):
    image = make_image(store, {"etc/passwd": b"root\n"}, "img:1")
    cid = "c" * 64
    assert store.create_container_layers(cid, image) == cid
    base = store.container_base_layer(cid, image.layer_id)
    assert base == image.layer_id + "-init"
    root = store.graph.mount(cid)
    try:
        for placeholder in ("etc/hosts", "etc/resolv.conf", "etc/hostname", "proc", "dev/pts"):
            assert os.path.lexists(os.path.join(root, placeholder)), placeholder
        os.unlink(os.path.join(root, "etc/passwd"))
    finally:
        store.graph.unmount(cid)
    changes = [(c.path, c.kind.letter) for c in store.graph.changes(cid, base)]
    assert changes == [("/etc", "C"), ("/etc/passwd", "D")]  # no placeholders


def test_containers_of_one_image_share_its_init_layer(store):
    image = make_image(store, {"a": b"1"}, "img:1")
    first, second = "d" * 64, "9" * 64
    store.create_container_layers(first, image)
    store.create_container_layers(second, image)
    init = image.layer_id + "-init"
    assert store.container_base_layer(first, image.layer_id) == store.container_base_layer(second, image.layer_id) == init
    assert store.db.query("SELECT init_id FROM inits")[0]["init_id"] == init


def test_removing_a_container_keeps_the_shared_init_layer_for_the_next(store):
    image = make_image(store, {"a": b"1"}, "img:1")
    cid = "d" * 64
    store.create_container_layers(cid, image)
    store.remove_container_layers(cid)
    assert not store.graph.exists(cid) and store.graph.exists(image.layer_id + "-init")
    store.remove_container_layers(cid)  # idempotent


def test_the_shared_init_layer_goes_with_its_image_layer(store):
    image = make_image(store, {"a": b"1"}, "img:1")
    store.create_container_layers("d" * 64, image)
    store.remove_container_layers("d" * 64)
    delete_image(store, "img:1", [])
    assert not store.graph.exists(image.layer_id + "-init") and not store.graph.exists(image.layer_id)
    assert store.db.query("SELECT * FROM inits") == [] and store.db.query("SELECT * FROM pending") == []


def test_a_container_made_by_an_earlier_berth_keeps_and_removes_its_own_init_layer(store):
    image = make_image(store, {"a": b"1"}, "img:1")
    cid = "d" * 64
    store.create_container_layers(cid, image)
    store.graph.create_rw(cid + "-init", image.layer_id, {})  # the layout before shared init layers
    with store.db.tx() as db:
        db.execute("UPDATE mounts SET init_id = ? WHERE container_id = ?", (cid + "-init", cid))
    assert store.container_base_layer(cid, image.layer_id) == cid + "-init"
    store.remove_container_layers(cid)
    assert not store.graph.exists(cid + "-init") and store.graph.exists(image.layer_id + "-init")


def test_an_init_layer_cut_short_stays_listed_until_start_up_reconciliation_removes_it(store, monkeypatch):
    image = make_image(store, {"a": b"1"}, "img:1")
    monkeypatch.setattr("berth.images.initlayer.write_placeholders", _crash)
    with pytest.raises(SystemExit):
        store.create_container_layers("d" * 64, image)
    init = image.layer_id + "-init"
    assert store.db.query("SELECT cache_id FROM pending WHERE cache_id = ?", (init,))  # listed for reconciliation
    store._reconcile()
    assert not store.graph.exists(init) and store.db.query("SELECT * FROM pending") == []


def _crash(root):
    raise SystemExit("killed")  # BaseException, as an interrupted daemon: nothing after it runs


def test_forced_rmi_keeps_the_layer_a_container_stands_on(store):
    image = make_image(store, {"a": b"1"}, "img:1")
    cid = "e" * 64
    store.create_container_layers(cid, image)
    users = [ContainerUse(cid, image.id, running=False)]
    with pytest.raises(Conflict, match="must force"):
        delete_image(store, "img:1", users)
    assert store.get("img:1").id == image.id  # refused before untagging
    records = delete_image(store, "img:1", users, force=True)
    assert {"Untagged": "img:1"} in records and {"Deleted": image.id} in records
    assert store.graph.exists(image.layer_id)  # the container still needs it
    store.remove_container_layers(cid)
    assert not store.graph.exists(image.layer_id)  # released with the container


def test_running_container_blocks_even_forced_delete(store):
    image = make_image(store, {"a": b"1"}, "img:1")
    with pytest.raises(Conflict, match="cannot be forced"):
        delete_image(store, image.id, [ContainerUse("f" * 64, image.id, running=True)], force=True)


def test_rmi_untags_first_and_never_removes_a_shared_layer(store):
    base = make_image(store, {"a": b"1"}, "base:1")
    child = make_image(store, {"b": b"2"}, "child:1", parent_image=base)
    store.tag("base:1", "base:alias")
    assert delete_image(store, "base:alias", []) == [{"Untagged": "base:alias"}]
    with pytest.raises(Conflict, match="dependent child images"):
        delete_image(store, base.id, [])
    records = delete_image(store, "child:1", [], prune=False)
    assert records[0] == {"Untagged": "child:1"} and {"Deleted": child.id} in records
    assert store.graph.exists(base.layer_id) and store.get("base:1").id == base.id


def test_rmi_of_a_parent_by_tag_only_untags_it(store):
    base = make_image(store, {"a": b"1"}, "base:1")
    make_image(store, {"b": b"2"}, "child:1", parent_image=base)
    assert delete_image(store, "base:1", []) == [{"Untagged": "base:1"}]
    assert store.get(base.id).repo_tags == [] and store.graph.exists(base.layer_id)


def test_rmi_of_the_last_tag_of_a_repository_drops_its_digest_references_and_deletes_the_image(store):
    image = make_image(store, {"a": b"1"}, "host:5000/app:1")
    digest = "host:5000/app@sha256:" + "a" * 64
    store.tag(image.id, digest)
    store.tag(image.id, "other@sha256:" + "b" * 64)
    assert delete_image(store, "host:5000/app:1", [])[:2] == [{"Untagged": "host:5000/app:1"}, {"Untagged": digest}]
    assert store.get(image.id).repo_digests == ["other@sha256:" + "b" * 64]  # another repository's stays
    store.untag("other@sha256:" + "b" * 64)
    store.tag(image.id, "host:5000/app:1")
    store.tag(image.id, digest)
    records = delete_image(store, "host:5000/app:1", [])
    assert {"Untagged": digest} in records and {"Deleted": image.id} in records


def test_rmi_of_a_tag_keeps_the_digest_references_while_the_repository_has_another_tag(store):
    image = make_image(store, {"a": b"1"}, "app:1")
    store.tag(image.id, "app:2")
    store.tag(image.id, "app@sha256:" + "c" * 64)
    assert delete_image(store, "app:1", []) == [{"Untagged": "app:1"}]
    assert store.get(image.id).repo_digests == ["app@sha256:" + "c" * 64]
