"""The distribution client: pull, push, login and search against OCI/Docker registries.

Modules, in the order a pull uses them:

* ``reference``  registry host of a reference, ``fromImage``/``tag`` of the API
* ``transport``  aiohttp to one registry: https/http choice, 401 challenges, retries
* ``auth``       credentials, WWW-Authenticate parsing, X-Registry-Auth
* ``manifest``   media types, manifests and indexes, platform selection
* ``blobs``      blob downloads hashed as they stream, resumed after breaks
* ``spool``      a blob in flight between its download and the layer's extraction
* ``pull``       manifest -> config -> every layer in flight, extracted as it arrives, in chain order
* ``push``       layer existence checks, cross-repository mounts, uploads, manifest put
* ``transfer``   what a pull and a push share: options, session, progress, temp dir, transfer slots
* ``search``     Docker Hub v1 search, or the v2 catalog filtered by the term
* ``progress``   Docker's NDJSON progress messages
* ``distmeta``   which compressed blob holds which layer, per registry repository
* ``credstore``  the CLI's config.json (Docker's format, mode 0600)
* ``service``    the engine-bound entry points the API routes call
"""
