"""Hostile API input: schemathesis, driven by Moby's v1.45 spec, against every route berthd serves.

A fixed number of examples per route (:data:`EXAMPLES`, derandomised: the same requests every run;
``bench/fuzz.py`` is the long, random run). Each answer must come in time, carry no traceback, be
Docker's error body when it is an error and fit the spec's schema when it is JSON; a 5xx is allowed
only where dockerd answers the same request with a 5xx (asked on the lab's dockerd) or with a reason
below. At the end the keepers are as they were (no lost state) and berthd is alive with no traceback
in its log (see ``tests/apifuzz``).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile

import pytest

from tests.conftest import Daemon, _unmount_all
from tests.peers import missing_peer

try:
    from tests.apifuzz import spec

    ROUTES = sorted(spec.operations())
    MISSING = ""
except ImportError as exc:  # schemathesis is a test extra: `pip install -e .[test]`
    ROUTES, MISSING = [], str(exc)

EXAMPLES = 6
#: Routes that ask a registry: every request waits for the registry client's retries (name resolution fails in the
#: test's network namespace), so fewer examples keep the run within its time (~60 s on 2 cores).
SLOW_ROUTES = {"GET /distribution/{name}/json": 2, "POST /auth": 2, "GET /images/search": 2}

#: 5xx that dockerd is not asked about (dockerd.py: it would reach registries or change its swarm), with why
#: it is dockerd's answer too.
SERVER_ERRORS_EXCUSED = {
    "POST /images/create": "pulling from an unreachable registry: dockerd answers 500 (the README's API differences)",
    "POST /images/{name}/push": "pushing to an unreachable registry: dockerd answers 500",
    "GET /images/search": "searching an unreachable registry: dockerd answers 500",
    "POST /auth": "logging in to an unreachable registry: dockerd answers 500",
    "GET /distribution/{name}/json": "asking an unreachable registry: dockerd answers 500",
    "POST /build": "a remote build context that cannot be fetched: dockerd answers 500",
    "POST /plugins/pull": "managed plugins: berth refuses with 501 before any registry is asked; dockerd fails "
                          "with 500 when the registry answers (README)",
    "POST /plugins/{name}/upgrade": "managed plugins, as pull",
}
#: 5xx answers that are dockerd's own for the same state, by the start of their message, with why.
SERVER_ERROR_MESSAGES_EXCUSED = {
    "This node is not a swarm manager.": "swarm routes on a daemon outside a swarm: dockerd answers 503 with these "
                                         "words (moby daemon/cluster/cluster.go)",
    "This node is not part of a swarm": "swarm leave or unlock outside a swarm: dockerd's 503 (moby "
                                        "daemon/cluster/errors.go, errNoSwarm)",
    "volume update only valid for cluster volumes, but swarm is unavailable":
        "PUT /volumes/{name} (API 1.42+, so the lab's dockerd 20.10 answers 404 for any route it lacks) outside a "
        "swarm: dockerd's 503 (moby daemon/server/router/volume/volume_routes.go)",
}
#: Schema failures where the spec is wrong about dockerd's answers: {route: {text of the failure: why}}.
SCHEMA_EXCUSES: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def fuzzer(suite_tmp, busybox_path):
    from tests.apifuzz.dockerd import LabDockerd
    from tests.apifuzz.runner import Fuzzer

    if MISSING:
        missing_peer(f"schemathesis is not installed ({MISSING})", "pip install -e '.[test]'")
    netns = "berth-test-" + secrets.token_hex(4)
    base = tempfile.mkdtemp(prefix="fuzz-", dir=suite_tmp)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    d = Daemon(base, ["-s", "vfs", "--bip", "10.235.0.1/24"], netns=netns)
    lab = LabDockerd()
    try:
        subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "ip", "link", "set", "lo", "up"], check=True)
        d.start()
        assert d.cli("image", "bootstrap", "busybox").returncode == 0, d.log()
        scratch = os.path.join(base, "binds")
        f = Fuzzer(d.socket, scratch, SERVER_ERRORS_EXCUSED, SCHEMA_EXCUSES, SERVER_ERROR_MESSAGES_EXCUSED,
                   lab=lab if lab.available() else None,
                   no_lab=lambda: missing_peer("a 5xx needs the lab's dockerd to judge it, and it is not running",
                                               "bash .ci/peers"))
        f.objects.make_keepers()
        f.daemon = d
        yield f
    finally:
        lab.close()
        d.remove_everything()
        d.stop()
        _unmount_all(base)
        subprocess.run(["ip", "netns", "delete", netns], check=False)


def test_every_route_of_the_spec_is_fuzzed_or_not_served():
    if MISSING:
        missing_peer(f"schemathesis is not installed ({MISSING})", "pip install -e '.[test]'")
    assert spec.unfuzzed_routes() == []
    assert len(ROUTES) > 100


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_requests_get_well_formed_answers(fuzzer, route):
    findings = fuzzer.run_route(route, SLOW_ROUTES.get(route, EXAMPLES))
    assert findings == [], "\n".join(findings)


def test_after_the_fuzzing_no_state_is_lost_and_berthd_logged_no_traceback(fuzzer):
    assert fuzzer.objects.keeper_problems() == []
    assert fuzzer.daemon.proc.poll() is None
    with open(fuzzer.daemon.log_path, errors="replace") as f:
        log = f.read()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000:][:6000]
