"""``--init`` as dockerd does it: a static tini bind-mounted at /sbin/docker-init runs the process.

The engine asks for an init with the annotation ``io.berth.init`` (set only when the
container has a pid namespace of its own). dockerd then makes the process
``/sbin/docker-init -- CMD...`` with the host's ``docker-init`` (a static tini) bound
read-only at that path, so ``top`` and ``ps`` in the container show exactly
``/sbin/docker-init -- CMD`` and the process: nothing of the engine's own. Both exec
drivers do the same with the first static init found here.
"""

from __future__ import annotations

import os
import signal
import time

from berth.hookspecs.types import INIT_ANNOTATION as ANNOTATION
#: where the init is mounted in the container, and what its pid 1 is called (dockerd's path)
IN_CONTAINER_PATH = "/sbin/docker-init"
#: static inits that work in any rootfs, first found wins (Debian's tini package ships tini-static,
#: and docker.io's docker-init is a link to it)
CANDIDATES = ("/usr/bin/tini-static", "/usr/bin/docker-init", "/usr/libexec/docker/docker-init")


def wanted(spec: dict) -> bool:
    """True when the engine asked for an init in this spec."""
    return (spec.get("annotations") or {}).get(ANNOTATION) == "true"


def find(configured: str | None = None) -> str | None:
    """The init binary to mount: ``configured`` when given, else the first executable candidate."""
    if configured:
        return configured
    return next((path for path in CANDIDATES if os.access(path, os.X_OK)), None)


def apply(spec: dict, binary: str) -> None:
    """Make ``spec`` run its process under ``binary`` mounted at /sbin/docker-init (the spec is changed)."""
    spec.setdefault("mounts", []).append({"destination": IN_CONTAINER_PATH, "type": "bind", "source": binary,
                                          "options": ["rbind", "ro", "nosuid", "nodev"]})
    process = spec.setdefault("process", {})
    process["args"] = [IN_CONTAINER_PATH, "--", *process.get("args", [])]
    # the init is served: drivers must not add one of their own as well
    spec["annotations"] = {k: v for k, v in (spec.get("annotations") or {}).items() if k != ANNOTATION}


def applied(spec: dict) -> bool:
    """True when ``spec`` runs its process under the mounted init (after :func:`apply`)."""
    return ((spec.get("process") or {}).get("args") or [""])[0] == IN_CONTAINER_PATH


def await_signal_handling(pid: int, timeout: float = 1.0) -> None:
    """Wait until ``pid`` is the init (past its execve) and blocks or catches SIGTERM, as tini does
    first thing.

    Until then the kernel drops a SIGTERM sent to it (a pid-namespace init only gets the signals it
    handles), so a ``docker stop`` right after the start would be lost. Returns at ``timeout`` anyway,
    or when the process is gone.
    """
    bit = 1 << (signal.SIGTERM - 1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                is_init = f.read().split(b"\0", 1)[0] == IN_CONTAINER_PATH.encode()
            with open(f"/proc/{pid}/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f.read().splitlines() if b":" in line)
        except OSError:
            return
        if is_init and (int(fields.get(b"SigBlk", b"0"), 16) | int(fields.get(b"SigCgt", b"0"), 16)) & bit:
            return
        time.sleep(0.0005)
