"""Entry point of ``berth``: global options, then one verb whose module is imported on demand.

Behaves like the docker CLI where a script could tell the difference: a bad flag
or argument exits 125 with "See 'berth VERB --help'.", daemon errors print
"Error response from daemon: ..." (exit 1, or 125 for ``run``/``create``), every
verb and group has ``--help``. Start-up cost matters (it is part of every
command's latency): only the verb's module is imported, and nothing here pulls
in ``shutil``/``http.client``/``ssl`` unless the command needs them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any, Callable

#: verb -> (module under berth.cli, help). A module provides ``setup_<verb>(parser)`` and ``run_<verb>(client, opts)``.
VERBS: dict[str, tuple[str, str]] = {
    "run": ("containers", "Create and run a new container from an image"),
    "create": ("containers", "Create a new container"),
    "start": ("containers", "Start one or more stopped containers"),
    "stop": ("containers", "Stop one or more running containers"),
    "restart": ("containers", "Restart one or more containers"),
    "kill": ("containers", "Kill one or more running containers"),
    "pause": ("containers", "Pause all processes within one or more containers"),
    "unpause": ("containers", "Unpause all processes within one or more containers"),
    "wait": ("containers", "Block until one or more containers stop, then print their exit codes"),
    "rm": ("containers", "Remove one or more containers"),
    "rename": ("containers", "Rename a container"),
    "update": ("containers", "Update configuration of one or more containers"),
    "ps": ("containers", "List containers"),
    "logs": ("containers", "Fetch the logs of a container"),
    "attach": ("containers", "Attach local standard input, output, and error streams to a running container"),
    "exec": ("containers", "Execute a command in a running container"),
    "top": ("monitoring", "Display the running processes of a container"),
    "port": ("monitoring", "List port mappings or a specific mapping for the container"),
    "stats": ("monitoring", "Display a live stream of container(s) resource usage statistics"),
    "events": ("monitoring", "Get real time events from the server"),
    "container": ("containers", "Manage containers"),
    "network": ("network", "Manage networks"),
    "volume": ("volume", "Manage volumes"),
    "system": ("system", "Manage berth (df, prune, info, events)"),
    "inspect": ("system", "Return low-level information on berth objects"),
    "version": ("system", "Show the berth version information"),
    "info": ("system", "Display system-wide information"),
    "plugins": ("system", "List installed drivers (plugins ls)"),
    "completion": ("completion", "Generate the shell completion script (bash)"),
    "images": ("images", "List images"),
    "pull": ("registry", "Download an image from a registry"),
    "push": ("registry", "Upload an image to a registry"),
    "login": ("registry", "Log in to a registry"),
    "logout": ("registry", "Log out from a registry"),
    "search": ("registry", "Search a registry for images"),
    "image": ("images", "Manage images (ls, inspect, history, tag, rm, prune, save, load, import, bootstrap)"),
    "build": ("build", "Build an image from a Dockerfile"),
    "history": ("images", "Show the history of an image"),
    "tag": ("images", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("images", "Remove one or more images"),
    "save": ("images", "Save one or more images to a tar archive"),
    "load": ("images", "Load an image from a tar archive or STDIN"),
    "import": ("images", "Import the contents from a tarball to create a filesystem image"),
    "export": ("filesystem", "Export a container's filesystem as a tar archive"),
    "diff": ("filesystem", "Inspect changes to files or directories on a container's filesystem"),
    "commit": ("filesystem", "Create a new image from a container's changes"),
    "cp": ("filesystem", "Copy files/folders between a container and the local filesystem"),
}

#: flag or argument errors exit with this status, as the docker CLI does
USAGE_ERROR = 125


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized without importing ``shutil`` (which drags in lzma/bz2)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 30, width: int | None = None):
        if width is None:
            try:
                width = os.get_terminal_size(sys.stdout.fileno()).columns - 2
            except (OSError, ValueError):
                width = 100
        super().__init__(prog, indent_increment, max_help_position, max(width, 40))


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that fails like the docker CLI: message, hint, exit 125."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", _Formatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: {message}\nSee '{self.prog} --help'.\n")
        sys.exit(USAGE_ERROR)


def global_parser() -> argparse.ArgumentParser:
    p = Parser(prog="berth", description="A Docker-compatible container engine",
               usage="berth [OPTIONS] COMMAND", add_help=False)
    p.add_argument("-H", "--host", help="daemon socket to connect to (unix:///path or tcp://host:port)")
    p.add_argument("--tls", action="store_true", default=None, help="use TLS; implied by --tlsverify")
    p.add_argument("--tlsverify", action="store_true", default=None, help="use TLS and verify the daemon")
    p.add_argument("--tlscacert", help="trust certs signed only by this CA")
    p.add_argument("--tlscert", help="path to TLS certificate file")
    p.add_argument("--tlskey", help="path to TLS key file")
    p.add_argument("-D", "--debug", action="store_true", help="enable debug mode")
    p.add_argument("-l", "--log-level", help="set the logging level (accepted for docker compatibility)")
    p.add_argument("-v", "--version", action="store_true", help="print version information and quit")
    p.add_argument("-h", "--help", action="store_true", help="print usage")
    p.add_argument("verb", nargs="?")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def usage() -> str:
    lines = ["Usage:  berth [OPTIONS] COMMAND", "", "A Docker-compatible container engine", "", "Commands:"]
    lines += [f"  {verb:<11}{text}" for verb, (_, text) in VERBS.items()]
    lines += ["", "Global Options:",
              "  -H, --host string     Daemon socket to connect to (unix:///path or tcp://host:port)",
              "      --tlsverify       Use TLS and verify the remote (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)",
              "      --tlscacert, --tlscert, --tlskey string   TLS material (default from DOCKER_CERT_PATH)",
              "  -v, --version         Print version information and quit",
              "", "Run 'berth COMMAND --help' for more information on a command."]
    return "\n".join(lines)


def build_parser(verb: str) -> tuple[Any, argparse.ArgumentParser]:
    """The verb's module and its argument parser (also used by ``berth completion``)."""
    module = importlib.import_module("berth.cli." + VERBS[verb][0])
    name = verb.replace("-", "_")
    # verbs whose -h means something else (run -h HOSTNAME) add their own --help
    auto_help = name not in getattr(module, "OWN_HELP", ())
    parser = Parser(prog=f"berth {verb}", description=VERBS[verb][1], add_help=auto_help)
    getattr(module, "setup_" + name)(parser)
    return module, parser


