"""Healthchecks on a real berthd: probes run as execs in real containers on Docker's schedule.

Intervals are short (a few hundred milliseconds) so that the tests are quick; every wait
polls with a generous deadline and nothing asserts on wall time.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import time

import docker
import pytest

DAEMON_ARGS = ["-s", "vfs"]
MS = 1_000_000
S = 1_000_000_000


@pytest.fixture(scope="module")
def api(daemon):
    client = docker.APIClient(base_url=daemon.host, version="1.45", timeout=60)
    yield client
    client.close()


def create(api, body: dict) -> str:
    """POST /containers/create with exactly ``body`` (docker-py's create_container rewrites Healthcheck)."""
    return api._result(api._post_json(api._url("/containers/create"), data=body), True)["Id"]


def run(api, healthcheck, cmd=("sleep", "1000"), **config) -> str:
    cid = create(api, {"Image": "busybox", "Cmd": list(cmd), "Healthcheck": healthcheck, **config})
    api.start(cid)
    return cid


def health_of(api, cid) -> dict | None:
    return api.inspect_container(cid)["State"].get("Health")


def wait_health(api, cid, status: str, deadline: float = 15) -> dict:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        health = health_of(api, cid)
        if health and health["Status"] == status:
            return health
        time.sleep(0.05)
    raise AssertionError(f"container never became {status}: {health_of(api, cid)}")


def cmd(*argv: str, interval_ms=200, **fields) -> dict:
    return {"Test": ["CMD", *argv], "Interval": interval_ms * MS, **fields}


def shell(text: str, interval_ms=200, **fields) -> dict:
    return {"Test": ["CMD-SHELL", text], "Interval": interval_ms * MS, **fields}


def test_a_started_container_is_starting_until_its_first_probe(api):
    cid = run(api, cmd("true", interval_ms=60_000))
    assert health_of(api, cid) == {"Status": "starting", "FailingStreak": 0, "Log": []}
    assert api.containers(filters={"id": cid})[0]["Status"].endswith("(health: starting)")


def test_a_passing_probe_makes_the_container_healthy(api):
    cid = run(api, shell("echo ok; echo err >&2"))
    health = wait_health(api, cid, "healthy")
    entry = health["Log"][0]
    assert entry["ExitCode"] == 0 and entry["Output"] == "ok\nerr\n"
    assert entry["Start"] <= entry["End"] and entry["End"].endswith("Z")
    assert api.containers(filters={"id": cid})[0]["Status"].endswith("(healthy)")


def test_failing_probes_make_it_unhealthy_after_the_retries(api):
    cid = run(api, shell("echo hi; exit 1", Retries=2))
    health = wait_health(api, cid, "unhealthy")
    assert health["FailingStreak"] >= 2
    assert {e["ExitCode"] for e in health["Log"]} == {1} and health["Log"][-1]["Output"] == "hi\n"
    assert api.containers(filters={"id": cid})[0]["Status"].endswith("(unhealthy)")


def test_a_probe_that_outlives_its_timeout_is_killed_and_fails(api):
    cid = run(api, cmd("sleep", "77", Timeout=300 * MS, Retries=1))
    health = wait_health(api, cid, "unhealthy")
    assert health["Log"][0]["ExitCode"] == -1
    assert health["Log"][0]["Output"] == "Health check exceeded timeout (300ms)"
    top = api.top(cid)["Processes"]
    assert not [p for p in top if "sleep 77" in " ".join(p)], top


def test_a_command_that_cannot_run_fails_with_the_exec_error(api):
    cid = run(api, cmd("no-such-probe", Retries=1))
    health = wait_health(api, cid, "unhealthy")
    assert health["Log"][0]["ExitCode"] == -1 and "no-such-probe" in health["Log"][0]["Output"]


def test_probes_run_as_the_containers_user_in_its_working_directory_with_its_env(api):
    cid = run(api, shell("echo $(id -u) $(pwd) $PROBE_ENV"), User="65534", WorkingDir="/tmp", Env=["PROBE_ENV=yes"])
    assert wait_health(api, cid, "healthy")["Log"][0]["Output"] == "65534 /tmp yes\n"


def test_probe_output_is_cut_at_4096_bytes(api):
    cid = run(api, shell("head -c 5000 /dev/zero | tr '\\0' x"))
    output = wait_health(api, cid, "healthy")["Log"][0]["Output"]
    assert output == "x" * 4096 + "..."


def test_the_log_keeps_the_last_five_results(api):
    cid = run(api, cmd("true", interval_ms=50))
    end = time.monotonic() + 15
    while len((health_of(api, cid) or {}).get("Log", [])) < 5 and time.monotonic() < end:
        time.sleep(0.1)
    time.sleep(0.5)
    log = health_of(api, cid)["Log"]
    assert len(log) == 5 and [e["Start"] for e in log] == sorted(e["Start"] for e in log)


def test_health_status_events_carry_the_containers_attributes(api):
    since = time.time()
    cid = run(api, shell("true"), Labels={"app": "web"})
    wait_health(api, cid, "healthy")
    events = api.events(since=since, until=time.time() + 1, decode=True,
                        filters={"container": cid, "event": "health_status"})
    got = [(e["Action"], e["Actor"]["Attributes"]) for e in events]
    name = api.inspect_container(cid)["Name"][1:]
    assert got == [("health_status: healthy", {"app": "web", "image": "busybox", "name": name})]


def test_probes_show_as_execs_in_the_event_stream_as_dockers_do(api):
    since = time.time()
    cid = run(api, shell("true"))
    wait_health(api, cid, "healthy")
    actions = [e["Action"] for e in api.events(since=since, until=time.time() + 1, decode=True,
                                               filters={"container": cid})]
    assert "exec_create: /bin/sh -c true" in actions and "exec_start: /bin/sh -c true" in actions
    assert "exec_die" in actions


def test_the_health_filter_lists_containers_by_status(api):
    healthy = run(api, cmd("true"))
    sick = run(api, cmd("false", Retries=1))
    plain = api.create_container("busybox", ["sleep", "1000"])["Id"]
    api.start(plain)
    wait_health(api, healthy, "healthy")
    wait_health(api, sick, "unhealthy")

    def ids(value):
        return {c["Id"] for c in api.containers(filters={"health": value})}

    assert healthy in ids("healthy") and sick not in ids("healthy")
    assert sick in ids("unhealthy") and healthy not in ids("unhealthy")
    assert plain in ids("none") and healthy not in ids("none")


def test_an_unknown_health_filter_value_is_refused(api):
    with pytest.raises(docker.errors.APIError) as info:
        api.containers(filters={"health": "bogus"})
    assert info.value.status_code == 400
    assert info.value.explanation == "Unrecognised filter value for health: bogus"  # dockerd 20.10's words


def test_pausing_stops_the_probes_and_marks_the_container_unhealthy(api):
    cid = run(api, cmd("true", interval_ms=100))
    wait_health(api, cid, "healthy")
    api.pause(cid)
    paused = health_of(api, cid)
    assert paused["Status"] == "unhealthy"
    time.sleep(0.6)
    assert health_of(api, cid)["Log"] == paused["Log"]
    assert cid in {c["Id"] for c in api.containers(filters={"health": "unhealthy"})}
    api.unpause(cid)
    assert health_of(api, cid)["Status"] == "unhealthy"  # until the next probe, as in Docker
    wait_health(api, cid, "healthy")


def test_a_stopped_container_is_unhealthy_and_a_restart_starts_over(api):
    cid = run(api, cmd("true", interval_ms=100))
    wait_health(api, cid, "healthy")
    api.stop(cid, timeout=0)
    stopped = health_of(api, cid)
    assert stopped["Status"] == "unhealthy" and stopped["Log"]
    assert api.containers(all=True, filters={"id": cid})[0]["Status"].startswith("Exited")
    api.start(cid)
    restarted = health_of(api, cid)
    assert restarted["Status"] in ("starting", "healthy") and restarted["FailingStreak"] == 0
    # the log is kept across the restart (a probe may already have run and pushed the oldest out of 5)
    assert stopped["Log"][-1] in restarted["Log"]
    wait_health(api, cid, "healthy")


def test_none_disables_probing_and_leaves_no_health_state(api):
    cid = run(api, {"Test": ["NONE"]})
    time.sleep(0.3)
    assert health_of(api, cid) is None
    assert api.inspect_container(cid)["Config"]["Healthcheck"] == {"Test": ["NONE"]}
    assert not api.containers(filters={"id": cid})[0]["Status"].endswith(")")


def test_inspect_shows_the_healthcheck_as_docker_stores_it(api):
    cid = create(api, {
        "Image": "busybox", "Cmd": ["true"],
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000, "Timeout": 0, "Retries": 0}})
    assert api.inspect_container(cid)["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "true"],
                                                                   "Interval": 2_000_000_000}
    assert "Health" not in api.inspect_container(cid)["State"]  # not started: no health yet, as in Docker
    plain = api.create_container("busybox", ["true"])["Id"]
    assert "Healthcheck" not in api.inspect_container(plain)["Config"]


