"""The Dockerfile builder (Docker's classic builder): ``berth build`` and ``POST /build``.

Modules, in the order a build uses them:

* :mod:`~berth.build.packer`       client side: the context directory packed and streamed as the docker CLI sends it
* :mod:`~berth.build.receive`      daemon side: the received context tar indexed (headers, files' digests)
* :mod:`~berth.build.ctxindex`     the index: the tree the tar unpacks to, paths, COPY/ADD checksums
* :mod:`~berth.build.context`      the build context: indexed, or unpacked safely; ``.dockerignore``
* :mod:`~berth.build.dockerignore` Docker's ignore-pattern rules
* :mod:`~berth.build.parser`       Dockerfile text -> stages of instructions (directives, continuations)
* :mod:`~berth.build.lexer`        variable substitution and word splitting (Docker's shell lexer)
* :mod:`~berth.build.state`        the per-stage build state and the image configs a step commits
* :mod:`~berth.build.fscopy`       COPY/ADD/WORKDIR file work inside a layer's tree, confined to it
* :mod:`~berth.build.sources`      COPY/ADD sources: wildcards, content checksums, downloads
* :mod:`~berth.build.layers`       a scratch read-write layer for COPY/ADD/WORKDIR, committed as a commit is
* :mod:`~berth.build.cache`        the build cache: a step is reused when a child image matches it
* :mod:`~berth.build.instructions` one dispatcher per instruction
* :mod:`~berth.build.builder`      the orchestration: stages, steps, output messages, tags
"""
