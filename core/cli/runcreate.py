"""``run`` and ``create``: the docker CLI's client-side work around ``POST /containers/create``.

The command line is read by :mod:`berth.cli.flags` from :mod:`berth.cli.runopts`;
the request is built by :mod:`berth.cli.createbody`. Around it, as the docker CLI
(v28) does: ``--cidfile`` (refused when the file exists, removed again when no
container was made), ``--pull always|missing|never`` (a missing image is pulled
and the create retried), ``--platform``, ``--use-api-socket`` (the daemon's own
socket bind-mounted, and stored registry credentials copied into the container),
warnings, and for ``run``: attach to the ``-a`` streams, wait, start, forward
signals (``--sig-proxy``), detach keys (flag, else config.json's ``detachKeys``),
and the container's exit status.
"""

from __future__ import annotations

import sys

from berth.cli.client import APIError
from berth.cli.runopts import CONTAINER_OPTIONS, RUN_OPTIONS

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    import argparse
    from typing import Any

    from berth.cli.client import Client, Response
    from berth.cli.options import Namespace

USAGE = "[OPTIONS] IMAGE [COMMAND] [ARG...]"
#: verbs whose command line berth.cli.main reads with berth.cli.flags from these tables
FLAG_TABLES = {"run": RUN_OPTIONS, "create": CONTAINER_OPTIONS}
OWN_HELP = ("run", "create")


class CommandError(Exception):
    """A failure of the client-side work; ``run`` reports it as "berth: MESSAGE" with exit 125, ``create`` as
    the bare message with exit 1 (the docker CLI's two ways)."""


def setup_create(p: argparse.ArgumentParser) -> None:
    """argparse's view of the table (completion); the command line itself is read by berth.cli.flags."""
    from berth.cli.argparsing import add_options

    add_options(p, CONTAINER_OPTIONS)


def setup_run(p: argparse.ArgumentParser) -> None:
    from berth.cli.argparsing import add_options

    add_options(p, RUN_OPTIONS)


def _check_pull(opts: Namespace, verb: str) -> None:
    if opts.pull not in ("always", "missing", "never", ""):
        print(f"berth: invalid pull option: '{opts.pull}': must be one of \"always\", \"missing\" or \"never\""
              f"\n\nRun 'berth {verb} --help' for more information", file=sys.stderr)
        raise SystemExit(125)


def _request(client: Client, opts: Namespace, config: dict[str, Any], verb: str) -> tuple[dict, dict]:
    from berth.cli.createbody import UsageError, create_request

    try:
        return create_request(opts, client.host, config)
    except UsageError as exc:
        print(f"berth: {exc}\n\nRun 'berth {verb} --help' for more information", file=sys.stderr)
        raise SystemExit(125) from None


def create_container(client: Client, opts: Namespace, query: dict, body: dict, config: dict[str, Any]) -> str:
    """Create the container (pulling as ``--pull`` says) and return its id; CommandError on client-side failure."""
    creds = {}
    if opts.use_api_socket:
        from berth.cli.apisocket import credentials

        creds = credentials(config, body)
    with _cid_file(opts.cidfile) as cid_file:
        if not opts.disable_content_trust and "@" not in opts.image:
            raise CommandError("content trust is not supported by berth: image signatures cannot be verified "
                               "(pass --disable-content-trust, or unset DOCKER_CONTENT_TRUST)")
        if opts.platform:
            query = {**query, "platform": _platform(opts.platform)}
        if opts.pull == "always":
            _pull(client, opts)
        try:
            result = client.post("/containers/create", body, **query)
        except APIError as exc:
            if exc.status != 404 or opts.pull != "missing" or not exc.message.startswith("No such image"):
                raise
            if not opts.quiet:
                print(f"Unable to find image '{_familiar(opts.image)}' locally", file=sys.stderr)
            _pull(client, opts)
            result = client.post("/containers/create", body, **query)
        for warning in (result.get("Warnings") or []) + _client_warnings(opts, body):
            print(f"WARNING: {warning}", file=sys.stderr)
        cid_file.write(result["Id"])
    if creds:
        from berth.cli.apisocket import install_credentials

        install_credentials(client, result["Id"], creds)
    return result["Id"]


class _NoCidFile:
    """Without ``--cidfile``: nothing to write or clean up (and berth.cli.cidfile stays unimported)."""

    def __enter__(self) -> "_NoCidFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def write(self, cid: str) -> None:
        pass


def _cid_file(path: str) -> Any:
    if not path:
        return _NoCidFile()
    from berth.cli.cidfile import CidFile

    return CidFile(path)


