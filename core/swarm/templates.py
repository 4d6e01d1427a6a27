"""swarmkit's placeholders in container specs and templated configs: ``{{.Service.Name}}`` and friends.

A service's ``Hostname``, ``Env`` values and mount sources and targets, and the
content of a config or secret with ``Templating: {"Name": "golang"}``, may use Go
template actions over swarmkit's context: ``.Service.ID/.Name/.Labels``,
``.Node.ID/.Hostname/.Platform.OS/.Platform.Architecture``, ``.Task.ID/.Name/.Slot``.
berth evaluates the actions these are used with: a field (``{{.Task.Slot}}``), a label
(``{{index .Service.Labels "key"}}``) and, in templated data, ``{{env "NAME"}}`` (from
the task's environment), ``{{secret "target"}}`` and ``{{config "target"}}``. Any
other action is refused with the action named, never passed through unexpanded.
"""

from __future__ import annotations

import re
from typing import Callable

from berth.errors import InvalidArgument

ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
FIELD = re.compile(r"^\.([A-Za-z]+(?:\.[A-Za-z]+)*)$")
INDEX = re.compile(r'^index\s+\.Service\.Labels\s+"((?:[^"\\]|\\.)*)"$')
CALL = re.compile(r'^(env|secret|config)\s+"((?:[^"\\]|\\.)*)"$')


def context(service_id: str, service_name: str, service_labels: dict, node: dict, task_id: str, task_name: str,
            slot: str) -> dict:
    """swarmkit's template context for one task."""
    return {"Service": {"ID": service_id, "Name": service_name, "Labels": dict(service_labels or {})},
            "Node": {"ID": node["ID"], "Hostname": node["Hostname"], "Platform": dict(node["Platform"])},
            "Task": {"ID": task_id, "Name": task_name, "Slot": slot}}


TYPES = {"": "*template.Context", "Service": "struct { ID string; Name string; Labels map[string]string }",
         "Node": "struct { ID string; Hostname string; Platform template.Platform }",
         "Task": "struct { ID string; Name string; Slot string }", "Platform": "template.Platform"}


def expand(text: str, values: dict, functions: dict[str, Callable[[str], str]] | None = None,
           what: str = "template") -> str:
    """``text`` with every action evaluated; an action berth does not evaluate is a 400 naming it."""
    functions = functions or {}

    def evaluate(match: re.Match) -> str:
        action = match.group(1)
        if m := FIELD.match(action):
            value, parent = values, ""
            for part in m.group(1).split("."):
                if not isinstance(value, dict) or part not in value:
                    line = text.count("\n", 0, match.start()) + 1
                    column = match.start(1) - (text.rfind("\n", 0, match.start()) + 1)
                    raise InvalidArgument(f'expanding {what} failed: template: expansion:{line}:{column}: executing '
                                          f'"expansion" at <{action}>: can\'t evaluate field {part} in type '
                                          f'{TYPES.get(parent, "string")}')
                value, parent = value[part], part
            return _text(value)
        if m := INDEX.match(action):
            return values["Service"]["Labels"].get(m.group(1), "")
        if (m := CALL.match(action)) and m.group(1) in functions:
            return functions[m.group(1)](m.group(2))
        raise InvalidArgument(f"template: expansion: berth evaluates fields (.Service.Name...), index of "
                              f".Service.Labels and, in templated data, env/secret/config; not {{{{{action}}}}}")

    return ACTION.sub(evaluate, text)


def _text(value) -> str:
    if isinstance(value, dict):  # Go prints a map as map[k:v ...]
        return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(value.items())) + "]"
    return str(value)


def expand_container_spec(container: dict, values: dict) -> dict:
    """The container spec with its templated fields expanded (``Hostname``, ``Env`` values, mounts)."""
    out = dict(container)
    env = []
    for item in container.get("Env") or []:
        key, sep, value = item.partition("=")
        env.append(f"{key}={expand(value, values, what='env')}" if sep else item)
    out["Env"] = env or None
    out["Hostname"] = expand(container.get("Hostname", ""), values, what="hostname")
    out["Mounts"] = [{**m, "Source": expand(m.get("Source", ""), values, what="mounts"),
                      "Target": expand(m.get("Target", ""), values, what="mounts")}
                     for m in container.get("Mounts") or []] or None
    return out
