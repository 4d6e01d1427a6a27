"""execdrivers."""
