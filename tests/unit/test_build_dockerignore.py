""".dockerignore pattern rules (Docker's patternmatcher)."""

from __future__ import annotations

import os

import pytest

from berth.build import dockerignore
from berth.build.context import apply_ignore


def excluded(patterns: str, path: str) -> bool:
    return dockerignore.excluded(path, dockerignore.read(patterns))


@pytest.mark.parametrize("patterns, path, expected", [
    ("*.log", "a.log", True),
    ("*.log", "dir/a.log", False),          # * does not cross directories
    ("**/*.log", "dir/sub/a.log", True),
    ("**/*.log", "a.log", True),
    ("secret", "secret/inner/file", True),  # a matching parent excludes its content
    ("/abs/path", "abs/path", True),         # a leading slash is dropped
    ("./x//y/", "x/y", True),                # patterns are cleaned like paths
    ("*\n!keep.txt", "keep.txt", False),
    ("*\n!keep.txt", "other.txt", True),
    ("!keep.txt\n*", "keep.txt", True),      # the last matching pattern wins
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("[ab]x", "bx", True),
    ("# comment\n\n  ", "comment", False),
    ("docs\n!docs/README.md", "docs/README.md", False),
    ("docs\n!docs/README.md", "docs/other.md", True),
])
def test_patterns(patterns, path, expected):
    assert excluded(patterns, path) is expected


def test_apply_ignore_keeps_reincluded_files_and_their_directories(tmp_path):
    for rel in ("docs/README.md", "docs/other.md", "src/main.c", "build.log"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    apply_ignore(str(tmp_path), dockerignore.read("docs\n!docs/README.md\n*.log\n"))
    left = sorted(os.path.relpath(os.path.join(d, f), tmp_path) for d, _, fs in os.walk(tmp_path) for f in fs)
    assert left == ["docs/README.md", "src/main.c"]
