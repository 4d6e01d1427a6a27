"""berth's exec-driver conformance kit, run against minirunc (as root: ``pytest``)."""

from berth.testing.exec_kit import *  # noqa: F401,F403 (the kit's tests and fixtures)

BERTH_EXECDRIVERS = ["minirunc"]
