"""`python -m binderhub_registry` runs the CLI."""

import sys

from binderhub_registry.cli import main

sys.exit(main())
