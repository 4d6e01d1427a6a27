"""fuse-overlay: overlay-layout layers whose union is served by a pyfuse3 process per mount.

- :mod:`.driver`  the graph driver the daemon loads (no pyfuse3/trio import)
- :mod:`.serve`   the serving process's entry point (``python -m ...serve``)
- :mod:`.ops`     pyfuse3 operations (imported by the serving process only)
- :mod:`.union`   overlay semantics over the layer dirs: lookups, whiteouts, copy-up
"""
