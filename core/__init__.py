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

__version__ = "0.1.0"

PROJECT = "berth"


def __getattr__(name: str):
    """``hookspec`` / ``hookimpl`` markers, made on first use so the CLI never imports pluggy."""
    if name in ("hookspec", "hookimpl"):
        import pluggy

        marker = pluggy.HookspecMarker(PROJECT) if name == "hookspec" else pluggy.HookimplMarker(PROJECT)
        globals()[name] = marker
        return marker
    raise AttributeError(f"module 'berth' has no attribute {name!r}")
