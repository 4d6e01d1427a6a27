"""``GET /events``: the actions dockerd emits, with its attributes, filters and replay window.

The expected sequences were recorded from dockerd 20.10 for the same operations.
"""

from __future__ import annotations

import io
import tarfile
import threading
import time

import docker
import pytest


def window(sdk, since: float, **filters) -> list[dict]:
    """The events from ``since`` until now (a past ``until``: the replay, then the response ends)."""
    time.sleep(0.05)
    return list(sdk.api.events(since=since, until=time.time(), decode=True, filters=filters or None))


def actions(events: list[dict]) -> list[str]:
    return [f"{e['Type']} {e['Action']}" for e in events]


def one_file_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("f")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


@pytest.fixture
def box(sdk):
    """A running container whose TERM handler exits 0, labelled, with a named volume on /data."""
    volume = sdk.volumes.create("events-vol")
    container = sdk.containers.create("busybox", ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"],
                                      name="events-box", labels={"test": "events"},
                                      volumes={"events-vol": {"bind": "/data"}})
    yield container
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass  # the test removed it
    volume.remove()


def test_a_containers_life_emits_dockers_actions_with_their_attributes(sdk, box):
    since = time.time()
    box.start()
    box.exec_run(["true"])
    box.pause()
    box.unpause()
    box.rename("events-renamed")
    box.top()
    box.update(cpu_shares=512)
    box.kill("SIGUSR1")
    box.stop(timeout=5)
    seen = window(sdk, since, container=box.id)
    assert actions(seen) == [
        "container start", "container exec_create: true ", "container exec_start: true ", "container exec_die",
        "container pause", "container unpause", "container rename", "container top", "container update",
        "container kill", "container kill", "container die", "container stop"]
    first = seen[0]["Actor"]["Attributes"]
    assert first == {"image": "busybox", "name": "events-box", "test": "events"}
    by_action = {e["Action"]: e["Actor"]["Attributes"] for e in seen}
    assert by_action["rename"]["oldName"] == "/events-box" and by_action["rename"]["name"] == "events-renamed"
    assert [e["Actor"]["Attributes"]["signal"] for e in seen if e["Action"] == "kill"] == ["10", "15"]
    assert by_action["die"]["exitCode"] == "0"
    assert by_action["exec_die"]["exitCode"] == "0" and by_action["exec_die"]["execID"]


def test_volume_events_follow_the_containers_mounts(sdk, box):
    since = time.time()
    box.start()
    box.kill()
    box.remove()
    sdk.volumes.get("events-vol").remove()
    seen = window(sdk, since, type="volume", volume="events-vol")
    assert actions(seen) == ["volume mount", "volume unmount", "volume destroy"]
    assert seen[0]["Actor"]["Attributes"] == {"container": box.id, "destination": "/data", "driver": "local",
                                              "propagation": "", "read/write": "true"}
    assert seen[1]["Actor"]["Attributes"] == {"container": box.id, "driver": "local"}
    sdk.volumes.create("events-vol")  # for the fixture's teardown


def test_killing_and_removing_emit_kill_die_and_destroy(sdk, box):
    box.start()
    since = time.time()
    box.remove(force=True)
    seen = window(sdk, since, container=box.id)
    assert actions(seen) == ["container kill", "container die", "container destroy"]
    assert seen[0]["Actor"]["Attributes"]["signal"] == "9"
    assert seen[1]["Actor"]["Attributes"]["exitCode"] == "137"


def test_copies_emit_archive_path_and_extract_to_dir_between_volume_mounts(sdk, box):
    box.start()
    since = time.time()
    chunks, _ = box.get_archive("/etc/hostname")
    b"".join(chunks)  # read to the end: the volumes are unmounted once the archive is consumed
    box.put_archive("/tmp", one_file_tar())
    seen = window(sdk, since, container=box.id)
    assert actions(seen) == ["container archive-path", "container extract-to-dir"]
    volume = window(sdk, since, volume="events-vol")
    assert actions(volume) == ["volume mount", "volume unmount"] * 2


def test_commit_pauses_tags_commits_and_unpauses(sdk, box):
    box.start()
    since = time.time()
    image = box.commit(repository="events-commit", message="why")
    try:
        seen = window(sdk, since, label="test=events")
        assert actions(seen) == ["container pause", "image tag", "container commit", "container unpause"]
        assert seen[1]["Actor"]["ID"] == image.id and seen[1]["Actor"]["Attributes"]["name"] == "events-commit"
        assert seen[2]["Actor"]["Attributes"]["imageID"] == image.id
        assert seen[2]["Actor"]["Attributes"]["imageRef"] == "events-commit"
        assert seen[2]["Actor"]["Attributes"]["comment"] == "why"
    finally:
        sdk.images.remove(image.id)


