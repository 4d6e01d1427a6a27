"""Layers made in steps (drafts) on the overlay driver: a chain applied at once, recorded in chain order.

A pull creates its new layers as drafts, each on the one below, fills them all at once and
records them base first (``ImageStore.draft_layers``, ``fill_draft``, ``commit_layer``,
``abandon_layer``). These tests hold one layer's stream back to make the timing that
matters certain: the layer above finishes its own archive while the one below is not done.
"""

from __future__ import annotations

import io
import os
import threading

import pytest

from berth.errors import InvalidArgument, UnsafeArchive
from berth.images.layerdraft import LayerBelowFailed, StaleDraft
from berth.images.store import ImageStore
from berth.testing.graph_kit import open_graph
from tests.helpers import layer_tar, open_store
from tests.hostile_archives import entry, make_tar


@pytest.fixture
def store(tmp_path):
    s = ImageStore(str(tmp_path / "data"), open_graph("overlay", str(tmp_path / "data" / "overlay")))
    yield s
    s.graph.cleanup()
    s.close()


class HeldStream(io.RawIOBase):
    """``data`` as a stream whose first read waits until ``release`` is set."""

    def __init__(self, data: bytes, release: threading.Event | None):
        super().__init__()
        self._data, self._release = io.BytesIO(data), release

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        assert self._release is None or self._release.wait(30)
        return self._data.readinto(buf)


def fill_at_once(store, drafts, tars: list[bytes]) -> list[BaseException | None]:
    """Fill ``drafts`` from ``tars`` at once, each layer's stream held until the layer above has read its
    whole archive and waits for the layers below; return each fill's error (None: applied)."""
    waiting = [threading.Event() for _ in tars]  # waiting[i]: layer i waits for the ones below (or ended)
    for i in range(1, len(drafts)):
        below, wait = drafts[i - 1], drafts[i - 1].wait_applied
        below.wait_applied = lambda wait=wait, i=i: (waiting[i].set(), wait())[1]
    errors: list[BaseException | None] = [None] * len(tars)

    def fill(i: int) -> None:
        try:
            store.fill_draft(drafts[i], HeldStream(tars[i], waiting[i + 1] if i + 1 < len(tars) else None))
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            errors[i] = exc
        finally:
            waiting[i].set()

    threads = [threading.Thread(target=fill, args=(i,)) for i in range(len(tars))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def layer_dirs(store) -> list[str]:
    root = store.graph.driver.root
    return sorted(e for e in os.listdir(root) if e not in ("l", ".trash"))


def test_overlay_applies_early_and_vfs_does_not(tmp_path):
    assert open_graph("overlay", str(tmp_path / "o")).applies_early()
    assert not open_store(str(tmp_path / "v")).graph.applies_early()


def test_a_layer_through_a_symlink_of_a_layer_applied_at_once_below_it_is_refused(store):
    base = make_tar(entry("bin", "symlink", linkname="/etc"))
    hostile = make_tar(entry("bin/passwd", data=b"root::0:0::/:/bin/sh\n"))
    drafts = store.draft_layers(None, 2)
    errors = fill_at_once(store, drafts, [base, hostile])
    assert errors[0] is None
    assert isinstance(errors[1], UnsafeArchive) and "symlink in the layer below" in str(errors[1])
    for draft in reversed(drafts):
        store.abandon_layer(draft)
    assert layer_dirs(store) == [] and store.db.query("SELECT * FROM pending") == []


def test_layers_applied_at_once_are_recorded_as_one_after_the_other(store, tmp_path):
    tars = [layer_tar({"a": b"1"}), make_tar(entry("d", "dir"), entry("d/b", data=b"22")), layer_tar({"d/c": b"333"})]
    drafts = store.draft_layers(None, 3)
    assert fill_at_once(store, drafts, tars) == [None, None, None]
    layers, parent = [], None
    for draft in drafts:
        layers.append(store.commit_layer(draft, parent))
        parent = layers[-1].chain_id
    serial, parent = open_store(str(tmp_path / "serial")), None
    for tar in tars:
        parent = serial.add_layer(parent, io.BytesIO(tar)).chain_id
    assert layers[-1].chain_id == parent
    assert [layer.size for layer in layers] == [1, 2, 3]
    root = store.graph.mount(layers[-1].cache_id)
    try:
        assert sorted(os.listdir(root)) == ["a", "d"] and sorted(os.listdir(os.path.join(root, "d"))) == ["b", "c"]
    finally:
        store.graph.unmount(layers[-1].cache_id)
    assert store.db.query("SELECT * FROM pending") == []
    serial.close()


def test_a_layer_below_that_fails_stops_the_layers_above(store):
    drafts = store.draft_layers(None, 2)
    errors = fill_at_once(store, drafts, [b"not a tar" * 100, layer_tar({"a": b"1"})])
    assert isinstance(errors[0], InvalidArgument)
    assert isinstance(errors[1], LayerBelowFailed)
    for draft in reversed(drafts):
        store.abandon_layer(draft)
    assert layer_dirs(store) == [] and store.db.query("SELECT * FROM pending") == []


def test_a_draft_on_a_copy_of_a_layer_another_writer_stored_first_is_stale(store):
    drafts = store.draft_layers(None, 2)
    assert fill_at_once(store, drafts, [layer_tar({"a": b"1"}), layer_tar({"b": b"2"})]) == [None, None]
    winner = store.add_layer(None, io.BytesIO(layer_tar({"a": b"1"})))
    assert store.commit_layer(drafts[0], None) == winner and drafts[0].superseded
    with pytest.raises(StaleDraft, match="pull again"):
        store.commit_layer(drafts[1], winner.chain_id)
    for draft in reversed(drafts):
        store.abandon_layer(draft)
    assert layer_dirs(store) == [winner.cache_id] and store.db.query("SELECT * FROM pending") == []

