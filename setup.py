"""Package discovery for setuptools (the metadata is in pyproject.toml).

berth's import package is made of two folders -- ``core/`` is ``berth`` and
``plugins/`` is ``berth.plugins`` -- which setuptools' own discovery cannot map, so
the packages (every directory with an ``__init__.py``) and the data files the
package needs at run time (the scaffold templates) are found here by walking them.
"""

import os

from setuptools import setup

ROOTS = {"berth": "core", "berth.plugins": "plugins"}


def packages() -> list[str]:
    found = []
    for name, folder in ROOTS.items():
        for dirpath, dirnames, files in os.walk(folder):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            if "__init__.py" in files:
                rel = os.path.relpath(dirpath, folder)
                found.append(name if rel == "." else ".".join([name, *rel.split(os.sep)]))
    return sorted(found)


def data_files_of(folder: str) -> list[str]:
    """Files under ``core/<folder>`` (a data directory, not a package), relative to core/."""
    return sorted(os.path.relpath(os.path.join(dirpath, f), "core")
                  for dirpath, _, files in os.walk(os.path.join("core", folder)) for f in files)


setup(packages=packages(), package_dir=ROOTS, package_data={"berth": data_files_of("scaffolds")})
