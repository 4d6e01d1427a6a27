"""``POST /build`` as docker-py drives it: stderr in the stream, cache-from, the RUN containers' settings."""

from __future__ import annotations

import io
import json
import urllib.parse

import pytest

from tests.e2e.test_api_wire import http

docker = pytest.importorskip("docker")


@pytest.fixture(scope="module")
def api(sdk):
    return sdk.api


def build(api, dockerfile: str, **kwargs) -> list[dict]:
    """The decoded build stream; a build that ends in an error fails the test with it."""
    chunks = list(api.build(fileobj=io.BytesIO(dockerfile.encode()), decode=True, **kwargs))
    errors = [c for c in chunks if "errorDetail" in c]
    assert not errors, errors
    return chunks


def streamed(chunks: list[dict]) -> str:
    return "".join(c.get("stream", "") for c in chunks)


def test_what_a_run_step_writes_to_stderr_is_in_the_stream_in_red(api):
    chunks = build(api, "FROM busybox\nRUN sh -c 'echo to-out; echo to-err >&2'\n", nocache=True)
    assert {"stream": "to-out\n"} in chunks
    assert {"stream": "\x1b[91mto-err\n\x1b[0m"} in chunks


def test_cache_from_limits_the_cache_to_the_named_images(api):
    dockerfile = "FROM busybox\nENV CACHED=1\nRUN touch /a\nRUN touch /b\n"
    build(api, dockerfile, tag="cache-source")
    try:
        assert streamed(build(api, dockerfile, cache_from=["cache-source"])).count("Using cache") == 3
        assert streamed(build(api, dockerfile, cache_from=["no-such-image"])).count("Using cache") == 0
        assert streamed(build(api, dockerfile)).count("Using cache") == 3
    finally:
        api.remove_image("cache-source", force=True)


def test_extra_hosts_reach_the_run_steps(api):
    chunks = build(api, "FROM busybox\nRUN grep extra.test /etc/hosts\n", nocache=True,
                   extra_hosts={"extra.test": "127.0.0.1"})
    assert "127.0.0.1\textra.test" in streamed(chunks)


def test_memory_limit_reaches_the_run_steps(api):
    chunks = build(api, "FROM busybox\nRUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                        "/sys/fs/cgroup/memory.max 2>/dev/null; true\n",
                   nocache=True, container_limits={"memory": 64 * 1024 * 1024})
    assert str(64 * 1024 * 1024) in streamed(chunks)


@pytest.mark.parametrize("query, status, message", [
    ("squash=1", 400, "squash is only supported with experimental mode"),
    ("securityopt=x", 400, "The daemon on this platform does not support setting security options on build"),
    ("isolation=hyperv", 400, 'Unsupported isolation: "hyperv"'),
    ("version=3", 400, 'invalid version "3"'),
    ("version=2", 501, None),
    ("remote=http%3A%2F%2F127.0.0.1%3A1%2Fctx.tar", 501, None),
    ("ulimits=x", 400, None),
    ("cachefrom=x", 400, None),
])
def test_options_berth_cannot_honour_are_refused_before_the_build(daemon, query, status, message):
    got, _, body = http(daemon, "POST", f"/v1.45/build?{query}")
    answer = json.loads(body)
    assert got == status, answer
    if message:
        assert answer == {"message": message}


def test_an_image_config_shows_every_field_dockerd_shows(api):
    build(api, "FROM busybox\nLABEL a=b\n", tag="config-fields")
    try:
        config = api.inspect_image("config-fields")["Config"]
        assert config["OnBuild"] is None and config["Entrypoint"] is None and config["Labels"] == {"a": "b"}
        assert config["AttachStdout"] is False and config["Hostname"] == ""
    finally:
        api.remove_image("config-fields")


def test_target_stage_leaves_later_onbuild_out(api):
    build(api, "FROM busybox AS first\nRUN touch /x\nFROM busybox\nONBUILD RUN echo later\n", target="first",
          tag="target-first")
    try:
        assert not api.inspect_image("target-first")["Config"]["OnBuild"]
    finally:
        api.remove_image("target-first")


def test_cache_from_is_json_in_the_query(daemon):
    query = urllib.parse.quote(json.dumps({"not": "a list"}))
    status, _, body = http(daemon, "POST", f"/v1.45/build?cachefrom={query}")
    assert status == 400 and "cache-from" in json.loads(body)["message"]


def test_history_records_steps_in_dockerds_words(api):
    build(api, "FROM busybox\nLABEL a=b\nWORKDIR /w\nRUN true\n", tag="history-words")
    try:
        created_by = [entry["CreatedBy"] for entry in api.history("history-words")][:3]
        assert created_by == ["/bin/sh -c true", "/bin/sh -c #(nop) WORKDIR /w", "/bin/sh -c #(nop)  LABEL a=b"]
    finally:
        api.remove_image("history-words")


def test_a_built_image_config_names_the_image_its_last_step_started_from(api, daemon):
    build(api, "FROM busybox\nENV STEP=1\nLABEL last=yes\n", tag="config-image")
    try:
        inspect = api.inspect_image("config-image")
        older = json.loads(http(daemon, "GET", "/v1.44/images/config-image/json")[2])  # ContainerConfig left in 1.45
        assert inspect["Config"]["Image"] == older["ContainerConfig"]["Image"] == inspect["Parent"] != ""
        assert "ContainerConfig" not in inspect
    finally:
        api.remove_image("config-image")
