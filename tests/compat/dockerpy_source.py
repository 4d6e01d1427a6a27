"""Where docker-py's source comes from, and how its test tree is laid out in a temp dir.

docker-py is never vendored: the runner reads it from a git directory (a bare
mirror or a clone) at a fixed tag and extracts, with ``git archive``, only what
its integration suite needs: the ``docker`` package of that tag (so the tests
run against the library they were written for), ``tests/`` and ``pytest.ini``.
"""

from __future__ import annotations

import os
import subprocess

DEFAULT_GIT_DIR = "/work/.mirror/docker+docker-py/repo"
DEFAULT_REF = "7.1.0"
EXTRACTED_PATHS = ("docker", "tests", "pytest.ini")


def find_git_dir(explicit: str | None) -> str | None:
    """The docker-py git directory to use (option, then ``DOCKER_PY_GIT``, then the mirror), or None."""
    candidate = explicit or os.environ.get("DOCKER_PY_GIT") or DEFAULT_GIT_DIR
    probe = subprocess.run(["git", "--git-dir", _git_dir_of(candidate), "rev-parse", "--git-dir"],
                           capture_output=True)
    return candidate if probe.returncode == 0 else None


def has_ref(git_dir: str, ref: str) -> bool:
    """True when ``ref`` (a tag or commit) exists in ``git_dir``."""
    probe = subprocess.run(["git", "--git-dir", _git_dir_of(git_dir), "rev-parse", "--verify", "--quiet",
                            f"{ref}^{{commit}}"], capture_output=True)
    return probe.returncode == 0


def extract(git_dir: str, ref: str, dest: str) -> None:
    """Write docker-py's library, tests and pytest.ini at ``ref`` into ``dest``."""
    archive = subprocess.Popen(["git", "--git-dir", _git_dir_of(git_dir), "archive", ref, *EXTRACTED_PATHS],
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {ref} failed in {git_dir}")


def _git_dir_of(path: str) -> str:
    """A working clone's ``.git`` directory, or the path itself for a bare repository."""
    dot_git = os.path.join(path, ".git")
    return dot_git if os.path.exists(dot_git) else path
