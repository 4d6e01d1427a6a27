"""What every monitor-based exec driver shares: fork server, per-container monitor, attach, state files.

A *monitor* is a small process per container (and per exec), forked from a warm
fork server so no Python interpreter starts per container. It owns the
container's stdio, appends the json-file log, serves the attach socket and
records the exit status, so containers outlive the daemon. The native driver
forks the container's init itself; the oci driver runs ``runc``/``crun`` from
the monitor and adopts the container's init as a subreaper.

- ``forkserver``, ``client``   the fork server and the daemon's side of it
- ``monitor``                  the Monitor: stdio, log, attach clients, control socket, exit bookkeeping
- ``channel``, ``attach``, ``state``   sockets, Docker stream framing, atomic state files and pid checks
"""