def test_image_events_carry_the_images_labels_and_name_it_as_dockerd(sdk, box):
    image = box.commit(repository="events-image", tag="one")  # inherits the container's label
    since = time.time()
    image.tag("events-image", "two")
    saved = b"".join(image.save())
    sdk.images.remove("events-image:two")
    sdk.images.remove("events-image:one")
    sdk.images.load(saved)
    sdk.images.remove(image.id, force=True)
    seen = window(sdk, since, type="image")
    assert actions(seen) == ["image tag", "image save", "image untag", "image untag", "image delete", "image load",
                             "image delete"]  # saved by ID, the archive holds no tags to load
    names = [e["Actor"]["Attributes"]["name"] for e in seen]
    assert names == ["events-image:two", *[image.id] * 6]
    assert all(e["Actor"]["ID"] == image.id for e in seen)
    assert seen[0]["Actor"]["Attributes"]["test"] == "events"  # the image's label
    assert "test" not in seen[4]["Actor"]["Attributes"]  # a deleted image has no labels left


def test_import_tags_then_imports(sdk):
    since = time.time()
    sdk.api.import_image_from_data(one_file_tar(), repository="events-import", tag="v1")
    seen = window(sdk, since, type="image")
    try:
        assert actions(seen) == ["image tag", "image import"]
        assert seen[0]["Actor"]["Attributes"]["name"] == "events-import:v1"
        assert seen[1]["Actor"]["Attributes"]["name"] == seen[1]["Actor"]["ID"]
    finally:
        sdk.images.remove("events-import:v1")


def test_prunes_report_what_they_reclaimed(sdk):
    since = time.time()
    sdk.containers.prune(filters={"label": "no-such-label"})
    sdk.volumes.prune(filters={"label": "no-such-label"})
    sdk.images.prune(filters={"label": "no-such-label"})
    seen = window(sdk, since, event="prune")
    assert actions(seen) == ["container prune", "volume prune", "image prune"]
    assert all(e["Actor"] == {"ID": "", "Attributes": {"reclaimed": "0"}} for e in seen)


def test_message_shape_is_dockerds_for_each_type(sdk, box):
    since = time.time()
    box.start()
    image = box.commit(repository="events-shape")
    sdk.images.remove(image.id)
    seen = window(sdk, since)
    container = next(e for e in seen if e["Type"] == "container")
    assert set(container) == {"status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"}
    assert container["from"] == "busybox" and container["scope"] == "local"
    assert container["time"] == container["timeNano"] // 1_000_000_000
    assert set(next(e for e in seen if e["Type"] == "image")) == {
        "status", "id", "Type", "Action", "Actor", "scope", "time", "timeNano"}
    assert set(next(e for e in seen if e["Type"] == "volume")) == {
        "Type", "Action", "Actor", "scope", "time", "timeNano"}


def test_filters_match_as_dockerd(sdk, box):
    since = time.time()
    box.start()
    box.exec_run(["true"])
    box.kill()
    assert window(sdk, since, container="events-b")  # a name prefix
    assert window(sdk, since, container=box.id[:6])  # an ID prefix
    assert {e["Type"] for e in window(sdk, since, container="events-box")} == {"container"}
    assert actions(window(sdk, since, container="events-box", event="die")) == ["container die"]
    assert actions(window(sdk, since, container="events-box", event=["exec_start", "start"])) == [
        "container start", "container exec_start: true "]  # exec_start matches by prefix, then all do
    assert actions(window(sdk, since, container="events-box", event="exec")) == []  # no prefix otherwise
    assert window(sdk, since, image="busybox") and not window(sdk, since, image="other")
    assert window(sdk, since, label="test=events") and not window(sdk, since, label="test=other")
    assert window(sdk, since, type="volume", volume="events-v")
    assert window(sdk, since, container="events-box", nonsense="ignored")  # unknown keys are ignored


def test_until_in_the_past_replays_and_ends(sdk, box):
    since = time.time()
    box.start()
    until = time.time()
    time.sleep(0.2)
    started = time.monotonic()
    seen = list(sdk.api.events(since=since, until=until, decode=True, filters={"container": box.id}))
    assert actions(seen) == ["container start"] and time.monotonic() - started < 2


def test_until_alone_replays_everything_kept_before_it(sdk, box):
    box.start()
    time.sleep(0.05)
    seen = list(sdk.api.events(until=time.time(), decode=True, filters={"container": box.id}))
    assert "container create" in actions(seen) and "container start" in actions(seen)


