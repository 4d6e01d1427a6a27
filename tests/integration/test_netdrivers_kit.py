"""Every installed network driver (or those named with --berth-netdriver) against the conformance kit."""

from berth.testing.network_kit import (  # noqa: F401  (pytest collects the kit's tests and fixtures from here)
    TestNetworkDriverContract, containers, kit_netns, netdriver, pytest_generate_tests,
)
