"""``berth bench storage``: every graph driver named, measured in one run against two references.

What it does, module by module:

- :mod:`.settings`     the sizes, repetitions and seed of a run (``--quick`` shrinks them)
- :mod:`.dataset`      seeded layer tars: the bench image and the graph workloads' layers
- :mod:`.graphdriver`  a driver opened in-process as berthd opens it, with a :class:`~berth.tracing.HookTimer`
- :mod:`.graphwork`    the workloads after Moby's graphbench (Exists, GetEmpty, DiffBase, DiffN, DiffApplyN,
                       DeepLayerRead)
- :mod:`.inside`       the container workloads; runs *inside* the container, standard library only
- :mod:`.daemon`       a private berthd per driver (fresh data-root, ``--bridge none``) and its containers
- :mod:`.references`   kernel overlayfs and fuse-overlayfs mounted directly over the same layer trees
- :mod:`.targets`      what is measured: a berth driver or a reference, behind one interface
- :mod:`.machine`      facts about the host (kernel, CPU, filesystem, load) and dropping the page cache
- :mod:`.stats`        medians and spread
- :mod:`.runner`       the run: set-up, interleaved repetitions with warm-up, progress
- :mod:`.output`       results.json, results.csv, hooks.csv, and ``--compare``
- :mod:`.plots`        PNG plots (matplotlib, the ``berth[bench]`` extra)
- :mod:`.report`       report.html, one page embedding the plots
- :mod:`.main`         the command itself
"""
