"""graphdrivers."""
