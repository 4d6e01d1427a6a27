"""Exec driver contract: the OCI runtime lifecycle, driven by the engine.

The engine builds an OCI runtime spec (the ``config.json`` dict of the OCI runtime
specification) from the image config and the create options, writes it into a
*bundle* directory, and hands both to the exec driver. ``spec["root"]["path"]`` is
the container's mounted root filesystem (absolute). The driver never reads Docker
API structures.

An exec driver is a class registered under the entry-point group
``berth.execdrivers``; it is instantiated as ``Driver(root=<exec-root>/<name>,
options=<dict>)`` after ``probe(root)`` returned None.

Lifecycle, after the OCI runtime spec's "Lifecycle" section::

    exec_create -> (created) -> exec_start -> (running) -> process exits -> (stopped)
        -> exec_delete

Containers outlive the daemon: a driver keeps what it needs to find them again in
its ``root``, and :func:`exec_list` / :func:`exec_restore` re-adopt them when the
daemon restarts. Blocking hooks are called from worker threads, never from the
daemon's event loop, so they may block.

Logs: the driver, not the daemon, writes a container's log, because the process
that holds the container's stdio (berth's drivers: a monitor per container) must
outlive the daemon. :class:`IOConfig` says where (``log_path``), in which format,
how to rotate and compress, and whether to block; the daemon reads those files for
``logs`` and ``attach?logs=1``. :func:`berth.containers.logwriter.open_writer` is a
complete writer a driver may use (``native`` and ``oci`` do).

Errors: raise :class:`berth.errors.NotFound` for an unknown container id,
:class:`berth.errors.Conflict` for an operation the container's state forbids,
and :class:`berth.errors.ExecError` (with ``exit_code`` 126 or 127 where Docker
uses them) when the container's process cannot be started.

Required hooks: ``exec_create``, ``exec_start``, ``exec_kill``, ``exec_wait``,
``exec_state``, ``exec_delete``. The others raise a clear "not supported by
driver X" error when missing.
"""

from __future__ import annotations

from berth import hookspec
from berth.hookspecs.types import ExecFeatures, ExecProcess, IOConfig, RuntimeState

# ---------------------------------------------------------------------------
# container lifecycle
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def exec_create(container_id: str, bundle: str, spec: dict, io: IOConfig) -> RuntimeState:
    """Create the container: namespaces, cgroups, mounts and root, but not the user process.

    ``bundle`` is a directory holding ``config.json`` (== ``spec``). On return the
    container is CREATED: its init process exists (``pid`` set) and waits for
    :func:`exec_start`; network namespaces can be configured through
    ``/proc/<pid>/ns/net``. ``io`` wires stdio and says how the output is logged
    (see :class:`IOConfig`): every byte the process writes until it exits is logged,
    and the log files are closed (a rotated file's compression finished) before the
    container is reported STOPPED, so a ``logs`` after ``wait`` sees all of it.
    Raise ``Conflict`` if ``container_id`` exists.

    What the spec may ask beyond a plain container (``docker run`` options): a namespace
    listed with a ``path`` is joined (``--pid``/``--ipc container:X`` name X's init as
    ``/proc/<pid>/ns/<kind>``); a namespace left out is the host's; a bind mount whose
    source is ``/proc/<pid>/root/<path>`` is that path inside another container
    (``--ipc container:X`` shares X's /dev/shm), which the kernel will not bind across
    mount namespaces as such (``berth.plugins.execdrivers.monitoring.foreign`` shows how);
    ``process.oomScoreAdj``, ``process.rlimits`` and ``linux.sysctl`` are applied as given,
    and a value the kernel refuses fails the create with the reason, never silently.

    A ``user`` namespace (``berthd --userns-remap``; drivers that honour it say so with
    ``ExecFeatures.user_namespaces``): without a path, a new one whose ``linux.uidMappings``
    and ``gidMappings`` are written from outside before anything runs as its root (the
    process inside waits for them); with a path, another container's, joined. The other new
    namespaces must then belong to it (made after it: pid included, so the init is not the
    first process in the pid namespace the driver forked), ``root.path`` is searched and
    mounted by the mapped root (the graph driver's id-mapped view guarantees it can),
    bind-mount sources and host device nodes may be out of its reach (clone them as host
    root, runc does the same), and ``mknod`` is refused there (bind the host's node). The
    container's pid is still reported as the host sees it.
    """


@hookspec(firstresult=True)
def exec_start(container_id: str) -> RuntimeState:
    """Run the user process of a CREATED container; return its RUNNING state.

    Raises ``ExecError`` (exit code 127: not found, 126: not executable) when the
    process cannot be executed; the container is then STOPPED with that code.
    """


