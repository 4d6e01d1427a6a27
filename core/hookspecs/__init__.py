"""The driver contracts, one module per driver kind, and the rules every hook follows.

- :mod:`berth.hookspecs.graph` -- layer storage (``graph_*`` hooks)
- :mod:`berth.hookspecs.network` -- networks and endpoints (``net_*`` hooks)
- :mod:`berth.hookspecs.execution` -- running containers (``exec_*`` hooks)
- :mod:`berth.hookspecs.events` -- engine events any extension may listen to (``berth_*`` hooks)
- :mod:`berth.hookspecs.types` -- the typed records passed across them

A plugin author's guide with a worked example per kind is ``docs/plugins.md``.

Contract version
----------------

:data:`CONTRACT` is the version of these contracts, ``"MAJOR.MINOR"``. A driver or
extension declares the version it was written for as a class (or module)
attribute, written out literally (``contract = "2.0"``) so that it states what its
author read. It loads when the majors are equal and its minor is not newer than
berth's; anything else is refused at start-up with an error naming the plugin, its
distribution and both versions. A minor release only adds (an optional hook, a
field with a default); anything else is a new major.

How a hook is called (every operation hook)
-------------------------------------------

- **One answer.** The engine builds one pluggy manager per driver (kind), and every
  operation hook is ``firstresult``: it stops at the first non-None result. Exactly
  one implementation answers it: the driver's, or -- for an optional hook the driver
  does not implement -- the core's default, registered ``trylast``. A default is
  never consulted for a hook the driver implements; berth checks this when it builds
  the manager (and refuses a driver missing a required hook, or implementing a hook
  no contract defines).
- **Never None.** Every hook returns what its spec says; one with nothing to report
  returns ``True``. A None result is the driver's bug and is reported as such, naming
  the driver and the hook.
- **"Not supported" is an exception.** A driver that cannot do an operation (at all,
  or on this host, or for this object) raises :class:`NotSupported` with the reason;
  the client gets a 501 naming the driver and the operation.
- **Errors.** Raise :mod:`berth.errors` types for what the user did
  (``NotFound`` 404, ``Conflict`` 409, ``InvalidArgument`` 400, ...): they reach the
  client as they are. Any other exception is reported as the driver's failure
  (``DriverError``, 500) naming the driver, the hook and the object.
- **Threads.** Hooks are called from the daemon's worker threads, never from its
  event loop, so they may block -- and several may run at once, also on the same
  object (two containers on one image mount the same layers together). A driver
  protects its own state.
- **Extensions wrap.** Extensions (``berth.extensions`` entry points) see every call
  through ``wrapper=True`` (or old-style ``hookwrapper=True``) implementations; they
  never answer an operation hook themselves.

The driver class
----------------

A driver is a class declared under the entry-point group of its kind
(``berth.graphdrivers``, ``berth.netdrivers``, ``berth.execdrivers``) with:

``name``, ``description``, ``priority``
    its name (as users select it), a line for ``plugins ls``, and its rank in
    auto-selection (highest first; third parties should stay at 0).
``contract``
    the contract version it was written for (see above).
``probe(root)``
    a classmethod answering None when the driver can work here, else the reason.
``__init__(root, options)``
    ``root``: a directory that is the driver's own; ``options``: what its kind's spec
    says (storage options, the daemon's network settings, exec options).

and its hook implementations, methods marked with :data:`berth.hookimpl`.
"""

from berth.errors import NotSupported

#: The version of the driver contracts this berth speaks ("MAJOR.MINOR"); see above.
CONTRACT = "2.3"

__all__ = ["CONTRACT", "NotSupported"]
