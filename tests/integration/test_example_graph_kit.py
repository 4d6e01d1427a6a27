"""The graph-driver conformance kit, run whole against the example third-party graph driver
(``tests/plugins/berth-example``, installed as a third party installs it): the example of every kind
passes its kit in the suite (network: ``test_netdrivers_kit.py``, exec: ``test_exec_kit.py``)."""

from berth.testing.graph_kit import *  # noqa: F401,F403 (the kit's tests and fixtures)

BERTH_GRAPHDRIVERS = ["example"]
