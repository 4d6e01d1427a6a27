"""Healthchecks: Docker's validation, merge, schedule and state machine, and the monitor on a fake clock."""

import asyncio

import pytest

from berth.api.views import container_status
from berth.containers import health
from berth.containers.health import HealthMonitor, Probe, ProbeResult
from berth.containers.listing import container_health
from berth.containers.model import Container, State, parse_time
from berth.errors import BerthError, InvalidArgument

S = 1_000_000_000


def container(healthcheck=None, shell=None, started_at="2026-01-01T00:00:00Z") -> Container:
    config = {"Image": "busybox", "Cmd": ["sleep", "1000"]}
    if healthcheck is not None:
        config["Healthcheck"] = healthcheck
    if shell:
        config["Shell"] = shell
    c = Container(id="c" * 64, name="web", created=started_at, image_id="sha256:x", config=config, host_config={})
    c.state.status, c.state.started_at = State.RUNNING, started_at
    return c


# -- validation (daemon/container.go validateHealthCheck) ------------------------------------

@pytest.mark.parametrize("field, value, message", [
    ("Interval", -1, "Interval in Healthcheck cannot be less than 1ms"),
    ("Interval", 500, "Interval in Healthcheck cannot be less than 1ms"),
    ("Timeout", 999_999, "Timeout in Healthcheck cannot be less than 1ms"),
    ("Retries", -1, "Retries in Healthcheck cannot be negative"),
    ("StartPeriod", 5, "StartPeriod in Healthcheck cannot be less than 1ms"),
    ("StartInterval", -5, "StartInterval in Healthcheck cannot be less than 1ms"),
])
def test_validation_refuses_what_docker_refuses_with_its_message(field, value, message):
    with pytest.raises(InvalidArgument) as info:
        health.validate({"Test": ["CMD", "true"], field: value})
    assert info.value.message == message


def test_validation_accepts_zero_durations_and_one_millisecond():
    health.validate({"Test": ["CMD", "true"], "Interval": 0, "Timeout": 1_000_000, "Retries": 0})
    health.validate(None)


@pytest.mark.parametrize("hc", [{"Test": "CMD true"}, {"Test": ["CMD", 1]}, {"Interval": "1s"}, {"Interval": 1.5e9},
                                {"Retries": True}, ["CMD", "true"]])
def test_validation_refuses_wrong_types_as_a_client_error(hc):
    with pytest.raises(InvalidArgument):
        health.validate(hc)


# -- merge with the image (daemon/commit.go merge) ----------------------------------------------

IMAGE_HC = {"Test": ["CMD-SHELL", "true"], "Interval": 30 * S, "Timeout": 5 * S, "Retries": 2}


def test_no_healthcheck_in_the_request_inherits_the_images():
    assert health.merge(None, IMAGE_HC) == IMAGE_HC
    assert health.merge(None, None) is None


def test_request_fields_override_and_empty_ones_come_from_the_image():
    merged = health.merge({"Test": [], "Interval": 2 * S, "Retries": 0}, IMAGE_HC)
    assert merged == {"Test": ["CMD-SHELL", "true"], "Interval": 2 * S, "Timeout": 5 * S, "Retries": 2}


def test_none_disables_the_images_check_and_keeps_dockers_shape():
    assert health.merge({"Test": ["NONE"]}, IMAGE_HC) == {"Test": ["NONE"], "Interval": 30 * S, "Timeout": 5 * S,
                                                          "Retries": 2}
    assert Probe.of(container(health.merge({"Test": ["NONE"]}, IMAGE_HC))) is None


def test_empty_fields_are_left_out_as_dockers_omitempty():
    assert health.merge({}, None) == {}
    assert health.merge({"Test": [], "Retries": 0, "Interval": 2 * S}, None) == {"Interval": 2 * S}


# -- the probe -------------------------------------------------------------------------------

def test_cmd_runs_as_is_and_cmd_shell_through_bin_sh():
    assert Probe.of(container({"Test": ["CMD", "cat", "/x"]})).argv == ("cat", "/x")
    assert Probe.of(container({"Test": ["CMD-SHELL", "echo hi; exit 1"]})).argv == ("/bin/sh", "-c", "echo hi; exit 1")


def test_cmd_shell_uses_the_containers_shell_when_it_has_one():
    probe = Probe.of(container({"Test": ["CMD-SHELL", "true"]}, shell=["/bin/ash", "-ec"]))
    assert probe.argv == ("/bin/ash", "-ec", "true")


@pytest.mark.parametrize("hc", [None, {}, {"Test": []}, {"Test": ["NONE"]}, {"Test": ["BOGUS", "x"]}])
def test_no_probe_without_a_command_type_docker_runs(hc):
    assert Probe.of(container(hc)) is None


def test_cmd_alone_is_a_probe_that_always_fails():
    assert Probe.of(container({"Test": ["CMD"]})).argv == ()


