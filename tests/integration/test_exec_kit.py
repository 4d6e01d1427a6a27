"""Every installed exec driver (or those named with --berth-execdriver) against the conformance kit."""

from berth.testing.exec_kit import (  # noqa: F401  (pytest collects the kit's tests and fixtures from here)
    TestExecDriverContract, TestRunOptions, exec_harness, kit_rootfs, pytest_generate_tests,
)
