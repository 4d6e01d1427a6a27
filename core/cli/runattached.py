"""``run`` after the create: start, attach to the chosen streams, forward signals, and exit as the container did.

Docker's order: attach (only the streams ``-a`` names, or stdout and stderr,
plus stdin with ``-i``), then wait (its answer comes at once), then start. While
attached, ``--sig-proxy`` (on by default) sends every signal we receive to the
container instead of letting it end us, as the docker CLI does; the detach keys
are the flag's, else config.json's ``detachKeys``, else ctrl-p,ctrl-q.
"""

from __future__ import annotations

import sys

from berth.cli import fastjson
from berth.cli.client import APIError

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

    from berth.cli.client import Client, Response
    from berth.cli.options import Namespace


def exit_code_for_error(message: str) -> int:
    """The docker CLI maps runtime errors to 127 (not found) and 126 (cannot invoke)."""
    lowered = message.lower()
    if "executable file not found" in lowered or "no such file or directory" in lowered:
        return 127
    if "permission denied" in lowered or "is a directory" in lowered or "exec format error" in lowered \
            or "not executable" in lowered:
        return 126
    return 125


def start(client: Client, cid: str) -> int:
    """``POST /containers/{cid}/start``; 0, or the docker CLI's exit code for the daemon's refusal."""
    try:
        client.post(f"/containers/{cid}/start")
    except APIError as exc:
        print(f"berth: Error response from daemon: {exc.message}\n\nRun 'berth run --help' for more information",
              file=sys.stderr)
        return exit_code_for_error(exc.message)
    return 0


def exit_status(waiter: Response, error_code: int | None = None) -> int:
    """The exit code a ``/wait`` answer carries; when it reports an error, that is printed and ``error_code``
    (``run``: 125) replaces the code."""
    try:
        status = fastjson.loads(waiter.read() or b"{}")
    except ValueError:
        return 125
    if status.get("Error") and status["Error"].get("Message"):
        print(status["Error"]["Message"], file=sys.stderr)
        if error_code is not None:
            return error_code
    return int(status.get("StatusCode", 125))


class SignalProxy:
    """While active, every catchable signal we receive is sent to the container (``POST .../kill``)."""

    #: never forwarded, as in the docker CLI: a child's exit, a broken pipe, the Go runtime's preemption signal
    SKIPPED = ("SIGCHLD", "SIGPIPE", "SIGURG", "SIGKILL", "SIGSTOP")

    def __init__(self, client: Client, cid: str):
        self.client, self.cid = client, cid
        self.previous: dict[int, Any] = {}

    def _forward(self, signum: int, frame: Any) -> None:
        import signal

        try:
            name = signal.Signals(signum).name.removeprefix("SIG")
        except ValueError:
            name = str(signum)
        try:
            self.client.post(f"/containers/{self.cid}/kill", signal=name)
        except Exception:  # the container may be gone already; the docker CLI only logs this
            pass

    def __enter__(self) -> "SignalProxy":
        import signal

        for signum in signal.valid_signals():
            try:
                name = signal.Signals(signum).name
            except ValueError:
                name = ""
            if name in self.SKIPPED:
                continue
            try:
                self.previous[signum] = signal.signal(signum, self._forward)
            except (OSError, ValueError):
                continue
        return self

    def __exit__(self, *exc: Any) -> None:
        import signal

        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def _wait(client: Client, cid: str, opts: Namespace) -> Response:
    """The ``/wait`` the docker CLI opens before the start (its headers come back at once)."""
    return client.open("POST", f"/containers/{cid}/wait", {"condition": "removed" if opts.rm else "next-exit"})


def run_detached(client: Client, cid: str, opts: Namespace) -> int:
    """``run -d``: start and print the id (the docker CLI opens its wait first here too, and drops it)."""
    waiter = _wait(client, cid, opts)
    code = start(client, cid)
    waiter.close()
    if not code:
        print(cid)
    return code


def run_attached(client: Client, cid: str, opts: Namespace, body: dict[str, Any], default_keys: str) -> int:
    """Attach, wait, start and stream until the container ends (its exit code) or the user detaches (0)."""
    from berth.cli import streams

    stdin, stdout, stderr = body["AttachStdin"], body["AttachStdout"], body["AttachStderr"]
    keys = opts.detach_keys or default_keys
    # only the streams asked for, and no false ones, in the query (as the docker CLI sends it)
    sock = client.hijack(f"/containers/{cid}/attach", {"stream": True, "stdin": stdin or None,
                                                       "stdout": stdout or None, "stderr": stderr or None,
                                                       "detachKeys": keys or None})
    waiter = _wait(client, cid, opts)
    proxy = SignalProxy(client, cid) if opts.sig_proxy else None
    if proxy:
        proxy.__enter__()
    try:
        code = start(client, cid)
        if code:
            sock.close()
            return code
        detached = streams.interact(sock, body["Tty"], stdin, keys or None,
                                    lambda h, w: client.post(f"/containers/{cid}/resize", h=h, w=w))
        if detached:
            waiter.close()
            return 0
        return exit_status(waiter, error_code=125)
    finally:
        if proxy:
            proxy.__exit__()
