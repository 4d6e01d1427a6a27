"""Choosing and invoking the OCI runtime binary (runc or crun), and reading its errors.

Choice, in order: the driver option ``runtime``, the environment variable
``BERTH_OCI_RUNTIME``, else crun when it can work here, else runc.

crun 1.8 refuses a *hybrid* cgroup host whose v2 hierarchy still holds a
controller (this machine's v2 hierarchy at /sys/fs/cgroup/unified holds hugetlb):
"cgroups in hybrid mode not supported, drop all controllers from cgroupv2".
Mounting a v1 hierarchy for those controllers fixes it, but that changes the
host, so the driver does it only when the option ``mount_hugetlb`` is true.
Otherwise crun is skipped when chosen automatically (runc works on such hosts,
and ``berth info`` says why), and refused with that reason when asked for by name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass

from berth.driverkit import DriverError

KNOWN = ("crun", "runc")
_V2_MOUNT = "/sys/fs/cgroup/unified"


@dataclass
class Runtime:
    """One runtime binary and the state root it keeps our containers in (``--root``)."""

    name: str
    path: str
    state_root: str

    def argv(self, *args: str, log: str | None = None) -> list[str]:
        """The command line for ``args``; with ``log``, the runtime's own errors also go there as JSON lines."""
        out = [self.path, "--root", self.state_root]
        if log:
            out += ["--log", f"file:{log}" if self.name == "crun" else log, "--log-format", "json"]
        return out + list(args)

    def run(self, *args: str, stdin: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run the runtime to completion, capturing its output."""
        return subprocess.run(self.argv(*args), input=stdin, capture_output=True, timeout=timeout,
                              stdin=None if stdin is not None else subprocess.DEVNULL)

    def check(self, *args: str, subject: str, stdin: bytes | None = None) -> bytes:
        """Run the runtime; a failure becomes DriverError naming the command and the runtime's message."""
        done = self.run(*args, stdin=stdin)
        if done.returncode != 0:
            raise DriverError(f"oci driver: `{self.name} {args[0]}` failed for {subject}: "
                              f"{error_text(done.stderr.decode(errors='replace')) or f'exit status {done.returncode}'}")
        return done.stdout

    def version(self) -> str:
        try:
            first = subprocess.run([self.path, "--version"], capture_output=True, timeout=10).stdout.decode()
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        return (first.splitlines() or ["unknown"])[0]

    def to_dict(self) -> dict:
        return asdict(self)


def truthy(value: object) -> bool:
    """Driver options arrive as strings from daemon.json or --exec-opt."""
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------
# crun and hybrid cgroup hosts
# ---------------------------------------------------------------------------


def _mounts() -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of every mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fstype, _source, superopts = tail.split()[:3]
            out.append((head.split()[4], fstype, superopts))
    return out


def hybrid_v2_controllers() -> list[str]:
    """Controllers held by a hybrid host's v2 hierarchy that no v1 hierarchy provides (what crun 1.8 refuses)."""
    mounts = _mounts()
    v2 = [m for m, fstype, _ in mounts if fstype == "cgroup2" and m != "/sys/fs/cgroup"]
    if not v2 or not any(fstype == "cgroup" for _, fstype, _ in mounts):
        return []  # pure v1 or pure v2: nothing to refuse
    try:
        with open(os.path.join(v2[0], "cgroup.controllers")) as f:
            held = f.read().split()
    except OSError:
        return []
    in_v1 = {opt for _, fstype, opts in mounts if fstype == "cgroup" for opt in opts.split(",")}
    return [c for c in held if c not in in_v1]


def crun_problem() -> str | None:
    """Why crun cannot run containers on this host (None: it can)."""
    held = hybrid_v2_controllers()
    if not held:
        return None
    return (f"crun refuses this hybrid cgroup host: the cgroup v2 hierarchy at {_V2_MOUNT} holds "
            f"{', '.join(held)} with no v1 hierarchy for it (\"cgroups in hybrid mode not supported\"); "
            f"set the oci driver option mount_hugetlb=true to mount v1 hierarchies for "
            f"{', '.join(held)} under /sys/fs/cgroup, or use runtime=runc")


def mount_v1_for_hybrid() -> list[str]:
    """Mount a v1 hierarchy at /sys/fs/cgroup/<name> for each controller only v2 holds (a host change)."""
    done = []
    for controller in hybrid_v2_controllers():
        target = f"/sys/fs/cgroup/{controller}"
        os.makedirs(target, exist_ok=True)
        result = subprocess.run(["mount", "-t", "cgroup", "-o", controller, "cgroup", target],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise DriverError(f"oci driver: mounting a cgroup v1 {controller} hierarchy at {target} failed: "
                              f"{result.stderr.strip()}; mount it by hand or use runtime=runc")
        done.append(target)
    return done


# ---------------------------------------------------------------------------
# choice
# ---------------------------------------------------------------------------


def find(name: str) -> str | None:
    """The binary for ``name`` (a name on PATH or an absolute path)."""
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    return shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}")
                                       if os.access(p, os.X_OK)), None)


