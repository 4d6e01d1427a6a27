"""The smallest useful graph driver: a layer is a directory copied from its parent.

It implements only the six required hooks; diffs, changes and sizes come from
berth's core naive-diff default. This is what a third party writes to start.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from berth import hookimpl
from berth.storageopts import refuse_all


class ExampleDriver:
    name = "example"
    description = "copies each parent layer into a plain directory (a third-party example)"
    priority = 0  # never auto-selected over the built-ins
    contract = "2.0"  # the driver contract (berth.hookspecs.CONTRACT) this driver was written for

    @classmethod
    def probe(cls, root: str) -> str | None:
        return None if os.geteuid() == 0 else "needs root to keep file owners"

    def __init__(self, root: str, options: dict):
        self.root = root
        os.makedirs(os.path.join(root, "layers"), mode=0o700, exist_ok=True)

    def _dir(self, layer_id: str) -> str:
        return os.path.join(self.root, "layers", layer_id)

    def _make(self, layer_id: str, parent: str | None) -> bool:
        path = self._dir(layer_id)
        if os.path.exists(path):
            raise FileExistsError(f"layer {layer_id} already exists")
        if parent:
            if not os.path.isdir(self._dir(parent)):
                raise FileNotFoundError(f"parent layer {parent} does not exist")
            # cp -a keeps owners, modes, hard links, xattrs and special files: a layer must read as its parent
            subprocess.run(["cp", "-a", self._dir(parent), path], check=True, capture_output=True)
        else:
            os.mkdir(path, 0o755)
        return True

    @hookimpl
    def graph_create(self, layer_id, parent):
        return self._make(layer_id, parent)

    @hookimpl
    def graph_create_rw(self, layer_id, parent, options):
        refuse_all(self.name, options)  # no per-container quota: --storage-opt is refused, never ignored
        return self._make(layer_id, parent)

    @hookimpl
    def graph_remove(self, layer_id):
        shutil.rmtree(self._dir(layer_id), ignore_errors=True)
        return True

    @hookimpl
    def graph_exists(self, layer_id):
        return os.path.isdir(self._dir(layer_id))

    @hookimpl
    def graph_mount(self, layer_id, mount_label):
        if not os.path.isdir(self._dir(layer_id)):
            raise FileNotFoundError(f"layer {layer_id} does not exist")
        return self._dir(layer_id)

    @hookimpl
    def graph_unmount(self, layer_id):
        return True
