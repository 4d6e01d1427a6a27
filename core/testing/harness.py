"""What every kit does the same way: load a driver as berthd loads it, with the requested extensions.

Drivers come from their entry points (so a third party's is checked exactly as it is
declared), are refused for the same reasons berthd refuses them (not installed,
failing to import, another contract version), are skipped when their ``probe()``
says they cannot work on this host, and are reached through berth's own plugin
manager and facade, core defaults and extensions included.
"""

from __future__ import annotations

from typing import Any

import pytest

from berth import pluginmanager
from berth.drivers import open_driver
from berth.errors import ConfigError


def installed(kind_name: str, built_in_only: bool = False) -> list[str]:
    """Names of the installed drivers of a kind (berth's own only, when asked)."""
    found = pluginmanager.discover(pluginmanager.KINDS[kind_name])
    return sorted(name for name, entry in found.items() if not built_in_only or entry.origin == "built-in")


def driver_class(kind_name: str, name: str, root: str) -> type:
    """The class of driver ``name``: the test fails when it is not installed or cannot load, and is
    skipped (with the driver's reason) when its probe refuses this host."""
    kind = pluginmanager.KINDS[kind_name]
    candidates = pluginmanager.discover(kind)
    entry = candidates.get(pluginmanager.normalise(name))
    if entry is None:
        pytest.fail(f"{kind_name} driver {name!r} is not installed (installed: {', '.join(sorted(candidates))})")
    reason = entry.probe(root)
    if entry.load_error:
        pytest.fail(entry.load_error)
    if reason:
        pytest.skip(f"{kind_name} driver {name!r} cannot run here: {reason}")
    return entry.cls


def kit_extensions(config: pytest.Config) -> list[Any]:
    """The extensions named with ``--berth-extension``, loaded and validated as berthd does."""
    from berth.extensions import load_extensions

    names = config.getoption("berth_extension", default=None) or []
    if not names:
        return []
    try:
        loaded = load_extensions(only=names)
    except ConfigError as exc:
        pytest.fail(exc.message)
    broken = [ext.load_error for ext in loaded if ext.load_error]
    if broken:
        pytest.fail("; ".join(broken))
    return loaded


def open_kit_driver(kind_name: str, name: str, root: str, options: dict, config: pytest.Config) -> Any:
    """Driver ``name`` over ``root``, behind the facade berthd uses, with the requested extensions."""
    cls = driver_class(kind_name, name, root)
    driver = cls(root=root, options=options)
    try:
        return open_driver(kind_name, driver, pluginmanager.normalise(name), kit_extensions(config))
    except ConfigError as exc:  # the driver breaks the hook rules (a missing hook, a typo, a wrapper)
        pytest.fail(exc.message)