def choose(options: dict, state_root: str) -> tuple[Runtime, str]:
    """The runtime to use and a note on the choice (shown by ``berth info``)."""
    wanted = options.get("runtime") or os.environ.get("BERTH_OCI_RUNTIME")
    allow_mount = truthy(options.get("mount_hugetlb", False))
    if wanted:
        path = find(wanted)
        if path is None:
            raise DriverError(f"oci driver: runtime {wanted!r} is not installed (not on PATH); install it or "
                              f"choose another with the option runtime=NAME or BERTH_OCI_RUNTIME")
        name = os.path.basename(path)
        note = "chosen by option" if options.get("runtime") else "chosen by BERTH_OCI_RUNTIME"
        if name == "crun" and (problem := crun_problem()):
            if not allow_mount:
                raise DriverError(f"oci driver: {problem}")
            note += "; mounted " + ", ".join(mount_v1_for_hybrid())
        return Runtime(name, path, state_root), note
    crun = find("crun")
    if crun:
        problem = crun_problem()
        if problem is None:
            return Runtime("crun", crun, state_root), "crun preferred"
        if allow_mount:
            mounted = mount_v1_for_hybrid()
            return Runtime("crun", crun, state_root), "crun preferred; mounted " + ", ".join(mounted)
        runc = find("runc")
        if runc:
            return Runtime("runc", runc, state_root), f"runc, because {problem}"
        raise DriverError(f"oci driver: runc is not installed and {problem}")
    runc = find("runc")
    if runc:
        return Runtime("runc", runc, state_root), "runc (crun is not installed)"
    raise DriverError("oci driver: neither crun nor runc is installed; install one (apt-get install runc)")


def usable_here() -> str | None:
    """probe(): None when some runtime can work on this host, else why none can."""
    wanted = os.environ.get("BERTH_OCI_RUNTIME")
    if wanted:
        if find(wanted) is None:
            return f"BERTH_OCI_RUNTIME={wanted} is not installed"
        return None  # a crun refused by the hybrid check is reported at start, with the fix
    if find("runc"):
        return None
    if find("crun"):
        problem = crun_problem()
        return None if problem is None else problem + " (and runc is not installed)"
    return "neither crun nor runc is installed (apt-get install runc or crun)"


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------

_NOT_FOUND = (re.compile(r'exec: "(?P<cmd>[^"]*)": executable file not found in \$PATH'),
              re.compile(r"executable file `(?P<cmd>[^`]*)` not found in \$PATH"),
              re.compile(r'exec: "(?P<cmd>[^"]*)": no such file or directory'),
              re.compile(r"execv?p?e? `(?P<cmd>[^`]*)`: No such file or directory"))
_DENIED = (re.compile(r'exec: "(?P<cmd>[^"]*)": permission denied'),
           # crun says "open executable: Permission denied" without naming it
           re.compile(r"(?:open executable|exec(?:v|vp|ve)?)(?: `?(?P<cmd>[^`:]*)`?)?: Permission denied"))


def error_text(raw: str) -> str:
    """The runtime's message from its stderr or its JSON log (last error line wins)."""
    message = ""
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            message = line
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal", None) and entry.get("msg"):
            message = entry["msg"]
    return message


def exec_failure(message: str, argv0: str = "") -> tuple[str, int] | None:
    """Docker's wording and exit code (127 not found, 126 not executable) for a runtime's exec error.

    ``argv0`` names the command when the runtime's message does not.
    """
    for pattern in _NOT_FOUND:
        if match := pattern.search(message):
            cmd = match.group("cmd")
            if "/" in cmd:
                return f'exec: "{cmd}": stat {cmd}: no such file or directory', 127
            return f'exec: "{cmd}": executable file not found in $PATH', 127
    for pattern in _DENIED:
        if match := pattern.search(message):
            return f'exec: "{match.group("cmd") or argv0}": permission denied', 126
    return None
