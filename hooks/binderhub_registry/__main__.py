"""`python -m binderhub_registry` runs the CLI."""

from binderhub_registry.cli import entry_point

entry_point()