def test_zero_fields_take_dockers_defaults_and_durations_are_nanoseconds():
    assert Probe.of(container({"Test": ["CMD", "true"]})) == Probe(("true",), 30.0, 30.0, 0.0, 5.0, 3)
    probe = Probe.of(container({"Test": ["CMD", "true"], "Interval": 1500 * 1_000_000, "Timeout": 2 * S,
                                "StartPeriod": 60 * S, "StartInterval": S, "Retries": 7}))
    assert probe == Probe(("true",), 1.5, 2.0, 60.0, 1.0, 7)


# -- the schedule ---------------------------------------------------------------------------

def test_start_interval_applies_while_starting_within_the_start_period():
    probe = Probe(("true",), interval=30, start_period=10, start_interval=1)
    assert health.next_delay(probe, 3, health.STARTING) == 1
    assert health.next_delay(probe, 3, health.HEALTHY) == 30
    assert health.next_delay(probe, 10, health.STARTING) == 30


def test_without_a_start_period_the_interval_applies_from_the_start():
    assert health.next_delay(Probe(("true",), interval=2, start_interval=1), 0, health.STARTING) == 2


# -- the state machine (daemon/health.go handleProbeResult) -----------------------------------

def result(code: int, start: float = 100.0, output: str = "") -> ProbeResult:
    return ProbeResult(start, start + 0.05, code, output)


def test_a_success_makes_the_container_healthy_and_clears_the_streak():
    state = {"Status": health.STARTING, "FailingStreak": 2, "Log": []}
    assert health.record(state, result(0), Probe(("true",)), 0) == health.HEALTHY
    assert state["FailingStreak"] == 0


def test_failures_reach_unhealthy_after_retries_in_a_row():
    state, probe = health.new_state(), Probe(("false",), retries=2)
    assert health.record(state, result(1), probe, 0) == health.STARTING
    assert state["FailingStreak"] == 1
    assert health.record(state, result(1), probe, 0) == health.UNHEALTHY
    assert health.record(state, result(0), probe, 0) == health.HEALTHY
    assert health.record(state, result(2), probe, 0) == health.HEALTHY  # one failure: still healthy
    assert state["FailingStreak"] == 1


def test_failures_within_the_start_period_do_not_count_while_starting():
    state, probe = health.new_state(), Probe(("false",), retries=1, start_period=10)
    assert health.record(state, result(1, start=105), probe, started_at=100) == health.STARTING
    assert state["FailingStreak"] == 0
    assert health.record(state, result(1, start=111), probe, started_at=100) == health.UNHEALTHY


def test_failures_within_the_start_period_count_once_healthy():
    state, probe = health.new_state(), Probe(("false",), retries=1, start_period=10)
    health.record(state, result(0, start=101), probe, started_at=100)
    assert health.record(state, result(1, start=102), probe, started_at=100) == health.UNHEALTHY


def test_the_log_keeps_the_last_five_results_in_dockers_shape():
    state, probe = health.new_state(), Probe(("true",))
    for code in range(7):
        health.record(state, result(code, start=1_800_000_000 + code, output=f"out{code}"), probe, 0)
    assert [entry["ExitCode"] for entry in state["Log"]] == [2, 3, 4, 5, 6]
    assert state["Log"][0] == {"Start": "2027-01-15T08:00:02Z", "End": "2027-01-15T08:00:02.05Z", "ExitCode": 2,
                               "Output": "out2"}


def test_output_keeps_4096_bytes_and_marks_the_cut():
    assert health.limit_output(b"x" * 4096) == "x" * 4096
    assert health.limit_output(b"x" * 4097) == "x" * 4096 + "..."
    assert health.limit_output(b"\xff") == "\ufffd"


@pytest.mark.parametrize("seconds, text", [(30, "30s"), (1.5, "1.5s"), (0.5, "500ms"), (90, "1m30s"),
                                           (3600, "1h0m0s"), (120, "2m0s"), (0.0015, "1.5ms")])
def test_timeouts_are_written_as_go_writes_durations(seconds, text):
    assert health.go_duration(seconds) == text


# -- what ps and the health filter see -------------------------------------------------------

@pytest.mark.parametrize("status, suffix", [("starting", " (health: starting)"), ("healthy", " (healthy)"),
                                            ("unhealthy", " (unhealthy)")])
def test_ps_status_names_the_health(status, suffix):
    c = container({"Test": ["CMD", "true"]})
    c.state.health = {"Status": status, "FailingStreak": 0, "Log": []}
    assert container_status(c).endswith(suffix)
    c.state.status = State.PAUSED
    assert container_status(c).endswith("(Paused)")


def test_a_container_without_a_healthcheck_has_health_none():
    c = container()
    assert container_health(c) == "none" and not container_status(c).endswith(")")


def test_the_health_filter_sees_the_status():
    c = container({"Test": ["CMD", "true"]})
    c.state.health = {"Status": "healthy", "FailingStreak": 0, "Log": []}
    assert container_health(c) == "healthy"


# -- the monitor on a fake clock --------------------------------------------------------------

