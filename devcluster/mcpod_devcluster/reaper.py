"""A watchdog that removes a dev cluster's processes once its supervisor is gone.

The parent-death signal only reaches direct children; a container's own
children (a shell's subprocess, the bridge's node process) would survive an
aborted run.  The supervisor starts this reaper in its own session; when the
supervisor disappears, for whatever reason, the reaper kills every process that
carries the cluster's id in its environment, then exits.
"""

from __future__ import annotations

import argparse
import sys
import time

from .processes import sweep
from .state import pid_alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcpod_devcluster.reaper")
    parser.add_argument("--watch", type=int, required=True, help="the supervisor's pid")
    parser.add_argument("--cluster-id", required=True)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args(argv)
    while pid_alive(args.watch):
        time.sleep(args.interval)
    sweep(args.cluster_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
