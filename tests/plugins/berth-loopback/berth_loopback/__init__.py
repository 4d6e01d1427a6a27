"""berth-loopback: a berth network driver (see ``driver.py``)."""
