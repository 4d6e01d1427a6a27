"""How the graph kit reports a tree that differs: the path, the field, modes in octal (issue 15)."""

from __future__ import annotations

import os

import pytest

from berth.testing.graph_kit import assert_same_tree, tree_snapshot


def _tree(root, mode: int) -> dict:
    os.makedirs(root / "etc")
    (root / "etc" / "shadow").write_bytes(b"root:*:")
    os.chmod(root / "etc" / "shadow", mode)
    os.utime(root / "etc" / "shadow", (1_500_000_000, 1_500_000_000))
    return tree_snapshot(str(root))


def test_a_mode_that_differs_is_named_with_its_path_and_shown_in_octal(tmp_path):
    expected, actual = _tree(tmp_path / "a", 0o4750), _tree(tmp_path / "b", 0o640)
    with pytest.raises(AssertionError) as failure:
        assert_same_tree(expected, actual)
    assert "etc/shadow: mode 0o4750 != 0o640 (expected != actual)" in str(failure.value)


def test_a_missing_and_an_unexpected_path_are_named(tmp_path):
    expected = _tree(tmp_path / "a", 0o640)
    actual = dict(expected)
    actual["etc/gshadow"] = actual.pop("etc/shadow")
    with pytest.raises(AssertionError) as failure:
        assert_same_tree(expected, actual)
    assert "etc/shadow: missing" in str(failure.value) and "etc/gshadow: unexpected" in str(failure.value)