class FakeTime:
    """A clock that moves only when the monitor sleeps; every requested delay is recorded."""

    def __init__(self, now: float):
        self.now, self.delays = now, []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def run_monitor(c, outcomes, *, steps=20, actions=None):
    """Run the monitor for ``c`` with scripted probe outcomes; returns (fake time, status changes, probe calls)."""
    fake = FakeTime(parse_time(c.state.started_at))
    changes, calls = [], []

    async def run_probe(cont, argv, timeout):
        calls.append((argv, timeout))
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def scenario():
        monitor = HealthMonitor(run_probe, lambda cont, status: changes.append(status), fake.clock, fake.sleep)
        monitor.start(c)
        for step in range(steps):
            await asyncio.sleep(0)
            if actions and step in actions:
                actions[step](monitor)
        monitor.stop(c)

    asyncio.run(scenario())
    return fake, changes, calls


def test_monitor_probes_one_interval_after_the_start_and_after_each_probe():
    c = container({"Test": ["CMD", "true"], "Interval": 2 * S, "Timeout": 3 * S})
    fake, changes, calls = run_monitor(c, [(0, "")], steps=6)
    assert fake.delays[:3] == [2.0, 2.0, 2.0]
    assert calls[0] == (("true",), 3.0)
    assert changes == ["healthy"]


def test_monitor_uses_the_start_interval_until_healthy():
    c = container({"Test": ["CMD", "true"], "Interval": 30 * S, "StartPeriod": 60 * S, "StartInterval": S})
    fake, changes, _ = run_monitor(c, [(1, ""), (1, ""), (0, "")], steps=8)
    assert fake.delays[:4] == [1.0, 1.0, 1.0, 30.0]
    assert changes == ["healthy"]


def test_monitor_reports_unhealthy_once_and_records_errors_as_exit_code_minus_one():
    c = container({"Test": ["CMD", "x"], "Interval": S, "Retries": 2})
    _, changes, _ = run_monitor(c, [BerthError("exec: \"x\": executable file not found in $PATH")], steps=8)
    assert changes == ["unhealthy"]
    assert c.state.health["Log"][-1]["ExitCode"] == -1
    assert c.state.health["Log"][-1]["Output"] == "exec: \"x\": executable file not found in $PATH"


def test_a_probe_without_a_command_fails_with_dockers_message():
    c = container({"Test": ["CMD"], "Interval": S, "Retries": 1})
    _, changes, calls = run_monitor(c, [(0, "")], steps=4)
    assert calls == [] and changes == ["unhealthy"]
    assert c.state.health["Log"][0]["Output"] == f"healthcheck for container {c.id} has no command"


def test_stopping_the_monitor_makes_the_container_unhealthy_and_resume_does_not_reset():
    c = container({"Test": ["CMD", "true"], "Interval": S})
    seen = {}

    def pause(monitor):
        monitor.stop(c)
        seen["paused"] = c.state.health["Status"]

    def unpause(monitor):
        seen["streak"] = c.state.health["FailingStreak"]
        monitor.resume(c)
        seen["resumed"] = c.state.health["Status"]

    _, changes, _ = run_monitor(c, [(0, "")], steps=12, actions={4: pause, 6: unpause})
    assert seen == {"paused": "unhealthy", "streak": 0, "resumed": "unhealthy"}
    assert changes == ["healthy", "healthy"]  # the first probe after the pause reports healthy again


def test_start_begins_again_from_starting_and_keeps_the_log():
    c = container({"Test": ["CMD", "true"], "Interval": S})
    c.state.health = {"Status": "unhealthy", "FailingStreak": 4, "Log": [{"ExitCode": 1}]}

    async def scenario():
        monitor = HealthMonitor(None, lambda *a: None)
        monitor.start(c)
        state = dict(c.state.health)
        monitor.stop(c)
        return state

    assert asyncio.run(scenario()) == {"Status": "starting", "FailingStreak": 0, "Log": [{"ExitCode": 1}]}


def test_a_result_arriving_after_stop_is_dropped():
    c = container({"Test": ["CMD", "true"], "Interval": S})
    release = None

    async def slow_probe(cont, argv, timeout):
        await release.wait()
        return 0, ""

    async def scenario():
        nonlocal release
        release = asyncio.Event()
        fake = FakeTime(parse_time(c.state.started_at))
        monitor = HealthMonitor(slow_probe, lambda *a: None, fake.clock, fake.sleep)
        monitor.start(c)
        for _ in range(3):
            await asyncio.sleep(0)
        monitor.stop(c)
        release.set()
        for _ in range(3):
            await asyncio.sleep(0)

    asyncio.run(scenario())
    assert c.state.health == {"Status": "unhealthy", "FailingStreak": 0, "Log": []}


def test_containers_without_a_probe_get_no_health_state():
    c = container({"Test": ["NONE"]})

    async def scenario():
        monitor = HealthMonitor(None, lambda *a: None)
        monitor.start(c)
        return monitor.tasks

    assert asyncio.run(scenario()) == {} and c.state.health is None
