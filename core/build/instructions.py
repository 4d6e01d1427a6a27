"""One dispatcher per Dockerfile instruction (Moby ``builder/dockerfile/dispatchers.go``).

A dispatcher changes the stage's run config and commits the step through the
builder: ``commit_metadata`` for steps that only change the config (an
``empty_layer`` history entry), ``commit_files`` for COPY/ADD/WORKDIR (a layer
when something changed), ``run`` for RUN (a container). Variables are
substituted for the instructions Docker expands, with the stage's ENV and ARGs.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import TYPE_CHECKING, Awaitable, Callable

from berth.build import fscopy
from berth.build.lexer import split_raw
from berth.build.parser import DockerfileError, Instruction, parse_instruction
from berth.build.state import StageState
from berth.errors import InvalidArgument

if TYPE_CHECKING:
    from berth.build.builder import Builder

Dispatcher = Callable[["Builder", StageState, Instruction], Awaitable[None]]


def _error(instr: Instruction, message: str) -> DockerfileError:
    return DockerfileError(instr.line, f"{instr.cmd}: {message}")


def _quoted_list(items: list[str]) -> str:
    """Go's ``%q`` of a string slice, as Docker writes CMD/ENTRYPOINT/SHELL into the history."""
    return "[" + " ".join(json.dumps(i) for i in items) + "]"


def _key_values(b: "Builder", st: StageState, instr: Instruction) -> list[tuple[str, str]]:
    """``k=v`` pairs of ENV/LABEL (or the legacy ``key value`` form), substituted with the state before it."""
    env = st.expansion_env()
    words = split_raw(instr.args, b.escape)
    if not words:
        raise _error(instr, "requires at least one argument")
    if "=" not in words[0]:
        key = b.lexer.process_word(words[0], env)
        rest = instr.args[len(words[0]):].strip()
        if not rest:
            raise _error(instr, f"{instr.cmd} {key} needs a value: use {instr.cmd} {key}=value")
        return [(key, b.lexer.process_word(rest, env))]
    pairs = []
    for word in words:
        if "=" not in word:
            raise _error(instr, f"syntax error - can't find = in {word!r}. Must be of the form: name=value")
        processed = b.lexer.process_word(word, env)
        key, _, value = processed.partition("=")
        if not key:
            raise _error(instr, f"{instr.cmd} names cannot be empty")
        pairs.append((key, value))
    return pairs


async def env(b: "Builder", st: StageState, instr: Instruction) -> None:
    pairs = _key_values(b, st, instr)
    current = list(st.run_config.get("Env") or [])
    for key, value in pairs:
        current = [e for e in current if e.partition("=")[0] != key] + [f"{key}={value}"]
    st.run_config["Env"] = current
    await b.commit_metadata(st, "ENV " + " ".join(f'{k}="{v}"' if " " in v else f"{k}={v}" for k, v in pairs))


async def label(b: "Builder", st: StageState, instr: Instruction) -> None:
    pairs = _key_values(b, st, instr)
    labels = dict(st.run_config.get("Labels") or {})
    labels.update(pairs)
    st.run_config["Labels"] = labels
    await b.commit_metadata(st, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs))


async def maintainer(b: "Builder", st: StageState, instr: Instruction) -> None:
    st.image_config["author"] = instr.args
    await b.commit_metadata(st, "MAINTAINER " + instr.args, author=instr.args)


_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.I)


async def expose(b: "Builder", st: StageState, instr: Instruction) -> None:
    ports = dict(st.run_config.get("ExposedPorts") or {})
    added = []
    for word in b.lexer.process_words(instr.args, st.expansion_env()):
        match = _PORT.match(word)
        if not match:
            raise _error(instr, f"invalid port {word!r}: use PORT, PORT/PROTOCOL or START-END[/PROTOCOL]")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        proto = (match.group(3) or "tcp").lower()
        if not 0 < first <= last <= 65535:
            raise _error(instr, f"invalid port range {word!r}: ports are 1-65535")
        for port in range(first, last + 1):
            ports[f"{port}/{proto}"] = {}
            added.append(f"{port}/{proto}")
    st.run_config["ExposedPorts"] = ports
    await b.commit_metadata(st, "EXPOSE " + " ".join(added))


