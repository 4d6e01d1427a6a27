"""berth's conformance kits, as a pytest plugin.

Run a driver against the graph-driver kit (see :mod:`berth.testing.graph_kit`)::

    pytest -p berth.testing --berth-graphdriver=NAME

``--berth-graphdriver`` adds the kit's tests to the session and runs them against
driver ``NAME`` only. A test module that does ``from berth.testing.graph_kit
import *`` gets the same tests, parametrised over every installed graph driver
when the option is not given.
"""

from __future__ import annotations

import os

import pytest

# Plain asserts in the kit get pytest's detailed failure messages
pytest.register_assert_rewrite("berth.testing.graph_kit")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("berth", "berth driver conformance kits")
    group.addoption("--berth-graphdriver", dest="berth_graphdriver", default=None, metavar="NAME",
                    help="run the graph-driver conformance kit against graph driver NAME")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("berth_graphdriver", default=None):
        from berth.testing import graph_kit

        kit = os.path.abspath(graph_kit.__file__)
        if kit not in (os.path.abspath(str(a).split("::")[0]) for a in config.args):
            # Collected like a file named on the command line (its name need not match test_*.py)
            config.args.append(kit)
