"""berth: a Docker-compatible container engine built from pluggy drivers.

The engine core lives here; drivers live in :mod:`berth.plugins` (built-ins) or in
any installed distribution that declares an entry point in one of the groups
``berth.graphdrivers``, ``berth.netdrivers`` or ``berth.execdrivers``.

A driver is a class whose methods are marked with :data:`hookimpl` and named after
the hooks of its kind (see :mod:`berth.hookspecs`)::

    from berth import hookimpl

    class MyGraphDriver:
        name = "mine"
        description = "layers in my research store"
        priority = 10

        @classmethod
        def probe(cls, root):            # None when usable, else the reason why not
            return None

        def __init__(self, root, options):
            self.root = root

        @hookimpl
        def graph_create(self, layer_id, parent): ...
"""

import pluggy

__version__ = "0.1.0"

PROJECT = "berth"

#: Marks the hook specifications in :mod:`berth.hookspecs`.
hookspec = pluggy.HookspecMarker(PROJECT)
#: Marks a driver's or extension's implementation of a hook.
hookimpl = pluggy.HookimplMarker(PROJECT)
