"""The driver contracts, one module per driver kind.

- :mod:`berth.hookspecs.graph` -- layer storage (``graph_*`` hooks)
- :mod:`berth.hookspecs.network` -- networks and endpoints (``net_*`` hooks)
- :mod:`berth.hookspecs.execution` -- running containers (``exec_*`` hooks)
- :mod:`berth.hookspecs.events` -- engine events any extension may listen to

Each operation hook is ``firstresult``: the engine registers exactly one driver
per plugin manager, so the driver's answer is the answer. Core defaults are
registered ``trylast`` and answer only when the driver has no implementation.
"""
