"""Entry point of ``berth``: global options, then one verb whose module is imported on demand.

Behaves like the docker CLI where a script could tell the difference: a bad flag
or argument exits 125 with "See 'berth VERB --help'.", daemon errors print
"Error response from daemon: ..." (exit 1, or 125 for ``run``/``create``), every
verb and group has ``--help``. Start-up cost matters (it is part of every
command's latency): only the verb's module is imported, and nothing here pulls
in ``shutil``/``http.client``/``ssl`` unless the command needs them. argparse
(with ``re``, ``gettext`` and ``locale``, the largest import of a short command)
is skipped when the words are plain: ``-H`` alone among the global options and a
verb whose module declares its options in ``FAST_OPTIONS`` (see
:mod:`berth.cli.options`). Anything else, ``--help`` and every error included, goes
through argparse exactly as before.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    import argparse
    from typing import Any, Callable

#: verb -> (module under berth.cli, help). A module provides ``setup_<verb>(parser)`` and ``run_<verb>(client, opts)``.
VERBS: dict[str, tuple[str, str]] = {
    "run": ("runcreate", "Create and run a new container from an image"),
    "create": ("runcreate", "Create a new container"),
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
    "plugins": ("system", "List installed drivers and extensions (plugins ls), or start a new driver (plugins new)"),
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
    "bench": ("bench", "Measure this host (bench storage: graph drivers against overlayfs and fuse-overlayfs)"),
}

#: flag or argument errors exit with this status, as the docker CLI does
USAGE_ERROR = 125


def _module(name: str) -> Any:
    """``importlib.import_module(name)`` without importing importlib (and, through it, warnings)."""
    __import__(name)
    return sys.modules[name]


def __getattr__(name: str) -> Any:
    # the argparse classes live in berth.cli.argparsing (imported only when a parser is built)
    if name in ("Parser", "_Formatter"):
        from berth.cli import argparsing

        return getattr(argparsing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def global_parser() -> argparse.ArgumentParser:
    import argparse

    from berth.cli.argparsing import Parser

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
    from berth.cli.argparsing import Parser

    module = _module("berth.cli." + VERBS[verb][0])
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
    from berth.cli.argparsing import Parser

    sub = parser.add_subparsers(dest="subcommand", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, (module_name, suffix, text) in table.items():
        own_help = suffix in getattr(_module("berth.cli." + module_name), "OWN_HELP", ())
        child = sub.add_parser(name, help=text, description=text, add_help=not own_help)
        _lazy_setup(child, module_name, suffix)


def _lazy_setup(parser: argparse.ArgumentParser, module_name: str, suffix: str) -> None:
    module = _module("berth.cli." + module_name)
    getattr(module, "setup_" + suffix)(parser)
    parser.set_defaults(_run=getattr(module, "run_" + suffix))


def run_subcommand(client: Any, opts: argparse.Namespace) -> int:
    run: Callable[[Any, argparse.Namespace], int] = opts._run
    return run(client, opts)


class _Globals:
    """The global options of the fast path: only ``-H``/``--host`` was given (or nothing)."""

    tls = tlsverify = tlscacert = tlscert = tlskey = None
    version = help = False

    def __init__(self, host: str | None, verb: str, rest: list[str]):
        self.host, self.verb, self.rest = host, verb, rest


def _alias(verb: str, rest: list[str]) -> tuple[str, list[str], str]:
    """(verb, its words, its name in messages): ``container run|create`` and ``image build`` are the top-level
    verbs, as in docker."""
    if rest and (verb, rest[0]) in (("container", "run"), ("container", "create"), ("image", "build")):
        return rest[0], rest[1:], f"berth {verb} {rest[0]}"
    return verb, rest, f"berth {verb}"


def _read_flags(module: Any, verb: str, rest: list[str], prog: str) -> Any:
    """The verb's options read as the docker CLI reads them, for verbs with a flag table (else None)."""
    table = getattr(module, "FLAG_TABLES", {}).get(verb)
    if table is None:
        return None
    from berth.cli.flags import read_or_exit

    aliases = getattr(module, "ALIASES", {}).get(verb, f"berth container {verb}, berth {verb}")
    return read_or_exit(table, rest, prog, module.USAGE, VERBS[verb][1], aliases,
                        interspersed=verb in getattr(module, "INTERSPERSED", ()))


def _fast_words(argv: list[str]) -> tuple[Any, Any, Any] | None:
    """(globals, verb module, verb options) parsed without argparse, or None to take the argparse path."""
    host, i = None, 0
    while i < len(argv) and argv[i].startswith("-"):
        word = argv[i]
        if word in ("-H", "--host") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            host, i = argv[i + 1], i + 2
        elif word.startswith("--host=") and len(word) > 7:
            host, i = word[7:], i + 1
        else:
            return None
    if i >= len(argv) or argv[i] not in VERBS:
        return None
    verb, rest, prog = _alias(argv[i], argv[i + 1:])
    module = _module("berth.cli." + VERBS[verb][0])
    opts = _read_flags(module, verb, rest, prog)
    if opts is not None:
        return _Globals(host, verb, rest), module, opts
    table = getattr(module, "FAST_OPTIONS", {}).get(verb)
    if table is None:
        return None
    from berth.cli.options import fast_parse

    opts = fast_parse(table, rest)
    return None if opts is None else (_Globals(host, verb, rest), module, opts)


def main(argv: list[str] | None = None) -> None:
    words = sys.argv[1:] if argv is None else argv
    fast = _fast_words(words)
    if fast is not None:
        args, module, opts = fast
        _run(args, module, opts)
    args = global_parser().parse_args(words)
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
    args.verb, args.rest, prog = _alias(args.verb, args.rest)
    opts = _read_flags(_module("berth.cli." + VERBS[args.verb][0]), args.verb, args.rest, prog)
    if opts is not None:
        _run(args, _module("berth.cli." + VERBS[args.verb][0]), opts)
    module, parser = build_parser(args.verb)
    _run(args, module, parser.parse_args(args.rest))


def _run(args: Any, module: Any, opts: Any) -> None:
    """Run the verb with its parsed options and exit with its status (Docker's codes for daemon errors)."""
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
        code = 1
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
