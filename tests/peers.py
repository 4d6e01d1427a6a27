"""The rule for tests that need a peer (the real dockerd, docker-registry, skopeo): skip locally, fail in CI.

The project's standard forbids tests that are skipped by default and so hide missing
features. A test that needs a peer calls :func:`missing_peer` when the peer is absent:

* in CI (``CI=true``) or with ``BERTH_REQUIRE_PEERS=1`` that is a test FAILURE, because
  CI installs and starts every peer (``.ci/peers``), so an absent one is a broken setup;
* anywhere else it is a skip, and the reason says how to get the peer.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

PEERS_SCRIPT = "bash .ci/peers"  # installs and starts the peers (run from the repository root, as root)


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
