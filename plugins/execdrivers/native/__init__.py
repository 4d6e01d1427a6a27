"""The native exec driver: Linux namespaces, pivot_root and cgroups, one monitor process per container."""
