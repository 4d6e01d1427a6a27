"""Graph drivers for the plugin-manager tests, and the fake entry points that "install" them."""

from types import SimpleNamespace

from berth import hookimpl


class FakeEntryPoint:
    """An installed entry point of ``group``: ``target`` is "module:attr" (imported when loaded), any other
    object (returned as it is), or an exception (raised, as a plugin that fails to import)."""

    def __init__(self, name, target, group, dist="acme-drivers"):
        self.name, self.target, self.group = name, target, group
        self.value = target if isinstance(target, str) else f"acme:{name}"
        self.dist = SimpleNamespace(name=dist)

    def load(self):
        from berth.pluginmanager import _import_target

        if isinstance(self.target, Exception):
            raise self.target
        return _import_target(self.target) if isinstance(self.target, str) else self.target


def install_entry_points(monkeypatch, group, *eps):
    """Make ``importlib.metadata.entry_points`` answer with (name, target[, distribution]) of ``group`` only."""
    from importlib import metadata

    fakes = [FakeEntryPoint(ep[0], ep[1], group, *ep[2:]) for ep in eps]
    monkeypatch.setattr(metadata, "entry_points", lambda group: [e for e in fakes if e.group == group])


class _Base:
    description = "test driver"
    contract = "2.0"

    def __init__(self, root, options):
        self.root = root
        self.options = options
        self.layers = {}

    @classmethod
    def probe(cls, root):
        return None


class Complete(_Base):
    name = "complete"
    priority = 5

    @hookimpl
    def graph_create(self, layer_id, parent):
        self.layers[layer_id] = parent
        return True

    @hookimpl
    def graph_create_rw(self, layer_id, parent, options):
        self.layers[layer_id] = parent
        return True

    @hookimpl
    def graph_remove(self, layer_id):
        self.layers.pop(layer_id, None)
        return True

    @hookimpl
    def graph_exists(self, layer_id):
        return layer_id in self.layers

    @hookimpl
    def graph_mount(self, layer_id, mount_label):
        return f"/mnt/{layer_id}"

    @hookimpl
    def graph_unmount(self, layer_id):
        return True


class WithStatus(Complete):
    name = "with-status"

    @hookimpl
    def graph_status(self):
        return [("Backing Filesystem", "testfs")]


class Unsupported(Complete):
    name = "unsupported"
    priority = 100

    @classmethod
    def probe(cls, root):
        return "needs a kernel feature this host lacks"


class MissingMount(_Base):
    name = "missing-mount"
    priority = 1

    @hookimpl
    def graph_create(self, layer_id, parent):
        pass

    @hookimpl
    def graph_create_rw(self, layer_id, parent, options):
        pass

    @hookimpl
    def graph_remove(self, layer_id):
        pass

    @hookimpl
    def graph_exists(self, layer_id):
        return False

    @hookimpl
    def graph_unmount(self, layer_id):
        pass


class Typo(Complete):
    name = "typo"

    @hookimpl
    def graph_mountt(self, layer_id):
        return ""


class Tracer:
    """An extension wrapping every graph_mount call."""

    contract = "2.0"

    def __init__(self):
        self.seen = []

    @hookimpl(wrapper=True)
    def graph_mount(self, layer_id, mount_label):
        path = yield
        self.seen.append((layer_id, path))
        return path
