"""berth's network-driver conformance kit, run against loopback (as root: ``pytest``).

The kit runs every test inside network namespaces it creates; nothing touches the host's network.
"""

from berth.testing.network_kit import *  # noqa: F401,F403 (the kit's tests and fixtures)

BERTH_NETDRIVERS = ["loopback"]
