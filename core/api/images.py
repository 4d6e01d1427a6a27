"""Image routes: list, inspect, history, tag, remove, prune, save, load, import, and berth's busybox bootstrap.

Image names may contain slashes (``registry:5000/team/app:v1``), so the routes
take ``{name:.+}`` as Docker's router does. ``POST /images/create`` imports
(``fromSrc``) here and hands pulls (``fromImage``) to :mod:`berth.api.registry`.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from berth import log
from berth.api import views
from berth.containers.model import parse_time
from berth.api.filesystem import filters_of, request_body, send_tar
from berth.api.server import Routes, api_version, engine_of, json_response, query_bool
from berth.errors import BerthError, InvalidArgument, NotFound, NotImplementedYet
from berth.filtermatch import bool_filter, check_filter_names, labels_excluded, labels_match
from berth.images import reference as refs

routes = Routes()


def _containers_use(engine: Any) -> list:
    from berth.images.remove import ContainerUse

    return [ContainerUse(c.id, c.image_id, c.state.running) for c in engine.containers.store.containers.values()]


# ---------------------------------------------------------------------------
# list, inspect, history
# ---------------------------------------------------------------------------


def _glob(pattern: str, text: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` never cross a ``/`` (unlike fnmatch)."""
    regex = "".join("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text) is not None


def _ref_matches(ref: str, patterns: list[str]) -> bool:
    repo = ref.split("@", 1)[0] if "@" in ref else ref.rpartition(":")[0]
    return any(_glob(p, ref) or _glob(p, repo) for p in patterns)


def _reference_matches(image, patterns: list[str]) -> bool:
    """Docker's ``reference=`` filter: a glob against ``repo:tag`` or ``repo`` of any of the image's references."""
    return any(_ref_matches(ref, patterns) for ref in image.repo_tags + image.repo_digests)


IMAGE_FILTERS = {"before", "dangling", "label", "label!", "reference", "since", "until"}


def _created_at(store, name: str) -> float:
    return views.parse_time(store.get(name).created)


def _time_window(store, filters: dict[str, list[str]]) -> tuple[float, float]:
    """(after, before): ``since`` and ``before`` name images, ``until`` is a point in time (dockerd's forms)."""
    from berth.humanize import point_in_time

    after = max((_created_at(store, n) for n in filters.get("since", [])), default=float("-inf"))
    before = min((_created_at(store, n) for n in filters.get("before", [])), default=float("inf"))
    for value in filters.get("until", []):
        try:
            before = min(before, point_in_time(value))
        except ValueError as exc:
            raise InvalidArgument(f"invalid value for 'until' filter: {exc}") from None
    return after, before


def _filter_images(store, images: list, filters: dict[str, list[str]]) -> list:
    """Docker's image filters: dangling, label, label!, reference (glob), before/since (images), until (time)."""
    check_filter_names(filters, IMAGE_FILTERS)
    dangling = bool_filter(filters, "dangling")
    after, before = _time_window(store, filters)

    def selected(image) -> bool:
        labels = ((image.config or {}).get("config") or {}).get("Labels") or {}
        created = views.parse_time(image.created)
        return ((dangling is None or dangling == (not image.repo_tags))
                and ("reference" not in filters or _reference_matches(image, filters["reference"]))
                and labels_match(filters.get("label", []), labels)
                and not labels_excluded(filters.get("label!", []), labels)
                and after < created < before)

    return [image for image in images if selected(image)]


@routes.add("GET", "/images/json")
async def list_images(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    filters = filters_of(request)
    store = engine.images
    images = await asyncio.to_thread(store.list, query_bool(request, "all"))
    images = _filter_images(store, images, filters)
    counts: dict[str, int] = {}
    for c in engine.containers.store.containers.values():
        counts[c.image_id] = counts.get(c.image_id, 0) + 1
    api = api_version(request)
    summaries = [views.image_summary(i, containers=counts.get(i.id, 0), api=api) for i in images]
    if "reference" in filters:
        # as Docker: only the references that matched are listed
        for summary in summaries:
            for key in ("RepoTags", "RepoDigests"):
                if summary[key]:  # null (no digests) stays null
                    summary[key] = [r for r in summary[key] if _ref_matches(r, filters["reference"])]
    return json_response(summaries)


@routes.add("GET", "/images/{name:.+}/json")
async def inspect(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    image = engine.images.get(request.match_info["name"])
    layers = engine.images.image_layers(image)
    graph_data = await asyncio.to_thread(engine.graph.metadata, image.layer_id) if image.layer_id else {}
    return json_response(views.image_inspect(image, [lay.diff_id for lay in layers], engine.graph.name, graph_data,
                                             api_version(request)))


@routes.add("GET", "/images/{name:.+}/history")
async def history(request: web.Request) -> web.StreamResponse:
    store = engine_of(request).images
    image = store.get(request.match_info["name"])
    layers = store.image_layers(image)
    entries: list[dict] = []
    counter = 0
    for h in (image.config or {}).get("history") or []:
        size = 0
        if not h.get("empty_layer"):
            if counter >= len(layers):
                raise InvalidArgument(f"image {image.short_id}: its history lists more layers than its rootfs has")
            size = layers[counter].size
            counter += 1
        entries.insert(0, {"Id": "<missing>", "Created": int(parse_time(h.get("created", ""))),
                           "CreatedBy": h.get("created_by", ""), "Tags": None, "Size": size,
                           "Comment": h.get("comment", "")})
    # As Docker: the newest entries get the image's ID and then its parents', one each
    current = image
    for entry in entries:
        entry["Id"], entry["Tags"] = current.id, list(current.repo_tags) or None
        if not current.parent:
            break
        try:
            current = store.get(current.parent)
        except NotFound:
            break
    return json_response(entries)


# ---------------------------------------------------------------------------
# tag, remove, prune
# ---------------------------------------------------------------------------


@routes.add("POST", "/images/{name:.+}/tag")
async def tag(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    repo = request.query.get("repo") or ""
    tag_name = request.query.get("tag") or ""
    if not repo:
        raise InvalidArgument("repo is required: POST /images/NAME/tag?repo=REPO&tag=TAG")
    reference = f"{repo}:{tag_name}" if tag_name else repo
    parsed = refs.parse(reference)
    if parsed.digest:
        raise InvalidArgument(f"refusing to create a tag with a digest reference: {reference}")
    image = engine.images.get(request.match_info["name"])
    await asyncio.to_thread(engine.images.tag, image.id, reference)
    engine.events.image("tag", image.id, refs.familiar_as_written(reference))
    return web.Response(status=201)


@routes.add("DELETE", "/images/{name:.+}")
async def remove(request: web.Request) -> web.StreamResponse:
    from berth.images.remove import delete_image

    engine = engine_of(request)
    image = engine.images.get(request.match_info["name"])
    labels = engine.events.image_labels(image.id)
    records = await asyncio.to_thread(delete_image, engine.images, request.match_info["name"], _containers_use(engine),
                                      query_bool(request, "force"), not query_bool(request, "noprune"))
    _removal_events(engine, image.id, labels, records)
    return json_response(records)


def _removal_events(engine, image_id: str, labels: dict[str, str], records: list[dict]) -> None:
    """dockerd's events for an image removal: one ``untag`` per removed tag (naming the image by ID, with
    its labels), one ``delete`` per deleted image."""
    for record in records:
        for action, value in record.items():
            if action == "Untagged":
                engine.events.image("untag", image_id, image_id, labels)
            elif action == "Deleted":
                engine.events.image("delete", value, value, {})


@routes.add("POST", "/images/prune")
async def prune(request: web.Request) -> web.StreamResponse:
    from berth.images.remove import delete_image

    engine = engine_of(request)
    store = engine.images
    filters = filters_of(request)
    check_filter_names(filters, {"dangling", "label", "label!", "until"})
    dangling_only = bool_filter(filters, "dangling") is not False  # dockerd prunes dangling images by default
    selection = {key: values for key, values in filters.items() if key != "dangling"}
    used = {c.image_id for c in engine.containers.store.containers.values()}
    deleted: list[dict] = []
    reclaimed = 0
    for image in store.list(all=False):
        if image.id in used or (dangling_only and image.repo_tags) or store.children(image.id):
            continue
        if selection and not _filter_images(store, [image], selection):
            continue
        labels = engine.events.image_labels(image.id)
        try:
            records = await asyncio.to_thread(delete_image, store, image.id, _containers_use(engine), True, True)
        except NotFound:
            continue  # already removed as the parent of an earlier one
        _removal_events(engine, image.id, labels, records)
        deleted += records
        reclaimed += image.size
    engine.events.publish("image", "prune", "", {"reclaimed": str(reclaimed)})
    return json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed})


# ---------------------------------------------------------------------------
# save, load, import
# ---------------------------------------------------------------------------


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    from berth.images.archive import select_images, write_archive
    from berth.images.pipestream import producer_stream

    engine = engine_of(request)
    store = engine.images
    chosen = await asyncio.to_thread(select_images, store, names)  # unknown names fail before any byte
    stream = producer_stream(lambda out: write_archive(store, chosen, out), what=f"save of {', '.join(names)}")
    for item in chosen:
        engine.events.image("save", item.image.id, item.image.id)
    return await send_tar(request, stream)


@routes.add("GET", "/images/get")
async def save_many(request: web.Request) -> web.StreamResponse:
    return await _save(request, [n for value in request.query.getall("names", []) for n in value.split(",") if n])


@routes.add("GET", "/images/{name:.+}/get")
async def save_one(request: web.Request) -> web.StreamResponse:
    return await _save(request, [request.match_info["name"]])


def _ndjson(lines: list[dict]) -> web.Response:
    return web.Response(body=b"".join(json.dumps(line).encode() + b"\n" for line in lines),
                        content_type="application/json")


@routes.add("POST", "/images/load")
async def load(request: web.Request) -> web.StreamResponse:
    """As dockerd: always a 200 JSON stream; a body that is not an image archive ends it with ``errorDetail``.

    (docker-py raises ImageLoadError on that line; the docker CLI prints it.)
    """
    from berth.images.archive import load_archive
    from berth.registry.progress import encode, error

    engine = engine_of(request)
    messages: list[str] = []
    body = request_body(request)
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        with log.job("image.load", driver=engine.graph.name) as ev:
            images = await asyncio.to_thread(load_archive, engine.images, body, messages.append)
            ev["image_ids"] = ",".join(i.id[7:19] for i in images)
    except BerthError as exc:
        await response.write(encode(error(exc.message)))
    else:
        for image in images:
            engine.events.image("load", image.id, image.id)
        for message in messages:
            await response.write(encode({"stream": message}))
    await response.write_eof()
    return response


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _import(store, body, reference: str | None, changes: list[str], message: str, source: str):
    """``docker import``: the tar is one base layer; the config is built from ``changes``."""
    from berth.images.bootstrap import oci_architecture
    from berth.images.changes_dsl import apply_changes

    config_section = apply_changes({}, changes)  # bad changes fail before the layer is stored
    layer = store.add_layer(None, body)
    created = _now()
    config = {
        "architecture": oci_architecture(), "os": "linux", "created": created, "config": config_section,
        "history": [{"created": created, "comment": message or f"Imported from {source}"}],
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    try:
        return store.create_image(config, [layer], reference)
    except BaseException:
        store.discard_layers([layer])
        raise


@routes.add("POST", "/images/create")
async def create(request: web.Request) -> web.StreamResponse:
    """Import (``fromSrc``) here; pull (``fromImage``) in :mod:`berth.api.registry`."""
    if "fromSrc" not in request.query:
        from berth.api.registry import pull

        return await pull(request)
    engine = engine_of(request)
    source = request.query["fromSrc"]
    if source != "-":
        raise NotImplementedYet(f"importing from a URL ({source}) is not supported: download the tar and import it "
                                "from a file or stdin (fromSrc=-)")
    repo, tag_name = request.query.get("repo") or "", request.query.get("tag") or ""
    if tag_name and not repo:
        raise InvalidArgument("a tag needs a repository: pass repo= with tag=")
    reference = (f"{repo}:{tag_name}" if tag_name else repo) or None
    if reference:
        refs.parse(reference)  # a bad name fails before the upload is read
    changes = [line for value in request.query.getall("changes", []) for line in value.splitlines()]
    body = request_body(request)
    with log.job("image.import", reference=reference or "", driver=engine.graph.name):
        image = await asyncio.to_thread(_import, engine.images, body, reference, changes,
                                        request.query.get("message", ""), source)
    if reference:
        engine.events.image("tag", image.id, refs.familiar_as_written(reference))
    engine.events.image("import", image.id, image.id)
    return _ndjson([{"status": image.id}])


# ---------------------------------------------------------------------------
# berth's own
# ---------------------------------------------------------------------------


@routes.add("POST", "/berth/images/bootstrap")
async def bootstrap(request: web.Request) -> web.StreamResponse:
    """Build ``busybox:latest`` (or ``?reference=``) from the host's static busybox, offline."""
    from berth.images.bootstrap import bootstrap_busybox

    engine = engine_of(request)
    reference = request.query.get("reference") or "busybox:latest"
    busybox = request.query.get("busybox") or "/bin/busybox"
    with log.job("image.bootstrap", reference=reference, driver=engine.graph.name) as ev:
        image = await asyncio.to_thread(bootstrap_busybox, engine.images, reference, busybox)
        ev["image_id"] = image.id[7:19]
    engine.events.image("tag", image.id, refs.familiar(reference))
    engine.events.image("import", image.id, image.id)
    return json_response({"Id": image.id, "RepoTags": image.repo_tags})
