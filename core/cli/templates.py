"""A subset of Go's text/template for ``--format``, as the docker CLI uses it.

Supported: text with ``{{ }}`` actions; fields and chains (``.A.B``, ``.``,
``$``, ``$var.A``); pipelines (``.X | json``); functions ``json``, ``upper``,
``lower``, ``title``, ``join``, ``split``, ``index``, ``len``, ``println``,
``printf``, ``print``, ``truncate``, ``pad``, ``eq``, ``ne``, ``lt``, ``gt``,
``not``, ``and``, ``or``; ``{{if}}``/``{{else}}``/``{{end}}``, ``{{range}}``
(with ``$i, $v :=``), ``{{with}}``; ``{{- -}}`` whitespace trimming. A field that
is a callable in the data is called with the action's arguments (``{{.Label
"key"}}`` of ``ps``). Values print as Go prints them: ``map[k:v]``, ``[a b]``,
``true``, ``<no value>`` for a missing key.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

_MISSING = object()
# re and json are imported where a template needs them: the tables of ps/images use
# only {{.Field}} actions (see _simple_pieces), and importing re costs more than them
_PATTERNS: dict[str, Any] = {}


def _pattern(name: str) -> Any:
    if not _PATTERNS:
        import re

        _PATTERNS["token"] = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
        _PATTERNS["arg"] = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\(|\)|\||:=|,|[^\s|(),]+')
    return _PATTERNS[name]


class TemplateError(Exception):
    pass


# -- rendering values as Go prints them --------------------------------------


def go_text(value: Any) -> str:
    if value is _MISSING:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{go_text(k)}:{go_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_text(v) for v in value) + "]"
    return str(value)


def _truthy(value: Any) -> bool:
    return value not in (_MISSING, None, False, 0, "", [], {}, ())


# -- functions ---------------------------------------------------------------


def _json(value: Any) -> str:
    if isinstance(value, dict):  # method-style fields ({{.Label "k"}}) are not data
        value = {k: v for k, v in value.items() if not callable(v)}
    import json

    return json.dumps(None if value is _MISSING else value, separators=(",", ":"), default=str)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        try:
            value = value[int(key)] if isinstance(value, list) else value[key]
        except (KeyError, IndexError, TypeError, ValueError):
            return _MISSING
    return value


def _printf(fmt: str, *args: Any) -> str:
    import re

    converted = re.sub(r"%v|%q", "%s", fmt)
    return converted % tuple(go_text(a) if isinstance(a, (dict, list, bool)) or a is None else a for a in args)


def _truncate(value: Any, length: Any) -> str:
    return go_text(value)[: int(length)]


def _pad(value: Any, left: Any, right: Any) -> str:
    return " " * int(left) + go_text(value) + " " * int(right)


FUNCTIONS: dict[str, Any] = {
    "json": _json, "upper": lambda s: go_text(s).upper(), "lower": lambda s: go_text(s).lower(),
    "title": lambda s: go_text(s).title(), "join": lambda items, sep: sep.join(go_text(i) for i in items or []),
    "split": lambda s, sep: go_text(s).split(sep), "index": _index, "len": lambda v: len(v or []),
    "println": lambda *a: " ".join(go_text(x) for x in a) + "\n", "print": lambda *a: "".join(go_text(x) for x in a),
    "printf": _printf, "truncate": _truncate, "pad": _pad,
    "eq": lambda a, *b: any(a == x for x in b), "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "gt": lambda a, b: a > b, "le": lambda a, b: a <= b, "ge": lambda a, b: a >= b,
    "not": lambda a: not _truthy(a), "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1]),
}


# -- parsing -----------------------------------------------------------------


class _Node:
    def __init__(self, kind: str, expr: str = "", text: str = ""):
        self.kind, self.expr, self.text = kind, expr, text
        self.body: list[_Node] = []
        self.alt: list[_Node] = []


def _split_actions(template: str) -> list[tuple[str, str]]:
    """("text", ...) and ("action", ...) pieces, with ``{{-``/``-}}`` trimming applied to the text."""
    pieces: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for match in _pattern("token").finditer(template):
        text = template[pos:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        pieces.append(("text", text))
        pieces.append(("action", match.group(2).strip()))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = template[pos:]
    if "{{" in tail:
        raise TemplateError(f"template parsing error: unclosed action in {template!r}")
    pieces.append(("text", tail.lstrip() if trim_next else tail))
    return pieces


def _parse(template: str) -> list[_Node]:
    root = _Node("root")
    stack: list[tuple[_Node, list[_Node]]] = [(root, root.body)]  # open blocks and where their output goes
    for kind, value in _split_actions(template):
        target = stack[-1][1]
        if kind == "text":
            if value:
                target.append(_Node("text", text=value))
            continue
        if value.startswith("/*"):
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("if", "range", "with"):
            node = _Node(word, value[len(word):].strip())
            target.append(node)
            stack.append((node, node.body))
        elif word == "else":
            if len(stack) < 2:
                raise TemplateError("template parsing error: unexpected {{else}}")
            node = stack[-1][0]
            rest = value[len(word):].strip()
            if rest.startswith("if "):  # {{else if X}}: a nested if in the else branch, closed by the same end
                inner = _Node("if", rest[3:].strip())
                inner.chained = True  # type: ignore[attr-defined]
                node.alt.append(inner)
                stack[-1] = (node, node.alt)
                stack.append((inner, inner.body))
            else:
                stack[-1] = (node, node.alt)
        elif word == "end":
            if len(stack) < 2:
                raise TemplateError("template parsing error: unexpected {{end}}")
            while getattr(stack.pop()[0], "chained", False):
                pass
        elif not value:
            raise TemplateError("template parsing error: missing value for command")
        else:
            target.append(_Node("action", value))
    if len(stack) != 1:
        raise TemplateError(f"template parsing error: unexpected EOF: missing {{{{end}}}} in {template!r}")
    return root.body


# -- evaluation --------------------------------------------------------------


class _Scope:
    def __init__(self, dot: Any, root: Any, variables: dict[str, Any]):
        self.dot, self.root, self.vars = dot, root, variables


def _field(value: Any, chain: str) -> Any:
    for part in [p for p in chain.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        else:
            value = getattr(value, part, _MISSING) if value not in (None, _MISSING) else _MISSING
        if value is _MISSING:
            return _MISSING
    return value


def _operand(token: str, scope: _Scope) -> Any:
    if token.startswith('"'):
        import json

        return json.loads(token)
    if token.startswith("`"):
        return token[1:-1]
    if token == ".":
        return scope.dot
    if token.startswith("."):
        return _field(scope.dot, token)
    if token.startswith("$"):
        name, _, chain = token.partition(".")
        base = scope.root if name == "$" else scope.vars.get(name, _MISSING)
        return _field(base, chain) if chain else base
    if token.lstrip("-")[:1].isdigit() and _is_int(token):
        return int(token)
    if token in ("true", "false"):
        return token == "true"
    if token == "nil":
        return None
    raise TemplateError(f'template: function "{token}" not defined')


def _value(operand: Any, scope: _Scope) -> Any:
    """A token, or a parenthesised pipeline with the field chain written right after it (``(index .L 0).Output``)."""
    if isinstance(operand, tuple):
        commands, chain = operand
        value = _evaluate(commands, scope)
        return _field(value, chain) if chain else value
    return _operand(operand, scope)


def _command(operands: list[Any], scope: _Scope, piped: Any = _MISSING) -> Any:
    if not operands:
        raise TemplateError("template: empty command")
    head, args = operands[0], operands[1:]
    values = [_value(t, scope) for t in args]
    if piped is not _MISSING:
        values.append(piped)
    if isinstance(head, str) and head in FUNCTIONS:
        try:
            return FUNCTIONS[head](*values)
        except TypeError as exc:
            raise TemplateError(f"template: wrong arguments for {head}: {exc}") from None
    value = _value(head, scope)
    if callable(value):
        return value(*values)
    if values:
        raise TemplateError(f"template: {head} is not a method but has arguments")
    return value


def _evaluate(commands: list[list[Any]], scope: _Scope) -> Any:
    value = _MISSING
    for i, command in enumerate(commands):
        value = _command(command, scope, value if i else _MISSING)
    return value


def _group(expr: str, matches: list, at: int) -> tuple[list[list[Any]], int]:
    """The commands of a pipeline from token ``at`` to its closing ``)`` (or the end); where it stopped."""
    commands: list[list[Any]] = [[]]
    while at < len(matches):
        token = matches[at].group(0)
        at += 1
        if token == ")":
            return commands, at
        if token == "|":
            commands.append([])
        elif token == "(":
            inner, at = _group(expr, matches, at)
            chain = ""
            # a field chain glued to the ")" applies to the group's result, as in Go's templates
            if at < len(matches) and matches[at].start() == matches[at - 1].end() \
                    and matches[at].group(0).startswith("."):
                chain = matches[at].group(0)
                at += 1
            commands[-1].append((inner, chain))
        else:
            commands[-1].append(token)
    return commands, at


def _pipeline(expr: str, scope: _Scope) -> Any:
    matches = list(_pattern("arg").finditer(expr))
    tokens = [m.group(0) for m in matches]
    declare = None
    start = 0
    if ":=" in tokens:
        start = tokens.index(":=")
        declare = [t for t in tokens[:start] if t != ","]
        start += 1
    commands, _ = _group(expr, matches, start)
    value = _evaluate(commands, scope)
    if declare and len(declare) == 1:
        scope.vars[declare[0]] = value
    return value, declare


def _run(nodes: list[_Node], scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.text)
        elif node.kind == "action":
            value, declare = _pipeline(node.expr, scope)
            if not declare:
                out.append(go_text(value))
        elif node.kind == "if":
            value, _ = _pipeline(node.expr, scope)
            _run(node.body if _truthy(value) else node.alt, scope, out)
        elif node.kind == "with":
            value, _ = _pipeline(node.expr, scope)
            if _truthy(value):
                _run(node.body, _Scope(value, scope.root, scope.vars), out)
            else:
                _run(node.alt, scope, out)
        elif node.kind == "range":
            _range(node, scope, out)


def _range(node: _Node, scope: _Scope, out: list[str]) -> None:
    tokens = _pattern("arg").findall(node.expr)
    names: list[str] = []
    expr = node.expr
    if ":=" in tokens:
        at = tokens.index(":=")
        names = [t for t in tokens[:at] if t != ","]
        expr = " ".join(tokens[at + 1:])
    value, _ = _pipeline(expr, scope)
    if isinstance(value, dict):
        items = sorted(value.items())
    elif isinstance(value, (list, tuple)):
        items = list(enumerate(value))
    else:
        items = []
    if not items:
        _run(node.alt, scope, out)
        return
    for key, item in items:
        variables = dict(scope.vars)
        if len(names) == 1:
            variables[names[0]] = item
        elif len(names) == 2:
            variables[names[0]], variables[names[1]] = key, item
        _run(node.body, _Scope(item, scope.root, variables), out)


def _is_int(token: str) -> bool:
    """``-?[0-9]+`` (ASCII digits only, as the pattern it replaces)."""
    digits = token[1:] if token.startswith("-") else token
    return bool(digits) and all("0" <= ch <= "9" for ch in digits)


def _simple_pieces(template: str) -> list[str] | None:
    """Text and field chains, alternating, when every action is a plain ``{{.A}}``/``{{.A.B}}``; else None.

    Such an action prints ``go_text`` of the field (called when it is a method), which
    :func:`render` then does without parsing; anything else takes the full path.
    """
    first, *chunks = template.split("{{")
    pieces = [first]
    if "}}" in first:
        return None
    for chunk in chunks:
        action, sep, text = chunk.partition("}}")
        if not sep or "}}" in text or not action.startswith(".") or \
                not all(part.isidentifier() for part in action[1:].split(".")):
            return None
        pieces += [action, text]
    return pieces


def render(template: str, data: Any) -> str:
    """Execute ``template`` on ``data``; ``\\t``/``\\n`` escapes in the template are honoured as docker does."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    pieces = _simple_pieces(template)
    if pieces is not None:
        out = [pieces[0]]
        for i in range(1, len(pieces), 2):
            value = _field(data, pieces[i])
            out += [go_text(value() if callable(value) else value), pieces[i + 1]]
        return "".join(out)
    try:
        nodes = _parse(template)
        out: list[str] = []
        _run(nodes, _Scope(data, data, {"$": data}), out)
    except TemplateError as exc:
        raise SystemExit(f"berth: {exc}") from None
    return "".join(out)


def lookup(data: Any, path: str) -> Any:
    """``.A.B`` of ``data`` (None when missing); kept for callers that need one field."""
    value = _field(data, path)
    return None if value is _MISSING else value
