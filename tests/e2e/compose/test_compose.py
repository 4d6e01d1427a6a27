"""docker-compose 1.29 end to end on berthd: up with builds, networks and aliases, volumes, ports,
environment, scaled replicas behind one DNS name, run, exec, logs, ps, restart, stop, down.

The projects are in ``projects/``; one berthd (in a network namespace of its own) serves the
whole module, and each project is brought up once for the tests that look at it.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from berth.containers.model import parse_time
from tests.e2e.conftest import in_netns
from tests.helpers import api


@pytest.fixture(scope="module")
def webapp(compose):
    compose("webapp", "up", "-d")
    yield compose
    compose("webapp", "down", "-v", "--rmi", "local", check=False)


@pytest.fixture(scope="module")
def scaled(compose):
    compose("scaled", "up", "-d", "--scale", "worker=3")
    yield compose
    compose("scaled", "down", "-v", check=False)


def containers(daemon, project: str, service: str = "") -> list[dict]:
    """The project's containers (running or not), as the Engine API lists them by compose's labels."""
    labels = [f"com.docker.compose.project={project}"] + ([f"com.docker.compose.service={service}"] if service else [])
    query = urllib.parse.quote(json.dumps({"label": labels}))
    return sorted(api(daemon, "GET", f"/containers/json?all=1&filters={query}")[1], key=lambda r: r["Names"][0])


def inspect(daemon, name: str) -> dict:
    return api(daemon, "GET", f"/containers/{name}/json")[1]


# ---------------------------------------------------------------------------
# webapp: build, environment, networks, volumes, ports
# ---------------------------------------------------------------------------


def test_up_builds_the_image_and_starts_every_service(webapp):
    rows = containers(webapp.daemon, "webapp")
    assert [(r["Names"][0], r["State"]) for r in rows] == [
        ("/webapp_polite_1", "running"), ("/webapp_reader_1", "running"), ("/webapp_stubborn_1", "running"),
        ("/webapp_web_1", "running"), ("/webapp_writer_1", "running")]
    assert inspect(webapp.daemon, "webapp_web_1")["Config"]["Image"] == "webapp_web"
    assert "webapp_web" in webapp.daemon.cli("images", "--format", "{{.Repository}}").stdout.decode().split()


def test_environment_of_the_compose_file_overrides_the_image(webapp):
    assert webapp.out("webapp", "exec", "-T", "web", "sh", "-c", "echo $GREETING $EXTRA") == "from-compose set\n"


def test_aliases_resolve_on_their_own_network_only(webapp):
    assert webapp.out("webapp", "exec", "-T", "reader", "wget", "-qO-", "http://www/") == "hello from the webapp image\n"
    writer_ip = inspect(webapp.daemon, "webapp_writer_1")["NetworkSettings"]["Networks"]["webapp_back"]["IPAddress"]
    assert writer_ip in webapp.out("webapp", "exec", "-T", "reader", "nslookup", "store", "127.0.0.11")
    assert writer_ip not in webapp.out("webapp", "exec", "-T", "web", "nslookup", "store", "127.0.0.11", check=False)


def test_named_volume_is_shared_between_services(webapp):
    assert webapp.out("webapp", "exec", "-T", "reader", "cat", "/data/note") == "shared-data\n"
    refused = webapp("webapp", "exec", "-T", "reader", "touch", "/data/other", check=False)
    assert refused.returncode != 0 and b"Read-only file system" in refused.stdout + refused.stderr


def test_published_port_answers_in_the_daemons_namespace(webapp):
    page = in_netns(webapp.daemon, "busybox", "wget", "-qO-", "http://127.0.0.1:8080/")
    assert page.stdout == b"hello from the webapp image\n", page.stderr
    assert "0.0.0.0:8080->80/tcp" in webapp.out("webapp", "ps", "web")


def test_run_rm_runs_a_one_off_container_and_removes_it(webapp):
    assert webapp.out("webapp", "run", "--rm", "reader", "cat", "/data/note") == "shared-data\n"
    assert [r["Names"][0] for r in containers(webapp.daemon, "webapp", "reader")] == ["/webapp_reader_1"]


def test_restart_starts_the_service_again(webapp):
    before = inspect(webapp.daemon, "webapp_web_1")["State"]["StartedAt"]
    webapp("webapp", "restart", "web")
    after = inspect(webapp.daemon, "webapp_web_1")["State"]
    assert after["Running"] and after["StartedAt"] != before
    assert webapp.out("webapp", "exec", "-T", "reader", "wget", "-qO-", "http://site/") == "hello from the webapp image\n"


def test_stop_sends_the_stop_signal_then_kills_after_the_grace_period(webapp):
    webapp("webapp", "stop", "polite", "stubborn")
    polite, stubborn = inspect(webapp.daemon, "webapp_polite_1"), inspect(webapp.daemon, "webapp_stubborn_1")
    assert polite["Config"]["StopSignal"] == "SIGUSR1"
    assert (polite["State"]["Status"], polite["State"]["ExitCode"]) == ("exited", 0)
    assert "got-usr1" in webapp.out("webapp", "logs", "polite")
    assert (stubborn["State"]["Status"], stubborn["State"]["ExitCode"]) == ("exited", 137)
    logged = webapp.daemon.cli("logs", "-t", "webapp_stubborn_1").stdout.decode()
    signalled = next(line.split()[0] for line in logged.splitlines() if line.endswith("ignored-term"))
    grace = parse_time(stubborn["State"]["FinishedAt"]) - parse_time(signalled)
    assert grace < 5, f"killed {grace:.1f} s after SIGTERM: stop_grace_period 1s was not used (Docker's default is 10 s)"


# ---------------------------------------------------------------------------
# scaled: replicas behind one name
# ---------------------------------------------------------------------------


def test_scale_starts_three_replicas_that_ps_lists(scaled):
    listing = scaled.out("scaled", "ps")
    assert all(f"scaled_worker_{n}" in listing for n in (1, 2, 3)) and listing.count(" Up ") == 4


def test_service_name_resolves_to_every_replica_on_127_0_0_11(scaled):
    addresses = {inspect(scaled.daemon, f"scaled_worker_{n}")["NetworkSettings"]["Networks"]["scaled_default"]
                 ["IPAddress"] for n in (1, 2, 3)}
    answer = scaled.out("scaled", "exec", "-T", "probe", "nslookup", "worker", "127.0.0.11")
    assert {line.split()[-1] for line in answer.splitlines() if line.startswith("Address:")} - {"127.0.0.11:53"} \
        == addresses


def test_logs_show_every_replica(scaled):
    logs = scaled.out("scaled", "logs", "--no-color", "worker")
    for n in (1, 2, 3):
        hostname = inspect(scaled.daemon, f"scaled_worker_{n}")["Config"]["Hostname"]
        assert f"worker_{n}" in logs and f"worker {hostname} up" in logs


# ---------------------------------------------------------------------------
# down
# ---------------------------------------------------------------------------


def test_down_with_volumes_and_local_images_leaves_nothing(compose):
    compose("teardown", "up", "-d")
    assert [r["State"] for r in containers(compose.daemon, "teardown")] == ["running"]
    compose("teardown", "down", "-v", "--rmi", "local")
    daemon = compose.daemon
    assert containers(daemon, "teardown") == []
    assert not [n["Name"] for n in api(daemon, "GET", "/networks")[1] if n["Name"].startswith("teardown")]
    assert not [v["Name"] for v in api(daemon, "GET", "/volumes")[1]["Volumes"] or [] if v["Name"].startswith("teardown")]
    tags = [t for image in api(daemon, "GET", "/images/json")[1] for t in image["RepoTags"] or []]
    assert not [t for t in tags if t.startswith("teardown")] and "busybox:latest" in tags


# ---------------------------------------------------------------------------
# healthy: depends_on with condition service_healthy
# ---------------------------------------------------------------------------


def test_depends_on_service_healthy_waits_for_the_healthcheck(compose):
    try:
        compose("healthy", "up", "-d")
        db, client = inspect(compose.daemon, "healthy_db_1"), inspect(compose.daemon, "healthy_client_1")
        assert db["State"]["Health"]["Status"] == "healthy"
        passed = next(probe for probe in db["State"]["Health"]["Log"] if probe["ExitCode"] == 0)
        assert parse_time(client["State"]["StartedAt"]) >= parse_time(passed["End"])
        assert "Up (healthy)" in compose.out("healthy", "ps", "db")
    finally:
        compose("healthy", "down", check=False)
