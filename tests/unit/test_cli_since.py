"""The CLI's side of logs: a --since copied from `logs -t` keeps every nanosecond."""

from berth.cli.format import parse_time


def test_since_from_logs_timestamps_keeps_every_nanosecond():
    assert parse_time("2026-12-06T22:15:33.588831075Z") == "1796595333.588831075"
    assert parse_time("2026-12-06T23:15:33.5+01:00") == "1796595333.5"
    assert parse_time("2026-12-06T22:15:30Z") == "1796595330"
