"""berth's own drivers use only what a third party's may: the contracts, the SDK, their own package.

A driver may import the standard library and other distributions freely; from berth it may import
``berth.hookspecs`` (and ``.types``), ``berth.driverkit``, and ``berth.plugins`` (the built-ins' own
package). Anything else in berth is the engine's and may change without notice.
"""

import ast
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
ALLOWED = ("berth.hookspecs", "berth.driverkit", "berth.plugins")


def berth_imports(path: Path, root: Path = PLUGINS) -> list[tuple[int, str]]:
    """(line, module) of every import of a berth module in ``path`` (under ``root``, the folder that is
    ``berth.plugins``), relative and function-level imports included."""
    package = ["berth", "plugins", *path.relative_to(root).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append((node.lineno, module))
            if module == "berth":  # from berth import X: X is a module or a name of berth's own
                found += [(node.lineno, f"berth.{alias.name}") for alias in node.names]
    return [(line, m) for line, m in found if m == "berth" or m.startswith("berth.")]


def test_built_in_drivers_import_only_the_contracts_the_sdk_and_their_own_package():
    offending = [f"{path.relative_to(PLUGINS.parent)}:{line}: {module}"
                 for path in sorted(PLUGINS.rglob("*.py"))
                 for line, module in berth_imports(path)
                 if module != "berth" and not module.startswith(ALLOWED)]
    assert not offending, "import these through berth.driverkit instead:\n" + "\n".join(offending)


def test_the_rule_sees_relative_and_function_level_imports(tmp_path):
    sample = tmp_path / "execdrivers" / "oci" / "sample.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("from ..monitoring import state\n\ndef f():\n    from berth.containers import jsonlog\n")
    assert berth_imports(sample, tmp_path) == [(1, "berth.plugins.execdrivers.monitoring"), (4, "berth.containers")]
