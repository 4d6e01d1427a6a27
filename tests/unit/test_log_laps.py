"""log.Laps: consecutive phases of a job as ``<phase>_ms`` fields of its event."""

from __future__ import annotations

import structlog.testing

from berth import log


def test_each_mark_records_the_time_since_the_previous_one(monkeypatch):
    clock = iter([10.0, 10.25, 10.75])
    monkeypatch.setattr(log.time, "monotonic", lambda: next(clock))
    laps = log.Laps()
    laps.mark("mount")
    laps.mark("join")
    assert laps.fields == {"mount_ms": 250.0, "join_ms": 500.0}


def test_a_phase_marked_twice_adds_up(monkeypatch):
    clock = iter([0.0, 0.001, 0.002, 0.004])
    monkeypatch.setattr(log.time, "monotonic", lambda: next(clock))
    laps = log.Laps()
    laps.mark("leave")
    laps.mark("runtime")
    laps.mark("leave")
    assert laps.fields == {"leave_ms": 3.0, "runtime_ms": 1.0}


def test_the_phases_appear_in_the_jobs_event():
    with structlog.testing.capture_logs() as events:
        with log.job("container.start", container_id="abc") as ev:
            log.Laps(ev).mark("join")
    assert events[0]["event"] == "container.start" and "join_ms" in events[0]


def test_phases_before_a_job_began_are_carried_into_its_event(monkeypatch):
    clock = iter([0.0, 0.002, 0.005])
    monkeypatch.setattr(log.time, "monotonic", lambda: next(clock))
    laps = log.Laps()
    laps.mark("kill")
    event = {"container_id": "abc"}
    laps.into(event)
    laps.mark("layers")
    assert event == {"container_id": "abc", "kill_ms": 2.0, "layers_ms": 3.0}