def _platform(text: str) -> str:
    from berth.cli import platformspec

    try:
        return platformspec.normalize(text)
    except ValueError as exc:
        raise CommandError(f"error parsing specified platform: {exc}") from None


def _familiar(image: str) -> str:
    """The image reference as the docker CLI names it in "Unable to find image" (with ``:latest`` added)."""
    name = image.rsplit("/", 1)[-1]
    return image if ":" in name or "@" in name else image + ":latest"


def _client_warnings(opts: Namespace, body: dict) -> list[str]:
    """Warnings of the client's own: the docker CLI's for a loopback ``--dns`` server, and one for
    ``--kernel-memory``, which the docker CLI drops without a word (the Engine API ignores it since 1.42)."""
    warnings = []
    for server in body["HostConfig"]["Dns"]:
        if server.startswith("127.") or server == "::1":
            warnings.append(f"Localhost DNS ({server}) may fail in containers.")
            break
    if opts.kernel_memory:
        warnings.append("--kernel-memory is ignored: kernel memory limits are not supported by the kernel "
                        "(and the Engine API ignores them since 1.42)")
    return warnings


def _pull(client: Client, opts: Namespace) -> None:
    try:
        from berth.cli.registry import pull_image
    except ImportError:
        raise APIError(404, f"No such image: {opts.image}") from None
    if pull_image(client, opts.image, opts.platform or None, opts.quiet, out=sys.stderr) != 0:
        raise SystemExit(125)


def run_create(client: Client, opts: Namespace) -> int:
    from berth.cli.clientconfig import load

    _check_pull(opts, "create")
    config = load()
    query, body = _request(client, opts, config, "create")
    try:
        print(create_container(client, opts, query, body, config))
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def run_run(client: Client, opts: Namespace) -> int:
    from berth.cli.clientconfig import load

    _check_pull(opts, "run")
    config = load()
    query, body = _request(client, opts, config, "run")
    if opts.detach and opts.attach:
        print("conflicting options: cannot specify both --attach and --detach", file=sys.stderr)
        return 1
    if not opts.detach and body["AttachStdin"] and body["Tty"] and not sys.stdin.isatty():
        print("the input device is not a TTY", file=sys.stderr)
        return 1
    try:
        cid = create_container(client, opts, query, body, config)
    except CommandError as exc:
        return _run_error(str(exc))
    except APIError as exc:
        return _run_error(f"Error response from daemon: {exc.message}", exit_code_for_error(exc.message))
    if opts.detach:
        return run_detached(client, cid, opts)
    return run_attached(client, cid, opts, body, config.get("detachKeys") or "")


def _run_error(message: str, code: int = 125) -> int:
    """How the docker CLI's ``run`` reports a failure before the container runs."""
    print(f"berth: {message}\n\nRun 'berth run --help' for more information", file=sys.stderr)
    return code


# -- run after the create: start, attach, signals -------------------------------------------------------

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


class SignalProxy:
    """While active, every catchable signal we receive is sent to the container (``POST .../kill``).

    Built on the C module ``_signal``: ``signal`` imports ``enum`` and ``functools``, a few ms of every run.
    """

    #: never forwarded, as in the docker CLI: a child's exit, a broken pipe, the Go runtime's preemption signal
    SKIPPED = ("SIGCHLD", "SIGPIPE", "SIGURG", "SIGKILL", "SIGSTOP")

    def __init__(self, client: Client, cid: str):
        self.client, self.cid = client, cid
        self.previous: dict[int, Any] = {}

    @staticmethod
    def names() -> dict[int, str]:
        """Signal number -> name without "SIG" (as ``docker kill -s`` takes it); real-time ones have none."""
        import _signal

        return {getattr(_signal, n): n[3:] for n in dir(_signal)
                if n.startswith("SIG") and not n.startswith("SIG_") and n not in ("SIGRTMIN", "SIGRTMAX")}

    def _forward(self, signum: int, frame: Any) -> None:
        try:
            self.client.post(f"/containers/{self.cid}/kill", signal=self.names().get(signum, str(signum)))
        except Exception:  # the container may be gone already; the docker CLI only logs this
            pass

    def __enter__(self) -> "SignalProxy":
        import _signal

        skipped = {getattr(_signal, name) for name in self.SKIPPED if hasattr(_signal, name)}
        for signum in _signal.valid_signals():
            if signum in skipped:
                continue
            try:
                self.previous[signum] = _signal.signal(signum, self._forward)
            except (OSError, ValueError, RuntimeError):
                continue
        return self

    def __exit__(self, *exc: Any) -> None:
        import _signal

        for signum, handler in self.previous.items():
            _signal.signal(signum, handler)


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
        return streams.exit_status(waiter, error_code=125)
    finally:
        if proxy:
            proxy.__exit__()
