"""Container records on disk: ``<data-root>/containers/<id>/config.json``, written atomically.

A removed container's directory (record, logs, its /etc files) is renamed into the
daemon's trash (``<data-root>/trash``, :mod:`berth.trash`) and deleted after ``rm``
answers: it is gone from ``containers/`` at once, never half there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator

from berth import log
from berth.containers.model import Container
from berth.errors import Conflict, InvalidArgument, NotFound
from berth.fsutil import atomic_write
from berth.trash import Trash

RECORD = "config.json"


class ContainerStore:
    def __init__(self, root: str, trash: Trash | None = None):
        self.root = root
        self.trash = trash
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.containers: dict[str, Container] = {}
        self.corrupt: dict[str, str] = {}  # id -> why its record could not be loaded (see load)
        self.reserved: dict[str, str] = {}  # name -> id of the container being created with it, not yet saved

    def directory(self, container_id: str) -> str:
        return os.path.join(self.root, container_id)

    def load(self) -> list[str]:
        """Read every record; return the ids of half-created containers, which are removed.

        A directory without a record is a create that died before its atomic save: nothing
        in it is worth keeping. A record that exists but cannot be read was damaged on disk:
        it is left in place (with the container's logs) and listed in :attr:`corrupt`, so
        that an operator can repair or remove it; deleting it would lose state.
        """
        dropped = []
        self.corrupt: dict[str, str] = {}
        for cid in sorted(os.listdir(self.root)):
            path = os.path.join(self.root, cid, RECORD)
            try:
                with open(path, encoding="utf-8") as f:
                    container = Container.from_record(json.load(f))
            except FileNotFoundError:
                log.get().warning("dropping half-created container", container_id=cid[:12])
                shutil.rmtree(os.path.join(self.root, cid), ignore_errors=True)
                dropped.append(cid)
                continue
            except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
                self.corrupt[cid] = f"{path}: {type(exc).__name__}: {exc}"
                log.get().error("container.record_corrupt", container_id=cid[:12], path=path, error=str(exc))
                continue
            problem = _shape_problem(container)
            if problem:
                self.corrupt[cid] = f"{path}: {problem}"
                log.get().error("container.record_corrupt", container_id=cid[:12], path=path, error=problem)
                continue
            if container.id != cid:
                self.corrupt[cid] = f"{path}: record names container {container.id!r}, not its directory's {cid!r}"
                log.get().error("container.record_corrupt", container_id=cid[:12], path=path, error="id mismatch")
                continue
            self.containers[cid] = container
        return dropped

    def save(self, container: Container, durable: bool = True) -> None:
        """Write the record atomically; ``durable`` False skips the fsyncs, for a record that a durable
        save replaces moments later (a process crash loses nothing either way, only a machine crash can)."""
        directory = self.directory(container.id)
        os.makedirs(directory, mode=0o710, exist_ok=True)
        atomic_write(os.path.join(directory, RECORD), json.dumps(container.to_record(), indent=1).encode(), 0o600,
                     sync=durable)
        self.containers[container.id] = container

    def delete(self, container_id: str) -> None:
        self.containers.pop(container_id, None)
        if self.trash is not None:
            self.trash.discard(self.directory(container_id))
        else:
            shutil.rmtree(self.directory(container_id), ignore_errors=True)

    def names(self) -> set[str]:
        return {c.name for c in self.containers.values()} | self.reserved.keys()

    def check_name_free(self, name: str) -> None:
        """Docker's 409 when a container, or a create under way, has ``name``."""
        holder = self.reserved.get(name) or next((c.id for c in self.containers.values() if c.name == name), None)
        if holder is not None:
            raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
                           "You have to remove (or rename) that container to be able to reuse that name.")

    @contextlib.contextmanager
    def reserving_name(self, name: str, container_id: str) -> Iterator[None]:
        """Hold ``name`` for a container being created (its record saved inside): two creates racing for
        one name get one container and a 409, as dockerd's name reservation gives."""
        self.check_name_free(name)
        self.reserved[name] = container_id
        try:
            yield
        finally:
            del self.reserved[name]

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
            # Docker: an ambiguous prefix is the caller's mistake (400), not a missing container
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref} ({len(matches)} containers match); "
                                  "use more characters")
        raise NotFound(f"No such container: {ref}")


_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "name": str, "created": str, "image_id": str, "config": dict, "host_config": dict, "path": str,
    "args": list, "layer_id": str, "hostname": str, "network": str, "endpoints": dict, "ports": list,
    "mounts": list, "labels": dict, "exec_ids": list, "restart_count": int,
}


def _shape_problem(container: Container) -> str:
    """Why a record that parsed as JSON still cannot be used (a field of the wrong type), or ""."""
    for name, kind in _FIELD_TYPES.items():
        value = getattr(container, name)
        if not isinstance(value, kind):
            return f"field {name!r} should be {kind.__name__}, not {type(value).__name__}"
    if not all(isinstance(arg, str) for arg in container.args):
        return "field 'args' should hold only strings"
    return ""
