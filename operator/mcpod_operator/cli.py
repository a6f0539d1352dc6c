"""Command line entry point for mcpod-operator."""

from __future__ import annotations

import sys


def main() -> int:
    print("mcpod-operator: not implemented yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
