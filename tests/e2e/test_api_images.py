"""Image routes as docker-py sees them: the JSON-stream error convention of load."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_api_wire import raw

docker = pytest.importorskip("docker")


def post_body(daemon, path: str, body: bytes) -> tuple[int, list[dict]]:
    """POST ``body`` and return the status and the decoded JSON lines of the (chunked) answer."""
    data = raw(daemon, f"POST {path} HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/x-tar\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    head, _, rest = data.partition(b"\r\n\r\n")
    lines, buf = [], rest
    while buf:
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        lines += [json.loads(x) for x in buf[:size].splitlines() if x.strip()]
        buf = buf[size + 2:]
    return int(head.split()[1]), lines


def test_loading_what_is_not_an_image_archive_ends_a_200_stream_with_error_detail(daemon):
    status, lines = post_body(daemon, "/v1.45/images/load", b"this is not a tar archive\n" * 40)
    assert status == 200
    assert set(lines[-1]) == {"errorDetail", "error"}
    assert lines[-1]["errorDetail"]["message"] == lines[-1]["error"] != ""


def test_docker_py_raises_image_load_error(sdk):
    with pytest.raises(docker.errors.ImageLoadError):
        sdk.images.load(b"garbage" * 100)


def test_a_loaded_archive_still_says_what_it_loaded(sdk):
    archive = b"".join(sdk.api.get_image("busybox"))
    loaded = sdk.images.load(archive)
    assert [image.tags for image in loaded] == [["busybox:latest"]]


@pytest.fixture(scope="module")
def labelled(sdk):
    """Three images built one after the other: ``filt-old`` (tier=db), ``filt-mid`` (tier=web), ``filt-new``."""
    import io
    import time

    made = []
    for name, label in (("filt-old", {"tier": "db"}), ("filt-mid", {"tier": "web"}), ("filt-new", {})):
        dockerfile = f"FROM busybox\nRUN echo {name} > /name\n".encode()
        list(sdk.api.build(fileobj=io.BytesIO(dockerfile), tag=name, labels=label, rm=True))
        made.append(name)
        time.sleep(1.1)  # distinct creation times for before/since/until
    yield made
    for name in made:
        sdk.api.remove_image(name, force=True)


def tags(api, **filters) -> set[str]:
    return {t for image in api.images(filters=filters) for t in image["RepoTags"] or [] if t.startswith("filt-")}


def test_image_label_filters_want_and_exclude(sdk, labelled):
    assert tags(sdk.api, label="tier") == {"filt-old:latest", "filt-mid:latest"}
    assert tags(sdk.api, label="tier=db") == {"filt-old:latest"}
    assert tags(sdk.api, **{"label!": "tier=db"}) == {"filt-mid:latest", "filt-new:latest"}
    assert tags(sdk.api, **{"label!": "tier"}) == {"filt-new:latest"}


def test_image_before_and_since_name_images(sdk, labelled):
    assert tags(sdk.api, before="filt-mid") == {"filt-old:latest"}
    assert tags(sdk.api, since="filt-mid") == {"filt-new:latest"}


def test_image_until_is_a_point_in_time(sdk, labelled):
    created = sdk.api.inspect_image("filt-mid")["Created"]
    assert tags(sdk.api, until=created) == {"filt-old:latest"}
    assert tags(sdk.api, until="0s") == {"filt-old:latest", "filt-mid:latest", "filt-new:latest"}


def test_image_reference_is_a_glob_that_does_not_cross_slashes(sdk, labelled):
    assert tags(sdk.api, reference="filt-*") == {"filt-old:latest", "filt-mid:latest", "filt-new:latest"}
    assert tags(sdk.api, reference="filt-?id:latest") == {"filt-mid:latest"}
    assert tags(sdk.api, reference="*/filt-old") == set()


@pytest.mark.parametrize("filters, message", [
    ({"colour": ["red"]}, "invalid filter 'colour'"),
    ({"dangling": ["maybe"]}, "invalid filter 'dangling=[maybe]'"),
])
def test_bad_image_filters_are_a_400(daemon, filters, message):
    import urllib.parse

    from tests.e2e.test_api_wire import http

    status, _, body = http(daemon, "GET", "/v1.45/images/json?filters=" + urllib.parse.quote(json.dumps(filters)))
    assert (status, json.loads(body)) == (400, {"message": message})


def test_image_inspect_leaves_out_an_unset_variant_and_os_version(sdk):
    inspect = sdk.api.inspect_image("busybox")
    assert "Variant" not in inspect and "OsVersion" not in inspect
    assert (inspect["Os"], inspect["Architecture"]) == ("linux", "amd64")


def test_commit_with_pause_of_a_container_that_just_exited_commits_it(sdk):
    """A short command may exit between the running check and the pause; dockerd commits it all the same."""
    for attempt in range(8):
        container = sdk.api.create_container("busybox", ["touch", f"/made-{attempt}"])
        try:
            sdk.api.start(container)
            image = sdk.api.commit(container["Id"])  # pause=True, docker-py's default
            sdk.api.remove_image(image["Id"])
        finally:
            sdk.api.remove_container(container, force=True)
