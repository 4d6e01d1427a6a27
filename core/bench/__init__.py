"""Research benchmarks behind ``berth bench`` (run on the host, as root, never by the daemon).

- :mod:`.storage`  ``berth bench storage``: graph drivers against kernel overlayfs and fuse-overlayfs
"""
