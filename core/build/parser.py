"""Dockerfile text -> build stages of instructions, as Docker's classic builder parses it.

Parser directives (``# escape=``, ``# syntax=``) are read only at the very top;
lines whose first non-blank character is ``#`` are comments (also inside a
continued instruction); a line ending in the escape token continues on the next.
Every error names the line and the instruction. Arguments are kept as text here;
what each instruction makes of them (flags, JSON form, words) is decided here
too, but variables are substituted later, when the build state is known.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from berth.errors import InvalidArgument

INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
#: instructions whose arguments may be a JSON array (exec form)
JSON_FORM = ("ADD", "CMD", "COPY", "ENTRYPOINT", "RUN", "SHELL", "VOLUME")
#: flags each instruction accepts (Docker's classic builder set, plus --chmod)
FLAGS: dict[str, tuple[str, ...]] = {
    "FROM": ("platform",),
    "COPY": ("from", "chown", "chmod", "link"),
    "ADD": ("chown", "chmod", "checksum", "link", "keep-git-dir"),
    "HEALTHCHECK": ("interval", "timeout", "start-period", "start-interval", "retries"),
    "RUN": ("mount", "network", "security"),
}

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_FLAG = re.compile(r"^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?(?:\s+|$)")


class DockerfileError(InvalidArgument):
    """A Dockerfile that cannot be parsed: Docker's ``dockerfile parse error line N: ...``."""

    def __init__(self, line: int, message: str):
        super().__init__(f"dockerfile parse error line {line}: {message}")
        self.line = line


@dataclass
class Instruction:
    """One instruction. ``args`` is the text after the flags; ``json`` the exec-form array, if any."""

    line: int
    cmd: str
    original: str
    args: str
    flags: dict[str, str] = field(default_factory=dict)
    json: list[str] | None = None

    def where(self) -> str:
        """``line N (RUN)``: how errors name this instruction."""
        return f"line {self.line} ({self.cmd})"


@dataclass
class Stage:
    """A build stage: its FROM and what follows it. ``name`` is the ``AS`` name, lowercased."""

    index: int
    base: str
    name: str | None
    platform: str | None
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    """The parsed file: the ARGs before the first FROM, the stages, and the parser directives."""

    meta_args: list[Instruction]
    stages: list[Stage]
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _directives(lines: list[str]) -> tuple[dict[str, str], int]:
    """The directives at the top and the index of the first line after them."""
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = _DIRECTIVE.match(line.strip())
        if not match:
            return found, index
        key = match.group(1).lower()
        if key in found:
            raise DockerfileError(index + 1, f"only one {key} parser directive can be used")
        found[key] = match.group(2)
    return found, len(lines)


def _logical_lines(lines: list[str], start: int, escape: str) -> tuple[list[tuple[int, str]], list[str]]:
    """Join continued lines and drop comments; (first line number, text) for each instruction."""
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    out: list[tuple[int, str]] = []
    warnings: list[str] = []
    current: str | None = None
    first = 0
    empty_continuation = False
    for index in range(start, len(lines)):
        raw = lines[index]
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue
        if not stripped:
            if current is not None:
                empty_continuation = True
            continue
        if current is None:
            first, current = index + 1, ""
            text = raw.lstrip()
        else:
            text = raw
        if continuation.search(text):
            current += continuation.sub("", text)
            continue
        current += text
        out.append((first, current.rstrip()))
        current = None
    if current is not None and current.strip():
        out.append((first, current.rstrip()))
    if empty_continuation:
        warnings.append("Empty continuation lines will become errors in a future release.")
    return out, warnings


