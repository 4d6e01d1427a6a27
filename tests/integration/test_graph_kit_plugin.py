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


def test_kit_runs_when_it_lies_under_the_working_directory():
    """A project whose .venv (holding berth and so the kit) lies under the directory pytest runs in."""
    import os

    from berth.testing import graph_kit

    holder = os.path.dirname(os.path.dirname(os.path.dirname(graph_kit.__file__)))  # above the berth package
    result = run_kit(holder, "--berth-graphdriver=vfs", "-k", "empty_base")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_a_kit_node_id_reruns_that_test(tmp_path):
    listed = run_kit(tmp_path, "--berth-graphdriver=vfs", "-k", "empty_base", "--collect-only")
    node = next(line for line in listed.stdout.splitlines() if "::test_create_empty_base[vfs]" in line)
    again = run_kit(tmp_path, "--berth-graphdriver=vfs", node)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 passed" in again.stdout
