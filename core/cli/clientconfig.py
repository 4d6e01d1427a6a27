"""The docker CLI's config.json, which berth's CLI shares: where it lives, and reading it cheaply.

``$BERTH_CONFIG``, else ``$DOCKER_CONFIG``, else ``~/.docker`` (so ``docker login``
and ``berth login`` share credentials, as podman does). ``run`` reads it on every
call (proxies, ``detachKeys``), so reading uses the C JSON scanner of
:mod:`berth.cli.fastjson` and nothing else; writing it is
:mod:`berth.registry.credstore`'s job.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any


def config_dir() -> str:
    return os.environ.get("BERTH_CONFIG") or os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker")


def config_path() -> str:
    return os.path.join(config_dir(), "config.json")


def load() -> dict[str, Any]:
    """config.json's settings; {} when it is absent or unreadable (the docker CLI then uses its defaults)."""
    try:
        with open(config_path(), "rb") as f:
            data = f.read()
    except OSError:
        return {}
    from berth.cli import fastjson

    try:
        config = fastjson.loads(data)
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}
