"""Crash points: each listed one sits in the code and has a crash test; a bad setting stops berthd."""

import pathlib
import re
import signal
import subprocess
import sys

from berth import crashpoints

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _sources() -> str:
    return "".join(p.read_text() for d in ("core", "plugins") for p in (ROOT / d).rglob("*.py"))


def test_every_listed_point_is_reached_somewhere_and_only_listed_points_are():
    reached = set(re.findall(r'crashpoints\.reached\("([^"]+)"\)', _sources()))
    assert reached == set(crashpoints.POINTS)


def test_every_point_has_a_crash_test():
    tests = "".join((ROOT / "tests" / "integration" / name).read_text()
                    for name in ("test_crash_points.py", "test_registry_faults.py"))
    assert [p for p in crashpoints.POINTS if f'"{p}"' not in tests] == []


def test_an_unknown_point_or_count_is_refused_with_the_known_ones(monkeypatch):
    monkeypatch.setenv(crashpoints.ENV, "create.after_layer")
    assert "no such crash point" in crashpoints.check() and "create.after_layers" in crashpoints.check()
    monkeypatch.setenv(crashpoints.ENV, "create.after_layers@0")
    assert "positive number" in crashpoints.check()
    monkeypatch.setenv(crashpoints.ENV, "create.after_layers@2")
    assert crashpoints.check() is None
    monkeypatch.delenv(crashpoints.ENV)
    assert crashpoints.check() is None


def _run(env_value: str, calls: int) -> int:
    code = (f"from berth import crashpoints\n"
            f"for _ in range({calls}): crashpoints.reached('pull.between_blobs')\n")
    return subprocess.run([sys.executable, "-c", code], env={crashpoints.ENV: env_value}).returncode


def test_the_armed_point_kills_the_process_at_its_nth_arrival_and_not_before():
    assert _run("pull.between_blobs@3", 2) == 0
    assert _run("pull.between_blobs@3", 3) == -signal.SIGKILL
    assert _run("pull.mid_layer", 5) == 0  # another point armed: this one passes
