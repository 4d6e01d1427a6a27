"""The scripted session the shape checker sends to both daemons: every route berth serves.

It makes its own objects (named ``{p}-...``, labelled ``berth.apishapes={p}``), takes containers
through created, running, paused, stopped, exited and removed, runs execs, tags, builds, commits,
saves, loads and imports images, connects networks, uses volumes, and reads info, version, df and
the events of all that. Error answers are part of the script (a missing object, a conflict), since
clients read those bodies too. Prunes are always filtered by the run's label: the real dockerd is
shared, and nothing of anyone else may be touched.
"""

from __future__ import annotations

import base64
import io
import tarfile

from tests.compat import spec
from tests.compat.steps import LABEL_KEY, Step, mentions_run, save_body, save_field, saved

LABELS = {LABEL_KEY: "{p}"}
MINE = {"label": ["{label}"]}  # the prune/list filter that matches only this run's objects
NO_AUTH = {"X-Registry-Auth": base64.urlsafe_b64encode(b"{}").decode()}


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 946684800
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


DOCKERFILE = b"""FROM busybox
RUN echo to-stdout && echo to-stderr >&2
ENV SHAPES=1
LABEL berth.apishapes.build=1
CMD ["sh"]
"""


def create(name: str, body: dict, note: str) -> Step:
    return Step("POST", "/containers/create", query={"name": "{p}-" + name}, note=note,
                body={"Image": "busybox", "Labels": LABELS, **body}, save=save_field(name))


def system_steps() -> list[Step]:
    return [
        Step("GET", "/_ping", kind="raw"), Step("HEAD", "/_ping", kind="raw"),
        Step("GET", "/version"), Step("GET", "/info"),
        Step("GET", "/distribution/{name}/json", "/distribution/127.0.0.1:9/{p}:1/json", "unreachable registry"),
        Step("GET", "/images/search", query={"term": "busybox", "limit": "1"}, note="no route to the index"),
        Step("POST", "/auth", note="unreachable registry",
             body={"username": "x", "password": "y", "serveraddress": "127.0.0.1:9"}),
    ]


SWARM_PREFIXES = ("/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs")
# routes the script never sends: on a node outside a swarm they are the ones that would change it
UNSCRIPTED = {
    ("POST", "/swarm/init"): "would make the shared dockerd a swarm manager",
    ("POST", "/swarm/join"): "would make the shared dockerd join a swarm",
    ("POST", "/berth/images/bootstrap"): "berth's own route (dockerd has no such thing)",
    ("GET", "/containers/{id}/attach/ws"): "a websocket upgrade: tests/e2e/test_attach_websocket.py compares it "
                                           "with dockerd's",
    ("DELETE", "/containers/{parent}/{alias}"): "DELETE /containers/{id} with a legacy link name (parent/alias): "
                                                "tests/e2e/test_shared_netns_and_links.py, as dockerd answers",
}


def swarm_steps() -> list[Step]:
    """Every swarm route of the spec, on a node that is not in a swarm (the runner checks that first)."""
    steps = []
    for route, methods in spec.load("1.45").data["paths"].items():
        if not route.startswith(SWARM_PREFIXES):
            continue
        for method in methods:
            if (method.upper(), route) not in UNSCRIPTED:
                steps.append(Step(method.upper(), route, route.replace("{id}", "{p}-none"),
                                  body={} if method == "post" else None, kind="raw"))
    return steps


