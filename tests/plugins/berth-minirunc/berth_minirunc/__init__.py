"""berth-minirunc: a berth exec driver; runc does the container, a small supervisor process keeps its stdio.

- :mod:`berth_minirunc.driver`      the hooks: ``runc create/start/kill/state/delete/pause/resume``
- :mod:`berth_minirunc.supervisor`  one process per container, outliving the daemon: the container's
  stdio, its log, the attach socket, and its exit status

What it leaves out, on purpose, and how the contract lets it: execs and resizing are
not implemented (the core answers NotSupported), ``--tty``, ``--init`` and binds into
another container's mount namespace are refused with NotSupported at create, and
``exec_features`` claims no resource limit (the engine discards limits with Docker's
warnings, so a limit never reaches it unenforced).
"""
