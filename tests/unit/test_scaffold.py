"""berth plugins new: what the scaffold writes, and the examples under tests/plugins that it made."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from berth import scaffold
from berth.hookspecs import CONTRACT

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def on_disk(directory: Path) -> dict[str, str]:
    skipped = ("build", "__pycache__")
    return {str(p.relative_to(directory)): p.read_text() for p in directory.rglob("*")
            if p.is_file() and not any(part in skipped or part.endswith(".egg-info") for part in p.parts)}


@pytest.mark.parametrize("kind, name", [("network", "loopback"), ("exec", "minirunc")])
def test_the_example_plugins_are_the_scaffolds_output(kind, name):
    """tests/plugins/berth-loopback and berth-minirunc are what `berth plugins new` writes: regenerate them
    with `berth plugins new KIND NAME tests/plugins/berth-NAME` (into an empty directory) after a template change."""
    assert on_disk(PLUGINS / f"berth-{name}") == scaffold.files(kind, name)


def test_names_become_the_distribution_module_class_and_entry_point():
    values = scaffold.tokens("graph", "my-store")
    assert (values["dist"], values["module"], values["Class"]) == ("berth-my-store", "berth_my_store", "MyStoreDriver")
    pyproject = scaffold.files("graph", "my-store")["pyproject.toml"]
    assert '[project.entry-points."berth.graphdrivers"]\nmy-store = "berth_my_store.driver:MyStoreDriver"' in pyproject
    assert f'contract = "{CONTRACT}"' in scaffold.files("graph", "my-store")["berth_my_store/driver.py"]


@pytest.mark.parametrize("kind, required", [
    ("graph", ("graph_create", "graph_create_rw", "graph_remove", "graph_exists", "graph_mount", "graph_unmount")),
    ("network", ("net_create_network", "net_delete_network", "net_sandbox", "net_join", "net_leave")),
    ("exec", ("exec_create", "exec_start", "exec_kill", "exec_wait", "exec_state", "exec_delete")),
])
def test_every_kind_implements_the_required_hooks_and_runs_its_kit(kind, required):
    written = scaffold.files(kind, "mine")
    driver = written["berth_mine/driver.py"]
    assert all(f"def {hook}(" in driver for hook in required)
    assert f"berth.testing.{'network' if kind == 'network' else kind}_kit import *" in written["tests/test_conformance.py"]


@pytest.mark.parametrize("kind, name, message", [
    ("storage", "x", "unknown driver kind 'storage'"),
    ("graph", "My Store", "invalid driver name"),
    ("graph", "-x", "invalid driver name"),
])
def test_a_bad_kind_or_name_is_refused(kind, name, message):
    with pytest.raises(scaffold.ScaffoldError, match=message):
        scaffold.files(kind, name)


def test_an_existing_non_empty_directory_is_left_alone(tmp_path):
    (tmp_path / "keep").write_text("mine")
    with pytest.raises(scaffold.ScaffoldError, match="not an empty directory"):
        scaffold.write("graph", "mine", str(tmp_path))
    assert os.listdir(tmp_path) == ["keep"]


def cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "berth.cli.main", "plugins", *args], capture_output=True, text=True,
                          cwd=cwd)


def test_the_cli_writes_berth_name_in_the_working_directory_by_default(tmp_path):
    done = cli("new", "exec", "mine", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(tmp_path / "berth-mine")
    assert on_disk(tmp_path / "berth-mine") == scaffold.files("exec", "mine")


def test_the_cli_says_how_to_call_it_when_words_are_missing(tmp_path):
    done = cli("new", "graph", cwd=tmp_path)
    assert done.returncode == 125 and "Usage: berth plugins new graph|network|exec NAME [DIR]" in done.stderr
