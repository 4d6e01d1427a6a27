"""A graph driver opened in this process as berthd opens it, with a hook timer around it.

The driver is found by name among the installed ones (a third party's included),
asked ``probe()`` on its fresh root, and reached through berth's own plugin manager
and facade: the core defaults (the naive diff for drivers without diff hooks) and
the :class:`~berth.tracing.HookTimer` wrapper are registered next to it, so every
hook call is timed, the defaults' included.
"""

from __future__ import annotations

from berth import pluginmanager
from berth.drivers import GraphDriver, open_driver
from berth.tracing import HookTimer


def installed_graph_drivers() -> list[str]:
    """Names of every installed graph driver."""
    return sorted(pluginmanager.discover(pluginmanager.GRAPH))


def unavailable_reason(name: str, root: str) -> str:
    """"" when graph driver ``name`` is installed and works under ``root`` here, else why not."""
    candidates = pluginmanager.discover(pluginmanager.GRAPH)
    entry = candidates.get(pluginmanager.normalise(name))
    if entry is None:
        return f"not installed (installed graph drivers: {', '.join(sorted(candidates))})"
    return entry.probe(root)


def open_graph(name: str, root: str, options: dict | None = None) -> tuple[GraphDriver, HookTimer]:
    """Driver ``name`` (with storage ``options``) over ``root`` behind the engine's facade, and the timer
    wrapped around its hooks.

    Call :func:`unavailable_reason` first; this raises when the driver cannot be loaded.
    """
    kind = pluginmanager.GRAPH
    entry = pluginmanager.discover(kind)[pluginmanager.normalise(name)]
    driver = entry.load()(root=root, options=dict(options or {}))
    timer = HookTimer(pluginmanager.hook_names(kind))
    return open_driver("graph", driver, entry.name, extensions=[timer]), timer
