"""The graph-driver conformance kit, run against berth's built-in graph drivers.

Drivers whose probe refuses this host are skipped with the reason. The kit itself
lives in berth.testing.graph_kit; third-party drivers run it with
``pytest -p berth.testing --berth-graphdriver=NAME`` (see test_graph_kit_plugin.py).
"""

from berth.testing.graph_kit import *  # noqa: F401,F403 (the kit's tests and fixtures)

BERTH_GRAPHDRIVERS = "built-in"
