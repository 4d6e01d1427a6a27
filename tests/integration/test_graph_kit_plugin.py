"""The documented third-party invocation: ``pytest -p berth.testing --berth-graphdriver=NAME``."""

from __future__ import annotations

import subprocess
import sys


def run_kit(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "berth.testing", "-p", "no:cacheprovider", "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_kit_runs_against_the_named_driver_only(tmp_path):
    result = run_kit(tmp_path, "--berth-graphdriver=vfs", "-k", "empty_base or remount")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "[vfs]" in run_kit(tmp_path, "--berth-graphdriver=vfs", "-k", "empty_base", "--collect-only").stdout


def test_kit_fails_for_a_driver_that_is_not_installed(tmp_path):
    result = run_kit(tmp_path, "--berth-graphdriver=no-such-driver", "-k", "empty_base")
    assert result.returncode == 1
    assert "is not installed" in result.stdout
