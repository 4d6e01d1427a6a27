"""Committing a read-write layer: one code path for POST /commit and the builder's steps."""

from __future__ import annotations

import os

import pytest

from berth.errors import InvalidArgument
from berth.images.commit import CommitRequest, commit, commit_layer, create_child
from tests.helpers import data_root_fixture, make_image, store_fixture  # noqa: F401 - fixtures used by name


@pytest.fixture
def container(store):
    """An image and a container's layers on it: (image, container layer ID, the layer its diff is taken against)."""
    image = make_image(store, {"etc/passwd": b"root\n"}, "img:1")
    cid = "c" * 64
    store.create_container_layers(cid, image)
    yield image, cid, store.container_base_layer(cid, image.layer_id)
    store.remove_container_layers(cid)


def _write(store, layer_id: str, path: str, data: bytes) -> None:
    root = store.graph.mount(layer_id)
    try:
        with open(os.path.join(root, path), "wb") as f:
            f.write(data)
    finally:
        store.graph.unmount(layer_id)


def _request(image, cid: str, **kw) -> CommitRequest:
    return CommitRequest(container_id=cid, layer_id=cid, image_id=image.id, container_config={"Cmd": ["sh"]},
                         command="sh", **kw)


def test_an_unchanged_layer_commits_to_no_layer(store, container):
    image, cid, base = container
    layers_before = len(store.db.query("SELECT chain_id FROM layers"))
    assert commit_layer(store, cid, base, image) is None
    assert len(store.db.query("SELECT chain_id FROM layers")) == layers_before


def test_a_changed_layer_commits_on_the_image_top(store, container):
    image, cid, base = container
    _write(store, cid, "added", b"new")
    layer = commit_layer(store, cid, base, image)
    assert layer is not None and layer.parent == image.top_layer
    assert [(c.path, c.kind.letter) for c in store.graph.changes(layer.cache_id, image.layer_id)] == [("/added", "A")]


def test_commit_of_an_unchanged_container_adds_an_empty_layer_history_entry(store, container):
    image, cid, base = container
    committed = commit(store, _request(image, cid, reference="same:1"), base)
    assert committed.config["rootfs"]["diff_ids"] == image.config["rootfs"]["diff_ids"]
    assert committed.config["history"][-1]["empty_layer"] is True
    assert committed.parent == image.id


def test_commit_of_a_change_adds_one_layer(store, container):
    image, cid, base = container
    _write(store, cid, "added", b"new")
    committed = commit(store, _request(image, cid, reference="changed:1", comment="c1"), base)
    assert len(committed.config["rootfs"]["diff_ids"]) == len(image.config["rootfs"]["diff_ids"]) + 1
    assert "empty_layer" not in committed.config["history"][-1]
    assert committed.config["comment"] == "c1"


def test_bad_changes_fail_before_any_layer_is_stored(store, container):
    image, cid, base = container
    _write(store, cid, "added", b"new")
    layers_before = len(store.db.query("SELECT chain_id FROM layers"))
    with pytest.raises(InvalidArgument):
        commit(store, _request(image, cid, changes=["NOSUCH instruction"]), base)
    assert len(store.db.query("SELECT chain_id FROM layers")) == layers_before


def test_a_child_that_cannot_be_created_releases_its_new_layer(store, container):
    image, cid, base = container
    _write(store, cid, "added", b"new")
    layer = commit_layer(store, cid, base, image)
    with pytest.raises(InvalidArgument):
        create_child(store, image, layer, {"os": "linux", "config": {}}, reference="bad reference!")
    assert not store.graph.exists(layer.cache_id)


def test_a_child_of_scratch_has_only_its_own_layer(store, container):
    image, cid, base = container
    _write(store, cid, "added", b"new")
    layer = commit_layer(store, cid, base, None)
    child = create_child(store, None, layer, {"os": "linux", "config": {}})
    assert child.config["rootfs"]["diff_ids"] == [layer.diff_id] and child.parent == ""