def parse_flags(line: int, cmd: str, text: str) -> tuple[dict[str, str], str]:
    """Leading ``--name[=value]`` flags of ``text``; unknown ones are an error naming the instruction."""
    flags: dict[str, str] = {}
    allowed = FLAGS.get(cmd, ())
    while text.startswith("--"):
        match = _FLAG.match(text)
        if not match:
            break
        name, value = match.group(1), match.group(2)
        if name not in allowed:
            raise DockerfileError(line, f"{cmd}: unknown flag: --{name}")
        if name in flags:
            raise DockerfileError(line, f"{cmd}: duplicate flag specified: --{name}")
        if value and value[0] == value[-1] and value[0] in "\"'" and len(value) >= 2:
            value = value[1:-1]
        flags[name] = "true" if value is None else value
        text = text[match.end():]
    return flags, text.strip()


def _json_array(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def parse_instruction(line: int, text: str) -> Instruction:
    """One logical line -> an :class:`Instruction` (flags split off, exec form recognised)."""
    word, _, rest = text.strip().partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    cmd = word.upper()
    rest = rest.strip()
    if cmd not in INSTRUCTIONS:
        raise DockerfileError(line, f"unknown instruction: {word}")
    flags, rest = parse_flags(line, cmd, rest) if cmd in FLAGS else ({}, rest)
    if cmd in ("RUN", "COPY", "ADD") and re.match(r"<<-?[\"']?[A-Za-z_]", rest):
        raise DockerfileError(line, f"{cmd}: heredocs (<<EOF) are a BuildKit feature that berth's builder does "
                                    "not implement; put the script in a file in the context and COPY or RUN it")
    json_args = _json_array(rest) if cmd in JSON_FORM else None
    if cmd == "SHELL" and json_args is None:
        raise DockerfileError(line, "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]")
    if not rest and cmd not in ("RUN", "CMD", "ENTRYPOINT"):
        raise DockerfileError(line, f"{cmd} requires at least one argument")
    if cmd == "ONBUILD":
        inner = rest.split(None, 1)[0].upper()
        if inner in ("ONBUILD", "FROM", "MAINTAINER"):
            raise DockerfileError(line, f"{inner} isn't allowed as an ONBUILD trigger")
        parse_instruction(line, rest)  # the trigger must itself parse
    return Instruction(line=line, cmd=cmd, original=text.strip(), args=rest, flags=flags, json=json_args)


def _stage_of(instr: Instruction, index: int) -> Stage:
    words = instr.args.split()
    if len(words) == 3 and words[1].lower() == "as":
        name = words[2].lower()
        if not re.fullmatch(r"[a-z][a-z0-9_.-]*", name):
            raise DockerfileError(instr.line, f"invalid name for build stage: {words[2]!r}, name can't start "
                                              "with a number or contain symbols")
        base = words[0]
    elif len(words) == 1:
        base, name = words[0], None
    else:
        raise DockerfileError(instr.line, "FROM requires either one or three arguments (FROM image [AS name])")
    return Stage(index=index, base=base, name=name, platform=instr.flags.get("platform"), from_instruction=instr)


def parse(text: str) -> Dockerfile:
    """Parse a whole Dockerfile; errors are :class:`DockerfileError` with the line number."""
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    directives, start = _directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(1, f"invalid escape token {escape!r} does not match ` or \\")
    logical, warnings = _logical_lines(lines, start, escape)
    meta: list[Instruction] = []
    stages: list[Stage] = []
    names: set[str] = set()
    for line, body in logical:
        instr = parse_instruction(line, body)
        if instr.cmd == "FROM":
            stage = _stage_of(instr, len(stages))
            if stage.name:
                if stage.name in names:
                    raise DockerfileError(line, f"duplicate name {stage.name!r} for build stages")
                names.add(stage.name)
            stages.append(stage)
        elif not stages:
            if instr.cmd != "ARG":
                raise DockerfileError(line, f"{instr.cmd} before the first FROM: only ARG may come before FROM")
            meta.append(instr)
        else:
            stages[-1].instructions.append(instr)
    if not stages:
        raise InvalidArgument("the Dockerfile (or its content) has no FROM instruction: "
                              "file with no instructions or no build stage")
    return Dockerfile(meta_args=meta, stages=stages, escape=escape, directives=directives, warnings=warnings)
