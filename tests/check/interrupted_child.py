"""Run by test_hub_api's SIGINT test: a check whose one server never becomes ready, until interrupted.

The hub URL comes in argv, the token in the environment (never on a command line).
"""

from __future__ import annotations

import os
import sys

from installer.check.hub_api import HubClient
from installer.check.run import run_check
from installer.engine.events import NullSink

if __name__ == "__main__":
    client = HubClient(sys.argv[1], os.environ["HUB_TOKEN"])
    try:
        run_check(client, ["hang"], NullSink(), timeout=600)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
