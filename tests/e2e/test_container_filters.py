"""``GET /containers/json`` filters with dockerd's semantics (checked side by side against dockerd 20.10)."""

from __future__ import annotations

import docker
import pytest

LABEL = "test.filters"


@pytest.fixture(scope="module")
def fleet(sdk):
    """web and webapp running (labelled tiers, exposed ports), done exited 3, fresh created with a volume,
    napping paused; created in that order."""
    volume = sdk.volumes.create("filters-vol")

    def make(name, command=("sleep", "1000"), start=True, **kwargs):
        container = sdk.containers.create("busybox", list(command), name=name,
                                          labels={LABEL: "1", **kwargs.pop("labels", {})}, **kwargs)
        if start:
            container.start()
        return container

    made = {
        "web": make("web", labels={"tier": "front"}, ports={"80/tcp": None}),
        "webapp": make("webapp", labels={"tier": "back"}, ports={"53/udp": None}),
        "done": make("done", ["sh", "-c", "exit 3"]),
    }
    made["done"].wait(timeout=30)
    made["fresh"] = make("fresh", start=False, volumes={"filters-vol": {"bind": "/data"}})
    made["napping"] = make("napping")
    made["napping"].pause()
    yield made
    for container in made.values():
        container.remove(force=True)
    volume.remove()


def names(sdk, all_=True, **filters) -> list[str]:
    rows = sdk.api.containers(all=all_, filters={"label": LABEL, **filters})
    return sorted(row["Names"][0].lstrip("/") for row in rows)


def refusal(sdk, **filters) -> tuple[int, str]:
    with pytest.raises(docker.errors.APIError) as err:
        sdk.api.containers(all=True, filters=filters)
    return err.value.status_code, err.value.explanation


def test_name_is_a_regular_expression_on_the_slashed_name(sdk, fleet):
    assert names(sdk, name="^/web$") == ["web"]
    assert names(sdk, name="web$") == ["web"]
    assert names(sdk, name="web") == ["web", "webapp"]
    assert names(sdk, name="/web") == ["web", "webapp"]
    assert names(sdk, name="[") == []  # a pattern that does not compile matches nothing


def test_docker_ps_filter_name_anchored(docker_cli, fleet):
    assert docker_cli.out("ps", "-a", "--filter", "name=^/web$", "--format", "{{.Names}}") == "web"


def test_id_is_a_unique_prefix(sdk, fleet):
    web = fleet["web"].id
    assert names(sdk, id=web[:12]) == ["web"]
    assert names(sdk, id=web[3:12]) == []  # the middle of an ID is no prefix
    assert names(sdk, id="") == []


def test_label_is_a_key_or_key_value_and_all_must_hold(sdk, fleet):
    assert names(sdk, label=[LABEL, "tier"]) == ["web", "webapp"]
    assert names(sdk, label=[LABEL, "tier=front"]) == ["web"]
    assert names(sdk, label=[LABEL, "tier=nope"]) == []


def test_status_shows_stopped_containers_without_all(sdk, fleet):
    assert names(sdk, all_=False, status="running") == ["web", "webapp"]
    assert names(sdk, all_=False, status="exited") == ["done"]
    assert names(sdk, status=["created", "paused"]) == ["fresh", "napping"]


def test_an_invalid_status_or_an_unknown_key_is_dockers_400(sdk, fleet):
    assert refusal(sdk, status="run") == (400, "Invalid filter 'status=run'")
    assert refusal(sdk, bogus="1") == (400, "Invalid filter 'bogus'")
    assert refusal(sdk, health="sick") == (400, "Unrecognised filter value for health: sick")
    assert refusal(sdk, **{"is-task": "maybe"}) == (400, "Invalid filter 'is-task=[maybe]'")
    assert refusal(sdk, exited="x")[0] == 400


def test_exited_matches_the_exit_code_of_containers_that_ran(sdk, fleet):
    assert names(sdk, exited="3") == ["done"]
    assert names(sdk, exited="0") == []  # "fresh" never ran, so it has no exit code


