"""A pull streams: each layer is extracted while its blob is still arriving, and every blob is in flight at once.

The registry here is a small one made for the test (:class:`StagedRegistry`): it serves
an OCI layout from memory and can hold a blob's body half-way until the test lets it go.
What berth did meanwhile shows what it does with bytes it has (no timing is asserted:
the test waits, with a generous deadline, for something that a download-then-extract
pull would never do).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time

import pytest
from aiohttp import web

from berth.errors import BerthError
from berth.registry import reference as refs
from berth.registry.progress import Progress
from berth.registry.service import RegistryService
from tests import registry_fixtures as rf

DEADLINE = 60  # seconds to wait for what streaming does at once (a slow machine, not a time limit)


class StagedRegistry:
    """A read-only v2 registry of one OCI layout on 127.0.0.1; ``hold(digest, after)`` stops that blob's body
    after ``after`` bytes until :meth:`release`. :attr:`served` lists the blobs whose bodies were sent whole."""

    def __init__(self, layout: str):
        self.layout = layout
        self.held: dict[str, int] = {}
        self.served: list[str] = []
        self._release: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.host = ""

    def hold(self, digest: str, after: int) -> None:
        self.held[digest] = after

    def release(self) -> None:
        assert self._loop is not None and self._release is not None
        self._loop.call_soon_threadsafe(self._release.set)

    def start(self) -> "StagedRegistry":
        self._thread.start()
        assert self._ready.wait(30)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self.release()
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)

    def _blob_bytes(self, digest: str) -> bytes:
        with open(os.path.join(self.layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
            return f.read()

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._release, self._stop = asyncio.Event(), asyncio.Event()
        app = web.Application()
        app.router.add_get("/v2/", self._base)
        app.router.add_get("/v2/{repo:.+}/manifests/{reference}", self._manifest)
        app.router.add_get("/v2/{repo:.+}/blobs/{digest}", self._blob)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.host = "127.0.0.1:%d" % site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def _base(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def _manifest(self, request: web.Request) -> web.Response:
        with open(os.path.join(self.layout, "index.json")) as f:
            entry = json.load(f)["manifests"][0]
        return web.Response(body=self._blob_bytes(entry["digest"]), content_type=entry["mediaType"],
                            headers={"Docker-Content-Digest": entry["digest"]})

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        digest = request.match_info["digest"]
        data = self._blob_bytes(digest)
        resp = web.StreamResponse(headers={"Content-Length": str(len(data))})
        resp.content_type = "application/octet-stream"
        await resp.prepare(request)
        cut = self.held.get(digest, len(data))
        await resp.write(data[:cut])
        if cut < len(data):
            await self._release.wait()  # type: ignore[union-attr]
            await resp.write(data[cut:])
        await resp.write_eof()
        self.served.append(digest)
        return resp


def files_layer(names: list[str], size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return rf._tar([("data", "dir", 0o755, None)] +
                   [(f"data/{name}", "file", 0o644, rng.randbytes(size)) for name in names])


@pytest.fixture
def engine(tmp_path):
    eng = rf.fake_engine(str(tmp_path / "data"))
    yield eng
    eng.images.close()


def start_pull(engine, host: str) -> tuple[threading.Thread, list]:
    """Pull ``<host>/staged/img:1`` in a thread of its own; the list gets the result or the error."""
    outcome: list = []

    async def main():
        try:
            return await RegistryService(engine).pull(refs.parse(f"{host}/staged/img:1"), Progress())
        except BerthError as exc:
            return exc

    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(main())), daemon=True)
    thread.start()
    return thread, outcome


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"never happened while a blob was held back: {what}"
        time.sleep(0.05)


def extracted(engine, name: str, size: int) -> bool:
    for root, _, files in os.walk(os.path.join(engine.config.data_root, "vfs")):
        if name in files and os.path.getsize(os.path.join(root, name)) == size:
            return True
    return False


def test_a_layer_is_extracted_while_its_blob_is_still_downloading(engine, tmp_path):
    layout = str(tmp_path / "layout")
    # a.bin comes first in the tar; its gzip (random bytes do not shrink) ends well before 1 MiB
    info = rf.build_oci_layout(layout, [files_layer(["a.bin", "b.bin", "c.bin"], 400_000, 1)])
    registry = StagedRegistry(layout).start()
    try:
        registry.hold(info["layers"][0], after=1 << 20)
        thread, outcome = start_pull(engine, registry.host)
        wait_for(lambda: extracted(engine, "a.bin", 400_000), "the first file of the layer written")
        assert info["layers"][0] not in registry.served
        registry.release()
        thread.join(DEADLINE)
    finally:
        registry.stop()
    assert not isinstance(outcome[0], Exception), outcome[0]
    assert outcome[0].image.id == info["image_id"]


def test_every_blob_is_downloaded_while_the_first_layer_is_still_arriving(engine, tmp_path):
    layout = str(tmp_path / "layout")
    info = rf.build_oci_layout(layout, [files_layer(["a.bin"], 2 << 20, 2), files_layer(["b.bin"], 100_000, 3),
                                        files_layer(["c.bin"], 100_000, 4)])
    registry = StagedRegistry(layout).start()
    try:
        registry.hold(info["layers"][0], after=1 << 20)
        thread, outcome = start_pull(engine, registry.host)
        wait_for(lambda: set(info["layers"][1:]) <= set(registry.served), "the later blobs served whole")
        assert not extracted(engine, "b.bin", 100_000)  # applied in chain order: not before the first layer
        registry.release()
        thread.join(DEADLINE)
    finally:
        registry.stop()
    assert not isinstance(outcome[0], Exception), outcome[0]
    image = engine.images.get(f"{registry.host}/staged/img:1")
    assert [layer.diff_id for layer in engine.images.image_layers(image)] == info["diff_ids"]


def test_a_pull_that_fails_while_a_layer_is_half_extracted_stores_nothing(engine, tmp_path):
    layout = str(tmp_path / "layout")
    info = rf.build_oci_layout(layout, [files_layer(["a.bin", "b.bin"], 400_000, 5),
                                        files_layer(["c.bin"], 1000, 6)])
    blob = os.path.join(layout, "blobs", "sha256", info["layers"][1].split(":", 1)[1])
    with open(blob, "r+b") as f:  # the second blob no longer matches its digest
        f.seek(100)
        f.write(b"\xff")
    registry = StagedRegistry(layout).start()
    try:
        registry.hold(info["layers"][0], after=600_000)
        thread, outcome = start_pull(engine, registry.host)
        thread.join(DEADLINE)  # fails fast: the held first layer is abandoned, not waited for
        assert not thread.is_alive()
    finally:
        registry.stop()
    assert isinstance(outcome[0], BerthError) and info["layers"][1] in outcome[0].message
    assert engine.images.list(all=True) == []
    assert engine.images.db.query("SELECT chain_id FROM layers") == []
    assert os.listdir(os.path.join(engine.config.data_root, "vfs", "dir")) == []


def test_a_pull_flushes_its_layers_once_before_it_records_the_image(engine, tmp_path, monkeypatch):
    from berth.registry import pull as pull_module

    layout = str(tmp_path / "layout")
    info = rf.build_oci_layout(layout, [files_layer(["a.bin"], 1000, 7), files_layer(["b.bin"], 1000, 8)])
    flushes, fsyncs = [], []
    real_sync, real_fsync = pull_module.sync_filesystem, os.fsync

    def sync(path: str) -> None:
        flushes.append(engine.images.list(all=True))  # the image is not recorded yet
        real_sync(path)

    monkeypatch.setattr(pull_module, "sync_filesystem", sync)
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(len(flushes)), real_fsync(fd))[1])
    registry = StagedRegistry(layout).start()
    try:
        thread, outcome = start_pull(engine, registry.host)
        thread.join(DEADLINE)
    finally:
        registry.stop()
    assert not isinstance(outcome[0], Exception), outcome[0]
    assert flushes == [[]]
    # layer records, tar-splits and graph directories waited for that one flush; the image's config after it
    assert fsyncs and set(fsyncs) == {1}
    assert engine.images.get(f"{registry.host}/staged/img:1").id == info["image_id"]