@pytest.mark.parametrize("field, value, message", [
    ("Interval", 500, "Interval in Healthcheck cannot be less than 1ms"),
    ("Retries", -1, "Retries in Healthcheck cannot be negative"),
    ("StartInterval", 5, "StartInterval in Healthcheck cannot be less than 1ms"),
])
def test_bad_values_are_refused_with_dockers_message(api, field, value, message):
    response = api.post(api._url("/containers/create"), data=json.dumps(
        {"Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], field: value}}),
        headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json() == {"message": message}


def test_clients_older_than_api_1_44_cannot_set_a_start_interval(daemon):
    old = docker.APIClient(base_url=daemon.host, version="1.43")
    try:
        cid = create(old, {
            "Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], "StartInterval": 1_000_000_000}})
        assert old.inspect_container(cid)["Config"]["Healthcheck"] == {"Test": ["CMD", "true"]}
    finally:
        old.close()


def test_an_unhealthy_container_is_not_restarted_by_its_restart_policy(api):
    cid = run(api, cmd("false", interval_ms=100, Retries=1), HostConfig={"RestartPolicy": {"Name": "always"}})
    wait_health(api, cid, "unhealthy")
    time.sleep(0.5)
    state = api.inspect_container(cid)
    assert state["State"]["Running"] and state["RestartCount"] == 0


def test_probe_execs_leave_nothing_behind_in_the_exec_driver(api, daemon):
    cid = run(api, cmd("true", interval_ms=50))
    end = time.monotonic() + 15
    while len((health_of(api, cid) or {}).get("Log", [])) < 5 and time.monotonic() < end:
        time.sleep(0.1)
    api.stop(cid, timeout=0)
    assert glob.glob(os.path.join(daemon.exec_root, "*", cid, "execs", "*")) == []
    assert api.inspect_container(cid)["ExecIDs"] is None


def test_build_steps_are_never_probed(api, daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\n"
        "HEALTHCHECK --interval=50ms CMD touch /probed\n"
        "RUN sleep 1 && test ! -e /probed\n")
    result = daemon.cli("build", "-q", "-t", "probed:1", str(tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    assert api.inspect_image("probed:1")["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "touch /probed"],
                                                                      "Interval": 50 * MS}


def test_an_images_healthcheck_is_merged_with_the_requests(api, daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\nHEALTHCHECK --interval=100ms --retries=4 CMD exit 1\n")
    assert daemon.cli("build", "-q", "-t", "hc-image:1", str(tmp_path)).returncode == 0
    inherited = api.create_container("hc-image:1", ["sleep", "1000"])["Id"]
    assert api.inspect_container(inherited)["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "exit 1"], "Interval": 100 * MS, "Retries": 4}
    overridden = create(api, {
        "Image": "hc-image:1", "Cmd": ["sleep", "1000"], "Healthcheck": {"Test": ["CMD", "true"]}})
    assert api.inspect_container(overridden)["Config"]["Healthcheck"] == {
        "Test": ["CMD", "true"], "Interval": 100 * MS, "Retries": 4}
    api.start(overridden)
    wait_health(api, overridden, "healthy")


def test_probes_survive_a_kill_9_of_berthd(make_daemon, busybox_path):
    d = make_daemon(["-s", "vfs"]).start()
    assert d.cli("image", "bootstrap", "busybox").returncode == 0
    client = docker.APIClient(base_url=d.host, version="1.45")
    try:
        cid = run(client, shell("test -e /tmp/ok", interval_ms=100, Retries=1))
        wait_health(client, cid, "unhealthy")
        d.stop(signal.SIGKILL)
        d.start()
        readopted = health_of(client, cid)
        assert readopted["Status"] in ("starting", "unhealthy") and readopted["Log"]
        client.exec_start(client.exec_create(cid, ["touch", "/tmp/ok"]))
        wait_health(client, cid, "healthy")
        client.exec_start(client.exec_create(cid, ["rm", "/tmp/ok"]))
        wait_health(client, cid, "unhealthy")
    finally:
        client.close()



@pytest.mark.parametrize("instruction, message", [
    ("HEALTHCHECK --interval=500us CMD true", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK FOO x", 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative (-1)"),
])
def test_dockerfile_healthcheck_refusals_use_dockers_words(daemon, tmp_path, instruction, message):
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\n{instruction}\n")
    result = daemon.cli("build", "-q", str(tmp_path))
    assert result.returncode != 0
    assert f"dockerfile parse error line 2: {message}" in result.stderr.decode()


def test_a_second_healthcheck_replaces_the_first_with_dockers_note(api, daemon, tmp_path):
    (tmp_path / "Dockerfile").write_text('FROM busybox\nHEALTHCHECK CMD true\nHEALTHCHECK --interval=5s CMD ["false"]\n')
    result = daemon.cli("build", "-t", "hc-twice:1", str(tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    assert "Note: overriding previous HEALTHCHECK: [CMD-SHELL true]\n" in result.stdout.decode()
    assert api.inspect_image("hc-twice:1")["Config"]["Healthcheck"] == {"Test": ["CMD", "false"], "Interval": 5 * S}


def test_the_berth_cli_health_flags_set_the_probe(daemon):
    result = daemon.cli("run", "-d", "--name", "cli-health", "--health-cmd", "exit 0", "--health-interval", "200ms",
                        "--health-timeout", "2s", "--health-retries", "4", "--health-start-period", "10s",
                        "--health-start-interval", "100ms", "busybox", "sleep", "1000")
    assert result.returncode == 0, result.stderr.decode()

    def inspect(template):
        return daemon.cli("inspect", "--format", template, "cli-health").stdout.decode().strip()

    assert json.loads(inspect("{{json .Config.Healthcheck}}")) == {
        "Test": ["CMD-SHELL", "exit 0"], "Interval": 200 * MS, "Timeout": 2 * S, "StartPeriod": 10 * S,
        "StartInterval": 100 * MS, "Retries": 4}
    end = time.monotonic() + 15
    while inspect("{{.State.Health.Status}}") != "healthy" and time.monotonic() < end:
        time.sleep(0.1)
    assert daemon.cli("ps", "--format", "{{.Status}}", "--filter", "name=cli-health").stdout.decode().strip() \
        .endswith("(healthy)")
    no_check = daemon.cli("run", "-d", "--no-healthcheck", "busybox", "sleep", "1000").stdout.decode().strip()
    assert daemon.cli("inspect", "--format", "{{json .State.Health}}", no_check).stdout.decode().strip() == "null"
