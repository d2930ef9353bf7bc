"""``python -m installer`` (what install.sh runs)."""

import sys

from installer.cli import main

sys.exit(main())
