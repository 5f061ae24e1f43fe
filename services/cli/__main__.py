"""`python -m services.cli ...` runs the `autopilot` command."""

import sys

from services.cli.main import main

sys.exit(main())
