"""berthd's HTTP side: the Docker Engine API served with aiohttp.

- :mod:`berth.api.server` -- the application, versioned routing, error mapping
- :mod:`berth.api.streams` -- hijacked connections and the 8-byte stream multiplexing
- :mod:`berth.api.views` -- engine records rendered as Docker's JSON shapes
- :mod:`berth.api.system`, :mod:`berth.api.containers`, :mod:`berth.api.images` -- the routes
"""
