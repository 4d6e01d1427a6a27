"""The registry client against the real distribution registry (Debian ``docker-registry``).

Images are put there by ``skopeo`` (OCI and v2s2 manifests) and by berth itself;
what berth pushes is pulled back by ``skopeo``. The image store runs on the vfs
graph driver in a temp dir; the API routes run in an aiohttp app over that store.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import registry_fixtures as rf  # noqa: E402
from registry_fixtures import (  # noqa: E402,F401 - fixtures, used by name
    basic_registry_fixture, registry_fixture, registry_peers_fixture, test_image_fixture, workdir_fixture)

from berth.errors import BerthError, NotFound  # noqa: E402
from berth.registry import auth  # noqa: E402
from berth.registry import reference as refs  # noqa: E402
from berth.registry.errors import DigestMismatch, Unauthorized  # noqa: E402
from berth.registry.progress import Progress  # noqa: E402
from berth.registry.service import RegistryService  # noqa: E402
from berth.registry.transport import RetryPolicy  # noqa: E402


FAST_RETRY = RetryPolicy(attempts=2, first_delay=0.01, max_delay=0.02)


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def token_registry(workdir):
    base = os.path.join(workdir, "token")
    os.makedirs(base)
    tokens = rf.TokenServer(base, users={"bob": "hunter2"}).start()
    server = rf.RegistryServer(base, auth="token", token_server=tokens).start()
    server.tokens = tokens
    yield server
    server.stop()
    tokens.stop()


@pytest.fixture
def engine(tmp_path):
    """What the registry service needs of an engine: a real image store on vfs, events, config."""
    eng = rf.fake_engine(str(tmp_path / "data"))
    yield eng
    eng.images.close()


def service(engine) -> RegistryService:
    return RegistryService(engine, retry=FAST_RETRY)


def run_with_progress(coro_fn):
    """Run ``coro_fn(progress)``; return (result or exception, messages)."""
    async def main():
        progress = Progress()
        try:
            result = await coro_fn(progress)
        except BerthError as exc:
            result = exc
        progress.close()
        messages = []
        while (m := await progress.queue.get()) is not None:
            messages.append(m)
        return result, messages

    return asyncio.run(main())


def layer_count(engine) -> int:
    return len(engine.images.db.query("SELECT chain_id FROM layers"))


# ---------------------------------------------------------------------------
# pull
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_pull_of_skopeo_pushed_image_keeps_its_id_and_records_repo_digest(registry, test_image, engine, fmt):
    extra = ["--format", "v2s2"] if fmt == "v2s2" else []
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/skopeo/{fmt}:t1", *extra)
    ref = refs.parse(f"{registry.host}/skopeo/{fmt}:t1")
    result, messages = run_with_progress(lambda p: service(engine).pull(ref, p))
    assert not isinstance(result, Exception), result
    image = engine.images.get(str(ref))
    assert image.id == test_image["image_id"]
    assert image.repo_tags == [f"{registry.host}/skopeo/{fmt}:t1"]
    assert image.repo_digests == [f"{registry.host}/skopeo/{fmt}@{result.digest}"]
    statuses = [m.get("status", "") for m in messages]
    assert statuses[0] == f"Pulling from skopeo/{fmt}"
    assert statuses.count("Pull complete") == 2
    assert statuses[-2:] == [f"Digest: {result.digest}", f"Status: Downloaded newer image for {ref}"]
    # the layers hold the files of the image
    path = engine.graph.mount(image.layer_id)
    try:
        assert os.path.getsize(os.path.join(path, "data", "a.bin")) == 300_000
        assert os.access(os.path.join(path, "bin", "busybox"), os.X_OK)
    finally:
        engine.graph.unmount(image.layer_id)


def test_pull_by_digest_and_second_pull_skips_present_layers(registry, test_image, engine):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/bydigest/img:latest")
    digest = test_image["manifest"]
    result, _ = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{registry.host}/bydigest/img@{digest}"), p))
    assert not isinstance(result, Exception), result
    assert engine.images.get(f"{registry.host}/bydigest/img@{digest}").id == test_image["image_id"]
    result, messages = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{registry.host}/bydigest/img"), p))
    assert [m["status"] for m in messages if m.get("id") and m["status"] != "Pulling from bydigest/img"] == \
        ["Already exists", "Already exists"]
    result, messages = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{registry.host}/bydigest/img"), p))
    assert messages[-1]["status"] == f"Status: Image is up to date for {registry.host}/bydigest/img:latest"


def test_pull_of_a_missing_tag_is_not_found(registry, engine):
    result, messages = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{registry.host}/nope/none:x"), p))
    assert isinstance(result, NotFound)
    assert "manifest for" in result.message and "not found" in result.message
    assert messages == []


def test_pull_of_zstd_and_uncompressed_layers(registry, workdir, engine):
    path = os.path.join(workdir, "oci-zstd")
    info = rf.build_oci_layout(path, [rf.busybox_layer()], compression="zstd")
    rf.skopeo_copy(f"oci:{path}:latest", f"docker://{registry.host}/comp/zstd:latest")
    path2 = os.path.join(workdir, "oci-plain")
    info2 = rf.build_oci_layout(path2, [rf.data_layer("p", 1000, 3)], compression="none")
    rf.skopeo_copy(f"oci:{path2}:latest", f"docker://{registry.host}/comp/plain:latest")
    for name, expected in (("zstd", info), ("plain", info2)):
        result, _ = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{registry.host}/comp/{name}"), p))
        assert not isinstance(result, Exception), result
        assert result.image.id == expected["image_id"]


def test_pull_of_an_index_selects_the_platform_and_skips_attestations(registry, workdir, test_image, engine):
    import urllib.request

    arm = rf.build_oci_layout(os.path.join(workdir, "oci-arm64"), [rf.data_layer("arm", 1000, 9)],
                              architecture="arm64")
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/multi/img:amd64")
    rf.skopeo_copy(f"oci:{workdir}/oci-arm64:latest", f"docker://{registry.host}/multi/img:arm64")
    oci = "application/vnd.oci.image.manifest.v1+json"
    amd64 = {"mediaType": oci, "digest": test_image["manifest"], "size": test_image["manifest_size"],
             "platform": {"os": "linux", "architecture": "amd64"}}
    arm64 = {"mediaType": oci, "digest": arm["manifest"], "size": arm["manifest_size"],
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
    # buildkit's provenance entry: unknown/unknown, marked by an annotation (pointing anywhere)
    attestation = dict(arm64, platform={"os": "unknown", "architecture": "unknown"},
                       annotations={"vnd.docker.reference.type": "attestation-manifest"})
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [attestation, arm64, amd64]}
    req = urllib.request.Request(f"http://{registry.host}/v2/multi/img/manifests/multi",
                                 data=json.dumps(index).encode(), method="PUT",
                                 headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    urllib.request.urlopen(req, timeout=10).close()
    ref = refs.parse(f"{registry.host}/multi/img:multi")
    result, _ = run_with_progress(lambda p: service(engine).pull(ref, p, platform="linux/amd64"))
    assert not isinstance(result, Exception), result
    assert result.image.id == test_image["image_id"]
    result, _ = run_with_progress(lambda p: service(engine).pull(ref, p, platform="linux/arm64"))
    assert not isinstance(result, Exception), result
    assert result.image.id == arm["image_id"]
    assert engine.images.get(str(ref)).id == arm["image_id"]  # the tag moved to the arm64 image
    result, _ = run_with_progress(lambda p: service(engine).pull(ref, p, platform="linux/s390x"))
    assert isinstance(result, NotFound)
    assert "linux/arm64/v8" in result.message and "linux/amd64" in result.message
    assert "unknown" not in result.message


def test_corrupted_blob_fails_the_pull_and_stores_nothing(registry, workdir, engine):
    path = os.path.join(workdir, "oci-corrupt")
    info = rf.build_oci_layout(path, [rf.busybox_layer(), rf.data_layer("c.bin", 200_000, 7)])
    rf.skopeo_copy(f"oci:{path}:latest", f"docker://{registry.host}/corrupt/img:latest")
    blob = registry.blob_path(info["layers"][1])
    with open(blob, "r+b") as f:  # flip bytes in the middle of the data layer's blob
        f.seek(1000)
        data = f.read(16)
        f.seek(1000)
        f.write(bytes(b ^ 0xFF for b in data))
    result, messages = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{registry.host}/corrupt/img"), p))
    assert isinstance(result, DigestMismatch), result
    assert info["layers"][1] in result.message and "nothing was stored" in result.message
    assert engine.images.list(all=True) == []
    assert layer_count(engine) == 0
    assert os.listdir(os.path.join(engine.config.data_root, "image", "tmp")) == []
    assert os.listdir(os.path.join(engine.config.data_root, "vfs", "dir")) == []


# ---------------------------------------------------------------------------
# push
# ---------------------------------------------------------------------------


def test_pushed_image_is_pulled_back_by_skopeo(registry, test_image, engine, workdir):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/src/img:latest")
    result, _ = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{registry.host}/src/img"), p))
    assert not isinstance(result, Exception), result
    # a fresh data-root has no distribution metadata: the layers are exported and uploaded
    os.unlink(os.path.join(engine.config.data_root, "image", "distribution.db"))
    target = refs.parse(f"{registry.host}/pushed/img:v1")
    engine.images.tag(test_image["image_id"], str(target))
    svc = service(engine)
    result, messages = run_with_progress(lambda p: svc.push(target, p))
    assert not isinstance(result, Exception), result
    statuses = [m.get("status") for m in messages]
    assert statuses[0] == f"The push refers to repository [{registry.host}/pushed/img]"
    assert statuses.count("Pushed") == 2
    assert messages[-1]["aux"]["Digest"] == result.digest
    out = os.path.join(workdir, "pulled-back")
    rf.skopeo_copy(f"docker://{registry.host}/pushed/img:v1", f"oci:{out}:x")
    inspect = json.loads(subprocess.run([rf.SKOPEO, "inspect", "--tls-verify=false",
                                         f"docker://{registry.host}/pushed/img:v1"],
                                        check=True, capture_output=True).stdout)
    assert inspect["Digest"] == result.digest
    config = json.loads(subprocess.run([rf.SKOPEO, "inspect", "--config", f"oci:{out}:x"], check=True,
                                       capture_output=True).stdout)
    assert config["rootfs"]["diff_ids"] == test_image["diff_ids"]
    assert config["config"]["Cmd"] == ["/bin/echo", "pulled-ok"]
    # a second push finds every layer in place; a push to another repo mounts them
    result, messages = run_with_progress(lambda p: svc.push(target, p))
    assert [m["status"] for m in messages if m.get("id") and m["status"] != "Preparing"] == \
        ["Layer already exists"] * 2
    other = refs.parse(f"{registry.host}/pushed/other:v1")
    engine.images.tag(test_image["image_id"], str(other))
    result, messages = run_with_progress(lambda p: svc.push(other, p))
    assert [m["status"] for m in messages if m.get("id") and m["status"] != "Preparing"] == \
        ["Mounted from pushed/img"] * 2


def test_chunked_upload_is_pulled_back(registry, test_image, engine, workdir):
    from berth.registry.push import Pusher, PushOptions
    from berth.registry.transport import with_session

    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/chunk/src:latest")
    svc = service(engine)
    run_with_progress(lambda p: svc.pull(refs.parse(f"{registry.host}/chunk/src"), p))
    os.unlink(os.path.join(engine.config.data_root, "image", "distribution.db"))
    svc = service(engine)
    target = refs.parse(f"{registry.host}/chunk/dst:c")
    engine.images.tag(test_image["image_id"], str(target))
    options = PushOptions(retry=FAST_RETRY, chunk_threshold=100_000, chunk_size=64_000)

    async def push(progress):
        return await with_session(lambda s: Pusher(engine.images, svc.meta, s, progress, options,
                                                   svc.tmp_dir).push(target))

    result, _ = run_with_progress(push)
    assert not isinstance(result, Exception), result
    rf.skopeo_copy(f"docker://{registry.host}/chunk/dst:c", f"oci:{os.path.join(workdir, 'chunk-back')}:x")


def test_push_of_unknown_image_says_so(registry, engine):
    result, _ = run_with_progress(lambda p: service(engine).push(refs.parse(f"{registry.host}/none/x:y"), p))
    assert isinstance(result, NotFound) and "does not exist locally" in result.message


# ---------------------------------------------------------------------------
# auth
# ---------------------------------------------------------------------------


def test_login_to_htpasswd_registry(basic_registry, engine):
    status = asyncio.run(service(engine).login(basic_registry.host, auth.Credentials("alice", "s3cret")))
    assert status == "Login Succeeded"


def test_wrong_password_is_refused_clearly(basic_registry, engine):
    with pytest.raises(Unauthorized) as err:
        asyncio.run(service(engine).login(basic_registry.host, auth.Credentials("alice", "wrong")))
    assert err.value.status == 401
    assert "wrong username or password" in err.value.message and basic_registry.host in err.value.message


def test_push_and_pull_with_basic_auth(basic_registry, test_image, engine):
    creds = auth.Credentials("alice", "s3cret")
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{basic_registry.host}/b/img:latest",
                   "--dest-creds", "alice:s3cret")
    ref = refs.parse(f"{basic_registry.host}/b/img")
    result, _ = run_with_progress(lambda p: service(engine).pull(ref, p))
    assert isinstance(result, NotFound) and "berth login" in result.message
    result, _ = run_with_progress(lambda p: service(engine).pull(ref, p, creds))
    assert not isinstance(result, Exception), result
    target = refs.parse(f"{basic_registry.host}/b/copy:v1")
    engine.images.tag(result.image.id, str(target))
    result, _ = run_with_progress(lambda p: service(engine).push(target, p, creds))
    assert not isinstance(result, Exception), result


def test_token_auth_pull_and_push(token_registry, test_image, engine):
    tokens = token_registry.tokens
    creds = auth.Credentials("bob", "hunter2")
    target = refs.parse(f"{token_registry.host}/team/app:v1")
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{token_registry.host}/team/src:latest",
                   "--dest-creds", "bob:hunter2")
    result, _ = run_with_progress(lambda p: service(engine).pull(refs.parse(f"{token_registry.host}/team/src"), p,
                                                                creds))
    assert not isinstance(result, Exception), result
    engine.images.tag(result.image.id, str(target))
    result, _ = run_with_progress(lambda p: service(engine).push(target, p, creds))
    assert not isinstance(result, Exception), result
    scopes = [s for r in tokens.requests if r["user"] == "bob" for s in r["scope"]]
    assert "repository:team/app:pull,push" in scopes
    assert asyncio.run(service(engine).login(token_registry.host, creds)) == "Login Succeeded"
    with pytest.raises(Unauthorized):
        asyncio.run(service(engine).login(token_registry.host, auth.Credentials("bob", "nope")))


# ---------------------------------------------------------------------------
# search
# ---------------------------------------------------------------------------


def test_search_finds_repository_in_catalog(registry, test_image, engine):
    rf.skopeo_copy(f"oci:{test_image['path']}:latest", f"docker://{registry.host}/findme/needle:latest")
    results = asyncio.run(service(engine).search(f"{registry.host}/needle", 25, {}))
    assert {"name": f"{registry.host}/findme/needle", "description": "", "star_count": 0,
            "is_official": False, "is_automated": False} in results
    assert all("needle" in r["name"] for r in results)
    assert asyncio.run(service(engine).search(f"{registry.host}/needle", 25, {"is-official": ["true"]})) == []
