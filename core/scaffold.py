"""``berth plugins new graph|network|exec NAME [DIR]``: a new driver's distribution, ready to install.

It writes a pyproject.toml declaring the driver's entry point, a package with a driver
that implements the kind's required hooks and passes berth's conformance kit as
generated (graph: full-copy layers with bind mounts; network: a namespace with only
``lo``; exec: runc with a supervisor process), a README and a ``tests/`` that runs the
kit against it. The templates are in ``berth/scaffolds/``. Standard library only, as
every CLI module.
"""

from __future__ import annotations

import os
import re

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scaffolds")

#: kind -> (entry-point group, the kit's option)
KINDS = {
    "graph": ("berth.graphdrivers", "berth-graphdriver"),
    "network": ("berth.netdrivers", "berth-netdriver"),
    "exec": ("berth.execdrivers", "berth-execdriver"),
}

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


class ScaffoldError(Exception):
    """The scaffold cannot be written (a bad kind or name, a directory in the way)."""


def tokens(kind: str, name: str) -> dict[str, str]:
    """What the templates' ``{{...}}`` placeholders become for driver ``name`` of ``kind``."""
    from berth.hookspecs import CONTRACT

    if kind not in KINDS:
        raise ScaffoldError(f"unknown driver kind {kind!r}: choose one of {', '.join(KINDS)}")
    if not NAME.match(name):
        raise ScaffoldError(f"invalid driver name {name!r}: lowercase letters and digits, words joined by - or _ "
                            "(as users will type it: berthd --storage-driver NAME)")
    words = re.split(r"[-_]", name)
    return {"name": name, "module": "berth_" + "_".join(words), "Class": "".join(w.capitalize() for w in words) + "Driver",
            "dist": "berth-" + "-".join(words), "kind": kind, "group": KINDS[kind][0], "kit_option": KINDS[kind][1],
            "contract": CONTRACT}


def render(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], text)


def files(kind: str, name: str) -> dict[str, str]:
    """The scaffold of driver ``name`` of ``kind``: relative path -> contents."""
    values = tokens(kind, name)
    out: dict[str, str] = {}
    for part in ("common", kind):
        base = os.path.join(TEMPLATES, part)
        for dirpath, _, names in os.walk(base):
            for filename in names:
                if not filename.endswith(".tmpl"):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, filename), base)[: -len(".tmpl")]
                with open(os.path.join(dirpath, filename), encoding="utf-8") as f:
                    out[rel.replace("_module_", values["module"])] = render(f.read(), values)
    return out


def write(kind: str, name: str, directory: str | None = None) -> str:
    """Write the scaffold into ``directory`` (default ``./berth-NAME``), which must be new or empty."""
    scaffold = files(kind, name)
    target = os.path.abspath(directory or tokens(kind, name)["dist"])
    if os.path.exists(target) and (not os.path.isdir(target) or os.listdir(target)):
        raise ScaffoldError(f"{target} already exists and is not an empty directory; choose another DIR")
    for rel, text in sorted(scaffold.items()):
        path = os.path.join(target, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return target
