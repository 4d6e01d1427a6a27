"""Graph drivers for the plugin-manager tests (imported through fake entry points)."""

from berth import hookimpl


class _Base:
    description = "test driver"

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

    @hookimpl
    def graph_create_rw(self, layer_id, parent, options):
        self.layers[layer_id] = parent

    @hookimpl
    def graph_remove(self, layer_id):
        self.layers.pop(layer_id, None)

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

    def __init__(self):
        self.seen = []

    @hookimpl(wrapper=True)
    def graph_mount(self, layer_id, mount_label):
        path = yield
        self.seen.append((layer_id, path))
        return path
