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


def project_with_a_venv(project) -> str:
    """``project/.venv``: a real virtualenv holding a copy of berth (package and its dist-info, so its entry
    points), the rest of this environment's packages reached through a .pth file; its python returned."""
    import importlib.metadata
    import os
    import shutil
    import sysconfig

    import berth
    import berth.plugins

    venv = project / ".venv"
    subprocess.run([os.path.join(sys.base_prefix, "bin", "python3"), "-m", "venv", "--without-pip", str(venv)],
                   check=True, capture_output=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    shutil.copytree(berth.__path__[0], site / "berth")
    shutil.copytree(berth.plugins.__path__[0], site / "berth" / "plugins", dirs_exist_ok=True)
    dist_info = importlib.metadata.distribution("berth")._path  # where pip recorded berth's entry points
    shutil.copytree(dist_info, site / dist_info.name)
    (site / "zz_outer_env.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    return str(venv / "bin" / "python")


def test_kit_runs_from_a_project_whose_virtualenv_lies_under_it(tmp_path):
    """A plugin author's layout: the project root holds ``.venv`` (berth, so the kit, installed there)."""
    python = project_with_a_venv(tmp_path)
    result = subprocess.run([python, "-m", "pytest", "-p", "berth.testing", "-p", "no:cacheprovider", "-q",
                             "--berth-graphdriver=vfs", "-k", "empty_base"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout and str(tmp_path / ".venv") in subprocess.run(
        [python, "-c", "import berth.testing.graph_kit as k; print(k.__file__)"], capture_output=True, text=True,
        cwd=tmp_path).stdout  # the kit ran from the copy under the project


def test_a_kit_node_id_reruns_that_test(tmp_path):
    listed = run_kit(tmp_path, "--berth-graphdriver=vfs", "-k", "empty_base", "--collect-only")
    node = next(line for line in listed.stdout.splitlines() if "::test_create_empty_base[vfs]" in line)
    again = run_kit(tmp_path, "--berth-graphdriver=vfs", node)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "1 passed" in again.stdout
