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
    ("my-reg.example:5000/a.b/c__d/e---f:V_1.0-rc", "my-reg.example:5000/a.b/c__d/e---f:V_1.0-rc",
     "my-reg.example:5000/a.b/c__d/e---f"),
    ("Host.Example/app", "Host.Example/app:latest", "Host.Example/app"),
    ("busybox:" + "t" * 128, "busybox:" + "t" * 128, "docker.io/library/busybox"),
])
def test_references_normalise_like_docker(given, shown, full):
    ref = refs.parse(given)
    assert str(ref) == shown
    assert ref.name == full


@pytest.mark.parametrize("bad", [
    "", "Busybox", "busybox:", "busybox:bad/tag", "a@sha256:xyz", "-lead", "bu sy",
    # separators: one of ".", "_", "__" or a run of "-" between alphanumerics, never at an end
    "a._b", "a___b", "a_-b", "a.", "_a", "a//b", "team/", "a/.b",
    # tags: ASCII word characters, dots and dashes, at most 128, not starting with . or -
    "busybox:" + "t" * 129, "busybox:.x", "busybox:-x", "busybox:t\u00e9", "busybox:latest\n",
    # registries: labels of letters, digits and inner dashes, a numeric port
    "-host.example/app", "host-.example/app", "host..example/app", "host:50a0/app", "host:/app",
    # digests: sha256 and 64 lowercase hex digits
    "a@sha256:" + "AB" * 32, "a@sha256:" + "ab" * 31, "a@sha512:" + "ab" * 32,
])
def test_malformed_references_are_refused(bad):
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        refs.parse(bad)


def test_ids_are_recognised():
    assert refs.is_full_id("ab" * 32) and refs.is_full_id(DIGEST)
    assert not refs.is_full_id("abcdef")
    assert refs.looks_like_short_id("abcdef0123") and not refs.looks_like_short_id("busybox")
    assert refs.normalise_id("ab" * 32) == DIGEST
    assert refs.looks_like_short_id("sha256:abc") and not refs.looks_like_short_id("sha256:")
    assert not refs.looks_like_short_id("a" * 65) and not refs.looks_like_short_id("ABC")


def test_references_are_immutable_values():
    ref = refs.parse("busybox")
    assert ref == refs.parse("docker.io/library/busybox:latest") and len({ref, refs.parse("busybox")}) == 1
    assert ref.replace(tag=None, digest=DIGEST) == refs.parse(f"busybox@{DIGEST}", default_tag=False)
    with pytest.raises(AttributeError):
        ref.tag = "other"


def test_chain_id_follows_the_oci_definition():
    base, top = sha256_bytes(b"one"), sha256_bytes(b"two")
    assert chain_id(None, base) == base
    assert chain_id(base, top) == sha256_bytes(f"{base} {top}".encode())
