"""An example third-party graph driver for berth."""
