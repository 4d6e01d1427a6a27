"""``GET /containers/{id}/attach/ws``: attach over a websocket, on berthd and on the real dockerd alike:
output unframed in binary messages, input from the client's messages."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.peers import LAB_DOCKER


@pytest.fixture(params=["berthd", "dockerd"])
def client(request, sdk, daemon):
    """docker-py's client of berthd or of the real dockerd; ``.socket_path`` is where its API is."""
    if request.param == "berthd":
        sdk.socket_path = daemon.host[len("unix://"):]
        return sdk
    real = request.getfixturevalue("real_sdk")
    real.socket_path = LAB_DOCKER
    return real


@pytest.fixture
def made(client):
    containers = []
    yield containers
    for container in containers:
        container.remove(force=True)


async def _exchange(client, container_id: str, query: str, send: bytes = b"", until: bytes = b"",
                    before=None, timeout: float = 10, version: str = "1.41") -> tuple[int, bytes, bool]:
    """(status, bytes received, whether every message was binary) of one websocket attach."""
    connector = aiohttp.UnixConnector(path=client.socket_path)
    received, binary = b"", True
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            # API 1.41 by default (dockerd 20.10's); dockerd's websocket server wants an Origin
            ws = await session.ws_connect(f"http://docker/v{version}/containers/{container_id}/attach/ws?{query}",
                                          origin="http://localhost")
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, b"", binary
        if before is not None:
            await asyncio.to_thread(before)
        if send:
            await ws.send_bytes(send)
        try:
            async with asyncio.timeout(timeout):
                async for message in ws:
                    binary = binary and message.type == aiohttp.WSMsgType.BINARY
                    received += message.data if isinstance(message.data, bytes) else message.data.encode()
                    if until and until in received:
                        break
        except TimeoutError:
            pass
        await ws.close()
    return 101, received, binary


def exchange(client, container_id: str, query: str, **kwargs) -> tuple[int, bytes, bool]:
    return asyncio.run(_exchange(client, container_id, query, **kwargs))


def test_output_arrives_unframed_in_binary_messages_from_the_start(client, made):
    container = client.containers.create("busybox", ["sh", "-c", "printf 'to stdout'; sleep 0.2; printf ' to stderr' >&2"])
    made.append(container)
    status, data, binary = exchange(client, container.id, "stdout=1&stderr=1&stream=1&logs=1",
                                    until=b"to stderr", before=container.start)
    assert (status, data, binary) == (101, b"to stdout to stderr", True)  # no 8-byte frame headers


def test_before_api_1_42_every_stream_is_attached_whatever_the_query(client, made):
    container = client.containers.create("busybox", ["sh", "-c", "echo out; echo err >&2"])
    made.append(container)
    container.start()
    container.wait(timeout=30)
    # the order of two lines written to two streams at once is the log's, not the program's
    assert sorted(exchange(client, container.id, "stderr=1&logs=1")[1].splitlines()) == [b"err", b"out"]


def test_from_api_1_42_only_the_streams_asked_for(sdk, daemon):
    # dockerd 20.10 speaks 1.41 at most: this one is berthd's alone (dockerd's code since 1.42)
    sdk.socket_path = daemon.host[len("unix://"):]
    container = sdk.containers.create("busybox", ["sh", "-c", "echo out; echo err >&2"])
    try:
        container.start()
        container.wait(timeout=30)
        assert exchange(sdk, container.id, "stderr=1&logs=1", version="1.44")[1] == b"err\n"
    finally:
        container.remove(force=True)


def test_messages_are_the_containers_stdin(client, made):
    container = client.containers.create("busybox", ["sh", "-c", "read line; echo got:$line"], stdin_open=True)
    made.append(container)
    container.start()
    status, data, _ = exchange(client, container.id, "stdin=1&stdout=1&stream=1", send=b"hello\n", until=b"got:")
    assert (status, data) == (101, b"got:hello\n")


def test_an_unknown_container_is_a_404_before_the_upgrade(client):
    assert exchange(client, "no-such-container", "stdout=1")[0] == 404
