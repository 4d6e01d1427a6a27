"""The common cases of Go-template ``--format``: ``{{.A.B}}``, ``{{json .X}}``, literal text."""

from __future__ import annotations

import json
import re
from typing import Any

_ACTION = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def lookup(data: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def _text(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value) if isinstance(value, dict) else "[" + " ".join(map(str, value)) + "]"
    return str(value)


def render(template: str, data: Any) -> str:
    def substitute(match: re.Match) -> str:
        value = lookup(data, match.group(2))
        return json.dumps(value) if match.group(1) else _text(value)

    out = _ACTION.sub(substitute, template)
    if "{{" in out:
        raise SystemExit(f"template parsing error: unsupported action in {template!r}")
    return out.replace("\\n", "\n").replace("\\t", "\t")
