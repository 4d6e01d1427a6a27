"""ContainerStore: records on disk; a removed container's directory leaves ``containers/`` at once."""

from __future__ import annotations

import os

from berth.containers.model import Container
from berth.containers.store import ContainerStore
from berth.trash import Trash

CID = "ab" * 32


def saved_store(tmp_path) -> tuple[ContainerStore, Trash]:
    trash = Trash(str(tmp_path / "trash"))
    store = ContainerStore(str(tmp_path / "containers"), trash)
    store.save(Container(CID, "web", "2026-01-01T00:00:00Z", "sha256:" + "0" * 64, {}, {}))
    with open(os.path.join(store.directory(CID), "container.log"), "w") as f:
        f.write("output\n")
    return store, trash


def test_a_deleted_containers_directory_is_gone_from_the_store_at_once(tmp_path):
    store, trash = saved_store(tmp_path)
    store.delete(CID)
    assert os.listdir(tmp_path / "containers") == []
    assert CID not in store.containers
    assert trash.drain(10)
    assert os.listdir(tmp_path / "trash") == []


def test_a_record_saved_without_fsync_is_read_back_like_a_durable_one(tmp_path):
    store, _ = saved_store(tmp_path)
    c = store.containers[CID]
    c.manually_stopped = True
    store.save(c, durable=False)
    reloaded = ContainerStore(str(tmp_path / "containers"))
    assert reloaded.load() == []
    assert reloaded.containers[CID].manually_stopped is True
