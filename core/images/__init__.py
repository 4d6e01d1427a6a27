"""Images: the layer and image store and everything it needs.

* ``store``      ImageStore, Image, Layer: layers by chain ID on the graph driver, images, references
* ``metadata``   the SQLite metadata DB (<data-root>/image/metadata.db, WAL, one transaction per change)
* ``blobs``      the content store (<data-root>/image/blobs/sha256/<hex>)
* ``reference``  parsing and Docker-style normalisation of ``repo:tag`` / ``repo@digest``
* ``digest``     hashing streams while they are applied; chain IDs
* ``compression`` gzip (ISA-L) and zstd layers, recognised by their first bytes
* ``tarsafe``    safe streaming extraction of layer tars (whiteouts through a handler)
* ``tarread``    reading untrusted tar streams: header limits, names, owners, times
* ``unpacked``   an image archive unpacked for ``load``, its digest-named blobs checked
* ``layertar``   writing layer tars from a tree; ``changes`` comparing two trees
* ``pipestream`` a reader fed by a producer thread (diff streams)
* ``bootstrap``  busybox:latest from the host's static busybox
"""
