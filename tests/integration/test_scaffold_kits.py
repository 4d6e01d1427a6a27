"""The scaffold's output of every kind installs with pip and passes its own kit as generated."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

KINDS = {"graph": "scaffold-store", "network": "scaffold-net", "exec": "scaffold-run"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """berth plugins new, for each kind, then one pip install of the three into a directory of their own."""
    base = tmp_path_factory.mktemp("scaffolds")
    for kind, name in KINDS.items():
        done = subprocess.run([sys.executable, "-m", "berth.cli.main", "plugins", "new", kind, name],
                              capture_output=True, text=True, cwd=base)
        assert done.returncode == 0, done.stderr
    site = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                    "--target", str(site), *(str(base / f"berth-{name}") for name in KINDS.values())],
                   check=True, capture_output=True)
    return base, site


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_generated_driver_passes_its_kit(generated, kind):
    base, site = generated
    project = base / f"berth-{KINDS[kind]}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"], cwd=project,
                            capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert f"[{KINDS[kind]}]" in subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only"], cwd=project,
        capture_output=True, text=True, env=env).stdout  # the kit ran against the generated driver