async def user(b: "Builder", st: StageState, instr: Instruction) -> None:
    st.run_config["User"] = b.lexer.process_word(instr.args, st.expansion_env())
    await b.commit_metadata(st, "USER " + st.run_config["User"])


async def volume(b: "Builder", st: StageState, instr: Instruction) -> None:
    env_ = st.expansion_env()
    paths = ([b.lexer.process_word(p, env_) for p in instr.json] if instr.json is not None
             else b.lexer.process_words(instr.args, env_))
    if not paths:
        raise _error(instr, "VOLUME requires at least one argument")
    volumes = dict(st.run_config.get("Volumes") or {})
    for path in paths:
        if not path.strip():
            raise _error(instr, "VOLUME specified can not be an empty string")
        volumes[path.strip()] = {}
    st.run_config["Volumes"] = volumes
    await b.commit_metadata(st, "VOLUME [" + " ".join(paths) + "]")


async def stopsignal(b: "Builder", st: StageState, instr: Instruction) -> None:
    from berth.containers.signals import parse_signal

    signal = b.lexer.process_word(instr.args, st.expansion_env())
    try:
        parse_signal(signal)
    except InvalidArgument:
        raise _error(instr, f"invalid signal {signal!r}: use a name such as SIGTERM or a number") from None
    st.run_config["StopSignal"] = signal
    await b.commit_metadata(st, "STOPSIGNAL " + signal)


def _command(st: StageState, instr: Instruction) -> list[str]:
    if instr.json is not None:
        return list(instr.json)
    return [*st.shell, instr.args]


async def cmd(b: "Builder", st: StageState, instr: Instruction) -> None:
    st.run_config["Cmd"] = _command(st, instr)
    st.cmd_set = True
    await b.commit_metadata(st, "CMD " + _quoted_list(st.run_config["Cmd"]))


async def entrypoint(b: "Builder", st: StageState, instr: Instruction) -> None:
    st.run_config["Entrypoint"] = _command(st, instr) if (instr.json is not None or instr.args) else None
    if not st.cmd_set:
        st.run_config["Cmd"] = None  # an ENTRYPOINT resets an inherited CMD (Docker)
    await b.commit_metadata(st, "ENTRYPOINT " + _quoted_list(st.run_config["Entrypoint"] or []))


async def shell(b: "Builder", st: StageState, instr: Instruction) -> None:
    if not instr.json:
        raise _error(instr, "SHELL requires at least one argument in JSON form")
    st.run_config["Shell"] = list(instr.json)
    await b.commit_metadata(st, "SHELL " + _quoted_list(instr.json))


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
            "h": 3_600_000_000_000}


def parse_duration(text: str, what: str, instr: Instruction) -> int:
    """Go's ``time.ParseDuration`` (``30s``, ``1m30s``, ``500ms``) in nanoseconds."""
    if text == "0":
        return 0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_NS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise _error(instr, f"invalid duration for --{what}: {text!r} (use e.g. 30s, 1m30s, 500ms)")
    return int(total)


