"""berth's built-in drivers, registered through entry points exactly like third-party ones."""
