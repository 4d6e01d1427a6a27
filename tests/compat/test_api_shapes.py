"""berthd answers every route it serves with the real dockerd's shapes (status, fields, JSON types).

The scripted session of :mod:`tests.compat.scenario` goes to the lab's dockerd and to a berthd in a
network namespace of its own; every difference must be allowed, with a reason, in
:mod:`tests.compat.allowed`. ``python -m tests.compat.api_shapes`` prints the same comparison as a table.
"""

from __future__ import annotations

import os

import pytest

from tests.compat.allowed import ALLOWED, reason_for
from tests.compat.api_shapes import DOCKERD_SOCKET, Target, compare_daemons, report
from tests.e2e.conftest import bridge_daemon  # noqa: F401 - the berthd under test
from tests.peers import missing_peer
from tests.unixhttp import UnixHTTPConnection


@pytest.fixture(scope="module")
def dockerd() -> Target:
    try:
        conn = UnixHTTPConnection(DOCKERD_SOCKET, timeout=5)
        conn.request("GET", "/_ping")
        answered = conn.getresponse().status == 200
        conn.close()
    except OSError:
        answered = False
    if not answered:
        missing_peer(f"the real dockerd does not answer on {DOCKERD_SOCKET}",
                     "start it with ../shared/peers/start-dockerd.sh overlay2")
    return Target("dockerd", DOCKERD_SOCKET)


@pytest.fixture(scope="module")
def differences(dockerd, bridge_daemon):
    return compare_daemons(dockerd, Target("berthd", bridge_daemon.socket))


def test_every_difference_from_dockerd_is_allowed_with_a_reason(differences):
    unexplained = [d for d in differences if reason_for(d) is None]
    assert not unexplained, "berthd's answers differ from dockerd's:\n" + report(unexplained)


def test_every_allowed_difference_still_occurs(differences):
    """A fixed difference leaves the allow-list, so the list says what berth still does differently."""
    stale = [entry for entry in ALLOWED if entry.owner is None and not entry.sometimes
             and not any(entry.matches(d) for d in differences)]
    assert not stale, "allowed differences that no longer occur (remove them):\n" + "\n".join(map(str, stale))

