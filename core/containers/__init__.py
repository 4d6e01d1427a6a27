"""Containers: the record and its state machine, the OCI spec built for exec drivers,
the lifecycle manager, and Docker's json-file logs."""