def test_ancestor_by_name_tag_or_id(sdk, fleet):
    everyone = ["done", "fresh", "napping", "web", "webapp"]
    image = sdk.images.get("busybox")
    for ref in ("busybox", "busybox:latest", image.id, image.id[7:19]):
        assert names(sdk, ancestor=ref) == everyone
    assert names(sdk, ancestor="no-such-image") == []


def test_ancestor_includes_containers_of_images_built_on_it(sdk, fleet):
    child = fleet["webapp"].commit(repository="filters-child")
    kid = sdk.containers.create("filters-child", ["true"], name="kid", labels={LABEL: "1"})
    try:
        assert "kid" in names(sdk, ancestor="busybox")
        assert names(sdk, ancestor="filters-child") == ["kid"]
    finally:
        kid.remove()
        sdk.images.remove(child.id)


def test_volume_by_name_or_destination(sdk, fleet):
    assert names(sdk, volume="filters-vol") == ["fresh"]
    assert names(sdk, volume="/data") == ["fresh"]


def test_network_by_name_or_id_prefix(sdk):
    # the suite's daemon runs with --bridge none: like dockerd's, its default-mode containers join no
    # network (NetworkSettings.Networks is {}), so this test uses the "none" network every daemon has
    label = "test.filters.network"
    running = sdk.containers.run("busybox", ["sleep", "1000"], network_mode="none", labels={label: "1"},
                                 name="on-none", detach=True)
    created = sdk.containers.create("busybox", ["true"], network_mode="none", labels={label: "1"}, name="none-new")
    try:
        running.reload()
        [(network, endpoint)] = running.attrs["NetworkSettings"]["Networks"].items()
        assert network == "none"

        def on(ref):
            rows = sdk.api.containers(all=True, filters={"label": label, "network": ref})
            return sorted(row["Names"][0].lstrip("/") for row in rows)

        assert on("none") == ["none-new", "on-none"]
        # by ID as the listing shows it: dockerd leaves a never-started container's NetworkID empty
        assert "on-none" in on(endpoint["NetworkID"][:12])
        assert on("no-such-network") == []
    finally:
        running.remove(force=True)
        created.remove()


def test_before_and_since_cut_the_list_by_name_or_full_id(sdk, fleet):
    assert names(sdk, before="fresh") == ["done", "web", "webapp"]
    assert names(sdk, since="done") == ["fresh", "napping"]
    assert names(sdk, since=fleet["done"].id) == ["fresh", "napping"]
    assert refusal(sdk, before="no-such-container") == (404, "No such container: no-such-container")


def test_expose_by_port_protocol_and_range(sdk, fleet):
    assert names(sdk, expose="53/udp") == ["webapp"]
    assert names(sdk, expose="80") == ["web"]
    assert names(sdk, expose="50-60/udp") == ["webapp"]
    assert refusal(sdk, expose="80:80") == (400, "filter for 'expose' should not contain ':': 80:80")


def test_isolation_is_tasks_and_health(sdk, fleet):
    everyone = ["done", "fresh", "napping", "web", "webapp"]
    assert names(sdk, isolation="default") == everyone
    assert names(sdk, **{"is-task": "false"}) == everyone
    assert names(sdk, **{"is-task": "true"}) == []
    assert names(sdk, health="none") == everyone  # no healthcheck


def test_without_all_running_and_paused_show_and_a_limit_includes_stopped_ones(sdk, fleet):
    assert names(sdk, all_=False) == ["napping", "web", "webapp"]
    rows = sdk.api.containers(limit=2, filters={"label": LABEL})
    assert [row["Names"][0] for row in rows] == ["/napping", "/fresh"]


def test_publish_by_host_port_protocol_and_range(bridge_daemon):
    client = docker.DockerClient(base_url=bridge_daemon.host, version="auto", timeout=60)
    container = client.containers.run("busybox", ["sleep", "1000"], detach=True, labels={LABEL: "1"},
                                      ports={"80/tcp": 18081, "90/udp": ("127.0.0.1", 18090)})
    try:
        def published(value: str) -> bool:
            return bool(client.api.containers(filters={"label": LABEL, "publish": value}))

        assert published("18081") and published("18081/tcp") and published("18080-18082")
        assert published("18090/udp") and not published("18090") and not published("80")
    finally:
        container.remove(force=True)
        client.close()