def add_subcommands(parser: argparse.ArgumentParser,
                    table: dict[str, tuple[str, str, str]]) -> None:
    """A management group (``berth network ls``): subcommand -> (module, verb function suffix, help).

    Each subcommand reuses the module's ``setup_<suffix>``; the chosen ``run_<suffix>``
    is left in ``opts._run`` for :func:`run_subcommand`.
    """
    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, (module_name, suffix, text) in table.items():
        own_help = suffix in getattr(importlib.import_module("berth.cli." + module_name), "OWN_HELP", ())
        child = sub.add_parser(name, help=text, description=text, add_help=not own_help)
        _lazy_setup(child, module_name, suffix)


def _lazy_setup(parser: argparse.ArgumentParser, module_name: str, suffix: str) -> None:
    module = importlib.import_module("berth.cli." + module_name)
    getattr(module, "setup_" + suffix)(parser)
    parser.set_defaults(_run=getattr(module, "run_" + suffix))


def run_subcommand(client: Any, opts: argparse.Namespace) -> int:
    run: Callable[[Any, argparse.Namespace], int] = opts._run
    return run(client, opts)


def main(argv: list[str] | None = None) -> None:
    args = global_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.version and not args.verb:
        from berth import __version__

        print(f"berth version {__version__}")
        sys.exit(0)
    if args.help or not args.verb:
        print(usage())
        sys.exit(0 if args.help else 1)
    if args.verb not in VERBS:
        print(f"berth: '{args.verb}' is not a berth command.\nSee 'berth --help'", file=sys.stderr)
        sys.exit(1)
    module, parser = build_parser(args.verb)
    opts = parser.parse_args(args.rest)
    from berth.cli.client import APIError, Client, DaemonUnreachable

    tls_files = (args.tlscacert, args.tlscert, args.tlskey) if (args.tlscacert or args.tlscert or args.tlskey) else None
    client = Client(args.host, True if (args.tlsverify or args.tls) else None, tls_files=tls_files)
    try:
        code = getattr(module, "run_" + args.verb.replace("-", "_"))(client, opts)
    except DaemonUnreachable as exc:
        print(exc, file=sys.stderr)
        code = 1
    except APIError as exc:
        print(f"Error response from daemon: {exc.message}", file=sys.stderr)
        code = 125 if args.verb in ("run", "create") else 1
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # the reader went away (berth ps | head): leave quietly, without a second EPIPE at exit
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        code = 0
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
