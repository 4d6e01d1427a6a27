"""``berth completion bash``: a bash completion script generated from the CLI's own parsers.

Verbs, group subcommands and flags come from the argparse definitions, so the
script never drifts from the CLI; container, image, network and volume names
are asked of the daemon at completion time (``berth ps -a --format``...).
"""

from __future__ import annotations

import argparse
import sys

from berth.cli.client import Client

#: what a verb's positional arguments name, for completing them from the daemon
OBJECT_KINDS = {
    "containers": ("start", "stop", "restart", "kill", "pause", "unpause", "wait", "rm", "rename", "update", "logs",
                   "attach", "exec", "top", "port", "stats", "inspect", "container", "export", "diff", "commit", "cp"),
    "images": ("run", "create", "rmi", "tag", "save", "push", "history", "image"),
    "networks": ("network",),
    "volumes": ("volume",),
}

LISTERS = {
    "containers": "berth ps -a --format '{{.Names}}' 2>/dev/null",
    "images": "berth images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -v '<none>'",
    "networks": "berth network ls --format '{{.Name}}' 2>/dev/null",
    "volumes": "berth volume ls -q 2>/dev/null",
}


def setup_completion(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", choices=["bash"], help="the shell to generate the script for")


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return sorted({opt for action in parser._actions for opt in action.option_strings})


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def bash_script() -> str:
    from berth.cli.main import VERBS, build_parser

    cases = []
    for verb in VERBS:
        try:
            _, parser = build_parser(verb)
        except Exception:  # a verb whose module is missing or broken must not break completion
            continue
        subs = _subcommands(parser)
        kind = next((k for k, verbs in OBJECT_KINDS.items() if verb in verbs), "")
        lister = LISTERS.get(kind, "")
        if subs:
            sub_cases = "".join(
                f"                {name}) words_for=\"{' '.join(_flags(child))}\" ;;\n" for name, child in subs.items())
            cases.append(
                f"        {verb})\n"
                f"            if [ \"$cword\" -eq 2 ]; then COMPREPLY=($(compgen -W \"{' '.join(subs)}\" -- \"$cur\")); return; fi\n"
                f"            local words_for=\"\"\n"
                f"            case \"${{COMP_WORDS[2]}}\" in\n{sub_cases}            esac\n"
                f"            if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"$words_for\" -- \"$cur\")); "
                f"else COMPREPLY=($(compgen -W \"$({lister or 'true'})\" -- \"$cur\")); fi ;;\n")
        else:
            cases.append(
                f"        {verb})\n"
                f"            if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"{' '.join(_flags(parser))}\" -- \"$cur\")); "
                f"else COMPREPLY=($(compgen -W \"$({lister or 'true'})\" -- \"$cur\")); fi ;;\n")
    return (
        "# bash completion for berth; load with: source <(berth completion bash)\n"
        "_berth() {\n"
        "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" cword=$COMP_CWORD\n"
        "    if [ \"$cword\" -eq 1 ]; then\n"
        f"        COMPREPLY=($(compgen -W \"{' '.join(VERBS)} --help --version -H --host\" -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    case \"${COMP_WORDS[1]}\" in\n"
        + "".join(cases) +
        "    esac\n"
        "}\n"
        "complete -F _berth berth\n"
    )


def run_completion(client: Client, opts: argparse.Namespace) -> int:
    sys.stdout.write(bash_script())
    return 0
