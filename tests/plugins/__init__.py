"""Example third-party plugins (one per kind and an extension), installed for the suite by install.py."""