def plugin_steps() -> list[Step]:
    """Managed plugins: none are installed; nothing the script sends can install one (no registry answers)."""
    remote = {"remote": "127.0.0.1:9/{p}-plugin:1"}
    # each as the docker CLI sends it (enable with its timeout; set and upgrade with a JSON list)
    named = [Step(method, route, route.replace("{name}", "{p}-plugin"), "missing", kind="raw", query=query, body=body)
             for method, route, query, body in (
                 ("GET", "/plugins/{name}/json", {}, None), ("DELETE", "/plugins/{name}", {}, None),
                 ("POST", "/plugins/{name}/enable", {"timeout": "0"}, None),
                 ("POST", "/plugins/{name}/disable", {}, None), ("POST", "/plugins/{name}/upgrade", remote, []),
                 ("POST", "/plugins/{name}/push", {}, None), ("POST", "/plugins/{name}/set", {}, ["A=1"]))]
    return [Step("GET", "/plugins"), *named,
            Step("GET", "/plugins/privileges", query=remote, note="unreachable registry"),
            Step("POST", "/plugins/pull", query=remote, body=[], note="unreachable registry", kind="raw"),
            Step("POST", "/plugins/create", query={"name": "{p}-plugin"}, body=b"", content_type="application/x-tar",
                 note="empty context", kind="raw")]


def volume_steps() -> list[Step]:
    return [
        Step("POST", "/volumes/create", body={"Name": "{p}-vol", "Labels": LABELS}),
        Step("POST", "/volumes/create", note="anonymous", body={"Labels": LABELS}, save=save_field("anonvol", "Name")),
        Step("POST", "/volumes/create", note="for prune", body={"Name": "{p}-prunevol", "Labels": LABELS}),
        Step("GET", "/volumes", query={"filters": {"name": ["{p}-vol"]}}),
        Step("GET", "/volumes/{name}", "/volumes/{p}-vol"),
        Step("GET", "/volumes/{name}", "/volumes/{p}-none", "missing"),
        Step("PUT", "/volumes/{name}", "/volumes/{p}-vol", "not a cluster volume", query={"version": "1"}, body={}),
    ]


def network_steps() -> list[Step]:
    return [
        Step("POST", "/networks/create", body={"Name": "{p}-net", "Labels": LABELS}, save=save_field("net")),
        Step("POST", "/networks/create", note="for prune", body={"Name": "{p}-prunenet", "Labels": LABELS}),
        Step("POST", "/networks/create", note="internal, options",
             body={"Name": "{p}-inet", "Internal": True, "Labels": LABELS, "Options": {"com.example": "1"},
                   "IPAM": {"Config": [{"Subnet": "10.99.7.0/24", "Gateway": "10.99.7.1"}]}}, save=save_field("inet")),
        Step("GET", "/networks", query={"filters": {"name": ["{p}-net"]}}),
        Step("GET", "/networks/{id}", "/networks/{net}"),
        Step("GET", "/networks/{id}", "/networks/{inet}", "internal, options"),
        Step("GET", "/networks/{id}", "/networks/bridge", "bridge"),
        Step("GET", "/networks/{id}", "/networks/host", "host"),
        Step("GET", "/networks/{id}", "/networks/none", "none"),
        Step("GET", "/networks/{id}", "/networks/{p}-none", "missing"),
    ]


