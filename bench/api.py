#!/usr/bin/env python3
"""API + CLI latency: ``ps``, ``images``, ``inspect`` through the berth CLI, the docker CLI against berthd,
and (when the lab dockerd of /work/shared/peers is up) the docker CLI against dockerd, in one run.

Usage (as root)::

    /opt/berth/venv/bin/python bench/api.py [-n 30] [--cli lean|venv]

A private berthd runs on a temp data-root under /var/tmp (``--bridge none``, ``-s vfs``)
with busybox bootstrapped and one running container, so ``ps`` and ``inspect`` have
something to show. dockerd (``/run/lab-docker.sock``, started by
``/work/shared/peers/start-dockerd.sh``) gets the same: a busybox container it runs
from its own store, when it has busybox (nothing is pulled). Rounds are interleaved so
drift on the shared cores hits every client alike; the table shows medians in ms and
ratios. Not a test: nothing is asserted about time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
LAB_DOCKER_SOCKET = "/run/lab-docker.sock"
OPS = ("ps", "images", "inspect")


def run_checked(argv: list[str], env: dict | None = None) -> str:
    result = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.decode()[-2000:]}")
    return result.stdout.decode()


def timed_ms(argv: list[str], env: dict | None) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.decode()[-1000:]}")
    return elapsed


class Client:
    """One way of running the three operations; ``argv(op)`` is the full command line."""

    def __init__(self, name: str, base: list[str], env: dict | None, target: str):
        self.name, self.base, self.env, self.target = name, base, env, target
        self.samples: dict[str, list[float]] = {op: [] for op in OPS}

    def argv(self, op: str) -> list[str]:
        return [*self.base, *({"ps": ["ps"], "images": ["images"], "inspect": ["inspect", self.target]}[op])]

    def median(self, op: str) -> float:
        return statistics.median(self.samples[op])


def start_berthd(base: Path) -> tuple[subprocess.Popen, Path]:
    sock = base / "run" / "berth.sock"
    (base / "run").mkdir(parents=True)
    (base / "daemon.json").write_text("{}")
    log = open(base / "berthd.log", "wb")
    proc = subprocess.Popen([str(VENV_BIN / "berthd"), "--data-root", str(base / "data"), "--exec-root",
                             str(base / "run"), "-H", f"unix://{sock}", "--bridge", "none", "-s", "vfs",
                             "--config-file", str(base / "daemon.json")],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"berthd did not start: {(base / 'berthd.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return proc, sock


INSTALLED_CLI = Path("/usr/local/bin/berth")  # what .ci/install writes and users run


def berth_launcher(base: Path, kind: str) -> list[str]:
    """The CLI as users run it: the lean ``python -I -S`` launcher (as .ci/install makes it), or the venv script.

    The installed /usr/local/bin/berth is used when it is the launcher for this checkout
    (same interpreter, its path dir maps ``berth`` to the package this venv imports);
    otherwise the same launcher is generated into the run's temp dir.
    """
    if kind == "venv":
        return [str(VENV_BIN / "berth")]
    import berth
    from berth.cli import launcher

    package = Path(berth.__file__).resolve().parent
    try:
        text = INSTALLED_CLI.read_text()
        for line in text.splitlines():
            if line.startswith("sys.path.insert(0, "):
                installed_dir = Path(line.split("(0, ", 1)[1].rstrip(")").strip("'\""))
                if (text == launcher.render(sys.executable, str(installed_dir))
                        and (installed_dir / "berth").resolve() == package):
                    return [str(INSTALLED_CLI)]
    except OSError:
        pass
    path_dir = base / "cli-path"
    path_dir.mkdir()
    (path_dir / "berth").symlink_to(Path(berth.__file__).parent)
    script = base / "berth"
    script.write_text(run_checked([sys.executable, "-m", "berth.cli.launcher", sys.executable, str(path_dir)]))
    script.chmod(0o755)
    return [str(script)]


def docker_alive(sock: str) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(sock)
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b" 200 " in s.recv(256)
    except OSError:
        return False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=30, help="rounds (default 30)")
    p.add_argument("--cli", choices=["lean", "venv"], default="lean", help="berth CLI launcher")
    args = p.parse_args()
    docker = shutil.which("docker") or "/usr/local/bin/docker"
    base = Path(tempfile.mkdtemp(prefix="berth-bench-api-", dir="/var/tmp"))
    proc, sock = start_berthd(base)
    notes: list[str] = []
    cleanup: list[tuple[list[str], dict]] = []  # (argv, env) run at the end
    try:
        berth = berth_launcher(base, args.cli) + ["-H", f"unix://{sock}"]
        run_checked([*berth, "image", "bootstrap", "busybox"])
        run_checked([*berth, "run", "-d", "--name", "bench-api", "busybox", "sleep", "3600"])
        clients = [Client("berth CLI -> berthd", berth, None, "bench-api")]
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        if os.path.exists(docker):
            env = {**clean_env, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(base / "docker-config")}
            clients.append(Client("docker CLI -> berthd", [docker], env, "bench-api"))
        else:
            notes.append("docker CLI not installed: skipped")
        if os.path.exists(docker) and docker_alive(LAB_DOCKER_SOCKET):
            env = {**clean_env, "DOCKER_HOST": f"unix://{LAB_DOCKER_SOCKET}", "DOCKER_CONFIG": str(base / "dc2")}
            has_busybox = subprocess.run([docker, "image", "inspect", "busybox"], env=env,
                                         capture_output=True).returncode == 0
            if has_busybox:
                subprocess.run([docker, "rm", "-f", "bench-api-peer"], env=env, capture_output=True)
                run_checked([docker, "run", "-d", "--network", "none", "--name", "bench-api-peer", "busybox",
                             "sleep", "3600"], env)
                cleanup.append(([docker, "rm", "-f", "bench-api-peer"], env))
                clients.append(Client("docker CLI -> dockerd", [docker], env, "bench-api-peer"))
            else:
                notes.append("lab dockerd has no busybox image (see make-busybox-image.sh): skipped")
        else:
            notes.append(f"no dockerd at {LAB_DOCKER_SOCKET} (start /work/shared/peers/start-dockerd.sh): skipped")
        floor = statistics.median(timed_ms([sys.executable, "-IS", "-c", "pass"], None) for _ in range(args.n))
        for c in clients:  # warm-up: page cache, first-run costs
            for op in OPS:
                timed_ms(c.argv(op), c.env)
        for _ in range(args.n):
            for op in OPS:
                for c in clients:
                    c.samples[op].append(timed_ms(c.argv(op), c.env))
        print(f"median latency in ms over {args.n} rounds (berth CLI: {args.cli}, {berth[0]}; "
              f"python -IS -c pass: {floor:.1f} ms)\n")
        header = f"{'client':<24}" + "".join(f"{op:>10}" for op in OPS)
        print(header)
        print("-" * len(header))
        for c in clients:
            print(f"{c.name:<24}" + "".join(f"{c.median(op):>10.1f}" for op in OPS))
        ref = clients[0]
        for other in clients[1:]:
            print(f"{'ratio berth CLI / it':<24}"
                  + "".join(f"{ref.median(op) / other.median(op):>9.2f}x" for op in OPS) + f"   ({other.name})")
        for note in notes:
            print(f"note: {note}")
    finally:
        for argv, env in cleanup:
            subprocess.run(argv, env=env, capture_output=True)
        # remove our container so its monitor, mounts and cgroups go before the daemon stops
        subprocess.run([str(VENV_BIN / "berth"), "-H", f"unix://{sock}", "rm", "-f", "bench-api"], capture_output=True)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
