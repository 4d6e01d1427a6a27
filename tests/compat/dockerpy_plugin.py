"""A pytest plugin loaded into docker-py's integration suite by the compat runner.

It does three things docker-py's own set-up does not:

* a per-test time limit (``BERTH_COMPAT_TIMEOUT`` seconds, SIGALRM in the main
  thread), so one hanging stream fails its test instead of stalling the run;
* a record of every container, network, volume, secret and config the tests
  create (one ``kind id`` per line in ``BERTH_COMPAT_RECORD``), so the runner can
  remove what a failed test's tear-down left on a shared daemon, and only that;
* puts ``os.environ`` back after a test that replaced it (docker-py 7.1.0's
  ``credentials/utils_test.py`` assigns a plain dict to it, which would leave
  every later test without ``DOCKER_HOST``, talking to /var/run/docker.sock).
"""

from __future__ import annotations

import os
import re
import signal

import pytest

CREATED_ID_FIELD = {"containers": "Id", "networks": "Id", "volumes": "Name", "secrets": "ID", "configs": "ID"}
CREATE_PATH = re.compile(r"^(?:/v[\d.]+)?/(containers|networks|volumes|secrets|configs)/create(?:\?|$)")


class TestTimeout(Exception):
    """Raised in a test that ran past the per-test time limit."""


ORIGINAL_ENVIRON = os.environ


def pytest_configure(config):
    record = os.environ.get("BERTH_COMPAT_RECORD")
    if record:
        _record_creations(record)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = int(os.environ.get("BERTH_COMPAT_TIMEOUT", "0"))
    if limit <= 0:
        yield
        return

    def expire(signum, frame):
        raise TestTimeout(f"{item.nodeid} ran longer than {limit}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    if os.environ is not ORIGINAL_ENVIRON:
        os.environ = ORIGINAL_ENVIRON


def _record_creations(path: str) -> None:
    """Wrap docker-py's HTTP session so every successful create call appends ``kind id`` to ``path``."""
    from docker.api.client import APIClient

    original_send = APIClient.send

    def send(self, request, **kwargs):
        response = original_send(self, request, **kwargs)
        match = CREATE_PATH.match(request.path_url)
        if match and request.method == "POST" and response.status_code in (200, 201):
            kind = match.group(1)
            created = response.json().get(CREATED_ID_FIELD[kind])
            if created:
                with open(path, "a") as f:
                    f.write(f"{kind} {created}\n")
        return response

    APIClient.send = send
