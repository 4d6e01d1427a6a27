"""Registry client pieces without a registry: references, manifests, platforms, challenges, progress, credentials."""

from __future__ import annotations

import json
import os
import stat

import pytest

from berth.errors import InvalidArgument, NotFound, NotImplementedYet
from berth.registry import auth, credstore, manifest, progress
from berth.registry import reference as refs
from berth.registry.transport import is_insecure


@pytest.mark.parametrize("text, domain, path, tag, digest", [
    ("busybox", "docker.io", "library/busybox", "latest", None),
    ("user/app:1.0", "docker.io", "user/app", "1.0", None),
    ("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000", "team/app", "v1", None),
    ("localhost/app", "localhost", "app", "latest", None),
    ("busybox@sha256:" + "a" * 64, "docker.io", "library/busybox", None, "sha256:" + "a" * 64),
])
def test_references_follow_docker_naming(text, domain, path, tag, digest):
    ref = refs.parse(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)


def test_docker_hub_is_served_by_registry_1():
    assert refs.api_host(refs.parse("busybox")) == "registry-1.docker.io"
    assert refs.api_host(refs.parse("host:5000/x")) == "host:5000"


def test_from_query_tag_may_be_a_digest():
    digest = "sha256:" + "b" * 64
    assert refs.from_query("busybox", digest).digest == digest
    assert refs.from_query("busybox", "1.36").tag == "1.36"
    with pytest.raises(InvalidArgument):
        refs.from_query("Busybox", None)


def test_from_query_without_a_tag_names_the_whole_repository():
    ref = refs.from_query("busybox", None)  # dockerd pulls every tag of it
    assert (ref.tag, ref.digest, ref.name) == (None, None, "docker.io/library/busybox")
    assert refs.from_query("busybox:1.36", None).tag == "1.36"


def _index(*platforms, attestation=False):
    entries = [{"mediaType": manifest.OCI_MANIFEST, "digest": f"sha256:{i:064x}", "size": 1, "platform": p}
               for i, p in enumerate(platforms)]
    if attestation:
        entries.insert(0, {"mediaType": manifest.OCI_MANIFEST, "digest": "sha256:" + "f" * 64, "size": 1,
                           "platform": {"os": "unknown", "architecture": "unknown"},
                           "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})
    raw = json.dumps({"schemaVersion": 2, "mediaType": manifest.OCI_INDEX, "manifests": entries}).encode()
    return manifest.parse(raw, None)


def test_platform_selection_prefers_exact_variant_and_skips_attestations():
    index = _index({"os": "linux", "architecture": "arm", "variant": "v6"},
                   {"os": "linux", "architecture": "arm", "variant": "v7"},
                   {"os": "linux", "architecture": "amd64"}, attestation=True)
    assert manifest.select(index, manifest.parse_platform("linux/arm/v7")).digest == f"sha256:{1:064x}"
    assert manifest.select(index, manifest.parse_platform("linux/amd64")).digest == f"sha256:{2:064x}"
    with pytest.raises(NotFound, match="linux/amd64"):
        manifest.select(index, manifest.parse_platform("linux/s390x"))


def test_schema1_and_unknown_layer_types_are_refused_clearly():
    with pytest.raises(NotImplementedYet, match="schema 1"):
        manifest.parse(b'{"schemaVersion": 1, "name": "x"}', None)
    with pytest.raises(NotImplementedYet, match="layer media type"):
        manifest.layer_compression("application/x-foo")
    assert manifest.layer_compression(manifest.OCI_LAYER_ZSTD) == "zstd"
    assert manifest.layer_compression(manifest.DOCKER_LAYER) == "gzip"


def test_bearer_challenge_is_parsed():
    [c] = auth.parse_challenges('Bearer realm="https://auth.example/token",service="registry",'
                                'scope="repository:library/busybox:pull"')
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "registry",
                        "scope": "repository:library/busybox:pull"}
    [b] = auth.parse_challenges('Basic realm="r"')
    assert (b.scheme, b.params) == ("basic", {"realm": "r"})


def test_x_registry_auth_round_trips():
    creds = auth.Credentials("alice", "pa:ss")
    assert auth.decode_header(auth.encode_header(creds, "h")) == creds
    assert auth.decode_header(None).anonymous
    with pytest.raises(InvalidArgument):
        auth.decode_header("!!!")


@pytest.mark.parametrize("field, value, kind", [("username", {"a": 1}, "object"), ("serveraddress", ["a"], "array"),
                                                ("password", 5, "number"), ("auth", True, "bool")])
def test_an_auth_config_field_that_is_not_a_string_is_refused_as_dockerd_decodes_it(field, value, kind):
    with pytest.raises(InvalidArgument, match=f"cannot unmarshal {kind} into Go struct field AuthConfig.{field} "
                                              "of type string"):
        auth.from_json({"username": "u", "password": "p", field: value})


def test_null_auth_config_fields_are_absent_ones():
    assert auth.from_json({"username": "u", "password": "p", "email": None, "auth": None}) == auth.Credentials("u", "p")


def test_progress_line_matches_docker():
    msg = progress.message("Downloading", "abc", 1_500_000, 3_000_000)
    assert msg["progressDetail"] == {"current": 1_500_000, "total": 3_000_000}
    assert msg["progress"] == "[" + "=" * 25 + ">" + " " * 25 + "]    1.5MB/3MB"  # "] " then %8v
    assert progress.human_size(1234) == "1.234kB"
    assert progress.error("boom") == {"errorDetail": {"message": "boom"}, "error": "boom"}


def test_loopback_is_insecure_by_default():
    assert is_insecure("127.0.0.1:5000", [])
    assert is_insecure("localhost:5000", [])
    assert not is_insecure("10.1.2.3:5000", [])
    assert is_insecure("10.1.2.3:5000", ["10.0.0.0/8"])
    assert is_insecure("reg.internal:5000", ["reg.internal:5000"])


def test_credentials_file_is_0600_and_keeps_other_keys(tmp_path):
    path = str(tmp_path / "config.json")
    with open(path, "w") as f:
        json.dump({"psFormat": "x"}, f)
    credstore.store("127.0.0.1:5000", auth.Credentials("u", "p"), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        data = json.load(f)
    assert data["psFormat"] == "x"
    assert credstore.load("127.0.0.1:5000", path) == auth.Credentials("u", "p")
    credstore.store(None, auth.Credentials("hub", "pw"), path)
    assert "https://index.docker.io/v1/" in json.load(open(path))["auths"]
    assert credstore.erase("127.0.0.1:5000", path)
    assert credstore.load("127.0.0.1:5000", path) is None
    assert not credstore.erase("127.0.0.1:5000", path)
