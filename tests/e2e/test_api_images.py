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