def container_create_steps() -> list[Step]:
    return [
        create("created", {"Cmd": ["sleep", "600"]}, "plain"),
        create("rich", {"Cmd": ["sleep", "600"], "Env": ["A=1"], "ExposedPorts": {"80/tcp": {}},
                        "HostConfig": {"Binds": ["{p}-vol:/data", "/tmp:/hosttmp:ro"], "Tmpfs": {"/scratch": ""},
                                       "PortBindings": {"80/tcp": [{"HostPort": ""}]},
                                       "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2}}},
               "volume, bind, tmpfs, ports"),
        create("health", {"Cmd": ["sleep", "600"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 500000000}},
               "healthcheck"),
        create("paused", {"Cmd": ["sleep", "600"]}, "to pause"),
        create("stopped", {"Cmd": ["sleep", "600"]}, "to stop"),
        create("exited", {"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]}, "exits 3"),
        create("tty", {"Cmd": ["sleep", "600"], "Tty": True, "OpenStdin": True}, "tty"),
        create("bad", {"Image": "{p}-no-such-image"}, "missing image"),
        Step("POST", "/containers/create", note="name in use", query={"name": "{p}-created"},
             body={"Image": "busybox"}),
    ]


def container_lifecycle_steps() -> list[Step]:
    start = [Step("POST", "/containers/{id}/start", f"/containers/{{{name}}}/start", kind="raw", note=name)
             for name in ("rich", "health", "paused", "stopped", "exited", "tty")]
    return start + [
        Step("POST", "/containers/{id}/start", "/containers/{rich}/start", "already running", kind="raw"),
        Step("POST", "/containers/{id}/wait", "/containers/{exited}/wait"),
        Step("POST", "/containers/{id}/pause", "/containers/{paused}/pause", kind="raw"),
        Step("POST", "/containers/{id}/stop", "/containers/{stopped}/stop", query={"t": "1"}, kind="raw"),
        Step("POST", "/containers/{id}/stop", "/containers/{stopped}/stop", "already stopped", kind="raw"),
        Step("POST", "/containers/{id}/kill", "/containers/{stopped}/kill", "not running", kind="raw"),
        Step("POST", "/containers/{id}/pause", "/containers/{stopped}/pause", "not running", kind="raw"),
        Step("POST", "/containers/{id}/unpause", "/containers/{rich}/unpause", "not paused", kind="raw"),
        Step("POST", "/containers/{id}/wait", "/containers/{stopped}/wait", "stopped"),
        Step("POST", "/containers/{id}/wait", "/containers/{created}/wait", "next-exit of a created one",
             query={"condition": "bogus"}),
    ]


def container_read_steps() -> list[Step]:
    inspect = [Step("GET", "/containers/{id}/json", f"/containers/{{{name}}}/json", note=name)
               for name in ("created", "rich", "health", "paused", "stopped", "exited", "tty")]
    return inspect + [
        Step("GET", "/containers/{id}/json", "/containers/{rich}/json", "size", query={"size": "1"}),
        Step("GET", "/containers/{id}/json", "/containers/{p}-none/json", "missing"),
        Step("PUT", "/containers/{id}/json", "/containers/{rich}/json", "a method the path does not take", body={},
             off_spec=True),
        Step("GET", "/containers/json", query={"all": "1", "filters": MINE}, sort_by="Names"),
        Step("GET", "/containers/json", note="size", query={"all": "1", "size": "1", "filters": MINE},
             sort_by="Names"),
        Step("GET", "/containers/json", note="bad filter", query={"filters": {"nonsense": ["1"]}}),
        Step("GET", "/containers/{id}/top", "/containers/{rich}/top"),
        Step("GET", "/containers/{id}/top", "/containers/{rich}/top", "ps_args", query={"ps_args": "aux"}),
        Step("GET", "/containers/{id}/top", "/containers/{stopped}/top", "not running"),
        Step("GET", "/containers/{id}/logs", "/containers/{exited}/logs", query={"stdout": "1", "stderr": "1"},
             kind="raw"),
        Step("GET", "/containers/{id}/logs", "/containers/{tty}/logs", "tty", query={"stdout": "1"}, kind="raw"),
        Step("GET", "/containers/{id}/logs", "/containers/{exited}/logs", "no stream chosen", kind="raw"),
        Step("GET", "/containers/{id}/changes", "/containers/{rich}/changes"),
        Step("GET", "/containers/{id}/changes", "/containers/{created}/changes", "created"),
        Step("GET", "/containers/{id}/export", "/containers/{stopped}/export", kind="raw"),
        Step("GET", "/containers/{id}/stats", "/containers/{rich}/stats", query={"stream": "0"},
             maps=frozenset({"networks", "memory_stats.stats"})),
        Step("GET", "/containers/{id}/stats", "/containers/{stopped}/stats", "stopped", query={"stream": "0"},
             maps=frozenset({"networks", "memory_stats.stats"})),
        Step("POST", "/containers/{id}/attach", "/containers/{exited}/attach", "logs only",
             query={"logs": "1", "stream": "0", "stdout": "1", "stderr": "1"}, kind="raw"),
    ]


def container_change_steps() -> list[Step]:
    archive = {"path": "/etc/hostname"}
    return [
        Step("HEAD", "/containers/{id}/archive", "/containers/{rich}/archive", query=archive, kind="raw",
             header_json="X-Docker-Container-Path-Stat"),
        Step("GET", "/containers/{id}/archive", "/containers/{rich}/archive", query=archive, kind="raw",
             header_json="X-Docker-Container-Path-Stat"),
        Step("GET", "/containers/{id}/archive", "/containers/{rich}/archive", "missing path",
             query={"path": "/nonexistent"}),
        Step("PUT", "/containers/{id}/archive", "/containers/{rich}/archive", query={"path": "/tmp"},
             body=tar_of({"put.txt": b"x\n"}), content_type="application/x-tar", kind="raw"),
        Step("POST", "/containers/{id}/update", "/containers/{rich}/update", body={"CpuShares": 512}),
        Step("POST", "/containers/{id}/update", "/containers/{rich}/update", "restart policy",
             body={"RestartPolicy": {"Name": "always"}}),
        Step("POST", "/containers/{id}/resize", "/containers/{tty}/resize", query={"h": "30", "w": "100"},
             kind="raw"),
        Step("POST", "/containers/{id}/resize", "/containers/{rich}/resize", "no tty", query={"h": "30", "w": "100"},
             kind="raw"),
        Step("POST", "/containers/{id}/rename", "/containers/{created}/rename", query={"name": "{p}-renamed"},
             kind="raw"),
        Step("POST", "/containers/{id}/rename", "/containers/{created}/rename", "name in use",
             query={"name": "{p}-rich"}, kind="raw"),
        Step("POST", "/containers/{id}/restart", "/containers/{tty}/restart", query={"t": "1"}, kind="raw"),
        Step("POST", "/containers/{id}/kill", "/containers/{tty}/kill", query={"signal": "SIGKILL"}, kind="raw"),
        Step("POST", "/containers/{id}/kill", "/containers/{health}/kill", "bad signal", query={"signal": "NOPE"},
             kind="raw"),
        Step("DELETE", "/containers/{id}", "/containers/{rich}", "running, no force", kind="raw"),
        Step("DELETE", "/containers/{id}", "/containers/{p}-none", "missing", kind="raw"),
    ]


def network_use_steps() -> list[Step]:
    return [
        Step("POST", "/networks/{id}/connect", "/networks/{net}/connect", "created container",
             body={"Container": "{created}"}, kind="raw"),
        Step("POST", "/networks/{id}/connect", "/networks/{net}/connect", "running, aliases",
             body={"Container": "{rich}", "EndpointConfig": {"Aliases": ["{p}-alias"]}}, kind="raw"),
        Step("GET", "/containers/{id}/json", "/containers/{rich}/json", "two networks"),
        Step("GET", "/networks/{id}", "/networks/{net}", "with containers"),
        Step("POST", "/networks/{id}/connect", "/networks/{net}/connect", "already connected",
             body={"Container": "{rich}"}, kind="raw"),
        Step("POST", "/networks/{id}/disconnect", "/networks/{net}/disconnect", body={"Container": "{rich}"},
             kind="raw"),
        Step("POST", "/networks/{id}/disconnect", "/networks/{net}/disconnect", "not connected",
             body={"Container": "{rich}"}, kind="raw"),
        Step("DELETE", "/networks/{id}", "/networks/{net}", "in use", kind="raw"),
    ]


def exec_steps() -> list[Step]:
    return [
        Step("POST", "/containers/{id}/exec", "/containers/{rich}/exec",
             body={"Cmd": ["sh", "-c", "echo hi; exit 2"], "AttachStdout": True, "AttachStderr": True},
             save=save_field("exec")),
        Step("GET", "/exec/{id}/json", "/exec/{exec}/json", "created"),
        Step("POST", "/exec/{id}/start", "/exec/{exec}/start", body={"Detach": False, "Tty": False}, kind="raw"),
        Step("GET", "/exec/{id}/json", "/exec/{exec}/json", "finished"),
        Step("POST", "/exec/{id}/start", "/exec/{exec}/start", "again", body={"Detach": True}, kind="raw"),
        Step("POST", "/containers/{id}/exec", "/containers/{rich}/exec", "detached",
             body={"Cmd": ["sleep", "1"], "Tty": True}, save=save_field("dexec")),
        Step("POST", "/exec/{id}/start", "/exec/{dexec}/start", "detached", body={"Detach": True, "Tty": True},
             kind="raw"),
        Step("GET", "/exec/{id}/json", "/exec/{dexec}/json", "running"),
        Step("POST", "/exec/{id}/resize", "/exec/{dexec}/resize", query={"h": "20", "w": "80"}, kind="raw"),
        Step("GET", "/exec/{id}/json", "/exec/{p}-none/json", "missing"),
        Step("POST", "/containers/{id}/exec", "/containers/{stopped}/exec", "not running", body={"Cmd": ["true"]}),
        Step("POST", "/containers/{id}/exec", "/containers/{rich}/exec", "no command", body={}),
    ]


def image_steps() -> list[Step]:
    return [
        Step("GET", "/images/json", query={"filters": {"reference": ["busybox:latest"]}}),
        Step("GET", "/images/json", note="all", query={"all": "1"}, sort_by="Id"),
        # its ID tells this run's image events (save, load) apart from other clients' of dockerd
        Step("GET", "/images/{name}/json", "/images/busybox/json", save=save_field("busybox_id")),
        Step("GET", "/images/{name}/json", "/images/{p}-none/json", "missing"),
        Step("GET", "/images/{name}/history", "/images/busybox/history"),
        Step("POST", "/images/{name}/tag", "/images/busybox/tag", query={"repo": "{p}-img", "tag": "t1"},
             kind="raw"),
        Step("POST", "/images/{name}/tag", "/images/busybox/tag", "registry name",
             query={"repo": "127.0.0.1:9/{p}-push", "tag": "1"}, kind="raw"),
        Step("POST", "/images/{name}/tag", "/images/{p}-none/tag", "missing", query={"repo": "x"}, kind="raw"),
        Step("GET", "/images/{name}/get", "/images/{p}-img:t1/get", kind="raw", save=save_body("image_tar")),
        Step("GET", "/images/get", query={"names": "{p}-img:t1"}, kind="raw"),
        Step("POST", "/images/load", query={"quiet": "1"}, body=saved("image_tar"), content_type="application/x-tar",
             kind="jsonstream"),
        Step("POST", "/images/load", "/images/load", "not an image", body=b"garbage", kind="jsonstream",
             content_type="application/x-tar"),
        Step("POST", "/images/create", note="import", query={"fromSrc": "-", "repo": "{p}-imported", "tag": "1"},
             body=tar_of({"hello.txt": b"hi\n"}), content_type="application/x-tar", kind="jsonstream"),
        Step("POST", "/images/create", note="unreachable registry",
             query={"fromImage": "127.0.0.1:9/{p}-none", "tag": "1"}, headers=NO_AUTH, kind="jsonstream"),
        Step("POST", "/images/{name}/push", "/images/127.0.0.1:9/{p}-push/push", "unreachable registry",
             query={"tag": "1"}, headers=NO_AUTH, kind="jsonstream"),
        Step("POST", "/commit", query={"container": "{stopped}", "repo": "{p}-committed", "tag": "1",
                                       "comment": "shapes", "changes": "ENV COMMITTED=1"},
             body={"Labels": LABELS}, save=save_field("committed")),
        Step("GET", "/images/{name}/json", "/images/{committed}/json", "committed"),
        Step("GET", "/images/{name}/history", "/images/{committed}/history", "committed"),
        Step("DELETE", "/images/{name}", "/images/{p}-img:t1", "untag"),
        Step("DELETE", "/images/{name}", "/images/{p}-committed:1", "delete"),
        Step("DELETE", "/images/{name}", "/images/{p}-none", "missing"),
        Step("POST", "/images/prune", query={"filters": MINE}),
    ]


def build_steps() -> list[Step]:
    context = tar_of({"Dockerfile": DOCKERFILE})
    return [
        Step("POST", "/build", query={"t": "{p}-built:1", "labels": LABELS, "rm": "1"}, body=context,
             content_type="application/x-tar", kind="jsonstream"),
        Step("POST", "/build", note="cached", query={"t": "{p}-built:2", "labels": LABELS, "rm": "1"},
             body=context, content_type="application/x-tar", kind="jsonstream"),
        Step("POST", "/build", note="failing step", body=tar_of({"Dockerfile": b"FROM busybox\nRUN exit 7\n"}),
             query={"labels": LABELS, "forcerm": "1"}, content_type="application/x-tar", kind="jsonstream"),
        Step("POST", "/build", note="no Dockerfile", body=tar_of({"x": b""}), content_type="application/x-tar",
             kind="jsonstream"),
        Step("GET", "/images/{name}/json", "/images/{p}-built:1/json", "built"),
        Step("GET", "/images/{name}/history", "/images/{p}-built:1/history", "built"),
        create("frombuilt", {"Image": "{p}-built:1", "Cmd": ["true"]}, "from the built image"),
        # only this run's own images are ever deleted: the real dockerd's busybox is shared
        Step("DELETE", "/images/{name}", "/images/{p}-built:1", "in use by a container"),
        Step("DELETE", "/images/{name}", "/images/{p}-built:2", "untag built"),
        Step("POST", "/build/prune", query={"filters": MINE}),
    ]


def without_labels(event: dict) -> dict:
    """An event without the labels among its attributes (``berth.apishapes``, ``com.example.x``): they
    are the object's data, while the keys dockerd itself sets have no dots (name, image, exitCode...)."""
    actor = event.get("Actor") or {}
    attributes = {k: v for k, v in (actor.get("Attributes") or {}).items() if "." not in k}
    return {**event, "Actor": {**actor, "Attributes": attributes}}


def event_key(message: dict) -> tuple[str, str]:
    """Events pair by (Type, Action without its ``: detail``), e.g. ("container", "exec_start")."""
    return message.get("Type", ""), str(message.get("Action", "")).split(":")[0]


def teardown_steps() -> list[Step]:
    """Read df, remove what the script made (what a failed step leaves, the runner removes), read the events."""
    return [
        Step("GET", "/system/df"),
        Step("POST", "/containers/{id}/unpause", "/containers/{paused}/unpause", kind="raw"),
        Step("DELETE", "/containers/{id}", "/containers/{rich}", "force, running", query={"force": "1", "v": "1"},
             kind="raw"),
        Step("DELETE", "/containers/{id}", "/containers/{paused}", "force, unpaused", query={"force": "1"}, kind="raw"),
        Step("DELETE", "/containers/{id}", "/containers/{created}", kind="raw"),
        Step("POST", "/containers/prune", query={"filters": MINE}),
        Step("POST", "/containers/prune", "/containers/prune", "nothing left", query={"filters": MINE}),
        Step("DELETE", "/networks/{id}", "/networks/{net}", kind="raw"),
        Step("DELETE", "/networks/{id}", "/networks/{net}", "missing", kind="raw"),
        Step("POST", "/networks/prune", query={"filters": MINE}),
        Step("DELETE", "/volumes/{name}", "/volumes/{p}-vol", kind="raw", query={"force": "1"}),
        Step("DELETE", "/volumes/{name}", "/volumes/{p}-vol", "missing", kind="raw"),
        Step("POST", "/volumes/prune", query={"filters": MINE}),
        # dockerd replays only its last 256 events: the run's are what a stream opened at its start received
        Step("GET", "/events", kind="jsonstream", live=True, message_key=event_key, keep_message=mentions_run,
             normalise=without_labels),
    ]


def script(with_swarm: bool = True) -> list[Step]:
    """The whole session, in order (``with_swarm=False`` drops the swarm routes)."""
    return [*system_steps(), *(swarm_steps() if with_swarm else []), *plugin_steps(), *volume_steps(), *network_steps(),
            *container_create_steps(), *container_lifecycle_steps(), *container_read_steps(),
            *container_change_steps(), *network_use_steps(), *exec_steps(), *image_steps(), *build_steps(),
            *teardown_steps()]
