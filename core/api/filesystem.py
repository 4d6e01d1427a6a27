"""Container filesystem routes: export, changes, archive (``cp``) and ``POST /commit``.

``export`` and ``changes`` take the container's layer through the graph facade
(reference-counted, so a running container's mount is shared) and release it when
the response is done. The archive routes see the container's filesystem as the
container does, mounts included (:mod:`berth.containers.fsview`). Tar bodies flow through worker threads:
:class:`RequestBody` lets a thread read the request as a file, and
:func:`send_tar` streams what a producer thread writes.
"""

from __future__ import annotations

import asyncio
import os
import io
import re
from typing import Any, BinaryIO, Callable

from aiohttp import web

from berth import log
from berth.api.server import Routes, engine_of, json_response, query_bool, query_filters, read_json
from berth.containers.fsview import ContainerFS, mount_holding
from berth.containers.model import State
from berth.containers.users import owner_names, resolve_user
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.images import fsarchive
from berth.images import reference as refs
from berth.images.pipestream import producer_stream

routes = Routes()

TAR = "application/x-tar"
STAT_HEADER = "X-Docker-Container-Path-Stat"
_CHUNK = 1 << 16


# ---------------------------------------------------------------------------
# streaming helpers (shared with the image routes)
# ---------------------------------------------------------------------------


class _BodyRaw(io.RawIOBase):
    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._content = request.content
        self._loop = loop

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        data = asyncio.run_coroutine_threadsafe(self._content.read(len(buf)), self._loop).result()
        buf[:len(data)] = data
        return len(data)


def request_body(request: web.Request) -> BinaryIO:
    """The request body as a blocking binary file, for use from a worker thread only."""
    return io.BufferedReader(_BodyRaw(request, asyncio.get_running_loop()), buffer_size=1 << 20)


async def send_tar(request: web.Request, stream: BinaryIO, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Stream ``stream`` (closed afterwards) as an ``application/x-tar`` response.

    A failure after the headers went out cannot change the status any more: the
    connection is cut, so the client sees a truncated archive instead of a short
    "successful" one.
    """
    response = web.StreamResponse(status=200, headers={"Content-Type": TAR, **(headers or {})})
    try:
        first = await asyncio.to_thread(stream.read, _CHUNK)
        await response.prepare(request)
        chunk = first
        while chunk:
            await response.write(chunk)
            chunk = await asyncio.to_thread(stream.read, _CHUNK)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client stopped reading (a tar reader stops at the end-of-archive blocks)
    except Exception as exc:
        if not response.prepared:
            raise
        log.get().warning("api.stream_failed", path=request.path, error=str(exc))
        if request.transport is not None:
            request.transport.close()
    finally:
        await asyncio.to_thread(stream.close)
    return response


# ---------------------------------------------------------------------------
# container trees
# ---------------------------------------------------------------------------


def _container(request: web.Request):
    return engine_of(request).containers.get(request.match_info["id"])


def _image_layer(engine: Any, c: Any) -> str | None:
    try:
        return engine.images.get(c.image_id).layer_id
    except NotFound:
        return None  # removed with rmi -f while this container kept its layers


def base_layer(engine: Any, c: Any) -> str | None:
    """The layer a container's changes are measured against (its init layer, else its image's top)."""
    return engine.images.container_base_layer(c.layer_id, _image_layer(engine, c))


def _tree_stream(engine: Any, c: Any, produce: Callable[[str, BinaryIO, Any], None], what: str) -> BinaryIO:
    """Mount the container's tree, run ``produce(root, out, idmap)`` in a thread, unmount when the stream closes."""
    containers = engine.containers
    root = containers.mount_rootfs(c)
    try:
        return producer_stream(lambda out: produce(root, out, containers.idmap_of(c)),
                               release=lambda: containers.unmount_rootfs(c), what=what)
    except BaseException:
        containers.unmount_rootfs(c)
        raise


