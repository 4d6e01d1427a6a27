"""The oci exec driver: runc or crun through the OCI command line, with berth's per-container monitors.

- ``driver``   OciDriver, the pluggy hooks
- ``runtime``  choosing runc/crun (and crun's hybrid-cgroup problem), running it, reading its errors
- ``monitor``  the monitor that runs ``create``/``exec --detach`` and adopts the process as a subreaper
"""