@hookspec(firstresult=True)
def exec_kill(container_id: str, signal: int, all_processes: bool) -> bool | None:
    """Send ``signal`` to the container's init (or to every process when ``all_processes``).

    Killing a STOPPED container raises ``Conflict``.
    """


@hookspec(firstresult=True)
def exec_wait(container_id: str, timeout: float | None) -> RuntimeState:
    """Block until the container is STOPPED or ``timeout`` seconds passed; return its state."""


@hookspec(firstresult=True)
def exec_state(container_id: str) -> RuntimeState:
    """Return the container's current state without blocking."""


@hookspec(firstresult=True)
def exec_delete(container_id: str, force: bool) -> bool | None:
    """Release everything held for a STOPPED container (cgroups, state, monitor).

    With ``force``, kill a running container first. Idempotent for unknown ids.
    """


# ---------------------------------------------------------------------------
# processes inside a running container
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def exec_exec(container_id: str, exec_id: str, process: dict, io: IOConfig) -> ExecProcess:
    """Start ``process`` (an OCI ``process`` object) in all of the container's namespaces and cgroups.

    The process's output goes where ``io`` says; its exit status is reported by
    :func:`exec_exec_wait`.
    """


@hookspec(firstresult=True)
def exec_exec_wait(container_id: str, exec_id: str, timeout: float | None) -> int | None:
    """Block until exec ``exec_id`` ends; return its exit code (None on timeout)."""


@hookspec(firstresult=True)
def exec_exec_kill(container_id: str, exec_id: str, signal: int) -> bool | None:
    """Send ``signal`` to the process of exec ``exec_id`` (only that process, not its children).

    The engine kills a healthcheck probe that outlives its timeout this way, as Docker
    does. Raise ``NotFound`` for an unknown exec and ``Conflict`` when it has already ended.
    """


@hookspec(firstresult=True)
def exec_exec_delete(container_id: str, exec_id: str) -> bool | None:
    """Forget what the driver keeps of a finished exec (its record, its directory).

    The engine calls it for execs nobody can inspect any more (healthcheck probes, which
    run every few seconds for the container's whole life), so that their state does not
    pile up until the container is deleted. Idempotent for unknown execs; ``Conflict``
    while the exec still runs. Drivers that keep nothing per exec need not implement it.
    """


@hookspec(firstresult=True)
def exec_pause(container_id: str) -> bool | None:
    """Freeze every process of the container (cgroup freezer)."""


@hookspec(firstresult=True)
def exec_resume(container_id: str) -> bool | None:
    """Thaw a paused container."""


@hookspec(firstresult=True)
def exec_stats(container_id: str) -> dict:
    """Return resource usage in the shape of Docker's stats JSON (cpu_stats, memory_stats, pids_stats, blkio_stats)."""


@hookspec(firstresult=True)
def exec_resize(container_id: str, exec_id: str | None, height: int, width: int) -> bool | None:
    """Resize the pty of the container (``exec_id`` None) or of one exec.

    A running process without a pty has nothing to resize: that is a success (True), as dockerd
    answers; a process that is not running is a ``Conflict``.
    """


@hookspec(firstresult=True)
def exec_update(container_id: str, resources: dict) -> bool | None:
    """Apply new resource limits (an OCI ``linux.resources`` object) to a live container."""


@hookspec(firstresult=True)
def exec_top(container_id: str) -> list[int]:
    """Return the host pids of every process in the container."""


# ---------------------------------------------------------------------------
# daemon restart and reporting
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def exec_list() -> list[str]:
    """Return the ids of every container this driver still knows (running or not)."""


@hookspec(firstresult=True)
def exec_restore(container_id: str) -> RuntimeState:
    """Re-adopt a container left by a previous daemon; return its state.

    A container that exited while the daemon was away is reported STOPPED with
    the exit code it had.
    """


@hookspec(firstresult=True)
def exec_status() -> list[tuple[str, str]]:
    """Return ``(key, value)`` pairs shown for the driver in ``berth info``."""


@hookspec(firstresult=True)
def exec_features() -> ExecFeatures:
    """Return what the driver can enforce on this host (:class:`~berth.hookspecs.types.ExecFeatures`).

    Called once when the engine starts and cached; the engine uses it at create to
    refuse or warn about HostConfig fields (memory swap, blkio weight, cpusets...) the
    way dockerd does from its host probe. The core default answers "no cgroups, no
    limits", so a driver without this hook gets a warning for every limit it is asked for.
    """

