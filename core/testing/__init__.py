"""berth's conformance kits, as one pytest plugin.

Run a driver against the kit of its kind (see :mod:`berth.testing.graph_kit`,
:mod:`berth.testing.exec_kit`, :mod:`berth.testing.network_kit`)::

    pytest -p berth.testing --berth-graphdriver=NAME
    pytest -p berth.testing --berth-execdriver=NAME
    pytest -p berth.testing --berth-netdriver=NAME

and with extensions registered around the driver, as berthd would register them::

    pytest -p berth.testing --berth-graphdriver=NAME --berth-extension=EXT [--berth-extension=EXT2]

A ``--berth-*driver`` option adds its kit's tests to the session and runs them
against driver ``NAME`` only; without test paths on the command line only the kits
run (so a project whose virtualenv lies under the working directory still finds
them). A kit test's node id as pytest prints it (``::test_name[driver]``) re-runs that
test with the same options. A test module
that does ``from berth.testing.graph_kit import *`` gets the same tests,
parametrised over every installed driver of the kind when no option is given.
"""

from __future__ import annotations

import os

import pytest

# Plain asserts in the kits get pytest's detailed failure messages
pytest.register_assert_rewrite("berth.testing.graph_kit", "berth.testing.exec_kit", "berth.testing.network_kit")

#: option dest -> the kit module it runs
KITS = {"berth_graphdriver": "berth.testing.graph_kit", "berth_execdriver": "berth.testing.exec_kit",
        "berth_netdriver": "berth.testing.network_kit"}


def add_kit_options(parser: pytest.Parser) -> None:
    """The kits' options; idempotent, as each kit module may also be loaded as a plugin of its own."""
    group = parser.getgroup("berth", "berth driver conformance kits")
    if any("--berth-extension" in option.names() for option in group.options):
        return
    group.addoption("--berth-graphdriver", dest="berth_graphdriver", default=None, metavar="NAME",
                    help="run the graph-driver conformance kit against graph driver NAME")
    group.addoption("--berth-execdriver", dest="berth_execdriver", action="append", default=[], metavar="NAME",
                    help="run the exec-driver conformance kit against exec driver NAME (repeatable)")
    group.addoption("--berth-netdriver", dest="berth_netdriver", action="append", default=[], metavar="NAME",
                    help="run the network-driver conformance kit against network driver NAME (repeatable)")
    group.addoption("--berth-extension", dest="berth_extension", action="append", default=[], metavar="NAME",
                    help="register extension NAME (entry point in berth.extensions) around the driver under test")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_kit_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    import importlib

    wanted = [module for dest, module in KITS.items() if config.getoption(dest, default=None)]
    if not wanted:
        return
    modules = [importlib.import_module(module) for module in wanted]
    kits = [os.path.abspath(module.__file__) for module in modules]
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    if explicit:
        config.args[:] = [_kit_node(arg, modules) for arg in config.args]
    given = {os.path.abspath(str(a).split("::")[0]) for a in config.args} if explicit else set()
    if not explicit:
        # Only the kits: the default (the working directory) would collect the kit files again, as
        # non-test files inside it, and pytest drops them (a project's .venv holds them).
        config.args[:] = []
    for kit in kits:
        if kit not in given:
            config.args.append(kit)  # collected like a file named on the command line


def _kit_node(arg: str, modules: list) -> str:
    """A node id as pytest prints it for a kit test ("::test_x[vfs]": the kit file is the session's
    starting point, so its path is left out), turned back into one pytest can collect."""
    if not str(arg).startswith("::"):
        return arg
    name = str(arg)[2:].split("::")[0].split("[")[0]
    module = next((m for m in modules if hasattr(m, name)), None)
    return os.path.abspath(module.__file__) + arg if module is not None else arg
