"""Image references parse and display as Docker's do."""

import pytest

from berth.errors import InvalidArgument
from berth.images import reference as refs
from berth.images.digest import chain_id, sha256_bytes

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("given,shown,full", [
    ("busybox", "busybox:latest", "docker.io/library/busybox"),
    ("busybox:1.36", "busybox:1.36", "docker.io/library/busybox"),
    ("library/busybox", "busybox:latest", "docker.io/library/busybox"),
    ("docker.io/library/busybox:musl", "busybox:musl", "docker.io/library/busybox"),
    ("index.docker.io/user/app", "user/app:latest", "docker.io/user/app"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app"),
    ("registry.example.com/team/app", "registry.example.com/team/app:latest", "registry.example.com/team/app"),
    (f"busybox@{DIGEST}", f"busybox@{DIGEST}", "docker.io/library/busybox"),
])
def test_references_normalise_like_docker(given, shown, full):
    ref = refs.parse(given)
    assert str(ref) == shown
    assert ref.name == full


@pytest.mark.parametrize("bad", ["", "Busybox", "busybox:", "busybox:bad/tag", "a@sha256:xyz", "-lead", "bu sy"])
def test_malformed_references_are_refused(bad):
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        refs.parse(bad)


def test_ids_are_recognised():
    assert refs.is_full_id("ab" * 32) and refs.is_full_id(DIGEST)
    assert not refs.is_full_id("abcdef")
    assert refs.looks_like_short_id("abcdef0123") and not refs.looks_like_short_id("busybox")
    assert refs.normalise_id("ab" * 32) == DIGEST


def test_chain_id_follows_the_oci_definition():
    base, top = sha256_bytes(b"one"), sha256_bytes(b"two")
    assert chain_id(None, base) == base
    assert chain_id(base, top) == sha256_bytes(f"{base} {top}".encode())
