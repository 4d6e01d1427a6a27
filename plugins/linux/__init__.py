"""Linux interfaces the built-in drivers share, as small ctypes wrappers.

``mountapi``: the new mount API (``open_tree``, ``mount_setattr``, ``fsopen``/``fsconfig``/
``fsmount``, ``move_mount``): detached and id-mapped mounts. ``userns``: user namespaces
holding an id map. ``loopback``: ``lo`` brought up with one ioctl (the none network driver, the native
init). ``libc``: the C library handle they share (per-thread credentials live in
the core, :mod:`berth.fscreds`, which the engine uses too).
Graph drivers use them to show layers through a user namespace's id map; the native exec
driver to give a container its user namespace.
"""