async def healthcheck(b: "Builder", st: StageState, instr: Instruction) -> None:
    """``Config.Healthcheck`` in Docker's shape (durations in ns, zero fields left out); Docker's messages."""
    words = instr.args.split(None, 1)
    kind = words[0].upper()
    if kind == "NONE":
        if len(words) > 1 or instr.flags:
            raise _health_error(instr, "HEALTHCHECK NONE takes no arguments")
        check: dict = {"Test": ["NONE"]}
    elif kind == "CMD":
        check = {"Test": _healthcheck_test(words[1].strip() if len(words) > 1 else "", instr)}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                          ("start-interval", "StartInterval")):
            value = parse_duration(instr.flags[flag], flag, instr) if flag in instr.flags else 0
            if 0 < value < 1_000_000:
                raise _health_error(instr, f'Interval "{flag}" cannot be less than 1ms')
            if value:
                check[key] = value
        if "retries" in instr.flags:
            text = instr.flags["retries"]
            if not re.fullmatch(r"[+-]?\d+", text):
                raise _health_error(instr, f'strconv.ParseInt: parsing "{text}": invalid syntax')
            if int(text) < 0:
                raise _health_error(instr, f"--retries cannot be negative ({int(text)})")
            if int(text):
                check["Retries"] = int(text)
    else:
        raise _health_error(instr, f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    old = (st.run_config.get("Healthcheck") or {}).get("Test")
    if old:
        await b.out(f"Note: overriding previous HEALTHCHECK: [{' '.join(old)}]\n")
    st.run_config["Healthcheck"] = check
    await b.commit_metadata(st, "HEALTHCHECK " + json.dumps(check, sort_keys=True))


def _health_error(instr: Instruction, message: str) -> DockerfileError:
    """HEALTHCHECK's refusals carry no instruction prefix: their text names it, as Docker's do."""
    return DockerfileError(instr.line, message)


def _healthcheck_test(rest: str, instr: Instruction) -> list[str]:
    """``CMD ["prog", "arg"]`` runs as is, ``CMD prog arg`` through the shell (``CMD-SHELL``)."""
    if not rest:
        raise _health_error(instr, "Missing command after HEALTHCHECK CMD")
    try:
        exec_form = json.loads(rest) if rest.startswith("[") else None
    except ValueError:
        exec_form = None
    if isinstance(exec_form, list) and all(isinstance(x, str) for x in exec_form):
        if not exec_form:
            raise _health_error(instr, "Missing command after HEALTHCHECK CMD")
        return ["CMD", *exec_form]
    return ["CMD-SHELL", rest]


async def onbuild(b: "Builder", st: StageState, instr: Instruction) -> None:
    trigger = parse_instruction(instr.line, instr.args)  # validated again: names the line on error
    text = trigger.cmd + instr.args[len(instr.args.split(None, 1)[0]):]
    st.run_config["OnBuild"] = [*(st.run_config.get("OnBuild") or []), text]
    await b.commit_metadata(st, "ONBUILD " + text)


async def arg(b: "Builder", st: StageState, instr: Instruction) -> None:
    shown = []
    for word in split_raw(instr.args, b.escape):
        name, sep, default = word.partition("=")
        name = name.strip()
        if not name:
            raise _error(instr, "ARG requires a name: ARG NAME[=default]")
        value: str | None = b.lexer.process_word(default, st.expansion_env()) if sep else None
        if name in b.options.build_args:
            value = b.options.build_args[name]
        elif not sep and name in b.meta_args:
            value = b.meta_args[name]  # ARG NAME in a stage takes the global ARG's value
        st.args[name] = value
        b.consumed_args.add(name)
        shown.append(f"{name}={b.lexer.process_word(default, st.expansion_env())}" if sep else name)
    await b.commit_metadata(st, "ARG " + " ".join(shown))


async def workdir(b: "Builder", st: StageState, instr: Instruction) -> None:
    path = b.lexer.process_word(instr.args, st.expansion_env())
    if not path:
        raise _error(instr, "WORKDIR requires a path")
    if not path.startswith("/"):
        path = posixpath.join(st.run_config.get("WorkingDir") or "/", path)
    path = posixpath.normpath(path)
    st.run_config["WorkingDir"] = path
    await b.commit_files(st, "WORKDIR " + path, lambda root: fscopy.mkdir_all(root, path))


async def copy(b: "Builder", st: StageState, instr: Instruction) -> None:
    await b.copy_step(st, instr)


async def add(b: "Builder", st: StageState, instr: Instruction) -> None:
    await b.copy_step(st, instr)


async def run(b: "Builder", st: StageState, instr: Instruction) -> None:
    for flag in instr.flags:
        raise _error(instr, f"the --{flag} option requires BuildKit, which berth's builder does not implement")
    if instr.json is None and not instr.args:
        raise _error(instr, "RUN requires at least one argument")
    await b.run_step(st, _command(st, instr), instr)


DISPATCH: dict[str, Dispatcher] = {
    "ADD": add, "ARG": arg, "CMD": cmd, "COPY": copy, "ENTRYPOINT": entrypoint, "ENV": env, "EXPOSE": expose,
    "HEALTHCHECK": healthcheck, "LABEL": label, "MAINTAINER": maintainer, "ONBUILD": onbuild, "RUN": run,
    "SHELL": shell, "STOPSIGNAL": stopsignal, "USER": user, "VOLUME": volume, "WORKDIR": workdir,
}