@routes.add("GET", "/containers/{id}/export")
async def export(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    c = _container(request)
    stream = await asyncio.to_thread(_tree_stream, engine, c, fsarchive.write_export, f"export of {c.short_id}")
    engine.containers.event(c, "export")
    # dockerd sets no type here, so Go's content sniffing answers for it
    return await send_tar(request, stream, {"Content-Type": "application/octet-stream"})


@routes.add("GET", "/containers/{id}/changes")
async def changes(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    c = _container(request)
    found = await asyncio.to_thread(engine.graph.changes, c.layer_id, base_layer(engine, c))
    # dockerd answers null, not [], for a container that changed nothing
    return json_response([{"Path": ch.path, "Kind": int(ch.kind)} for ch in found] or None)


def _archive_path(request: web.Request) -> str:
    path = request.query.get("path")
    if not path:
        raise InvalidArgument("path is required: pass ?path=/a/path/in/the/container")
    return path


def _stat(engine: Any, c: Any, path: str, ref: str) -> dict:
    with ContainerFS(engine.containers, c) as tree:
        return fsarchive.stat_path(tree, path, ref)


@routes.add("HEAD", "/containers/{id}/archive")
async def archive_head(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    c = _container(request)
    path = _archive_path(request)
    engine.containers.volume_events(c, "mount")  # dockerd mounts the volumes to look, and tells
    try:
        st = await asyncio.to_thread(_stat, engine, c, path, request.match_info["id"])
    except NotFound as exc:
        # HEAD has no body: the message travels in a header so clients can show it (its control characters
        # escaped: a path may hold any byte, and a header line may not)
        return web.Response(status=404, headers={"X-Berth-Error": _header_safe(exc.message)})
    finally:
        engine.containers.volume_events(c, "unmount")
    return web.Response(status=200, headers={STAT_HEADER: fsarchive.encode_stat(st), "Content-Type": "application/json"})


def _header_safe(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)


def _archive_stream(engine: Any, c: Any, path: str, ref: str) -> tuple[dict, BinaryIO]:
    """The path's stat (a missing path is a 404 before any byte is sent) and its tar, streamed from a
    view of the container's filesystem that stays open until the stream is closed."""
    view = ContainerFS(engine.containers, c)
    tree = view.open()
    try:
        st = fsarchive.stat_path(tree, path, ref)
        names = owner_names(tree.root)
        return st, producer_stream(lambda out: fsarchive.write_path_archive(tree, path, out, names), release=view.close,
                                   what=f"archive of {path} in {c.short_id}")
    except BaseException:
        view.close()
        raise


@routes.add("GET", "/containers/{id}/archive")
async def archive_get(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    c = _container(request)
    path = _archive_path(request)
    engine.containers.volume_events(c, "mount")
    try:
        st, stream = await asyncio.to_thread(_archive_stream, engine, c, path, request.match_info["id"])
        engine.containers.event(c, "archive-path")
        return await send_tar(request, stream, {STAT_HEADER: fsarchive.encode_stat(st)})
    finally:
        engine.containers.volume_events(c, "unmount")


def _extract(engine: Any, c: Any, path: str, ref: str, body: BinaryIO, no_overwrite_dir_non_dir: bool,
             copy_owner: bool) -> None:
    """Docker's checks, in its order (missing path, not a directory, read-only volume, read-only root), then the copy."""
    with ContainerFS(engine.containers, c) as tree:
        target = fsarchive.extraction_point(tree, path, ref)
        mount = mount_holding(c, target)
        if mount is not None and not mount[1]:
            raise InvalidArgument("mounted volume is marked read-only")
        if mount is None and c.host_config.get("ReadonlyRootfs"):
            raise InvalidArgument("container rootfs is marked read-only")
        owner = None
        if copy_owner and c.config.get("User"):
            user = resolve_user(tree.root, c.config["User"])
            owner = (user.uid, user.gid)
        fsarchive.extract_to_path(tree, target, body, os.path.join(engine.data_root, "tmp"), no_overwrite_dir_non_dir,
                                  owner)


@routes.add("PUT", "/containers/{id}/archive")
async def archive_put(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    c = _container(request)
    path = _archive_path(request)
    engine.containers.volume_events(c, "mount")
    try:
        await asyncio.to_thread(_extract, engine, c, path, request.match_info["id"], request_body(request),
                                query_bool(request, "noOverwriteDirNonDir"), query_bool(request, "copyUIDGID"))
        engine.containers.event(c, "extract-to-dir")
    finally:
        engine.containers.volume_events(c, "unmount")
    return web.Response(status=200)


# ---------------------------------------------------------------------------
# commit
# ---------------------------------------------------------------------------


@routes.add("POST", "/commit")
async def commit(request: web.Request) -> web.StreamResponse:
    from berth import __version__
    from berth.images.commit import CommitRequest, commit as do_commit

    engine = engine_of(request)
    name = request.query.get("container")
    if not name:
        raise InvalidArgument("container is required: POST /commit?container=NAME")
    c = engine.containers.get(name)
    body = await read_json(request)
    repo, tag = request.query.get("repo") or "", request.query.get("tag") or ""
    if tag and not repo:
        raise InvalidArgument("a tag needs a repository: pass repo= with tag=")
    reference = (f"{repo}:{tag}" if tag else repo) or None
    changes = [line for value in request.query.getall("changes", []) for line in value.splitlines()]
    req = CommitRequest(
        container_id=c.id, layer_id=c.layer_id, image_id=c.image_id, container_config=c.config,
        command=" ".join([c.path, *c.args]).strip(), reference=reference,
        comment=request.query.get("comment", ""), author=request.query.get("author", ""), changes=changes,
        config_override=body if isinstance(body, dict) and body else None,
    )
    pause = query_bool(request, "pause", True) and c.state.status == State.RUNNING
    if pause:
        pause = await _pause_if_still_running(engine, c)
    try:
        with log.job("image.commit", container_id=c.short_id, driver=engine.graph.name) as ev:
            image = await asyncio.to_thread(do_commit, engine.images, req, base_layer(engine, c), f"berth {__version__}")
            ev["image_id"] = image.id[7:19]
        image_ref = refs.familiar_as_written(reference) if reference else ""
        if image_ref:  # dockerd's order: the tag, the commit, then the unpause
            engine.events.image("tag", image.id, image_ref)
        engine.containers.event(c, "commit", comment=req.comment, imageID=image.id, imageRef=image_ref)
    finally:
        if pause:
            await _unpause_unless_gone(engine, c)
    return json_response({"Id": image.id}, status=201)


EXIT_RECORD_GRACE = 5.0  # seconds


async def _pause_if_still_running(engine, c) -> bool:
    """Pause ``c`` for the commit; one that exited meanwhile (a short command) is committed as it is, as dockerd."""
    try:
        await engine.containers.pause(c.id)
        return True
    except Conflict:
        try:  # its process is gone: give the monitor a moment to record the exit, then commit without a pause
            await asyncio.wait_for(engine.containers.wait(c.id, "not-running"), EXIT_RECORD_GRACE)
        except asyncio.TimeoutError:
            raise Conflict(f"container {c.id} could not be paused for the commit, and it is still running; "
                           "commit with pause=false") from None
        return False


async def _unpause_unless_gone(engine, c) -> None:
    try:
        await engine.containers.unpause(c.id)
    except (Conflict, NotFound):
        pass  # it exited, or was removed, while the commit ran: nothing left to thaw


def filters_of(request: web.Request) -> dict[str, list[str]]:
    """Docker's ``filters`` query parameter as {key: [values]} (list or legacy {value: true} form)."""
    return query_filters(request)
