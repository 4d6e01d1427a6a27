"""Make the example plugins under tests/plugins installed, as a third party's would be, for the suite.

Each directory here with a pyproject.toml is a distribution. One that the test
virtualenv does not have (``pip install -e`` of it is the usual set-up) is installed
with pip into a directory keyed by the plugins' sources (so later runs reuse it),
which is put on ``sys.path`` and ``PYTHONPATH``: the suite's kits and every berthd
it starts find the plugins through their entry points, exactly as installed ones.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent


def projects() -> list[Path]:
    """The example distributions' directories."""
    return sorted(p.parent for p in HERE.glob("*/pyproject.toml"))


def distribution_name(project: Path) -> str:
    return tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]


def _installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def _sources_key(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for project in paths:
        for path in sorted(project.rglob("*")):
            if path.is_file() and "egg-info" not in str(path) and "__pycache__" not in str(path):
                digest.update(str(path.relative_to(HERE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def install(paths: list[Path], target: Path) -> None:
    """pip-install the distributions at ``paths`` into ``target`` (made atomically: a rename at the end).

    Each is built from a copy, so the build leaves nothing in the source tree.
    """
    scratch = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    sources = Path(tempfile.mkdtemp(prefix="berth-test-plugin-sources-"))
    try:
        copies = [shutil.copytree(p, sources / p.name, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                                      "__pycache__"))
                  for p in paths]
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
                        "--target", str(scratch / "site"), *map(str, copies)], check=True, capture_output=True)
        os.rename(scratch / "site", target)
    except OSError:  # another session installed the same sources first
        if not target.is_dir():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(sources, ignore_errors=True)


def ensure_installed() -> None:
    """Install the examples the environment lacks, and make every process the suite starts see them."""
    missing = [p for p in projects() if not _installed(distribution_name(p))]
    if not missing:
        return
    target = Path(tempfile.gettempdir()) / f"berth-test-plugins-{_sources_key(missing)}"
    if not target.is_dir():
        install(missing, target)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")]))
    importlib.invalidate_caches()
