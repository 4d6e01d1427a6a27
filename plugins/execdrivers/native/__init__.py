"""The native exec driver: Linux namespaces, pivot_root and cgroups, one monitor process per container.

Modules, in the order a container comes to life:

- ``driver``      NativeDriver, the pluggy hooks; reads the state monitors keep under its root
- ``client``      the daemon's side of the fork server (spawned once, thread-safe requests)
- ``forkserver``  a single-threaded, pre-imported process that double-forks monitors
- ``monitor``     per container/exec: cgroups, pid namespace, stdio/pty, log, attach, exit status
- ``init``        the container's init (and an exec's process): the set-up steps, in order
- ``rootfs``      mounts, /dev, pivot_root, masked and read-only paths
- ``process``     the last steps before execve: rlimits, user, capabilities, PATH lookup
- ``caps``, ``seccomp``, ``cgroups``, ``syscalls``   one concern each
- ``cgroups2``, ``devicefilter``, ``bpf``          cgroup v2: limits and freezing; the device rules as an
                                                 eBPF program; the bpf(2) calls that load and attach it
- ``channel``, ``attach``, ``state``                 sockets, Docker stream framing, state files
"""
