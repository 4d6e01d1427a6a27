"""Container records on disk: ``<data-root>/containers/<id>/config.json``, written atomically."""

from __future__ import annotations

import json
import os
import shutil

from berth import log
from berth.containers.model import Container
from berth.errors import NotFound
from berth.fsutil import atomic_write

RECORD = "config.json"


class ContainerStore:
    def __init__(self, root: str):
        self.root = root
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.containers: dict[str, Container] = {}

    def directory(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)

    def log_path(self, container_id: str) -> str:
        return os.path.join(self.directory(container_id), f"{container_id}-json.log")

    def load(self) -> list[str]:
        """Read every record; a directory without a readable record is a half-created container: removed."""
        dropped = []
        for cid in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, cid, RECORD)
            try:
                with open(path, encoding="utf-8") as f:
                    self.containers[cid] = Container.from_record(json.load(f))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                log.get().warning("dropping half-created container", container_id=cid[:12], error=str(exc))
                shutil.rmtree(os.path.join(self.root, cid), ignore_errors=True)
                dropped.append(cid)
        return dropped

    def save(self, container: Container) -> None:
        directory = self.directory(container.id)
        os.makedirs(directory, mode=0o710, exist_ok=True)
        atomic_write(os.path.join(directory, RECORD), json.dumps(container.to_record(), indent=1).encode(), 0o600)
        self.containers[container.id] = container

    def delete(self, container_id: str) -> None:
        self.containers.pop(container_id, None)
        shutil.rmtree(self.directory(container_id), ignore_errors=True)

    def names(self) -> set[str]:
        return {c.name for c in self.containers.values()}

    def get(self, ref: str) -> Container:
        """By full id, name (with or without "/"), or unique id prefix, as Docker looks them up."""
        if ref in self.containers:
            return self.containers[ref]
        name = ref.lstrip("/")
        for c in self.containers.values():
            if c.name == name:
                return c
        matches = [c for c in self.containers.values() if ref and c.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise NotFound(f"No such container: {ref} (ambiguous: {len(matches)} containers match)")
        raise NotFound(f"No such container: {ref}")
