"""A task's secrets and configs as files, mounted read-only where dockerd puts them.

A secret named by a relative file name appears at ``/run/secrets/<name>``, a config
at ``/<name>``; an absolute name is used as it is. Each file has the reference's
owner and mode (docker's clients send ``0444``). The files live under the daemon's
exec-root (``swarm/tasks/<task id>``, 0700), are bind-mounted into the container and
go with the task. A config with ``Templating`` is expanded for the task first (see
:mod:`berth.swarm.templates`).
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

from berth.errors import BerthError

SECRETS_DIR = "/run/secrets"


def target(name: str, kind: str) -> str:
    if name.startswith("/"):
        return name
    return f"{SECRETS_DIR}/{name}" if kind == "secret" else f"/{name}"


def write(root: str, task_id: str, references: list[tuple[str, dict]], content: Callable[[str, str], bytes],
          host_ids: Callable[[int, int], tuple[int, int]] = lambda uid, gid: (uid, gid)) -> list[dict]:
    """Write the files of ``references`` ((kind, reference) pairs) for a task; the bind mounts to add.

    ``content(kind, object_id)`` gives an object's data (expanded when templated); ``host_ids`` turns the
    container's owner into the host's (with ``--userns-remap`` the container's root is not the host's)."""
    directory = os.path.join(root, task_id)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    mounts = []
    for index, (kind, ref) in enumerate(references):
        file = ref.get("File")
        if not file:  # a config used as a runtime target (credential specs): no file
            continue
        path = os.path.join(directory, f"{kind}-{index}")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(content(kind, ref[f"{kind.capitalize()}ID"]))
        try:
            os.chown(path, *host_ids(_id(file.get("UID")), _id(file.get("GID"))))
        except ValueError:
            raise BerthError(f"{kind} {ref[f'{kind.capitalize()}Name']}: UID and GID must be numbers "
                             f"(got {file.get('UID')!r}, {file.get('GID')!r})") from None
        os.chmod(path, file.get("Mode", 0o444) & 0o7777)
        mounts.append({"Type": "bind", "Source": path, "Target": target(file["Name"], kind), "ReadOnly": True})
    return mounts


def _id(value: str | None) -> int:
    return int(value) if value else 0


def remove(root: str, task_id: str) -> None:
    shutil.rmtree(os.path.join(root, task_id), ignore_errors=True)
