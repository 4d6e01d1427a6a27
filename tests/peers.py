"""The rule for tests that need a peer (the real dockerd, docker-registry, skopeo): skip locally, fail in CI.

The project's standard forbids tests that are skipped by default and so hide missing
features. A test that needs a peer calls :func:`missing_peer` when the peer is absent:

* in CI (``CI=true``) or with ``BERTH_REQUIRE_PEERS=1`` that is a test FAILURE, because
  CI installs and starts every peer (``.ci/peers``), so an absent one is a broken setup;
* anywhere else it is a skip, and the reason says how to get the peer.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import NoReturn

import pytest

PEERS_SCRIPT = "bash .ci/peers"  # installs and starts the peers (run from the repository root, as root)
LAB_DOCKER = "/run/lab-docker.sock"  # the real dockerd (20.10, overlay2) that .ci/peers starts


def peers_required() -> bool:
    """True when a missing peer must fail the test: in CI, or when the developer asks for it."""
    if os.environ.get("BERTH_REQUIRE_PEERS") == "1":
        return True
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_peer(what: str, fix: str) -> NoReturn:
    """Fail (CI) or skip (elsewhere) the running test because the peer described by ``what`` is absent.

    ``what`` says which peer is missing and where it was looked for; ``fix`` says how to provide it.
    """
    message = f"{what}; {fix}"
    if peers_required():
        pytest.fail(f"peer missing, and peers are required here (CI=true or BERTH_REQUIRE_PEERS=1): {message}",
                    pytrace=False)
    pytest.skip(f"{message} (in CI this is a failure)")


def require_executables(*paths: str, fix: str) -> None:
    """Call :func:`missing_peer` unless every path in ``paths`` is an executable file."""
    absent = [p for p in paths if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if absent:
        missing_peer(f"not installed: {', '.join(absent)}", fix)


def real_docker() -> list[str]:
    """The docker CLI bound to the lab dockerd; fails in CI (skips elsewhere) when that peer is absent."""
    fix = (f"start it with `{PEERS_SCRIPT}` (apt docker.io, then ../shared/peers/start-dockerd.sh overlay2; "
           "stop it with `bash .ci/peers-stop`)")
    docker = shutil.which("docker")
    if not docker:
        missing_peer("the docker CLI is not on PATH (Debian's docker.io provides /usr/bin/docker)", fix)
    if not os.path.exists(LAB_DOCKER):
        missing_peer(f"the real dockerd is not running: no socket at {LAB_DOCKER}", fix)
    cmd = [docker, "-H", "unix://" + LAB_DOCKER]
    try:
        version = subprocess.run(cmd + ["version"], capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        missing_peer(f"the real dockerd at {LAB_DOCKER} did not answer `docker version` within 30 s", fix)
    if version.returncode != 0:
        missing_peer(f"the real dockerd at {LAB_DOCKER} does not answer `docker version`: "
                     f"{version.stderr.decode(errors='replace').strip()}", fix)
    return cmd
