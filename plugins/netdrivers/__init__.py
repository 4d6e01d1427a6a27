"""netdrivers."""
