"""The native exec driver: Linux namespaces, pivot_root and cgroups, one monitor process per container.

Modules, in the order a container comes to life:

- ``driver``      NativeDriver, the pluggy hooks; reads the state monitors keep under its root
- ``monitor``     per container/exec: cgroups, pid namespace, stdio/pty, log, attach, exit status
- ``init``        the container's init (and an exec's process): the set-up steps, in order
- ``rootfs``      mounts, /dev, pivot_root, masked and read-only paths
- ``process``     the last steps before execve: rlimits, user, capabilities, PATH lookup
- ``reaper``      the init ``--init`` puts in front of the process (pid 1: reaps, forwards signals)
- ``sysinfo``     what the host lets the driver enforce (``exec_features``)
- ``caps``, ``seccomp``, ``cgroups``, ``syscalls``   one concern each
- ``cgroups2``, ``devicefilter``, ``bpf``          cgroup v2: limits and freezing; the device rules as an
                                                 eBPF program; the bpf(2) calls that load and attach it

What every monitor-based driver shares (the fork server and its client, the monitor's
stdio and attach loop, sockets, state files) is in :mod:`..monitoring`.
"""
