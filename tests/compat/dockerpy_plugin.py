"""A pytest plugin loaded into docker-py's integration suite by the compat runner.

It does three things docker-py's own set-up does not:

* a per-test time limit (``BERTH_COMPAT_TIMEOUT`` seconds, SIGALRM in the main
  thread), so one hanging stream fails its test instead of stalling the run;
* a record of every container, network, volume, secret, config, image (tag or
  ID) and plugin the tests create (one ``kind value`` per line in
  ``BERTH_COMPAT_RECORD``), so the runner can remove what a failed test's
  tear-down left on a shared daemon, and only that: other sessions use the same
  dockerd at the same time;
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
ROUTE = re.compile(r"^(?:/v[\d.]+)?(/[^?]*)")
# what the JSON streams of build, load and import say was made: images, and the containers of RUN steps
# (docker-py builds with rm=False by default, so dockerd keeps them)
STREAMED = [("images", re.compile(p)) for p in (
    rb'"ID":\s*"(sha256:[0-9a-f]{64})"', rb"Successfully built ([0-9a-f]{12})",
    rb"Loaded image ID: (sha256:[0-9a-f]{64})", rb"Loaded image: ([^\\\"]+)", rb'"status":\s*"(sha256:[0-9a-f]{64})"',
)] + [("containers", re.compile(rb"Running in ([0-9a-f]{12})"))]


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
    """Wrap docker-py's HTTP session and stream reader so that what the tests create is appended to ``path``."""
    from docker.api.client import APIClient

    def record(kind: str, value: str) -> None:
        with open(path, "a") as f:
            f.write(f"{kind} {value}\n")

    original_send = APIClient.send
    original_stream = APIClient._stream_helper

    def send(self, request, **kwargs):
        response = original_send(self, request, **kwargs)
        if request.method == "POST":
            for kind, value in _created_by(request, response):
                record(kind, value)
        return response

    def stream_helper(self, response, decode=False):
        for chunk in original_stream(self, response, decode):
            if isinstance(chunk, bytes):
                for kind, pattern in STREAMED:
                    for found in pattern.findall(chunk):
                        record(kind, found.decode(errors="replace").strip())
            yield chunk

    APIClient.send = send
    APIClient._stream_helper = stream_helper


def _created_by(request, response) -> list[tuple[str, str]]:
    """``(kind, id or name)`` for what a POST made: objects from their create answers, image tags from queries."""
    from urllib.parse import parse_qs, urlsplit

    match = CREATE_PATH.match(request.path_url)
    if match and response.status_code in (200, 201):
        created = response.json().get(CREATED_ID_FIELD[match.group(1)])
        return [(match.group(1), created)] if created else []
    route = ROUTE.match(request.path_url).group(1)
    query = {k: v[-1] for k, v in parse_qs(urlsplit(request.path_url).query).items()}
    found = []
    if route == "/build":
        found += [("images", tag) for tag in parse_qs(urlsplit(request.path_url).query).get("t", [])]
    elif route in ("/commit", "/images/create") or route.endswith("/tag"):
        repository = query.get("repo") or query.get("fromImage")
        if repository:
            found.append(("images", f"{repository}:{query.get('tag') or 'latest'}"))
        if route == "/commit" and response.status_code == 201:
            found.append(("images", response.json().get("Id", "")))
    elif route in ("/plugins/create", "/plugins/pull"):
        found.append(("plugins", query.get("name") or query.get("remote") or ""))
    return [(kind, value) for kind, value in found if value]
