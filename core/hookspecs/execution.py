"""Exec driver contract: the OCI runtime lifecycle, driven by the engine.

The engine builds an OCI runtime spec (the ``config.json`` dict of the OCI runtime
specification) from the image config and the create options, writes it into a
*bundle* directory, and hands both to the exec driver. ``spec["root"]["path"]`` is
the container's mounted root filesystem (absolute). The driver never reads Docker
API structures.

The driver class
    Registered under the entry-point group ``berth.execdrivers``; instantiated as
    ``Driver(root, options)`` after ``probe(root)`` returned None: ``root`` is
    ``<exec-root>/<driver name>``, the driver's alone (on storage that a reboot may
    or may not clear: reconcile what you find); ``options`` is ``{}`` (no daemon
    setting reaches exec drivers yet).

Lifecycle, after the OCI runtime spec's "Lifecycle" section::

    exec_create -> (created) -> exec_start -> (running) -> process exits -> (stopped)
        -> exec_delete

Containers outlive the daemon: a driver keeps what it needs to find them again in
its ``root``, and :func:`exec_list` / :func:`exec_restore` re-adopt them when the
daemon restarts. Something other than the daemon must therefore hold each
container's stdio and record its exit (berth's drivers: a monitor process per
container).

Threads
    Hooks are called from the daemon's worker threads, never from its event loop,
    so they may block (``exec_wait`` does, for as long as a container runs); several
    run at once, for one container too (``wait`` while ``kill`` and ``exec`` arrive).

Logs
    The driver, not the daemon, writes a container's log, because the process
    that holds the container's stdio must outlive the daemon.
    :class:`~berth.hookspecs.types.IOConfig` says where (``log_path``), in which
    format, how to rotate and compress, and whether to block; the daemon reads
    those files for ``logs`` and ``attach?logs=1``.
    :func:`berth.driverkit.open_log_writer` is a complete writer a driver may use
    (``native`` and ``oci`` do). ``IOConfig`` also gives the attach socket's protocol.

What the spec asks besides the OCI fields
    The annotation :data:`~berth.hookspecs.types.INIT_ANNOTATION` (``io.berth.init``
    = "true", ``run --init``): pid 1 is a small init that reaps and forwards
    signals. ``process.rlimits``, ``process.oomScoreAdj``, ``process.noNewPrivileges``,
    ``linux.sysctl``, ``linux.devices`` and ``linux.resources`` are applied as given;
    a field the driver cannot apply is refused (NotSupported or the kernel's reason),
    never ignored. :func:`exec_features` says which resource limits the driver
    enforces, so the engine warns about the others before they reach the driver.

Errors: raise :class:`berth.errors.NotFound` for an unknown container id,
:class:`berth.errors.Conflict` for an operation the container's state forbids,
and :class:`berth.errors.ExecError` (with ``exit_code`` 126 or 127 where Docker
uses them) when the container's process cannot be started.

Hooks
    Required: ``exec_create``, ``exec_start``, ``exec_kill``, ``exec_wait``,
    ``exec_state``, ``exec_delete``. Optional, with a core default used only when
    the driver does not implement the hook: ``exec_list`` (``[]``: nothing is
    re-adopted), ``exec_status`` (``[]``), ``exec_features`` (no limits enforced),
    ``exec_exec_delete`` and ``exec_cleanup`` (nothing kept, True); the others
    (exec, pause, stats, ...) are refused with NotSupported naming the driver.

Results and errors follow :mod:`berth.hookspecs`: one answer per hook, never None
(``True`` when there is nothing to return), :class:`~berth.hookspecs.NotSupported`
for what the driver cannot do.
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
    mount namespaces as such (berth's ``monitoring/foreign.py`` shows how);
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

    Required; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_start(container_id: str) -> RuntimeState:
    """Run the user process of a CREATED container; return its RUNNING state.

    Raises ``ExecError`` (exit code 127: not found, 126: not executable) when the
    process cannot be executed; the container is then STOPPED with that code.

    Required; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_kill(container_id: str, signal: int, all_processes: bool) -> bool:
    """Send ``signal`` to the container's init (or to every process when ``all_processes``).

    Killing a STOPPED container raises ``Conflict``.

    Required; stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def exec_wait(container_id: str, timeout: float | None) -> RuntimeState:
    """Block until the container is STOPPED or ``timeout`` seconds passed (None: no limit); return its state.

    Required; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_state(container_id: str) -> RuntimeState:
    """Return the container's current state without blocking.

    Required; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_delete(container_id: str, force: bool) -> bool:
    """Release everything held for a STOPPED container (cgroups, state, monitor).

    With ``force``, kill a running container first; without, a running one is a
    ``Conflict``. Idempotent for unknown ids. Afterwards :func:`exec_state` raises
    ``NotFound`` and :func:`exec_list` no longer names it.

    Required; stops at the first non-None result. Return True.
    """


# ---------------------------------------------------------------------------
# processes inside a running container
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def exec_exec(container_id: str, exec_id: str, process: dict, io: IOConfig) -> ExecProcess:
    """Start ``process`` (an OCI ``process`` object) in all of the container's namespaces and cgroups.

    The process's output goes where ``io`` says; its exit status is reported by
    :func:`exec_exec_wait`. A command that cannot run raises ``ExecError`` (127, 126)
    after recording that exit code for the exec.

    Optional (core default: NotSupported); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_exec_wait(container_id: str, exec_id: str, timeout: float | None) -> int:
    """Block until exec ``exec_id`` ends and return its exit code.

    When ``timeout`` seconds pass first (None: no limit), raise :class:`TimeoutError`.
    ``NotFound`` for an exec the driver does not know (or forgot, see
    :func:`exec_exec_delete`).

    Optional (core default: NotSupported); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_exec_kill(container_id: str, exec_id: str, signal: int) -> bool:
    """Send ``signal`` to the process of exec ``exec_id`` (only that process, not its children).

    The engine kills a healthcheck probe that outlives its timeout this way, as Docker
    does. Raise ``NotFound`` for an unknown exec and ``Conflict`` when it has already ended.

    Optional (core default: NotSupported); stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def exec_exec_delete(container_id: str, exec_id: str) -> bool:
    """Forget what the driver keeps of a finished exec (its record, its directory).

    The engine calls it for execs nobody can inspect any more (healthcheck probes, which
    run every few seconds for the container's whole life), so that their state does not
    pile up until the container is deleted. Idempotent for unknown execs; ``Conflict``
    while the exec still runs. Drivers that keep nothing per exec need not implement it.

    Optional (core default: True, nothing kept); stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def exec_pause(container_id: str) -> bool:
    """Freeze every process of the container (cgroup freezer); :func:`exec_state` then says PAUSED.

    ``Conflict`` when it is not running or already paused.

    Optional (core default: NotSupported); stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def exec_resume(container_id: str) -> bool:
    """Thaw a paused container. ``Conflict`` when it is not paused.

    Optional (core default: NotSupported); stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def exec_stats(container_id: str) -> dict:
    """Return resource usage in the shape of Docker's stats JSON (cpu_stats, memory_stats, pids_stats, blkio_stats).

    Optional (core default: NotSupported); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_resize(container_id: str, exec_id: str | None, height: int, width: int) -> bool:
    """Resize the pty of the container (``exec_id`` None) or of one exec.

    A running process without a pty has nothing to resize: that is a success (True), as dockerd
    answers; a process that is not running is a ``Conflict``.

    Optional (core default: NotSupported); stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def exec_update(container_id: str, resources: dict) -> bool:
    """Apply new resource limits (an OCI ``linux.resources`` object) to a live container.

    Optional (core default: NotSupported); stops at the first non-None result. Return True.
    """


@hookspec(firstresult=True)
def exec_top(container_id: str) -> list[int]:
    """Return the host pids of every process in the container.

    Optional (core default: NotSupported); stops at the first non-None result.
    """


# ---------------------------------------------------------------------------
# daemon restart and reporting
# ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def exec_list() -> list[str]:
    """Return the ids of every container this driver still knows (running or not).

    Optional (core default: ``[]``, no container survives a daemon restart); stops at
    the first non-None result.
    """


@hookspec(firstresult=True)
def exec_restore(container_id: str) -> RuntimeState:
    """Re-adopt a container left by a previous daemon; return its state.

    A container that exited while the daemon was away is reported STOPPED with
    the exit code it had. Called on a new driver instance (see :func:`exec_list`).

    Optional (core default: NotSupported); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_status() -> list[tuple[str, str]]:
    """Return ``(key, value)`` string pairs shown for the driver in ``berth info``.

    Optional (core default: ``[]``); stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_features() -> ExecFeatures:
    """Return what the driver can enforce on this host (:class:`~berth.hookspecs.types.ExecFeatures`).

    Called once when the engine starts and cached; the engine uses it at create to
    refuse or warn about HostConfig fields (memory swap, blkio weight, cpusets...) the
    way dockerd does from its host probe. The core default answers "no cgroups, no
    limits", so a driver without this hook gets a warning for every limit it is asked for.

    Optional; stops at the first non-None result.
    """


@hookspec(firstresult=True)
def exec_cleanup() -> bool:
    """Release what the driver instance holds (helper processes, sockets) when the daemon stops.

    Containers keep running, with whatever supervises them; a new instance over the
    same ``root`` re-adopts them (:func:`exec_restore`).

    Optional (core default: nothing to release); stops at the first non-None result.
    Return True.
    """

