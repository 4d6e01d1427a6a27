"""The hostile archive corpus pulled from a registry: every hostile layer of ``tests/hostile_archives.py``
served by the real distribution registry, pulled through berthd's API (``POST /images/create?fromImage``).

A refused layer ends dockerd's 200 JSON stream with an ``errorDetail`` naming the reason, and nothing is
half-stored (images, layers, pending rows, graph directories, tar-split records, pull scratch space are as
they were). A layer on top of another meets the symlinks of the layer below as in ``load``. Runs on vfs
and overlay (``tests/helpers.py:storage_daemon``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse

import pytest

from tests import registry_fixtures as rf
from tests.helpers import api, storage_daemon  # noqa: F401  (the fixture, as "daemon")
from tests.hostile_archives import layer_cases, stacked_cases
from tests.integration.test_hostile_archives import SENTINEL, remove_image, stored
from tests.registry_fixtures import registry_fixture, registry_peers_fixture, workdir_fixture  # noqa: F401

pytestmark = pytest.mark.integration


def _tag(name: str) -> str:
    return name.lower()[:100]


def serve(registry, workdir: str, name: str, layers: list[bytes]) -> str:
    """``hostile/<name>:latest`` in the registry with ``layers`` (uncompressed tars, sent gzipped)."""
    path = os.path.join(workdir, "hostile", name)
    info = rf.build_oci_layout(path, layers, cmd=["/bin/true"])
    rf.push_oci_layout(path, info, registry.host, f"hostile/{_tag(name)}", "latest")
    return f"{registry.host}/hostile/{_tag(name)}:latest"


def pull(daemon, ref: str) -> tuple[int, list[dict]]:
    status, body = api(daemon, "POST", f"/images/create?fromImage={urllib.parse.quote(ref, safe='')}")
    text = body if isinstance(body, str) else json.dumps(body)
    return status, [json.loads(line) for line in text.splitlines() if line.strip()]


def check_pull(daemon, ref: str, refused: bool, words: str) -> None:
    before = stored(daemon)
    status, lines = pull(daemon, ref)
    assert status == 200 and lines, lines  # dockerd's shape: a failure ends the JSON stream
    if refused:
        error = lines[-1].get("errorDetail", {}).get("message", "")
        assert re.search(words, error), lines
        assert stored(daemon) == before
    else:
        assert "errorDetail" not in lines[-1], lines
        remove_image(daemon, ref)
    assert not os.path.lexists(SENTINEL)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in layer_cases(SENTINEL)])
def test_pull_refuses_or_contains_each_hostile_layer(daemon, registry, workdir, case):
    ref = serve(registry, workdir, f"{daemon.driver}-{case.name}", [case.data])
    check_pull(daemon, ref, case.refused, case.words)


@pytest.mark.parametrize("name,lower,upper,refused,words", [pytest.param(*c, id=c[0]) for c in stacked_cases(SENTINEL)])
def test_pull_refuses_a_layer_through_the_symlinks_of_the_layer_below(daemon, registry, workdir, name, lower, upper,
                                                                      refused, words):
    ref = serve(registry, workdir, f"{daemon.driver}-{name}", [lower, upper])
    check_pull(daemon, ref, refused, words)
