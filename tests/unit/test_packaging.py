"""pyproject's explicit package list must name every package under core/ and plugins/."""

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in (("core", "berth"), ("plugins", "berth.plugins")):
        for dirpath, _, files in os.walk(ROOT / top):
            if "__init__.py" in files and "__pycache__" not in dirpath:
                rel = Path(dirpath).relative_to(ROOT / top)
                found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing from pyproject: {sorted(found - listed)}; stale: {sorted(listed - found)}"
