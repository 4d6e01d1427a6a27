"""The ``berth`` command: a thin client of berthd's API with Docker's verbs and flags.

Start-up time is part of every command's latency, so this package imports only
the standard library, and each verb's module is imported when that verb runs.
"""
