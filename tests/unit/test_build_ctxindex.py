"""A build context read as an index answers exactly as the unpacked context does, and unpacks only on need."""

from __future__ import annotations

import glob
import gzip
import io
import os
import tempfile

import pytest

from berth.build.context import extract_context, open_context
from berth.build.receive import index_spool
from berth.images.tarsafe import extract_tree
from tests.hostile_archives import entry, layer_cases, make_tar

BUSYBOX_LIKE = os.urandom(200_000)


def receive(body: bytes, tmp_dir: str):
    """(index or None, spool) for ``body`` spooled as the daemon spools it."""
    spool = tempfile.TemporaryFile(dir=tmp_dir)
    spool.write(body)
    return index_spool(spool), spool


def both(body: bytes, tmp_path, dockerfile: str | None = None):
    """The same context opened from its index and unpacked."""
    index, spool = receive(body, str(tmp_path))
    assert index is not None, "this context should be indexed"
    indexed = open_context(spool, index, str(tmp_path / "indexed"), dockerfile)
    extracted = extract_context(io.BytesIO(body), str(tmp_path / "extracted"), dockerfile)
    return indexed, extracted


CONTEXT = make_tar(
    entry("Dockerfile", data=b"FROM scratch\r\nCOPY . /\r\n"),
    entry(".dockerignore", data=b"secret\n*.log\nd/**\n!d/keep\n"),
    entry("busybox", data=BUSYBOX_LIKE, mode=0o755),
    entry("a1", data=b"one"), entry("a2", data=b"two", mode=0o4755), entry("secret", data=b"s"),
    entry("x.log", data=b"log"), entry("d/keep", data=b"k"), entry("d/drop", data=b"d"),
    entry("dir", "dir", mode=0o750), entry("dir/f1", data=b"f1"), entry("dir/sub/deep/x", data=b"x"),
    entry("dir/ln", "symlink", linkname="f1"), entry("dir/abs", "symlink", linkname="/etc/passwd"),
    entry("link", "symlink", linkname="dir"), entry("hl", "hardlink", linkname="dir/f1"),
    entry("empty", "dir", mode=0o700),
)
SOURCES = [".", "busybox", "a*", "dir", "dir/", "link", "link/f1", "dir/sub/../f1", "hl", "dir/ln", "*/f1",
           "dir/*/deep", "/dir/sub", "d", "empty", "[ab]1"]


@pytest.mark.parametrize("src", SOURCES)
def test_an_indexed_context_expands_and_checksums_a_source_as_the_unpacked_one(tmp_path, src):
    indexed, extracted = both(CONTEXT, tmp_path)
    try:
        # a match through a symlink is named by its real path in the index (the same file, the same name)
        found = [(os.path.basename(r), indexed.checksum(r)) for r in indexed.expand(src, "COPY")]
        assert found == [(os.path.basename(r), extracted.checksum(r)) for r in extracted.expand(src, "COPY")]
    finally:
        indexed.close()
        extracted.close()


def test_the_dockerfile_and_dockerignore_are_read_as_from_the_unpacked_context(tmp_path):
    indexed, extracted = both(CONTEXT, tmp_path)
    try:
        assert indexed.dockerfile == extracted.dockerfile == "FROM scratch\nCOPY . /\n"
        assert indexed.ignore == extracted.ignore
        for src in ("secret", "x.log", "d/drop"):
            for context in (indexed, extracted):
                with pytest.raises(Exception, match="excluded by .dockerignore"):
                    context.expand(src, "COPY")
    finally:
        indexed.close()
        extracted.close()


@pytest.mark.parametrize("src, words", [("nothing", "file not found"), ("no*", "no source files"),
                                        ("../up", "outside the build context")])
def test_a_missing_source_is_the_same_error_from_the_index(tmp_path, src, words):
    indexed, extracted = both(CONTEXT, tmp_path)
    try:
        errors = []
        for context in (indexed, extracted):
            with pytest.raises(Exception, match=words) as caught:
                context.expand(src, "COPY")
            errors.append(str(caught.value))
        assert errors[0] == errors[1]
    finally:
        indexed.close()
        extracted.close()


def test_a_lowercase_dockerfile_or_one_named_with_f_is_found(tmp_path):
    body = make_tar(entry("dockerfile", data=b"FROM a\n"), entry("sub/Other", data=b"FROM b\n"))
    index, spool = receive(body, str(tmp_path))
    context = open_context(spool, index, str(tmp_path), None)
    assert (context.dockerfile_path, context.dockerfile) == ("dockerfile", "FROM a\n")
    context.close()
    index, spool = receive(body, str(tmp_path))
    context = open_context(spool, index, str(tmp_path), "sub/Other")
    assert context.dockerfile == "FROM b\n"
    context.close()


def test_a_dockerfile_that_is_a_symlink_is_not_located(tmp_path):
    body = make_tar(entry("real", data=b"FROM a\n"), entry("Dockerfile", "symlink", linkname="real"))
    index, spool = receive(body, str(tmp_path))
    with pytest.raises(Exception, match="Cannot locate specified Dockerfile: Dockerfile"):
        open_context(spool, index, str(tmp_path), None)


def test_the_context_is_unpacked_only_when_a_file_is_needed_and_then_once(tmp_path):
    index, spool = receive(CONTEXT, str(tmp_path))
    context = open_context(spool, index, str(tmp_path), None)
    context.checksum(context.expand(".", "COPY")[0])
    assert not glob.glob(str(tmp_path / "build-*"))
    path = context.host_path("dir/f1")
    assert open(path, "rb").read() == b"f1"
    assert os.path.dirname(context.host_path("busybox")) == os.path.dirname(os.path.dirname(path))
    assert len(glob.glob(str(tmp_path / "build-*"))) == 1
    assert not os.path.exists(context.host_path("secret"))  # .dockerignore applied to the unpacked tree too
    context.close()
    assert not glob.glob(str(tmp_path / "build-*"))


def test_a_changed_file_changes_the_checksum_and_an_unchanged_one_keeps_it(tmp_path):
    received = [receive(make_tar(entry("f", data=data, mode=mode)), str(tmp_path))
                for data, mode in ((b"one", 0o644), (b"one", 0o644), (b"two", 0o644), (b"one", 0o600))]
    first, again, changed, chmodded = (index.checksum("f") for index, _ in received)
    assert first == again and len({first, changed, chmodded}) == 3
    for _, spool in received:
        spool.close()


def test_a_compressed_context_is_unpacked_at_once(tmp_path):
    index, spool = receive(gzip.compress(CONTEXT), str(tmp_path))
    assert index is None
    context = open_context(spool, index, str(tmp_path), None)
    assert context.dockerfile.startswith("FROM scratch")
    context.close()


@pytest.mark.parametrize("case", layer_cases("/nonexistent-outside"), ids=lambda c: c.name)
def test_the_index_never_accepts_what_the_extractor_refuses(tmp_path, case):
    """An archive the index models is one the extractor unpacks; every other one is left to the extractor
    (so hostile contexts are refused with its errors)."""
    index, _ = receive(case.data, str(tmp_path))
    if index is None:
        return
    root = tmp_path / "root"
    root.mkdir()
    extract_tree(io.BytesIO(case.data), str(root))  # must not raise
    assert not (case.refused and not case.layer_only), f"{case.name} is refused by the extractor"
