"""Entry point of ``berth``: global options, then one verb whose module is imported on demand."""

from __future__ import annotations

import argparse
import importlib
import sys

#: verb -> (module under berth.cli, help). Aliases map to the same module function.
VERBS: dict[str, tuple[str, str]] = {
    "run": ("containers", "Create and run a new container from an image"),
    "create": ("containers", "Create a new container"),
    "start": ("containers", "Start one or more stopped containers"),
    "stop": ("containers", "Stop one or more running containers"),
    "kill": ("containers", "Kill one or more running containers"),
    "wait": ("containers", "Block until one or more containers stop, then print their exit codes"),
    "rm": ("containers", "Remove one or more containers"),
    "ps": ("containers", "List containers"),
    "logs": ("containers", "Fetch the logs of a container"),
    "attach": ("containers", "Attach local standard input, output, and error streams to a running container"),
    "inspect": ("system", "Return low-level information on berth objects"),
    "version": ("system", "Show the berth version information"),
    "info": ("system", "Display system-wide information"),
    "plugins": ("system", "List installed drivers (plugins ls)"),
    "images": ("images", "List images"),
    "image": ("images", "Manage images (ls, bootstrap)"),
}


def global_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="berth", description="A Docker-compatible container engine",
                                usage="berth [OPTIONS] COMMAND", add_help=False)
    p.add_argument("-H", "--host", help="daemon socket to connect to (unix:///path or tcp://host:port)")
    p.add_argument("--tlsverify", action="store_true", default=None, help="use TLS and verify the daemon")
    p.add_argument("-v", "--version", action="store_true", help="print version information and quit")
    p.add_argument("-h", "--help", action="store_true", help="print usage")
    p.add_argument("verb", nargs="?")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def usage() -> str:
    lines = ["Usage:  berth [OPTIONS] COMMAND", "", "A Docker-compatible container engine", "", "Commands:"]
    lines += [f"  {verb:<10}{text}" for verb, (_, text) in VERBS.items()]
    lines += ["", "Global options:", "  -H, --host string   daemon socket to connect to", "  -v, --version       print version",
              "", "Run 'berth COMMAND --help' for more information on a command."]
    return "\n".join(lines)


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
    module = importlib.import_module("berth.cli." + VERBS[args.verb][0])
    name = args.verb.replace("-", "_")
    # verbs whose -h means something else (run -h HOSTNAME) add their own --help
    auto_help = name not in getattr(module, "OWN_HELP", ())
    parser = argparse.ArgumentParser(prog=f"berth {args.verb}", description=VERBS[args.verb][1], add_help=auto_help)
    getattr(module, "setup_" + name)(parser)
    opts = parser.parse_args(args.rest)
    from berth.cli.client import APIError, Client, DaemonUnreachable

    client = Client(args.host, args.tlsverify)
    try:
        code = getattr(module, "run_" + name)(client, opts)
    except DaemonUnreachable as exc:
        print(exc, file=sys.stderr)
        code = 1
    except APIError as exc:
        print(f"Error response from daemon: {exc.message}", file=sys.stderr)
        code = 125 if args.verb in ("run", "create") else 1
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 0
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
