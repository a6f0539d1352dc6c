"""mcpod-dev-cluster: placeholder until the control plane lands."""
import sys
def main() -> int:
    return 2