def test_until_in_the_future_replays_what_is_kept_then_streams_until_then(sdk, box):
    until = time.time() + 2
    received: list = []
    reader = threading.Thread(target=lambda: received.extend(
        sdk.api.events(until=until, decode=True, filters={"container": box.id})))
    reader.start()
    time.sleep(0.5)
    box.start()
    reader.join(10)
    assert not reader.is_alive() and time.time() >= until - 0.1
    assert actions(received) == ["container create", "container start"]


def test_since_without_until_replays_then_keeps_streaming(sdk, box):
    since = time.time()
    box.start()
    stream = sdk.api.events(since=since, decode=True, filters={"container": box.id})
    try:
        assert next(stream)["Action"] == "start"  # replayed
        box.kill()
        assert [next(stream)["Action"], next(stream)["Action"]] == ["kill", "die"]  # live
    finally:
        stream.close()


def test_since_after_until_is_dockers_400(sdk):
    response = sdk.api.get(sdk.api._url("/events"), params={"since": "2000000000", "until": "1000000000"})
    assert response.status_code == 400
    assert response.json()["message"] == "`since` time (2000000000) cannot be after `until` time (1000000000)"


def test_docker_events_cli_formats_the_window(docker_cli, box):
    since = f"{time.time():.6f}"
    box.start()
    box.kill()
    time.sleep(0.05)
    out = docker_cli.out("events", "--since", since, "--until", f"{time.time():.6f}", "--filter",
                         "container=events-box", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    assert out.splitlines() == ["container start events-box", "container kill events-box", "container die events-box"]


def test_network_events_on_a_bridge_daemon(bridge_daemon):
    client = docker.DockerClient(base_url=bridge_daemon.host, version="auto", timeout=60)
    since = time.time()
    network = client.networks.create("events-net")
    container = client.containers.run("busybox", ["sleep", "1000"], detach=True)
    try:
        network.connect(container)
        network.disconnect(container)
    finally:
        container.remove(force=True)
        network.remove()
    seen = window(client, since, network="events-net")
    assert actions(seen) == ["network create", "network connect", "network disconnect", "network destroy"]
    assert seen[1]["Actor"]["Attributes"] == {"container": container.id, "name": "events-net", "type": "bridge"}
    client.close()


# ---------------------------------------------------------------------------
# stop, restart, kill and rm -f: the sequence dockerd emits, side by side
# ---------------------------------------------------------------------------

#: pid 1 without a TERM handler ignores SIGTERM: stopping it takes the grace period, then SIGKILL
IGNORES_TERM = ["sleep", "1000"]
EXITS_ON_TERM = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]


def _stop(c):
    c.stop(timeout=1)


def _restart(c):
    c.restart(timeout=1)


def _remove(c):
    c.remove(force=True)


def _pause_then(action):
    def run(c):
        c.pause()
        time.sleep(0.2)
        action(c)
    return run


SCENARIOS = {
    "stop-escalates": (IGNORES_TERM, _stop),
    "stop-on-term": (EXITS_ON_TERM, _stop),
    "restart": (IGNORES_TERM, _restart),
    "rm-force": (IGNORES_TERM, _remove),
    "kill": (IGNORES_TERM, lambda c: c.kill()),
    "stop-paused": (IGNORES_TERM, _pause_then(_stop)),
    "kill-term-paused": (IGNORES_TERM, _pause_then(lambda c: c.kill("SIGTERM"))),
    "kill-paused": (IGNORES_TERM, _pause_then(lambda c: c.kill())),
    "rm-force-paused": (IGNORES_TERM, _pause_then(_remove)),
}


def signal_trace(client, command: list[str], action) -> list[str]:
    """The container's actions (kill with its signal, die with its exit code) around ``action``."""
    container = client.containers.run("busybox", command, detach=True, network_mode="none")
    try:
        time.sleep(0.3)
        since = time.time()
        action(container)
        time.sleep(0.5)
        seen = client.api.events(since=since, until=time.time(), decode=True, filters={"container": container.id})
        return [" ".join([e["Action"], *(e["Actor"]["Attributes"][key] for key in ("signal", "exitCode")
                                         if key in e["Actor"]["Attributes"])]) for e in seen]
    finally:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_signals_emit_dockerds_sequence(sdk, real_sdk, scenario):
    command, action = SCENARIOS[scenario]
    assert signal_trace(sdk, command, action) == signal_trace(real_sdk, command, action)


def test_stopping_a_paused_container_thaws_it_kills_then_stops(sdk):
    command, action = SCENARIOS["stop-paused"]
    assert signal_trace(sdk, command, action) == ["pause", "kill 15", "unpause", "kill 9", "die 137", "stop"]
