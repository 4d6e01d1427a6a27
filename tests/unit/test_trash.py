"""berth.trash: a discarded tree is gone from its place at once and deleted in the background."""

from __future__ import annotations

import os

from berth.trash import Trash


def make_tree(path: str, files: int = 50) -> None:
    os.makedirs(os.path.join(path, "sub"))
    for i in range(files):
        with open(os.path.join(path, "sub", f"f{i}"), "w") as f:
            f.write("x")


def test_a_discarded_tree_leaves_its_place_at_once(tmp_path):
    trash = Trash(str(tmp_path / "trash"))
    make_tree(str(tmp_path / "layer"))
    trash.discard(str(tmp_path / "layer"))
    assert not os.path.lexists(tmp_path / "layer")
    assert trash.drain(10)


def test_drain_returns_once_every_discarded_tree_is_deleted(tmp_path):
    trash = Trash(str(tmp_path / "trash"))
    for n in range(5):
        make_tree(str(tmp_path / f"layer{n}"))
        trash.discard(str(tmp_path / f"layer{n}"))
    assert trash.drain(10)
    assert os.listdir(tmp_path / "trash") == []


def test_discarding_a_missing_path_is_not_an_error(tmp_path):
    trash = Trash(str(tmp_path / "trash"))
    trash.discard(str(tmp_path / "never-made"))
    assert trash.drain(10)


def test_what_a_crash_left_in_the_trash_is_emptied_when_it_is_opened_again(tmp_path):
    make_tree(str(tmp_path / "trash" / "left-by-a-crash"))
    trash = Trash(str(tmp_path / "trash"))
    assert trash.drain(10)
    assert os.listdir(tmp_path / "trash") == []
