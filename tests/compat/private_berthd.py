"""A berthd of the shape checker's own, for the command-line report (the test uses ``bridge_daemon``)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from typing import Iterator

from tests.conftest import Daemon
from tests.e2e.conftest import netns_berthd


@contextlib.contextmanager
def private_berthd() -> Iterator[Daemon]:
    """A berthd with busybox and a default bridge in a network namespace of its own; all of it gone on exit."""
    base = tempfile.mkdtemp(prefix="berth-apishapes-", dir="/var/tmp")
    try:
        with netns_berthd(base) as daemon:
            yield daemon
    finally:
        shutil.rmtree(base, ignore_errors=True)
